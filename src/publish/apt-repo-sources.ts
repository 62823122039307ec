// Source packages in kiln's apt repository (`deb-src`): a .dsc and the files it lists,
// checked against it, copied into the source's pool directory beside its binaries, and
// listed in dists/SUITE/COMPONENT/source/Sources as Debian's archive and dpkg-scansources
// list them: the .dsc's fields with `Source` renamed `Package` (put first), `Files`,
// `Checksums-Sha1` (when the .dsc has it) and `Checksums-Sha256` each with a line for the
// .dsc itself first, then `Directory`. A source is an IndexEntry of architecture `source`
// (filename: its .dsc in the pool), so publishing merges it by the binaries' version rules.
//
// A local .dsc is trusted as the user hands it over (as `kiln build --dsc` does): its PGP
// armour, if signed, is dropped unchecked when it is read; the pool keeps the file as it is.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { KilnError, type ErrorCode } from '../errors.ts';
import { unwrapVerifiedClearsigned } from '../debian/deb822.ts';
import { fieldValue, parseControlParagraphs, type ControlField } from '../debian/deb-file.ts';
import { versionProblem } from '../debian/version.ts';
import { checksumEntries } from '../debian/sources-index.ts';
import { poolDir, type IndexEntry } from './apt-repo-index.ts';

/** The "architecture" of a source in kiln's lists (`kiln repo list`, `NAME:source`). */
export const SOURCE_ARCH = 'source';

export interface FileFacts {
  readonly size: number;
  readonly sha256: string;
  readonly sha1: string;
  readonly md5: string;
}

/** One file a .dsc lists: the hashes it gives (sha256 from Checksums-Sha256, md5 from Files). */
export interface DscListedFile {
  readonly name: string;
  readonly size: number;
  readonly sha256?: string;
  readonly md5?: string;
}

export interface ParsedDsc {
  readonly source: string;
  readonly version: string;
  /** Every field as written, signature armour dropped. */
  readonly fields: readonly ControlField[];
  /** From Checksums-Sha256, or from Files when the .dsc has no Checksums-Sha256. */
  readonly files: readonly DscListedFile[];
}

/** A .dsc read, checked and ready for the pool: its entry, and every file to copy. */
export interface ReadDsc {
  readonly path: string;
  readonly entry: IndexEntry;
  /** The .dsc and its files: host path → pool path (relative to the repository), sha256. */
  readonly files: readonly { readonly from: string; readonly filename: string; readonly sha256: string }[];
}

const SOURCE_RE = /^[a-z0-9][a-z0-9+.-]+$/;
const HEX = { md5: 32, sha1: 40, sha256: 64 } as const;
// Fields the index sets (the .dsc's own, if any, are left out).
const INDEX_FIELDS = new Set(['package', 'directory', 'files', 'checksums-sha1', 'checksums-sha256', 'checksums-sha512']);

/** Parse a .dsc (pure). `origin` names it in errors. */
export function parseDsc(text: string, origin: string): ParsedDsc {
  const paragraphs = parseControlParagraphs(unwrapVerifiedClearsigned(text, origin), origin);
  const fields = paragraphs[0];
  if (fields === undefined || paragraphs.length !== 1) {
    throw bad(origin, `a .dsc has one paragraph, this has ${paragraphs.length}`);
  }
  const need = (name: string): string => {
    const v = fieldValue(fields, name);
    if (v === undefined || v === '' || v.includes('\n')) throw bad(origin, `no ${name} field (or one spanning several lines)`);
    return v;
  };
  const source = need('Source');
  if (!SOURCE_RE.test(source)) throw bad(origin, `Source "${source}" is not a valid source package name`);
  const version = need('Version');
  const vp = versionProblem(version);
  if (vp !== undefined) throw bad(origin, `Version "${version}": ${vp}`);
  const sha256 = checksumLines(fields, 'Checksums-Sha256', 'sha256', origin);
  const md5 = checksumLines(fields, 'Files', 'md5', origin);
  const listed = sha256.length > 0 ? sha256 : md5;
  if (listed.length === 0) throw bad(origin, 'it lists no files (no Checksums-Sha256 or Files field)');
  // As dpkg-source: each file once, and no other .dsc among them (the index names one .dsc per source).
  const names = new Set<string>();
  for (const f of listed) {
    if (f.name.endsWith('.dsc')) throw bad(origin, `it lists ${f.name}, another .dsc, among its files`);
    if (names.has(f.name)) throw bad(origin, `it lists ${f.name} twice`);
    names.add(f.name);
  }
  const files = listed.map((f) => ({
    name: f.name,
    size: f.size,
    ...(sha256.length > 0 ? { sha256: f.hash } : { md5: f.hash }),
  }));
  return { source, version, fields, files };
}

