// One wording for a TOML syntax error in any of kiln's files (recipe.toml, kiln.toml,
// debian.toml): smol-toml's first line without its "Invalid TOML document:" prefix, and
// where it is.

/** `invalid TOML: invalid value at line 2, column 11` for what smol-toml's parse threw. */
export function tomlErrorText(e: unknown): string {
  const err = e as { message?: string; line?: number; column?: number };
  const first = (String(err.message ?? e).split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
  const where = err.line === undefined ? '' : ` at line ${err.line}, column ${err.column ?? 0}`;
  // A string left open runs into the end of its line, which smol-toml reports as a control
  // character in it: say what is most likely wrong.
  const open = /control characters are not allowed in strings/.test(first) ? ' (is a string missing its closing quote?)' : '';
  return `invalid TOML: ${first || 'unreadable'}${where}${open}`;
}
