// Why two versions of one file differ, made plain (pure functions over Buffers):
//   - ELF: the sections whose contents differ, the build-id and .gnu_debuglink reported
//     apart (and whether the files are equal once those are zeroed), and the printable
//     strings that differ (`strings -a -n 4` of both, diffed), each with its section;
//   - gzip: a header-only difference (mtime, name) vs different contents, which are then
//     compared in turn;
//   - text: the differing lines; other binaries: the differing strings;
//   - always: the first differing byte offset.
// Diffs are computed with jsdiff (Myers) and bounded: past MAX_EDIT differences a diff is
// reported as "too many" instead of being computed.
import { gunzipSync } from 'node:zlib';
import { diffArrays } from 'diff';
import { isElf, parseElf, sectionAt, withoutIds } from './deb-elf.ts';
import type { ElfInfo, ElfSection } from './deb-elf.ts';

export type ContentKind = 'elf' | 'gzip' | 'text' | 'binary';

/** One run of differences: `a` items replaced by `b` items (either may be empty). */
export interface Hunk {
  /** 0-based index of the first item on each side (a line or a string). */
  readonly aStart: number;
  readonly bStart: number;
  /** At most HUNK_ITEMS items each; aCount/bCount are the full counts. */
  readonly a: readonly string[];
  readonly b: readonly string[];
  readonly aCount: number;
  readonly bCount: number;
  /** ELF: the section the strings are in. */
  readonly section?: string;
}

export interface SequenceDiff {
  readonly hunks: readonly Hunk[];
  /** Hunks not listed (past MAX_HUNKS). */
  readonly moreHunks: number;
  /** The diff was not computed: more than MAX_EDIT items differ. */
  readonly tooMany: boolean;
}

export interface SectionDiff {
  readonly name: string;
  readonly a: { readonly size: number; readonly sha256: string } | undefined;
  readonly b: { readonly size: number; readonly sha256: string } | undefined;
}

export interface ElfDiff {
  readonly buildId: { readonly a: string | undefined; readonly b: string | undefined };
  readonly debuglink: { readonly a: string | undefined; readonly b: string | undefined };
  /** Sections that differ, build-id note and debuglink included, in the order of file a. */
  readonly sections: readonly SectionDiff[];
  /** The files are equal once the build-id and debuglink bytes are zeroed. */
  readonly onlyIds: boolean;
}

export interface GzipDiff {
  readonly mtime: { readonly a: number; readonly b: number };
  readonly name: { readonly a: string; readonly b: string };
  /** The decompressed contents are identical: only the gzip header/compression differ. */
  readonly sameContents: boolean;
  /** How the decompressed contents differ, when they do. */
  readonly inner: ContentDiff | undefined;
}

/** A run of differing bytes in two files of the same size (ELF: build-id/debuglink excluded). */
export interface ByteRegion {
  readonly offset: number;
  /** ELF: the section it is in, and the offset inside that section. */
  readonly section?: string;
  readonly sectionOffset?: number;
  /** Hex of the differing bytes (at most REGION_BYTES). */
  readonly a: string;
  readonly b: string;
  readonly length: number;
  /** The bytes read as an integer that looks like a clock reading on both sides. */
  readonly number?: { readonly a: number; readonly b: number; readonly clock: 'year' | 'timestamp' };
}

export interface ByteRegions {
  readonly regions: readonly ByteRegion[];
  /** Regions not listed (past MAX_REGIONS). */
  readonly more: number;
}

export interface ContentDiff {
  readonly kind: ContentKind;
  /** First differing byte (the shorter length when one is a prefix of the other). */
  readonly firstDifference: number;
  /** ELF: the section holding firstDifference in file a. */
  readonly firstDifferenceSection?: string;
  readonly elf?: ElfDiff;
  readonly gzip?: GzipDiff;
  readonly lines?: SequenceDiff;
  readonly strings?: SequenceDiff;
  /** Same-size binaries: where the bytes differ (ELF: ids zeroed first). */
  readonly regions?: ByteRegions;
}

export const MAX_HUNKS = 50;
export const MAX_REGIONS = 20;
export const REGION_BYTES = 32;
export const HUNK_ITEMS = 20;
const MAX_EDIT = 4000;
const MAX_TEXT = 4 * 1024 * 1024;
const MIN_STRING = 4;

export function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  const block = 65536;
  let at = 0;
  while (at < n && a.subarray(at, Math.min(n, at + block)).equals(b.subarray(at, Math.min(n, at + block)))) at += block;
  at = Math.min(at, n);
  while (at < n && a[at] === b[at]) at++;
  return at;
}

/** Printable runs of at least 4 characters with their offsets, like `strings -a`. */
export function printableStrings(buf: Buffer, min = MIN_STRING): { readonly text: string; readonly offset: number }[] {
  const out: { text: string; offset: number }[] = [];
  let start = -1;
  for (let i = 0; i <= buf.length; i++) {
    const c = i < buf.length ? buf[i]! : 0;
    const printable = (c >= 0x20 && c < 0x7f) || c === 0x09;
    if (printable) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      if (i - start >= min) out.push({ text: buf.toString('latin1', start, i), offset: start });
      start = -1;
    }
  }
  return out;
}

