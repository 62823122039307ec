// Settings tests shorten through the environment (KILN_ACK_WAIT_MS, KILN_HOOK_TIMEOUT_MS…):
// the variable's number when it is one above 0, else the default.

/** `env[name]` as a number above 0 (a whole one with `integer`), else `fallback` (pure). */
export function positiveFromEnv(name: string, fallback: number, o: { integer?: boolean; env?: NodeJS.ProcessEnv } = {}): number {
  const n = Number((o.env ?? process.env)[name] ?? '');
  return n > 0 && (o.integer !== true || Number.isInteger(n)) ? n : fallback;
}