/** `hello_2.10-3.dsc`: the .dsc's name in the pool (dpkg-source's), epoch dropped. */
export function dscFileName(source: string, version: string): string {
  return `${source}_${version.replace(/^\d+:/, '')}.dsc`;
}

/**
 * The Sources entry of a checked .dsc (pure): `dscFacts` are the .dsc file's own hashes,
 * `sha256Of` each listed file's sha256 (needed when the .dsc lists only md5 sums).
 */
export function entryForDsc(dsc: ParsedDsc, dscFacts: FileFacts, sha256Of: ReadonlyMap<string, string>, component: string): IndexEntry {
  const directory = poolDir(component, dsc.source);
  const dscName = dscFileName(dsc.source, dsc.version);
  const line = (hash: string, size: number, name: string): string => `\n ${hash} ${size} ${name}`;
  const extended = (name: string, kind: keyof typeof HEX, own: string): string =>
    line(own, dscFacts.size, dscName) + checksumLines(dsc.fields, name, kind, dscName).map((f) => line(f.hash, f.size, f.name)).join('');
  const out: ControlField[] = [{ name: 'Package', value: dsc.source }];
  let hasSha256 = false;
  for (const f of dsc.fields) {
    const lower = f.name.toLowerCase();
    if (lower === 'source') continue;
    if (lower === 'files') out.push({ name: f.name, value: extended(f.name, 'md5', dscFacts.md5) });
    else if (lower === 'checksums-sha1') out.push({ name: f.name, value: extended(f.name, 'sha1', dscFacts.sha1) });
    else if (lower === 'checksums-sha256') {
      out.push({ name: f.name, value: extended(f.name, 'sha256', dscFacts.sha256) });
      hasSha256 = true;
    } else if (!INDEX_FIELDS.has(lower)) out.push(f);
  }
  if (!hasSha256) {
    // An old .dsc with md5 sums only: apt wants a strong hash, and kiln has checked them all.
    const value = line(dscFacts.sha256, dscFacts.size, dscName) + dsc.files.map((f) => line(sha256Of.get(f.name) ?? '', f.size, f.name)).join('');
    out.push({ name: 'Checksums-Sha256', value });
  }
  out.push({ name: 'Directory', value: directory });
  return { package: dsc.source, version: dsc.version, architecture: SOURCE_ARCH, filename: `${directory}/${dscName}`, sha256: dscFacts.sha256, fields: out };
}

/** An entry read back from a Sources index this module wrote (pure). */
export function sourceEntryFromParagraph(fields: readonly ControlField[], where: string): IndexEntry {
  const files = sourcePoolFiles(fields, where);
  const get = (name: string): string => fieldValue(fields, name) ?? '';
  // Its own .dsc by name (an index written before .dsc names among the files were refused may list more).
  const own = files.filter((f) => f.filename.endsWith(`/${dscFileName(get('Package'), get('Version'))}`));
  const dscs = own.length > 0 ? own : files.filter((f) => f.filename.endsWith('.dsc'));
  if (dscs.length !== 1 || get('Package') === '' || get('Version') === '') {
    throw new KilnError('index-invalid', `${where}: a paragraph has no Package, Version or exactly one .dsc in Checksums-Sha256`, {
      hint: 'the repository index was edited or damaged; publish into a fresh --repo directory',
    });
  }
  return { package: get('Package'), version: get('Version'), architecture: SOURCE_ARCH, filename: dscs[0]!.filename, sha256: dscs[0]!.sha256, fields };
}

/** The pool files (relative to the repository) a Sources entry lists, with their sha256 (pure). */
export function sourcePoolFiles(fields: readonly ControlField[], where: string): { filename: string; sha256: string }[] {
  const directory = fieldValue(fields, 'Directory') ?? '';
  if (!directory.startsWith('pool/') || directory.includes('..')) {
    throw new KilnError('index-invalid', `${where}: Directory "${directory}" is not a pool directory`, { hint: 'the repository index was edited or damaged; publish into a fresh --repo directory' });
  }
  return checksumLines(fields, 'Checksums-Sha256', 'sha256', where).map((f) => ({ filename: `${directory}/${f.name}`, sha256: f.hash }));
}