export function looksLikeText(buf: Buffer): boolean {
  if (buf.length > MAX_TEXT || buf.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return true;
  } catch {
    return false;
  }
}

export function isGzip(buf: Buffer): boolean {
  return buf.length >= 18 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** Diff two sequences into hunks; `sectionOf` names where an item sits (ELF strings). */
export function diffSequences(a: readonly string[], b: readonly string[], sectionOf?: (side: 'a' | 'b', index: number) => string | undefined): SequenceDiff {
  const changes = diffArrays([...a], [...b], { maxEditLength: MAX_EDIT });
  if (changes === undefined) return { hunks: [], moreHunks: 0, tooMany: true };
  const hunks: Hunk[] = [];
  let moreHunks = 0;
  let ai = 0;
  let bi = 0;
  let open: { aStart: number; bStart: number; a: string[]; b: string[] } | undefined;
  const close = (): void => {
    if (open === undefined) return;
    if (hunks.length >= MAX_HUNKS) moreHunks++;
    else {
      const section = open.a.length > 0 ? sectionOf?.('a', open.aStart) : sectionOf?.('b', open.bStart);
      hunks.push({
        aStart: open.aStart, bStart: open.bStart,
        a: open.a.slice(0, HUNK_ITEMS), b: open.b.slice(0, HUNK_ITEMS),
        aCount: open.a.length, bCount: open.b.length,
        ...(section === undefined ? {} : { section }),
      });
    }
    open = undefined;
  };
  for (const c of changes) {
    if (!c.added && !c.removed) {
      close();
      ai += c.count;
      bi += c.count;
      continue;
    }
    open ??= { aStart: ai, bStart: bi, a: [], b: [] };
    if (c.removed) {
      open.a.push(...c.value);
      ai += c.count;
    } else {
      open.b.push(...c.value);
      bi += c.count;
    }
  }
  close();
  return { hunks, moreHunks, tooMany: false };
}

const isYear = (n: number): boolean => n >= 1970 && n <= 2100;
const isTimestamp = (n: number): boolean => n >= 1_000_000_000 && n <= 2_147_483_647;

/**
 * Read the bytes around a differing run as an integer (2 or 4 bytes, windows covering the
 * run) and keep the first reading that is a year, else a timestamp, on both sides (pure).
 */
export function clockReading(a: Buffer, b: Buffer, start: number, length: number, endian: 'le' | 'be'): ByteRegion['number'] {
  const read = (buf: Buffer, at: number, width: 2 | 4): number =>
    width === 2 ? (endian === 'le' ? buf.readUInt16LE(at) : buf.readUInt16BE(at)) : endian === 'le' ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
  for (const [width, ok, clock] of [[2, isYear, 'year'], [4, isYear, 'year'], [4, isTimestamp, 'timestamp']] as const) {
    if (length > width) continue;
    for (let at = start + length - width; at <= start; at++) {
      if (at < 0 || at + width > a.length || at + width > b.length) continue;
      const x = read(a, at, width);
      const y = read(b, at, width);
      // Two round numbers (low 16 bits zero, as 0x57f50000 and 0x59750000) are sizes,
      // offsets or flags far more often than two clocks that both fell on such a second.
      if (clock === 'timestamp' && (x & 0xffff) === 0 && (y & 0xffff) === 0) continue;
      if (x !== y && ok(x) && ok(y)) return { a: x, b: y, clock };
    }
  }
  return undefined;
}

/** Runs of differing bytes in two buffers of equal length (runs < 4 bytes apart merge). */
export function byteRegions(a: Buffer, b: Buffer, options: { endian?: 'le' | 'be'; elf?: ElfInfo } = {}): ByteRegions {
  const regions: ByteRegion[] = [];
  let more = 0;
  const n = Math.min(a.length, b.length);
  let at = firstDifference(a, b);
  while (at < n) {
    let end = at + 1;
    for (let gap = 0; end + gap < n && gap < 4;) {
      if (a[end + gap] !== b[end + gap]) {
        end = end + gap + 1;
        gap = 0;
      } else gap++;
    }
    if (regions.length >= MAX_REGIONS) more++;
    else {
      const sec = options.elf === undefined ? undefined : sectionAt(options.elf, at);
      const shown = Math.min(end - at, REGION_BYTES);
      const number = clockReading(a, b, at, end - at, options.endian ?? 'le');
      regions.push({
        offset: at,
        ...(sec === undefined ? {} : { section: sec.name, sectionOffset: at - sec.offset }),
        a: a.toString('hex', at, at + shown),
        b: b.toString('hex', at, at + shown),
        length: end - at,
        ...(number === undefined ? {} : { number }),
      });
    }
    if (end >= n) break;
    at = end + firstDifference(a.subarray(end), b.subarray(end));
  }
  return { regions, more };
}

function elfDiff(a: Buffer, b: Buffer, ea: ElfInfo, eb: ElfInfo): ElfDiff {
  // Sections are matched by name and occurrence (a few names, e.g. .note, may repeat).
  const keyed = (info: ElfInfo): Map<string, ElfSection> => {
    const seen = new Map<string, number>();
    const out = new Map<string, ElfSection>();
    for (const s of info.sections.slice(1)) {
      const n = seen.get(s.name) ?? 0;
      seen.set(s.name, n + 1);
      out.set(n === 0 ? s.name : `${s.name}#${n + 1}`, s);
    }
    return out;
  };
  const sa = keyed(ea);
  const sb = keyed(eb);
  const sections: SectionDiff[] = [];
  const pick = (s: ElfSection | undefined): SectionDiff['a'] => (s === undefined ? undefined : { size: s.size, sha256: s.sha256 });
  for (const name of new Set([...sa.keys(), ...sb.keys()])) {
    const x = sa.get(name);
    const y = sb.get(name);
    if (x !== undefined && y !== undefined && x.size === y.size && x.sha256 === y.sha256) continue;
    sections.push({ name, a: pick(x), b: pick(y) });
  }
  const link = (e: ElfInfo): string | undefined => (e.debuglink === undefined ? undefined : `${e.debuglink.file} (crc ${e.debuglink.crc})`);
  return {
    buildId: { a: ea.buildId, b: eb.buildId },
    debuglink: { a: link(ea), b: link(eb) },
    sections,
    onlyIds: withoutIds(a, ea).equals(withoutIds(b, eb)),
  };
}

function stringsDiff(a: Buffer, b: Buffer, ea?: ElfInfo, eb?: ElfInfo): SequenceDiff {
  // Zeroed ids: the build-id's random bytes must not show up as "strings".
  const sa = printableStrings(ea === undefined ? a : withoutIds(a, ea));
  const sb = printableStrings(eb === undefined ? b : withoutIds(b, eb));
  const sectionOf = ea === undefined || eb === undefined ? undefined : (side: 'a' | 'b', i: number): string | undefined => {
    const s = side === 'a' ? sa[i] : sb[i];
    return s === undefined ? undefined : sectionAt(side === 'a' ? ea : eb, s.offset)?.name;
  };
  return diffSequences(sa.map((s) => s.text), sb.map((s) => s.text), sectionOf);
}

function gzipHeader(buf: Buffer): { mtime: number; name: string } {
  const flags = buf[3] ?? 0;
  let name = '';
  if ((flags & 0x08) !== 0) {
    let at = 10;
    if ((flags & 0x04) !== 0) at += 2 + buf.readUInt16LE(10);
    const end = buf.indexOf(0, at);
    if (end > at) name = buf.toString('latin1', at, end);
  }
  return { mtime: buf.readUInt32LE(4), name };
}

/** How `a` and `b` (the same path in two packages, known to differ) differ. */
export function diffContent(a: Buffer, b: Buffer): ContentDiff {
  const first = firstDifference(a, b);
  if (isElf(a) && isElf(b)) {
    const ea = parseElf(a);
    const eb = parseElf(b);
    if (ea !== undefined && eb !== undefined) {
      const elf = elfDiff(a, b, ea, eb);
      const where = sectionAt(ea, first)?.name;
      // Where the real differences are: byte runs with the ids zeroed, when the layout is the same.
      const regions = !elf.onlyIds && a.length === b.length ? byteRegions(withoutIds(a, ea), withoutIds(b, eb), { endian: ea.endian, elf: ea }) : undefined;
      return {
        kind: 'elf', firstDifference: first,
        ...(where === undefined ? {} : { firstDifferenceSection: where }),
        elf, strings: stringsDiff(a, b, ea, eb),
        ...(regions === undefined ? {} : { regions }),
      };
    }
  }
  if (isGzip(a) && isGzip(b)) {
    const unpack = (x: Buffer): Buffer | undefined => {
      try {
        return gunzipSync(x, { maxOutputLength: 64 * 1024 * 1024 });
      } catch {
        return undefined;
      }
    };
    const ua = unpack(a);
    const ub = unpack(b);
    if (ua !== undefined && ub !== undefined) {
      const ha = gzipHeader(a);
      const hb = gzipHeader(b);
      const sameContents = ua.equals(ub);
      return {
        kind: 'gzip', firstDifference: first,
        gzip: { mtime: { a: ha.mtime, b: hb.mtime }, name: { a: ha.name, b: hb.name }, sameContents, inner: sameContents ? undefined : diffContent(ua, ub) },
      };
    }
  }
  if (looksLikeText(a) && looksLikeText(b)) {
    const split = (x: Buffer): string[] => x.toString('utf8').split('\n');
    return { kind: 'text', firstDifference: first, lines: diffSequences(split(a), split(b)) };
  }
  return {
    kind: 'binary', firstDifference: first, strings: stringsDiff(a, b),
    ...(a.length === b.length ? { regions: byteRegions(a, b) } : {}),
  };
}
