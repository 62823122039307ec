// Render a DebComparison as text for logs and reports: one summary line, then one line
// per difference, indented details below. Differing strings are shown pairwise with the
// changed token picked out, and a token that looks like a build clock (a year, a date, a
// time of day) says so: "2024" → "2026" is a build clock's year, not a code change.
import type { Differs, DebComparison, EntryDiff, TreeDiff } from './deb-compare.ts';
import type { ByteRegion, ByteRegions, ContentDiff, Hunk, SequenceDiff } from './deb-content-diff.ts';
import { octalMode } from './deb-tar.ts';
import type { TarEntry } from './deb-tar.ts';

export interface FormatOptions {
  /** At most this many entries per list (changed, added, removed). Default 50. */
  readonly maxItems?: number;
}

export type ClockKind = 'year' | 'date' | 'time' | 'timestamp';

export interface TokenChange {
  readonly a: string;
  readonly b: string;
  /** Both tokens look like a clock reading of this kind. */
  readonly clock: ClockKind | undefined;
}

const isWordChar = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9]/.test(c);

/** The differing part of two strings, widened to whole words/numbers (pure). */
export function changedToken(a: string, b: string): TokenChange {
  if (a === b) return { a: '', b: '', clock: undefined };
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  while (p > 0 && (isWordChar(a[p - 1]) || isWordChar(b[p - 1]))) p--;
  let s = 0;
  while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  while (s > 0 && (isWordChar(a[a.length - s]) || isWordChar(b[b.length - s]))) s--;
  const ta = a.slice(p, a.length - s);
  const tb = b.slice(p, b.length - s);
  return { a: ta, b: tb, clock: clockKind(ta, tb) };
}

const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const CLOCK: readonly [ClockKind, RegExp][] = [
  ['year', /^(?:19[7-9]\d|2[01]\d\d)$/],
  ['timestamp', /^(?:1[0-9]{9}|2[0-9]{9})$/], // seconds since the epoch, 2001…2033
  ['date', new RegExp(`^(?:\\d{4}-\\d\\d-\\d\\d(?:[T ][\\d:.]+Z?)?|${MONTH} +\\d{1,2} +\\d{4}|\\d{1,2} ${MONTH} \\d{4})$`)],
  ['time', /^\d\d:\d\d(?::\d\d)?$/],
];

function clockKind(a: string, b: string): ClockKind | undefined {
  for (const [kind, re] of CLOCK) if (re.test(a.trim()) && re.test(b.trim())) return kind;
  return undefined;
}

const q = (s: string): string => JSON.stringify(s);
const short = (sha: string): string => sha.slice(0, 12);
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function clockNote(t: TokenChange): string {
  if (t.clock === undefined) return t.a === '' && t.b === '' ? '' : `  [${q(t.a)} → ${q(t.b)}]`;
  return `  [${q(t.a)} → ${q(t.b)}: a ${t.clock}, likely the build clock]`;
}

function hunkLines(h: Hunk, what: 'strings' | 'lines', indent: string): string[] {
  const out: string[] = [];
  const label = (i: number): string => (what === 'lines' ? `line ${h.aStart + 1 + i}` : h.section === undefined ? 'strings' : `strings in ${h.section}`);
  const n = Math.min(h.a.length, h.b.length);
  if (n > 0 && h.aCount === h.bCount) {
    // Pairwise: the same number of items replaced, as in "2024" → "2026".
    for (let i = 0; i < n; i++) {
      const a = h.a[i]!;
      const b = h.b[i]!;
      out.push(`${indent}${label(i)}: ${q(a)} → ${q(b)}${clockNote(changedToken(a, b))}`);
    }
    if (h.aCount > n) out.push(`${indent}  … and ${h.aCount - n} more`);
    return out;
  }
  const at = what === 'lines' ? `lines ${h.aStart + 1}…` : label(0);
  for (const a of h.a) out.push(`${indent}${at}: - ${q(a)}`);
  if (h.aCount > h.a.length) out.push(`${indent}  … and ${h.aCount - h.a.length} more removed`);
  for (const b of h.b) out.push(`${indent}${at}: + ${q(b)}`);
  if (h.bCount > h.b.length) out.push(`${indent}  … and ${h.bCount - h.b.length} more added`);
  return out;
}

function sequenceLines(d: SequenceDiff | undefined, what: 'strings' | 'lines', indent: string): string[] {
  if (d === undefined) return [];
  if (d.tooMany) return [`${indent}${what}: too many differences to list`];
  if (d.hunks.length === 0) return what === 'strings' ? [`${indent}strings: the same (the difference is in non-text bytes)`] : [];
  const out = d.hunks.flatMap((h) => hunkLines(h, what, indent));
  if (d.moreHunks > 0) out.push(`${indent}… and ${plural(d.moreHunks, 'more place')} where ${what} differ`);
  return out;
}

