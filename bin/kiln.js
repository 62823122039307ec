#!/usr/bin/env node
// kiln's entry point. Plain JavaScript so that it can refuse an old Node with a clear
// message before any TypeScript is loaded (type stripping needs Node >= 24).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  // The checkout this file is in: scripts/kiln there runs its pinned Node from any folder.
  const { fileURLToPath } = await import('node:url');
  const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
  const q = (p) => (/^[\w./+-]+$/.test(p) ? p : `'${p.replaceAll("'", `'\\''`)}'`);
  process.stderr.write(
    `kiln: needs Node.js 24 or newer, but this is ${process.version} (${process.execPath}).\n` +
      `Run it with the Node 24 that \`npm ci\` pinned in ${root}/node_modules: ${q(`${root}/scripts/kiln`)} ... ` +
      `(from any folder; link it into PATH), or \`npx kiln ...\` inside ${q(root)} ` +
      `(npx from another folder, even with --prefix, may start the system's node).\n`,
  );
  process.exit(2);
}
// Cache compiled (type-stripped) modules on disk: halves start-up on every later run.
const { enableCompileCache } = await import('node:module');
enableCompileCache?.();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
// The command is over: whatever a library left open (a NATS socket to a port that never
// answered, say) must not keep kiln alive. Nothing else open: it exits now, as always.
setTimeout(() => process.exit(), 1000).unref();
