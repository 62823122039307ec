// Debian control files (deb822): paragraphs of `Field: value` lines separated by blank
// lines, as in Sources, Packages, Release and .dsc files (Debian Policy §5.1).
//
// A value continues on lines that start with a space or tab. Whether the line breaks mean
// anything depends on the field: "folded" fields (Build-Depends, Binary) treat them as
// spaces, "multiline" fields (Checksums-Sha256, Description) keep them. The parser keeps
// the raw value (first line, then "\n" + each continuation line minus its leading
// whitespace) and `folded` / `multilineLines` read it either way.
//
// A PGP clearsigned wrapper (.dsc, InRelease) is refused by the parser: the content must
// first be verified (signature, or a hash from a verified index) and then unwrapped with
// `unwrapVerifiedClearsigned`, so an unverified wrapper can never be parsed by accident.
import { KilnError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';

// A malformed index or control file from a mirror.
export const INDEX_INVALID: ErrorCode = 'index-invalid';

/** One paragraph: field names lower-cased (deb822 names are case-insensitive). */
export interface Paragraph {
  readonly fields: ReadonlyMap<string, string>;
  /** 1-based line of the paragraph's first field, for error messages. */
  readonly line: number;
}

export interface ParseOptions {
  /** File or url named in error messages. */
  readonly source: string;
}

const BEGIN_SIGNED = '-----BEGIN PGP SIGNED MESSAGE-----';
const BEGIN_SIGNATURE = '-----BEGIN PGP SIGNATURE-----';

/** Every paragraph of `text`. Throws INDEX_INVALID naming `source:line` on a malformed line. */
export function parseDeb822(text: string, options: ParseOptions): Paragraph[] {
  const out: Paragraph[] = [];
  for (const p of iterateDeb822(text, options)) out.push(p);
  return out;
}

/**
 * Paragraphs one at a time. Hand-written over indexOf('\n') (no regex per line, no split of
 * the whole text): a Sources index of a full suite is ~45 MB and 34k paragraphs.
 */
export function* iterateDeb822(text: string, options: ParseOptions): Generator<Paragraph> {
  refuseSigned(text, options);
  const at: Cursor = { pos: 0, lineNo: 0 };
  for (;;) {
    const p = nextParagraph(text, at, options.source);
    if (p === undefined) return;
    yield p;
  }
}

/**
 * The first paragraph of `text` (undefined when it has none): for one stanza cut out of an
 * index (lazy-index.ts), without a generator per stanza.
 */
export function firstParagraph(text: string, options: ParseOptions): Paragraph | undefined {
  refuseSigned(text, options);
  return nextParagraph(text, { pos: 0, lineNo: 0 }, options.source);
}

function refuseSigned(text: string, options: ParseOptions): void {
  if (text.startsWith(BEGIN_SIGNED) || text.trimStart().startsWith(BEGIN_SIGNED)) {
    // kiln's own mistake, not the file's: an internal error (exit 70), not index-invalid.
    throw new Error(`internal: ${options.source} is PGP-signed; it must be verified and unwrapped (unwrapVerifiedClearsigned) before it is parsed: this is a bug in kiln`);
  }
}

interface Cursor {
  pos: number;
  lineNo: number;
}

/** The paragraph at `at` (blank lines before it skipped), moving `at` past it; undefined at the end. */
function nextParagraph(text: string, at: Cursor, source: string): Paragraph | undefined {
  const n = text.length;
  const fields = new Map<string, string>();
  let first = 0;
  let last: string | undefined;
  let lastValue = '';
  while (at.pos < n) {
    let end = text.indexOf('\n', at.pos);
    if (end === -1) end = n;
    at.lineNo++;
    let line = text.slice(at.pos, end);
    at.pos = end + 1;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    const c = line.charCodeAt(0);
    if (line.length === 0 || isBlankLine(line)) {
      if (last !== undefined) fields.set(last, lastValue);
      last = undefined;
      if (fields.size > 0) return { fields, line: first };
      continue;
    }
    if (c === 35 /* # */) continue; // comment lines (allowed in debian/control and deb822 sources)
    if (c === 32 || c === 9) {
      if (last === undefined) {
        throw malformed(source, at.lineNo, 'continuation line without a field before it');
      }
      lastValue += '\n' + line.trim();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformed(source, at.lineNo, `expected "Field: value", got ${JSON.stringify(clip(line))}`);
    if (last !== undefined) fields.set(last, lastValue);
    const name = fieldName(line, colon);
    if (fields.size === 0) first = at.lineNo;
    if (fields.has(name)) throw malformed(source, at.lineNo, `field "${line.slice(0, colon)}" appears twice in one paragraph`);
    last = name;
    lastValue = line.slice(colon + 1).trim();
  }
  if (last !== undefined) fields.set(last, lastValue);
  return fields.size > 0 ? { fields, line: first } : undefined;
}

// Field names repeat in every paragraph of an index: their lower-cased forms are kept
// (one short lookup instead of a slice and a toLowerCase per line).
const FIELD_NAMES = new Map<string, string>();

function fieldName(line: string, colon: number): string {
  const raw = line.slice(0, colon);
  let name = FIELD_NAMES.get(raw);
  if (name === undefined) {
    name = raw.toLowerCase();
    if (FIELD_NAMES.size < 1000) FIELD_NAMES.set(raw, name);
  }
  return name;
}

/** A field's value with line breaks read as spaces (Build-Depends, Binary, Architecture). */
export function folded(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return value.includes('\n') ? value.replace(/\s*\n\s*/g, ' ').trim() : value;
}

/** The continuation lines of a multiline field (Checksums-Sha256, SHA256), blank lines dropped. */
export function multilineLines(value: string | undefined): string[] {
  if (value === undefined) return [];
  const lines = value.split('\n');
  lines.shift(); // the first line: empty in checksum fields, the synopsis in Description
  return lines.filter((l) => l !== '');
}

/** Space-separated words of a (folded) field. */
export function words(value: string | undefined): string[] {
  if (value === undefined) return [];
  const parts = value.split(/[ \t\n]+/);
  // split's array is exact-size; filter's keeps room to grow (kept for every source of a suite).
  return parts.includes('') ? parts.filter((w) => w !== '').slice() : parts;
}

/** A required field, or INDEX_INVALID naming the paragraph. */
export function required(p: Paragraph, name: string, source: string): string {
  const v = p.fields.get(name.toLowerCase());
  if (v === undefined || v === '') {
    throw malformed(source, p.line, `paragraph has no ${name} field`);
  }
  return v;
}

/** Whether `text` is a clearsigned message (starts with the PGP SIGNED MESSAGE armor line). */
export function isClearsigned(text: string): boolean {
  return text.trimStart().startsWith(BEGIN_SIGNED);
}

/**
 * The signed text inside a clearsigned message, dash-escaping undone (RFC 4880 §7.1).
 * ONLY for content already verified — by its signature, or by a sha256 taken from a
 * verified index (a .dsc whose hash Sources lists) — because nothing here checks anything.
 */
export function unwrapVerifiedClearsigned(text: string, source: string): string {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  let i = 0;
  while (i < lines.length && lines[i]?.trim() === '') i++;
  if (lines[i] !== BEGIN_SIGNED) return text;
  i++;
  // Armor headers (Hash: SHA512) up to the first blank line.
  while (i < lines.length && lines[i] !== '') i++;
  i++;
  const body: string[] = [];
  for (; i < lines.length; i++) {
    const l = lines[i] ?? '';
    if (l === BEGIN_SIGNATURE) break;
    body.push(l.startsWith('- ') ? l.slice(2) : l);
  }
  if (i >= lines.length) throw malformed(source, i, 'clearsigned message has no signature block');
  return body.join('\n') + '\n';
}

function isBlankLine(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 32 && c !== 9) return false;
  }
  return true;
}

function malformed(source: string, line: number, what: string): KilnError {
  return new KilnError(INDEX_INVALID, `${source}:${line}: ${what}`, {
    hint: 'the file is not a valid Debian control file; if it came from a mirror, the mirror may be broken or mid-update: try again or use another mirror',
  });
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
