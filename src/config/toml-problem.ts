// A TOML syntax error of one of kiln's files as a diagnostic message: tomlErrorText's
// wording, and for a key or table given twice, which one (smol-toml says only where).
// Pure; shared by kiln.toml (tree-config.ts) and recipe.toml (parse-recipe.ts).

import { tomlErrorText } from '../lib/toml-error.ts';

/** `invalid TOML: … at line 2, column 1 ("env" is given twice: keep one)` for what smol-toml's parse of `text` threw. */
export function tomlProblem(e: unknown, text: string): string {
  const base = tomlErrorText(e);
  const err = e as { message?: string; line?: number; column?: number };
  if (!/redefine an already defined/.test(String(err.message)) || err.line === undefined) return base;
  const key = keyAt(text, err.line, err.column ?? 1);
  return key === undefined ? base : `${base} (${JSON.stringify(key)} is given twice: keep one)`;
}

/** The key or table name that starts at 1-based `line`, `column` of `text`, as written. */
export function keyAt(text: string, line: number, column: number): string | undefined {
  const row = text.split(/\r?\n/)[line - 1];
  if (row === undefined) return undefined;
  // A table header is pointed at inside its brackets: take the whole header then.
  const rest = row.trimStart().startsWith('[') ? row.trimStart() : row.slice(Math.max(0, column - 1)).trimStart();
  const table = /^\[\[?\s*([^\]]+?)\s*\]/.exec(rest);
  if (table !== null) return table[1];
  const key = /^([^=]+?)\s*=/.exec(rest);
  return key?.[1];
}
