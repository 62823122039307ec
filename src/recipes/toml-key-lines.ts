// Where each key of a TOML file is written: its line and its value as written. smol-toml
// gives values only, so a diagnostic could neither be put in file order nor quote what
// the user wrote (`version = 3.0` is the number 3 once parsed). Pure; a light scan that
// knows tables, arrays of tables, dotted and quoted keys, strings of all four kinds,
// comments and values over several lines. Keys inside inline tables and the items of
// arrays are not listed: their place is their parent's.

export interface KeyAt {
  /** 1-based line of the key (of the header for a table). */
  readonly line: number;
  /** The value as written, trimmed, without a trailing comment; '' for a table header. */
  readonly written: string;
}

/** Dotted key paths as zod issues name them (`build.cpus`, `sources[1].url`, `sources[1]`) → where they are written. */
export function keyLines(text: string): Map<string, KeyAt> {
  const out = new Map<string, KeyAt>();
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') starts.push(i + 1);
  const lineOf = (pos: number): number => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const toEol = (pos: number): number => {
    const e = text.indexOf('\n', pos);
    return e === -1 ? text.length : e;
  };
  const record = (path: string, pos: number, written: string): void => {
    if (path !== '' && !out.has(path)) out.set(path, { line: lineOf(pos), written });
  };
  const counts = new Map<string, number>();
  let table = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
      continue;
    }
    if (c === '#') {
      i = toEol(i);
      continue;
    }
    if (c === '[') {
      const many = text[i + 1] === '[';
      const from = i + (many ? 2 : 1);
      const end = scanTo(text, from, ']');
      const name = splitKey(text.slice(from, end)).join('.');
      if (many) {
        const n = counts.get(name) ?? 0;
        counts.set(name, n + 1);
        table = `${name}[${n}]`;
      } else table = name;
      record(table, i, '');
      i = toEol(end);
      continue;
    }
    // key = value
    const eq = scanTo(text, i, '=');
    if (eq >= text.length || text[eq] !== '=') break; // not TOML: smol-toml has said so
    const keyStart = i;
    const path = [table, ...splitKey(text.slice(i, eq))].filter((p) => p !== '').join('.');
    i = eq + 1;
    const valueStart = i;
    let valueEnd = -1;
    let depth = 0;
    while (i < text.length) {
      const v = text[i]!;
      if (v === '"' || v === "'") i = skipString(text, i);
      else if (v === '#') {
        if (depth === 0 && valueEnd === -1) valueEnd = i;
        i = toEol(i);
        if (depth === 0) break;
      } else if (v === '\n' && depth === 0) break;
      else {
        if (v === '[' || v === '{') depth++;
        else if (v === ']' || v === '}') depth--;
        i++;
      }
    }
    record(path, keyStart, text.slice(valueStart, valueEnd === -1 ? i : valueEnd).trim());
  }
  return out;
}

/**
 * The line at which a diagnostic about `key` belongs: the key's own; for an item of an
 * array, the array's; for a key not written (missing), just after the last line of the
 * table it belongs in (a fraction, so that it follows that line's own problems).
 */
export function lineOfKey(lines: ReadonlyMap<string, KeyAt>, key: string): number | undefined {
  const at = lines.get(key);
  if (at !== undefined) return at.line;
  const item = /^(.+)\[\d+\]$/.exec(key);
  if (item !== null) {
    const array = lines.get(item[1]!);
    if (array !== undefined) return array.line;
  }
  const dot = key.lastIndexOf('.');
  const parent = dot !== -1 ? key.slice(0, dot) : item !== null ? item[1]! : '';
  if (parent !== '' && !lines.has(parent)) return lineOfKey(lines, parent);
  let last: number | undefined;
  for (const [path, a] of lines) {
    const inside = parent === '' ? !path.includes('.') && !path.includes('[') && a.written !== '' : path === parent || path.startsWith(`${parent}.`);
    if (inside && (last === undefined || a.line > last)) last = a.line;
  }
  return last === undefined ? undefined : last + 0.5;
}

/**
 * The diagnostics in the order of the file: by the line of their key (`at` when given,
 * e.g. the first of several unknown keys), those without a known line last, each group
 * in the order found.
 */
export function inFileOrder<T>(items: readonly T[], lineOf: (item: T) => number | undefined): T[] {
  return items
    .map((item, n) => ({ item, n, line: lineOf(item) ?? Number.POSITIVE_INFINITY }))
    .sort((a, b) => a.line - b.line || a.n - b.n)
    .map((x) => x.item);
}

/** Index of the first `stop` at or after `from` outside quotes, a newline, or the end. */
function scanTo(text: string, from: number, stop: string): number {
  let i = from;
  while (i < text.length && text[i] !== stop && text[i] !== '\n') {
    if (text[i] === '"' || text[i] === "'") i = skipString(text, i);
    else i++;
  }
  return i;
}

/** Index just after the string that starts at `i` (basic or literal, one line or three quotes). */
function skipString(text: string, i: number): number {
  const q = text[i]!;
  const triple = text.startsWith(q.repeat(3), i);
  if (triple) {
    const end = text.indexOf(q.repeat(3), i + 3);
    if (end === -1) return text.length;
    // """a"""" : up to two quotes may end the content.
    let j = end + 3;
    while (text[j] === q && j < end + 5) j++;
    return j;
  }
  let j = i + 1;
  while (j < text.length && text[j] !== q && text[j] !== '\n') j += q === '"' && text[j] === '\\' ? 2 : 1;
  return j + 1;
}

/** `a."b.c" . d` → ['a', 'b.c', 'd']. */
function splitKey(raw: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let i = 0;
  while (i < raw.length) {
    const c = raw[i]!;
    if (c === '"' || c === "'") {
      const end = skipString(raw, i);
      const quoted = raw.slice(i, end);
      try {
        cur += c === '"' ? (JSON.parse(quoted) as string) : quoted.slice(1, -1);
      } catch {
        cur += quoted.slice(1, -1);
      }
      i = end;
    } else if (c === '.') {
      parts.push(cur.trim());
      cur = '';
      i++;
    } else {
      cur += c;
      i++;
    }
  }
  parts.push(cur.trim());
  return parts;
}
