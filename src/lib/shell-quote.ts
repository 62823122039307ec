// POSIX shell single-quoting, for the scripts kiln generates (sandbox setup, Debian builds).

/** `it's` → `'it'\''s'`: one shell word whatever the text holds. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