/**
 * Read a .dsc for the repository: parse it, hash it, and check every file it lists is
 * beside it with that size and hash (sha256, else md5). Nothing is written.
 */
export async function readDscForRepo(path: string, component: string, signal?: AbortSignal): Promise<ReadDsc> {
  const text = await readFile(path, 'utf8').catch((e: unknown) => {
    throw new KilnError('source-not-found', `cannot read ${path}: ${(e as Error).message}`, { hint: 'check the path of the .dsc', cause: e });
  });
  const dsc = parseDsc(text, path);
  const dscFacts = await hashFile(path, signal, 'source-not-found');
  const sha256Of = new Map<string, string>();
  const files: { from: string; filename: string; sha256: string }[] = [];
  const directory = poolDir(component, dsc.source);
  for (const f of dsc.files) {
    const from = join(dirname(path), f.name);
    const facts = await hashFile(from, signal, 'source-not-found').catch((e: unknown) => {
      if (e instanceof KilnError && e.code === 'cancelled') throw e;
      throw new KilnError('source-not-found', `${path} lists ${f.name}, which is not readable beside it: ${(e as Error).message}`, {
        hint: 'put the .dsc and every file it lists in one folder (dpkg-source -b leaves them so)',
        cause: e,
      });
    });
    const want = f.sha256 !== undefined ? `sha256 ${f.sha256}` : `md5 ${f.md5 ?? ''}`;
    const have = f.sha256 !== undefined ? `sha256 ${facts.sha256}` : `md5 ${facts.md5}`;
    if (want !== have || facts.size !== f.size) {
      throw new KilnError('checksum-mismatch', `${from} does not match ${path}: it lists ${want} (${f.size} bytes), the file has ${have} (${facts.size} bytes)`, {
        hint: 'the file was changed or replaced after the .dsc was made: build the source package again (dpkg-source -b), then publish',
      });
    }
    sha256Of.set(f.name, facts.sha256);
    files.push({ from, filename: `${directory}/${f.name}`, sha256: facts.sha256 });
  }
  const entry = entryForDsc(dsc, dscFacts, sha256Of, component);
  return { path, entry, files: [{ from: path, filename: entry.filename, sha256: dscFacts.sha256 }, ...files] };
}

/** Size, sha256, sha1 and md5 of a file in one read. `code`: the error for an unreadable file. */
export async function hashFile(path: string, signal: AbortSignal | undefined, code: ErrorCode = 'deb-invalid'): Promise<FileFacts> {
  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1');
  const md5 = createHash('md5');
  let size = 0;
  try {
    for await (const chunk of createReadStream(path, signal === undefined ? {} : { signal })) {
      const b = chunk as Buffer;
      sha256.update(b);
      sha1.update(b);
      md5.update(b);
      size += b.length;
    }
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw new KilnError('cancelled', `publishing was cancelled while reading ${path}`, { cause: e });
    throw new KilnError(code, `cannot read ${path}: ${(e as Error).message}`, { hint: 'check that the file is there and readable, and that nothing changes it while it is published', cause: e });
  }
  return { size, sha256: sha256.digest('hex'), sha1: sha1.digest('hex'), md5: md5.digest('hex') };
}

/** `hash size name` lines of a checksum field (empty when the field is absent). */
function checksumLines(fields: readonly ControlField[], name: string, kind: keyof typeof HEX, where: string): { hash: string; size: number; name: string }[] {
  const value = fieldValue(fields, name);
  if (value === undefined) return [];
  if (value.split('\n')[0]!.trim() !== '') throw bad(where, `${name} must start on the line after "${name}:"`);
  return checksumEntries(value, HEX[kind], (line) => bad(where, `bad ${name} line ${JSON.stringify(line.trim())} (expected "${kind} size name")`));
}

function bad(where: string, what: string): KilnError {
  return new KilnError('index-invalid', `${where}: ${what}`, {
    hint: where.endsWith('Sources') ? 'the repository index was edited or damaged; publish into a fresh --repo directory' : 'the .dsc is malformed: make it again with dpkg-source -b',
  });
}