const isoTime = (t: number): string => new Date(t * 1000).toISOString().replace('.000Z', 'Z');
const hex = (n: number): string => `0x${n.toString(16)}`;

function regionWhere(r: ByteRegion): string {
  return r.section === undefined ? `at ${hex(r.offset)}` : `at ${r.section}+${hex(r.sectionOffset ?? 0)} (file offset ${hex(r.offset)})`;
}

function regionNumber(r: ByteRegion): string {
  if (r.number === undefined) return '';
  const n = r.number;
  const show = (x: number): string => (n.clock === 'timestamp' ? `${x} (${isoTime(x)})` : String(x));
  return `  [as an integer ${show(n.a)} → ${show(n.b)}: a ${n.clock}, likely the build clock]`;
}

function regionLines(d: ByteRegions | undefined, indent: string): string[] {
  if (d === undefined || d.regions.length === 0) return [];
  const total = d.regions.length + d.more;
  const out = [`${indent}bytes differ in ${plural(total, 'place')}:`];
  for (const r of d.regions) {
    const cut = r.length > r.a.length / 2 ? '…' : '';
    out.push(`${indent}  ${regionWhere(r)}, ${plural(r.length, 'byte')}: ${r.a}${cut} → ${r.b}${cut}${regionNumber(r)}`);
  }
  if (d.more > 0) out.push(`${indent}  … and ${d.more} more`);
  return out;
}

/** Lines explaining a content difference (below the entry's own line). */
export function contentLines(d: ContentDiff, indent: string): string[] {
  const out: string[] = [];
  switch (d.kind) {
    case 'elf': {
      const e = d.elf!;
      if (e.onlyIds) out.push(`${indent}only the ELF build-id${e.debuglink.a !== e.debuglink.b ? ' and .gnu_debuglink differ' : ' differs'}: the files are equal once those are zeroed`);
      const derived = e.onlyIds ? '' : ' (follows from the other differences)';
      if (e.buildId.a !== e.buildId.b) out.push(`${indent}build-id: ${e.buildId.a ?? '(none)'} → ${e.buildId.b ?? '(none)'}${derived}`);
      if (e.debuglink.a !== e.debuglink.b) out.push(`${indent}debuglink: ${e.debuglink.a ?? '(none)'} → ${e.debuglink.b ?? '(none)'}${derived}`);
      const ids = new Set(['.note.gnu.build-id', '.gnu_debuglink']);
      const real = e.sections.filter((s) => !ids.has(s.name));
      if (real.length > 0) {
        const desc = real.map((s) => {
          if (s.a === undefined) return `${s.name} (only in b)`;
          if (s.b === undefined) return `${s.name} (only in a)`;
          return s.a.size === s.b.size ? `${s.name} (same size)` : `${s.name} (${s.a.size} → ${s.b.size} bytes)`;
        });
        out.push(`${indent}sections differing: ${desc.join(', ')}`);
      } else if (!e.onlyIds) {
        out.push(`${indent}sections: the same apart from the ids; the difference is in the ELF/program headers or between sections`);
      }
      if (!e.onlyIds) out.push(...sequenceLines(d.strings, 'strings', indent), ...regionLines(d.regions, indent));
      break;
    }
    case 'gzip': {
      const g = d.gzip!;
      const hdr: string[] = [];
      if (g.mtime.a !== g.mtime.b) hdr.push(`mtime ${g.mtime.a} → ${g.mtime.b}`);
      if (g.name.a !== g.name.b) hdr.push(`name ${q(g.name.a)} → ${q(g.name.b)}`);
      if (g.sameContents) out.push(`${indent}gzip: same contents, the compressed stream differs${hdr.length > 0 ? ` (header ${hdr.join(', ')})` : ' (compression level or implementation)'}`);
      else {
        out.push(`${indent}gzip: the decompressed contents differ${hdr.length > 0 ? ` (and the header: ${hdr.join(', ')})` : ''}`);
        if (g.inner !== undefined) out.push(...contentLines(g.inner, `${indent}  `));
      }
      break;
    }
    case 'text':
      out.push(...sequenceLines(d.lines, 'lines', indent));
      break;
    case 'binary':
      out.push(...sequenceLines(d.strings, 'strings', indent), ...regionLines(d.regions, indent));
      break;
    default: {
      const never: never = d.kind;
      throw new Error(`unexpected content kind ${String(never)}`);
    }
  }
  return out;
}

