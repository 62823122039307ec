// The name of a tree's Debian request file, alone in a module: code that only looks for
// the file (run/debian-plan.ts) must not load debian-toml.ts, which brings zod.

export const DEBIAN_FILE = 'debian.toml';
