// A Debian source package's files (.dsc, .orig.tar.*, .debian.tar.*), fetched through the
// content-addressed downloads cache and checked twice:
//   1. each file against the sha256 that Sources lists (Sources is checked against the
//      signed Release, so this chain is what makes the files trusted), by the downloads
//      cache before the file becomes visible;
//   2. the .dsc's own Checksums-Sha256 must list exactly the same files with the same
//      sha256 and size, so a Sources entry and its .dsc can never disagree silently.
// The .dsc's own PGP signature (by the uploader) is not checked: it is trusted through its
// hash from Sources, and only then unwrapped.
import { constants as fsConstants } from 'node:fs';
import { copyFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KilnError } from '../errors.ts';
import { listedButMissing, type Downloads } from '../cache/downloads.ts';
import { sha256File } from '../lib/hash.ts';
import { INDEX_INVALID, folded, parseDeb822, required, unwrapVerifiedClearsigned, words } from './deb822.ts';
import { checksums } from './sources-index.ts';
import type { SourceFile, SourcePackage } from './sources-index.ts';

export interface Dsc {
  readonly source: string;
  readonly version: string;
  readonly format: string;
  readonly binaries: readonly string[];
  readonly architecture: readonly string[];
  /** Files other than the .dsc itself, from its Checksums-Sha256. */
  readonly files: readonly SourceFile[];
  /** Every field, lower-cased names (Build-Depends etc. for callers that want them raw). */
  readonly fields: ReadonlyMap<string, string>;
}

export interface LocalSourceFile extends SourceFile {
  /** Where the verified file is (in the downloads cache, or beside a local .dsc). */
  readonly path: string;
}

export interface FetchedSource {
  readonly dsc: Dsc;
  readonly dscFile: LocalSourceFile;
  /** The .dsc's other files, in its order. */
  readonly files: readonly LocalSourceFile[];
}

/**
 * Parse a .dsc whose integrity is already established (by its sha256 from a verified
 * Sources, or because the user handed it to us as a local file).
 */
export function parseVerifiedDsc(text: string, origin: string): Dsc {
  const paragraphs = parseDeb822(unwrapVerifiedClearsigned(text, origin), { source: origin });
  const p = paragraphs[0];
  if (p === undefined || paragraphs.length !== 1) {
    throw new KilnError(INDEX_INVALID, `${origin}: a .dsc has one paragraph, found ${paragraphs.length}`, { hint: 'give the .dsc that dpkg-source -b wrote (one paragraph, PGP-signed or not); for a mirror\'s .dsc, try another mirror' });
  }
  return {
    source: required(p, 'Source', origin),
    version: required(p, 'Version', origin),
    format: p.fields.get('format') ?? '1.0',
    binaries: (folded(p.fields.get('binary')) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''),
    architecture: words(p.fields.get('architecture')),
    files: checksums(p.fields.get('checksums-sha256'), origin),
    fields: p.fields,
  };
}

export interface FetchSourceOptions {
  /** Mirror base url (the directory holding pool/). */
  readonly mirror: string;
  readonly downloads: Downloads;
  readonly signal?: AbortSignal;
}

/** Fetch and verify a source package listed in a (verified) Sources index. */
export async function fetchSource(src: SourcePackage, options: FetchSourceOptions): Promise<FetchedSource> {
  const base = `${options.mirror.replace(/\/+$/, '')}/${src.directory.replace(/^\/+|\/+$/g, '')}`;
  const what = `${src.package} ${src.version}`;
  const dscs = src.files.filter((f) => f.name.endsWith('.dsc'));
  const dscEntry = dscs[0];
  if (dscEntry === undefined || dscs.length > 1) {
    throw new KilnError(INDEX_INVALID, `Sources entry of ${what} lists ${dscs.length} .dsc files, expected one`, { hint: 'the index is malformed: try another mirror' });
  }
  const get = async (f: SourceFile): Promise<LocalSourceFile> => {
    const url = `${base}/${f.name}`;
    const path = await options.downloads.fetch(url, f.sha256, options.signal === undefined ? {} : { signal: options.signal }).catch((e: unknown) => {
      throw listedButMissing(e);
    });
    const size = (await stat(path)).size;
    if (size !== f.size) {
      throw new KilnError('checksum-mismatch', `${url}: expected ${f.size} bytes, got ${size} (sha256 matches, so the index itself is inconsistent)`, { hint: 'try another mirror' });
    }
    return { ...f, path };
  };
  const dscFile = await get(dscEntry);
  const dscUrl = `${base}/${dscEntry.name}`;
  const dsc = parseVerifiedDsc(await readFile(dscFile.path, 'utf8'), dscUrl);
  if (dsc.source !== src.package || dsc.version !== src.version) {
    throw new KilnError('checksum-mismatch', `${dscUrl} is ${dsc.source} ${dsc.version}, but Sources lists it for ${what}`, { hint: 'the index is inconsistent: try another mirror' });
  }
  crossCheck(dsc, src.files.filter((f) => f !== dscEntry), dscUrl, `the Sources entry of ${what}`);

  // Fetch the rest side by side; report every file that failed, not just the first.
  const settled = await Promise.allSettled(dsc.files.map(get));
  const failed = settled.flatMap((r, i) => (r.status === 'rejected' ? [{ name: dsc.files[i]?.name ?? '?', error: r.reason as unknown }] : []));
  if (failed.length > 0) {
    if (options.signal?.aborted === true) throw options.signal.reason;
    const first = failed[0]?.error;
    const code = first instanceof KilnError ? first.code : 'download-failed';
    const lines = failed.map((f) => `  ${f.name}: ${f.error instanceof Error ? f.error.message : String(f.error)}`);
    throw new KilnError(code, `cannot fetch source package ${what}: ${failed.length} of ${dsc.files.length} files failed\n${lines.join('\n')}`, {
      hint: first instanceof KilnError && first.hint !== undefined ? first.hint : 'check the mirror, then run again',
      cause: first,
    });
  }
  const files = settled.map((r) => (r as PromiseFulfilledResult<LocalSourceFile>).value);
  return { dsc, dscFile, files };
}

