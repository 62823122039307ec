// An artifact entry as files that can travel (kiln worker, kiln build --nats): its
// meta.json, its manifest.json (none for a package that installed nothing) and its archive
// (none then either). Importing checks everything against the meta before the entry
// appears: the archive's size and sha256, the manifest's hash against the output hash, the
// key. A bad entry is refused whole (a worker cannot poison the cache with a wrong blob),
// and the entry is written aside and renamed into place, as put() does.

import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { sha256File } from '../lib/hash.ts';
import { manifestHash, type ManifestEntry, canonicalManifest } from './archive.ts';
import { ARCHIVE, KEY_RE, type ArtifactMeta, type ArtifactStore } from './artifact-types.ts';
import { keepForLiveRun } from './in-use.ts';

export interface EntryFiles {
  readonly metaText: string;
  /** The canonical manifest.json text; null when the package installed nothing. */
  readonly manifestText: string | null;
  /** Path of the archive file; null when the package installed nothing. */
  readonly archivePath: string | null;
}

/** The files of a stored entry, or undefined when the store has none under `key`. */
export async function entryFiles(store: ArtifactStore, key: string): Promise<(EntryFiles & { meta: ArtifactMeta }) | undefined> {
  const meta = await store.get(key);
  if (meta === undefined) return undefined;
  const dir = store.dir(key);
  const metaText = await readFile(join(dir, 'meta.json'), 'utf8');
  const manifestText = await readFile(join(dir, 'manifest.json'), 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  return { meta, metaText, manifestText, archivePath: meta.archive === null ? null : join(dir, meta.archive) };
}

/**
 * Stores an entry received as files under `key`, after checking them against its meta.
 * Another process storing the key first is fine (theirs is kept). Returns the meta.
 */
export async function importEntry(store: ArtifactStore, cacheDir: string, key: string, files: EntryFiles, from: string, options: { replace?: boolean; onKept?: (text: string) => void } = {}): Promise<ArtifactMeta> {
  const refuse = (why: string): KilnError =>
    new KilnError('checksum-mismatch', `the artifact ${key.slice(0, 16)} from ${from} was refused: ${why}; nothing was stored`, {
      hint: 'a worker or its transfer is broken (or not trustworthy): the package is built again when asked',
    });
  let meta: ArtifactMeta;
  try {
    meta = JSON.parse(files.metaText) as ArtifactMeta;
  } catch {
    throw refuse('its meta.json is not JSON');
  }
  if (!KEY_RE.test(key)) throw refuse('its key is not one kiln makes');
  if (meta.key !== key || typeof meta.outputHash !== 'string') throw refuse(`its meta.json is for ${String(meta.key).slice(0, 16)}, not this key`);
  // The archive's name is the one put() gives (a name from the sender would be a path).
  if (meta.archive !== null && meta.archive !== ARCHIVE) throw refuse(`its meta.json names the archive ${JSON.stringify(meta.archive)}, not ${ARCHIVE}`);
  const entries = files.manifestText === null ? [] : (JSON.parse(files.manifestText) as ManifestEntry[]);
  if (manifestHash(entries) !== meta.outputHash) throw refuse('its manifest does not hash to the output hash its meta names');
  if ((files.archivePath === null) !== (meta.archive === null)) throw refuse(meta.archive === null ? 'it has an archive its meta does not name' : 'its archive is missing');
  if (files.archivePath !== null) {
    const size = (await stat(files.archivePath)).size;
    const sha = await sha256File(files.archivePath);
    if (size !== meta.size || sha !== meta.sha256) throw refuse(`its archive is ${size} bytes with sha256 ${sha}, its meta says ${meta.size} bytes, ${meta.sha256}`);
  }
  const existing = await store.get(key);
  // One output per key, except a `--force`d rebuild's other output, which replaces the entry
  // as put() does: unless a live run stages it (its dependents' keys name the stored output).
  if (existing !== undefined && (options.replace !== true || existing.outputHash === meta.outputHash)) return existing;
  if (existing !== undefined && (await keepForLiveRun(cacheDir, key, existing.outputHash, options.onKept))) return existing;
  const replacing = existing !== undefined;
  const tmpRoot = join(cacheDir, 'tmp');
  await mkdir(tmpRoot, { recursive: true });
  const work = join(tmpRoot, `import-${key.slice(0, 16)}-${process.pid}-${randomBytes(3).toString('hex')}`);
  await mkdir(work);
  try {
    if (files.archivePath !== null && meta.archive !== null) await copyFile(files.archivePath, join(work, meta.archive));
    // As put() writes it: the canonical text, whose sha256 is the output hash (cache verify checks it).
    if (files.manifestText !== null) await writeFile(join(work, 'manifest.json'), canonicalManifest(entries), { flag: 'wx' });
    await writeFile(join(work, 'meta.json'), files.metaText, { flag: 'wx' });
    const target = store.dir(key);
    await mkdir(join(target, '..'), { recursive: true });
    // The entry it replaces goes aside only now, the new one renamed in right after.
    const aside = replacing ? `${work}.replaced` : undefined;
    if (aside !== undefined) {
      store.forget(key);
      await rename(target, aside).catch(() => undefined);
    }
    try {
      await rename(work, target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    } finally {
      if (aside !== undefined) await rm(aside, { recursive: true, force: true });
    }
    const stored = await store.get(key);
    if (stored === undefined) throw new Error(`internal: the imported artifact ${key} is not there after its rename`);
    return stored;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