function entryDesc(e: TarEntry): string {
  const link = e.link === '' ? '' : ` → ${e.link}`;
  return `${e.path} (${e.type} ${octalMode(e.mode)} ${e.uname || e.uid}/${e.gname || e.gid}${e.type === 'file' ? `, ${plural(e.size, 'byte')}` : ''}${link})`;
}

function changedLines(c: EntryDiff, label: string, indent: string): string[] {
  const parts = c.meta.map((m) => `${m.field} ${m.a} → ${m.b}`);
  const out: string[] = [];
  if (c.content !== undefined) {
    const d = c.content.diff;
    const kind = d === undefined ? '' : d.kind === 'elf' ? 'ELF, ' : d.kind === 'gzip' ? 'gzip, ' : d.kind === 'text' ? 'text, ' : '';
    const sizes = c.content.a.size === c.content.b.size ? `${c.content.a.size} bytes both` : `${c.content.a.size} → ${c.content.b.size} bytes`;
    const first = d === undefined ? '' : `, first difference at byte ${d.firstDifference}${d.firstDifferenceSection === undefined ? '' : ` (${d.firstDifferenceSection})`}`;
    parts.unshift(`contents differ (${kind}${sizes}${first}; sha256 ${short(c.content.a.sha256)} → ${short(c.content.b.sha256)})`);
  }
  out.push(`${indent}${label}: ${c.path}: ${parts.join('; ')}`);
  if (c.content?.diff !== undefined) out.push(...contentLines(c.content.diff, `${indent}    `));
  else if (c.content !== undefined) out.push(`${indent}    (too large to analyse)`);
  return out;
}

/** One line per entry that differs (with its content lines); a recipe's --twice lists its output so too (execute/recipe-twice.ts). */
export function treeLines(t: TreeDiff, label: string, indent: string, max: number): string[] {
  const out: string[] = [];
  const capped = <T>(list: readonly T[], render: (x: T) => string[], what: string): void => {
    for (const x of list.slice(0, max)) out.push(...render(x));
    if (list.length > max) out.push(`${indent}${label}: … and ${list.length - max} more ${what}`);
  };
  capped(t.changed, (c) => changedLines(c, label, indent), 'changed');
  capped(t.added, (e) => [`${indent}${label}: only in b: ${entryDesc(e)}`], 'only in b');
  capped(t.removed, (e) => [`${indent}${label}: only in a: ${entryDesc(e)}`], 'only in a');
  if (t.orderDiffers) out.push(`${indent}${label}: the members are in a different order in the tarball`);
  return out;
}

/** One entry that differs, in a few words: its path and the gist (a changed token, `ELF build-id only`, the fields). */
export function describeFile(c: EntryDiff): string {
  const d = c.content?.diff;
  const bits: string[] = [];
  if (d?.kind === 'elf' && d.elf !== undefined) {
    if (d.elf.onlyIds) bits.push('ELF build-id only');
    else {
      const tokens = firstTokens(d.strings) ?? firstNumber(d.regions);
      if (tokens !== undefined) bits.push(tokens);
      const real = d.elf.sections.filter((s) => s.name !== '.note.gnu.build-id' && s.name !== '.gnu_debuglink').map((s) => s.name);
      if (tokens === undefined && real.length > 0) bits.push(`ELF ${real.slice(0, 3).join(' ')}`);
      if (d.elf.buildId.a !== d.elf.buildId.b) bits.push('ELF build-id');
    }
  } else if (d?.kind === 'gzip' && d.gzip?.sameContents === true) bits.push('gzip header only');
  else if (d !== undefined) {
    const tokens = firstTokens(d.kind === 'text' ? d.lines : d.strings);
    if (tokens !== undefined) bits.push(tokens);
  }
  for (const m of c.meta) bits.push(m.field);
  return bits.length === 0 ? c.path : `${c.path}: ${bits.join(', ')}`;
}

function firstNumber(d: ByteRegions | undefined): string | undefined {
  const r = d?.regions.find((x) => x.number !== undefined);
  if (r?.number === undefined) return undefined;
  return `${r.number.a} → ${r.number.b} in ${r.section ?? 'the bytes'} (a ${r.number.clock}: build clock?)`;
}

function firstTokens(d: SequenceDiff | undefined): string | undefined {
  const h = d?.hunks[0];
  if (h === undefined || h.a.length === 0 || h.b.length === 0) return undefined;
  const t = changedToken(h.a[0]!, h.b[0]!);
  if (t.a === '' && t.b === '') return undefined;
  return `${q(t.a)} → ${q(t.b)}${t.clock === undefined ? '' : ` (a ${t.clock}: build clock?)`}`;
}

