// A TOML syntax error of one of kiln's files as a diagnostic message: tomlErrorText's
// wording, and for a key or table given twice, which one (smol-toml says only where).
// Pure; shared by kiln.toml (tree-config.ts) and recipe.toml (parse-recipe.ts).

import { tomlErrorText } from '../lib/toml-error.ts';

/** `invalid TOML: … at line 2, column 1 ("env" is given twice: keep one)` for what smol-toml's parse of `text` threw. */
export function tomlProblem(e: unknown, text: string): string {
  const base = tomlErrorText(e);
  const err = e as { message?: string; line?: number; column?: number };
  if (err.line !== undefined && /expected comma or end of structure|invalid value/.test(String(err.message))) {
    const open = unclosedBefore(text, err.line);
    if (open !== undefined) return `${base} (is the ${open.kind} of line ${open.line}, ${JSON.stringify(open.key)}, missing its closing ${open.kind === 'array' ? ']' : '}'}?)`;
  }
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

/**
 * The array or inline table that is still open at 1-based `line`: the nearest key line
 * before it (`archs = ["amd64"`), when what it opens is not closed by then. What an error
 * at that line's start is most likely about. Quotes are skipped over; `#` ends a line.
 */
export function unclosedBefore(text: string, line: number): { line: number; key: string; kind: 'array' | 'inline table' } | undefined {
  const rows = text.split(/\r?\n/);
  for (let i = Math.min(line, rows.length) - 2; i >= 0; i--) {
    const row = rows[i]!;
    if (/^\s*\[/.test(row)) return undefined; // a table header: nothing open above it counts
    const m = /^\s*([A-Za-z0-9_."'-]+)\s*=\s*/.exec(row);
    if (m === null) continue; // a value line of a multi-line array
    if (!/[[{]/.test(row[m[0].length] ?? '')) return undefined;
    const stack: string[] = [];
    for (const r of rows.slice(i, line - 1)) {
      let quote: string | undefined;
      for (const ch of r === row ? r.slice(m[0].length) : r) {
        if (quote !== undefined) {
          if (ch === quote) quote = undefined;
        } else if (ch === '"' || ch === "'") quote = ch;
        else if (ch === '#') break;
        else if (ch === '[' || ch === '{') stack.push(ch);
        else if (ch === ']' || ch === '}') stack.pop();
      }
    }
    return stack.length === 0 ? undefined : { line: i + 1, key: m[1]!, kind: stack[0] === '[' ? 'array' : 'inline table' };
  }
  return undefined;
}
