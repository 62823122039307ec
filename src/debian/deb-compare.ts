// Compare two binary packages (.deb) for reproducibility, the way diffoscope does for
// Debian's reproducible-builds effort but focused on what a build farm needs to report:
//
//   identical bytes             → { verdict: 'reproducible' }
//   otherwise, layer by layer   → { verdict: 'differs', … } saying exactly what differs:
//     ar      the members (debian-binary, control.tar.*, data.tar.*): names, order,
//             sizes, hashes, header mtimes/owners/modes;
//     control each field that differs with both values; md5sums aside (they follow from
//             the data); the other control members (scripts, conffiles, shlibs…) like data;
//     data    added / removed paths; for common paths type, mode, owner, link target,
//             mtime and size; for contents that differ, why (deb-content-diff.ts: ELF
//             sections, build-id and debuglink apart, differing strings or lines, gzip
//             headers).
//   `contentIdentical` says the packages would install the very same files and metadata,
//   so only the container bytes differ (ar timestamps, compression, member order).
//
// compareDebs does the I/O (deb-contents.ts); diffTrees / diffFields / diffAr are pure.
// formatComparison (deb-compare-format.ts) renders a result as text lines for logs.
import { stat } from 'node:fs/promises';
import { sha256File } from '../lib/hash.ts';
import type { ArMember } from './deb-ar.ts';
import { diffContent } from './deb-content-diff.ts';
import type { ContentDiff } from './deb-content-diff.ts';
import { readDataFiles, readDeb } from './deb-contents.ts';
import type { DebContents } from './deb-contents.ts';
import { octalMode } from './deb-tar.ts';
import type { TarEntry } from './deb-tar.ts';

export { formatComparison, summarizeComparison } from './deb-compare-format.ts';