/** One line: the verdict and the gist of what differs. */
export function summarizeComparison(c: DebComparison): string {
  if (c.verdict === 'reproducible') return `reproducible: identical bytes (sha256 ${short(c.a.sha256)})`;
  const parts: string[] = [];
  const d = c.data;
  const n = d.changed.length + d.added.length + d.removed.length;
  if (n > 0) {
    const files = d.changed.slice(0, 3).map(describeFile);
    if (d.changed.length > 3) files.push(`${d.changed.length - 3} more`);
    const extra = [d.added.length > 0 ? `${d.added.length} only in b` : '', d.removed.length > 0 ? `${d.removed.length} only in a` : ''].filter((s) => s !== '');
    parts.push(`data: ${d.changed.length} of ${d.total.a} entries differ${files.length > 0 ? ` (${files.join('; ')})` : ''}${extra.length > 0 ? `, ${extra.join(', ')}` : ''}`);
  }
  if (c.control.fields.length > 0) parts.push(`control fields: ${c.control.fields.map((f) => f.field).join(', ')}`);
  const cm = c.control.members;
  if (cm.changed.length + cm.added.length + cm.removed.length > 0) parts.push(`control members: ${[...cm.changed.map((x) => x.path), ...cm.added.map((x) => x.path), ...cm.removed.map((x) => x.path)].join(', ')}`);
  if (c.contentIdentical) parts.push(`same contents; only the container differs (${containerGist(c)})`);
  return `differs: ${parts.join('; ')}`;
}

function containerGist(c: Differs): string {
  const bits: string[] = [];
  if (c.arOrder !== undefined) bits.push(`ar members ${c.arOrder.a.join(' ')} vs ${c.arOrder.b.join(' ')}`);
  for (const m of c.ar) if (m.a !== undefined && m.b !== undefined) bits.push(`${m.name} ${m.fields.join('/')}`);
  if (c.data.orderDiffers) bits.push('data member order');
  return bits.join(', ') || 'unknown';
}

/** The comparison as text lines, for logs and reports. */
export function formatComparison(c: DebComparison, options: FormatOptions = {}): string[] {
  const max = options.maxItems ?? 50;
  const out = [summarizeComparison(c)];
  out.push(`  a: ${c.a.path} (${c.a.size} bytes, sha256 ${c.a.sha256})`);
  out.push(`  b: ${c.b.path} (${c.b.size} bytes, sha256 ${c.b.sha256})`);
  if (c.verdict === 'reproducible') return out;
  if (c.arOrder !== undefined) out.push(`  ar: members ${c.arOrder.a.join(', ')} → ${c.arOrder.b.join(', ')}`);
  for (const m of c.ar) {
    if (m.a === undefined || m.b === undefined) continue; // shown by the order line
    const bits = m.fields.map((f) => {
      switch (f) {
        case 'size': return `size ${m.a!.size} → ${m.b!.size}`;
        case 'sha256': return `sha256 ${short(m.a!.sha256)} → ${short(m.b!.sha256)}`;
        case 'mtime': return `mtime ${isoTime(m.a!.mtime)} → ${isoTime(m.b!.mtime)}`;
        case 'owner': return `owner ${m.a!.uid}/${m.a!.gid} → ${m.b!.uid}/${m.b!.gid}`;
        case 'mode': return `mode ${m.a!.mode.toString(8)} → ${m.b!.mode.toString(8)}`;
        default: {
          const never: never = f;
          throw new Error(`unexpected ar field ${String(never)}`);
        }
      }
    });
    out.push(`  ar: ${m.name}: ${bits.join(', ')}`);
  }
  for (const f of c.control.fields) out.push(`  control: ${f.field}: ${f.a === undefined ? '(absent)' : q(f.a)} → ${f.b === undefined ? '(absent)' : q(f.b)}`);
  const m = c.control.md5sums;
  const md5 = [...m.changed, ...m.added.map((p) => `+${p}`), ...m.removed.map((p) => `-${p}`)];
  if (md5.length > 0) out.push(`  control: md5sums differ for ${md5.slice(0, 10).join(', ')}${md5.length > 10 ? ` … (${md5.length} in all)` : ''} (follows from the data)`);
  out.push(...treeLines(c.control.members, 'control', '  ', max));
  const d = c.data;
  out.push(`  data: ${d.total.a} entries in a, ${d.total.b} in b: ${d.identical} identical, ${d.changed.length} differ, ${d.added.length} only in b, ${d.removed.length} only in a`);
  out.push(...treeLines(d, 'data', '  ', max));
  return out;
}