/** Read a local .dsc and verify the files beside it against its Checksums-Sha256. */
export async function readLocalDsc(dscPath: string, options: { signal?: AbortSignal } = {}): Promise<FetchedSource> {
  const text = await readFile(dscPath, 'utf8').catch((e: unknown) => {
    throw new KilnError('source-not-found', `cannot read ${dscPath}: ${(e as Error).message}`, { hint: 'check the path of the .dsc', cause: e });
  });
  const dsc = parseVerifiedDsc(text, dscPath);
  const dir = dirname(dscPath);
  const files: LocalSourceFile[] = [];
  for (const f of dsc.files) {
    const path = join(dir, f.name);
    const actual = await sha256File(path, options).catch((e: unknown) => {
      throw new KilnError('source-not-found', `${dscPath} lists ${f.name}, which is not readable beside it: ${(e as Error).message}`, {
        hint: 'put the .dsc and all its files in one folder',
        cause: e,
      });
    });
    const size = (await stat(path)).size;
    if (actual !== f.sha256 || size !== f.size) {
      throw new KilnError('checksum-mismatch', `${path} does not match ${dscPath}: expected sha256 ${f.sha256} (${f.size} bytes), got ${actual} (${size} bytes)`, {
        hint: 'the file was changed or replaced; fetch the source package again',
      });
    }
    files.push({ ...f, path });
  }
  const st = await stat(dscPath);
  return { dsc, dscFile: { name: basename(dscPath), sha256: await sha256File(dscPath, options), size: st.size, path: dscPath }, files };
}

/**
 * Put the .dsc and its files under their own names in `dir` (copies, cloned where the
 * filesystem can), ready for `dpkg-source -x`.
 */
export async function placeSource(fetched: FetchedSource, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const f of [fetched.dscFile, ...fetched.files]) {
    const to = join(dir, f.name);
    await rm(to, { force: true });
    // A copy, never a hard link: the sandbox hands these files to the build user, and a
    // shared inode would hand over the cache entry (or the user's own .dsc) with them.
    await copyFile(f.path, to, fsConstants.COPYFILE_FICLONE);
  }
  return join(dir, fetched.dscFile.name);
}

/** The .dsc's files and the index's must be the same set with the same hashes and sizes. */
function crossCheck(dsc: Dsc, listed: readonly SourceFile[], dscUrl: string, listedWhere: string): void {
  const byName = new Map(listed.map((f) => [f.name, f]));
  const problems: string[] = [];
  for (const f of dsc.files) {
    const l = byName.get(f.name);
    if (l === undefined) problems.push(`${f.name} is in the .dsc but not in ${listedWhere}`);
    else if (l.sha256 !== f.sha256 || l.size !== f.size) {
      problems.push(`${f.name}: the .dsc says sha256 ${f.sha256} (${f.size} bytes), ${listedWhere} says ${l.sha256} (${l.size} bytes)`);
    }
    byName.delete(f.name);
  }
  for (const name of byName.keys()) problems.push(`${name} is in ${listedWhere} but not in the .dsc`);
  if (problems.length > 0) {
    throw new KilnError('checksum-mismatch', `${dscUrl} disagrees with ${listedWhere}:\n  ${problems.join('\n  ')}`, {
      hint: 'the mirror is inconsistent or tampered with: try another mirror',
    });
  }
}