export interface DebSide {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export interface Reproducible {
  readonly verdict: 'reproducible';
  readonly a: DebSide;
  readonly b: DebSide;
}

export type ArField = 'size' | 'sha256' | 'mtime' | 'owner' | 'mode';

export interface ArMemberDiff {
  readonly name: string;
  /** undefined: the member is missing on that side. */
  readonly a: ArMember | undefined;
  readonly b: ArMember | undefined;
  readonly fields: readonly ArField[];
}

export interface FieldDiff {
  /** As written in control files (e.g. `Installed-Size`). */
  readonly field: string;
  readonly a: string | undefined;
  readonly b: string | undefined;
}

export type MetaField = 'type' | 'mode' | 'owner' | 'link' | 'device' | 'mtime' | 'size';

export interface MetaDiff {
  readonly field: MetaField;
  /** Rendered for people: mode `0755`, owner `root/root (0/0)`, mtime ISO 8601 UTC. */
  readonly a: string;
  readonly b: string;
}

export interface EntryDiff {
  readonly path: string;
  readonly type: TarEntry['type'];
  /** Metadata that differs (type, mode, owner, link, device, mtime, size). */
  readonly meta: readonly MetaDiff[];
  /** Set when the contents differ (regular files on both sides). */
  readonly content?: {
    readonly a: { readonly size: number; readonly sha256: string };
    readonly b: { readonly size: number; readonly sha256: string };
    /** Why; absent when a file was too large to analyse. */
    readonly diff?: ContentDiff;
  };
}

export interface TreeDiff {
  readonly total: { readonly a: number; readonly b: number };
  /** Paths present on both sides with the same metadata and contents. */
  readonly identical: number;
  readonly added: readonly TarEntry[];
  readonly removed: readonly TarEntry[];
  readonly changed: readonly EntryDiff[];
  /** Same members, in a different order in the tarball. */
  readonly orderDiffers: boolean;
}

export interface ControlDiff {
  readonly fields: readonly FieldDiff[];
  /** md5sums entries that differ: they follow from the data, so they are kept apart. */
  readonly md5sums: { readonly changed: readonly string[]; readonly added: readonly string[]; readonly removed: readonly string[] };
  /** control.tar members other than `control` and `md5sums` (scripts, conffiles, shlibs…). */
  readonly members: TreeDiff;
}

export interface Differs {
  readonly verdict: 'differs';
  readonly a: DebSide;
  readonly b: DebSide;
  readonly ar: readonly ArMemberDiff[];
  /** Member names in order, when the order or the set differs (e.g. data.tar.xz vs data.tar.zst). */
  readonly arOrder: { readonly a: readonly string[]; readonly b: readonly string[] } | undefined;
  readonly control: ControlDiff;
  readonly data: TreeDiff;
  /** Same fields, control members and data: only the container bytes differ. */
  readonly contentIdentical: boolean;
}

export type DebComparison = Reproducible | Differs;

export interface CompareOptions {
  readonly signal?: AbortSignal;
}

/** Compare the .deb files at `a` and `b` (a: e.g. the archive's, b: ours). */
export async function compareDebs(a: string, b: string, options: CompareOptions = {}): Promise<DebComparison> {
  const hashOpts = options.signal === undefined ? {} : { signal: options.signal };
  const [sa, sb] = await Promise.all([stat(a), stat(b)]);
  const [ha, hb] = await Promise.all([sha256File(a, hashOpts), sha256File(b, hashOpts)]);
  const sideA: DebSide = { path: a, size: sa.size, sha256: ha };
  const sideB: DebSide = { path: b, size: sb.size, sha256: hb };
  if (sa.size === sb.size && ha === hb) return { verdict: 'reproducible', a: sideA, b: sideB };

  const [da, db] = await Promise.all([readDeb(a, hashOpts), readDeb(b, hashOpts)]);
  const data = diffTrees(da.dataEntries, db.dataEntries);
  // Second pass: read only the files whose contents differ, and explain them.
  const differing = new Set(data.changed.filter((c) => c.content !== undefined).map((c) => c.path));
  const [fa, fb] = await Promise.all([readDataFiles(a, differing, hashOpts), readDataFiles(b, differing, hashOpts)]);
  const result: Differs = {
    verdict: 'differs',
    a: sideA,
    b: sideB,
    ar: diffAr(da.ar, db.ar),
    arOrder: arOrder(da.ar, db.ar),
    control: diffControl(da, db),
    data: explainContents(data, fa, fb),
    contentIdentical: false,
  };
  return { ...result, contentIdentical: isContentIdentical(result) };
}

export function isContentIdentical(d: Omit<Differs, 'contentIdentical'>): boolean {
  const t = (x: TreeDiff): boolean => x.added.length === 0 && x.removed.length === 0 && x.changed.length === 0;
  const m = d.control.md5sums;
  return d.control.fields.length === 0 && m.changed.length + m.added.length + m.removed.length === 0 && t(d.control.members) && t(d.data);
}

/** ar members by name: what differs between the two sides (pure). */
export function diffAr(a: readonly ArMember[], b: readonly ArMember[]): ArMemberDiff[] {
  const out: ArMemberDiff[] = [];
  const byName = new Map(b.map((m) => [m.name, m]));
  const seen = new Set<string>();
  for (const x of a) {
    seen.add(x.name);
    const y = byName.get(x.name);
    if (y === undefined) {
      out.push({ name: x.name, a: x, b: undefined, fields: [] });
      continue;
    }
    const fields: ArField[] = [];
    if (x.size !== y.size) fields.push('size');
    if (x.sha256 !== y.sha256) fields.push('sha256');
    if (x.mtime !== y.mtime) fields.push('mtime');
    if (x.uid !== y.uid || x.gid !== y.gid) fields.push('owner');
    if (x.mode !== y.mode) fields.push('mode');
    if (fields.length > 0) out.push({ name: x.name, a: x, b: y, fields });
  }
  for (const y of b) if (!seen.has(y.name)) out.push({ name: y.name, a: undefined, b: y, fields: [] });
  return out;
}

function arOrder(a: readonly ArMember[], b: readonly ArMember[]): Differs['arOrder'] {
  const na = a.map((m) => m.name);
  const nb = b.map((m) => m.name);
  return na.join('\n') === nb.join('\n') ? undefined : { a: na, b: nb };
}

/** `installed-size` → `Installed-Size`. */
export function fieldDisplayName(lower: string): string {
  return lower.replace(/(^|-)([a-z0-9])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

/** Control fields that differ, in the order of a then b (pure). */
export function diffFields(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): FieldDiff[] {
  const out: FieldDiff[] = [];
  for (const name of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(name);
    const y = b.get(name);
    if (x !== y) out.push({ field: fieldDisplayName(name), a: x, b: y });
  }
  return out;
}

function diffControl(a: DebContents, b: DebContents): ControlDiff {
  const changed: string[] = [];
  const added: string[] = [];
  const removed: string[] = [];
  for (const [p, sum] of a.md5sums) {
    const other = b.md5sums.get(p);
    if (other === undefined) removed.push(p);
    else if (other !== sum) changed.push(p);
  }
  for (const p of b.md5sums.keys()) if (!a.md5sums.has(p)) added.push(p);
  const others = (e: TarEntry): boolean => e.path !== 'control' && e.path !== 'md5sums';
  const members = explainContents(diffTrees(a.controlEntries.filter(others), b.controlEntries.filter(others)), a.controlData, b.controlData);
  return { fields: diffFields(a.fields, b.fields), md5sums: { changed, added, removed }, members };
}

const iso = (t: number): string => {
  const d = new Date(t * 1000);
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString().replace('.000Z', 'Z');
};
const owner = (e: TarEntry): string => `${e.uname || e.uid}/${e.gname || e.gid} (${e.uid}/${e.gid})`;

/** Metadata differences of one path present on both sides (pure). */
export function diffMeta(x: TarEntry, y: TarEntry): MetaDiff[] {
  const out: MetaDiff[] = [];
  if (x.type !== y.type) out.push({ field: 'type', a: x.type, b: y.type });
  if (x.mode !== y.mode) out.push({ field: 'mode', a: octalMode(x.mode), b: octalMode(y.mode) });
  if (owner(x) !== owner(y)) out.push({ field: 'owner', a: owner(x), b: owner(y) });
  if (x.link !== y.link) out.push({ field: 'link', a: x.link, b: y.link });
  if (x.device !== y.device) out.push({ field: 'device', a: x.device, b: y.device });
  if (x.mtime !== y.mtime) out.push({ field: 'mtime', a: iso(x.mtime), b: iso(y.mtime) });
  if (x.type === y.type && x.size !== y.size) out.push({ field: 'size', a: String(x.size), b: String(y.size) });
  return out;
}

/** Two member lists compared by path (pure); contents are compared by sha256 only. */
export function diffTrees(a: readonly TarEntry[], b: readonly TarEntry[]): TreeDiff {
  const byPath = new Map(b.map((e) => [e.path, e]));
  const inA = new Set(a.map((e) => e.path));
  const removed: TarEntry[] = [];
  const changed: EntryDiff[] = [];
  let identical = 0;
  for (const x of a) {
    const y = byPath.get(x.path);
    if (y === undefined) {
      removed.push(x);
      continue;
    }
    const meta = diffMeta(x, y);
    const contentDiffers = x.type === 'file' && y.type === 'file' && x.sha256 !== y.sha256;
    if (meta.length === 0 && !contentDiffers) {
      identical++;
      continue;
    }
    changed.push({
      path: x.path,
      type: x.type,
      meta,
      ...(contentDiffers ? { content: { a: { size: x.size, sha256: x.sha256 }, b: { size: y.size, sha256: y.sha256 } } } : {}),
    });
  }
  const added = b.filter((e) => !inA.has(e.path));
  const common = (list: readonly TarEntry[], other: ReadonlyMap<string, unknown> | ReadonlySet<string>): string[] => list.map((e) => e.path).filter((p) => other.has(p));
  const orderDiffers = common(a, byPath).join('\n') !== common(b, inA).join('\n');
  return { total: { a: a.length, b: b.length }, identical, added, removed, changed, orderDiffers };
}

/** Attach a content explanation to every changed file whose contents both sides hold. */
export function explainContents(tree: TreeDiff, dataA: ReadonlyMap<string, Buffer>, dataB: ReadonlyMap<string, Buffer>): TreeDiff {
  return {
    ...tree,
    changed: tree.changed.map((c) => {
      if (c.content === undefined) return c;
      const x = dataA.get(c.path);
      const y = dataB.get(c.path);
      if (x === undefined || y === undefined) return c;
      return { ...c, content: { ...c.content, diff: diffContent(x, y) } };
    }),
  };
}
