// The artifact store: one built package per input key, at
// `<cacheDir>/artifacts/<key[0..2]>/<key>/` (see downloads.ts for the whole cache layout).
//
// put() assembles the whole entry (archive, manifest.json, meta.json; only meta.json for a
// package that installed nothing) in a private directory under `<cacheDir>/tmp/` and
// renames it into place. rename(2) of a directory onto an existing non-empty one fails, so
// when two kiln processes build the same key at once exactly one entry wins and the loser
// adopts it. meta.json's mtime records the last use (touch) for gc.
//
// The small metadata steps (meta.json reads, the entry's directory, its JSON files and
// the rename) are synchronous: each is one quick syscall, where the thread pool would add
// a round trip per step to every job (a no-op job's whole cost is a few of them). Entries
// never change once stored (but for a `--force`d rebuild's other output, which replaces an
// entry no live run stages: see put()), so a store remembers the metas it has read or written and
// staging a package that thousands of others need reads its meta.json once per run.
//
// An archive can still rot on disk (a full disk, a crash mid-copy, a hand edit). Staging
// does not hash it first (a package staged by thousands of jobs would be read thousands of
// times): when unpacking fails, the archive is compared with meta.json and, if it differs,
// the entry is removed so that the next plan builds the package again (artifact-corrupt).
// put() over an existing entry (a forced rebuild) checks it too and replaces a bad one;
// with `replace` (--force) another output replaces a sound one, unless a live run stages it.
//
// The store's shapes (meta, put options, the interface) are in artifact-types.ts, and the
// reading of one entry on disk (its meta.json, its archive's check) in artifact-entry.ts.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { sha256File } from '../lib/hash.ts';
import { buildManifest, canonicalManifest, manifestHash, packDir, unpackArchive, type ManifestEntry } from './archive.ts';
import { assertOutputFolder } from './output-folder.ts';
import type { ElfHeader } from '../lib/elf-header.ts';
import { EMPTY_OUTPUT, entryArchiveProblem, manifestFileProblem, readEntryMeta } from './artifact-entry.ts';
import { keepForLiveRun } from './in-use.ts';
import { overExisting } from './forced-put.ts';
import { ARCHIVE, KEY_RE, USE_MARK_MS, type ArtifactMeta, type ArtifactStore, type PutOptions } from './artifact-types.ts';



export function createArtifactStore(options: { cacheDir: string }): ArtifactStore {
  const { cacheDir } = options;
  const tmpRoot = join(cacheDir, 'tmp');

  const dir = (key: string): string => {
    if (!KEY_RE.test(key)) throw new Error(`artifacts: invalid key ${JSON.stringify(key)}`);
    return join(cacheDir, 'artifacts', key.slice(0, 2), key);
  };

  /** Metas read or written by this store: an entry never changes once stored (a --force replacement goes through forget()/put(), which update this). */
  const known = new Map<string, ArtifactMeta>();

  /** The entry's meta.json as it is on disk now: absent, torn (or foreign), or its meta. */
  function readMeta(key: string): ArtifactMeta | 'absent' | 'torn' {
    return readEntryMeta(dir(key), key);
  }

  function peek(key: string): ArtifactMeta | undefined {
    const m = readMeta(key);
    if (typeof m === 'string') return undefined;
    known.set(key, m);
    return m;
  }

  async function get(key: string): Promise<ArtifactMeta | undefined> {
    const m = readMeta(key);
    if (m === 'torn') await discard(key, 'torn');
    if (typeof m === 'string') return undefined;
    known.set(key, m);
    return m;
  }

  /** Move a bad entry aside (readers then see it absent) and delete it. */
  async function discard(key: string, why: 'torn' | 'corrupt'): Promise<void> {
    known.delete(key);
    putHere.delete(key);
    await mkdir(tmpRoot, { recursive: true });
    const aside = join(tmpRoot, `${why}-${key.slice(0, 16)}-${process.pid}-${Date.now()}-${randomBytes(3).toString('hex')}`);
    try {
      await rename(dir(key), aside);
      await rm(aside, { recursive: true, force: true });
    } catch {
      // another process moved it first
    }
  }

  async function manifest(key: string): Promise<ManifestEntry[] | undefined> {
    try {
      return JSON.parse(await readFile(join(dir(key), 'manifest.json'), 'utf8')) as ManifestEntry[];
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      // An entry for a package that installed nothing has no manifest file (see put).
      return peek(key)?.outputHash === EMPTY_OUTPUT ? [] : undefined;
    }
  }

  /**
   * A plan found this key's artifact (up to date): mark it used for cache gc, at most once
   * an hour (USE_MARK_MS): a no-change run of 10,000 packages then costs no write at all,
   * and an artifact every CI job finds up to date is never collected as unused. With the
   * mtime of its meta.json when the caller has just stat'ed it.
   */
  function markUsed(key: string, mtimeMs?: number): void {
    // Marked within the hour (the caller's stat says): nothing to do, not even the path.
    if (mtimeMs !== undefined && Date.now() - mtimeMs < USE_MARK_MS) return;
    const file = join(dir(key), 'meta.json');
    try {
      const last = mtimeMs ?? statSync(file).mtimeMs;
      if (Date.now() - last < USE_MARK_MS) return;
      const now = new Date();
      utimesSync(file, now, now);
    } catch {
      // gone meanwhile (gc): the build finds it missing and builds it
    }
  }

  // One quick metadata call: inline, like the other small steps (see the header).
  async function touch(key: string): Promise<void> {
    const now = new Date();
    try {
      utimesSync(join(dir(key), 'meta.json'), now, now);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  // Directories known to exist (tmpRoot, the key-prefix fan-out dirs): made once per store.
  const made = new Set<string>();
  const ensureDir = (path: string): void => {
    if (made.has(path)) return;
    mkdirSync(path, { recursive: true });
    made.add(path);
  };
  let workSeq = 0;
  // Work dir names: pid + sequence is unique among live kiln processes; the random part,
  // drawn once per store, guards against a leftover from a dead process that had the same
  // pid (mkdir then fails with EEXIST).
  const workTag = `${process.pid}-${randomBytes(3).toString('hex')}`;

  /**
   * Keys this store put: their meta.json was written during this run, so gc (which keeps
   * whatever was used since the oldest live run started) leaves them, and staging one
   * needs neither a stat to see that it is still there nor a touch.
   */
  const putHere = new Set<string>();

  /** Keys whose corrupt entry this store removed: a later stage of one is told why it is gone. */
  const removedCorrupt = new Set<string>();

  /** The manifest of o.destDir, walked for the output checks, which it then runs (they throw to refuse it). */
  async function manifestChecked(o: PutOptions, check: NonNullable<PutOptions['check']>): Promise<{ entries: ManifestEntry[]; warnings: readonly string[] }> {
    const elf = check.readElf ? new Map<string, ElfHeader>() : undefined;
    const holding: string[] | undefined = check.needles.length > 0 ? [] : undefined;
    const entries = await buildManifest(o.destDir, { signal: o.signal, ...(elf === undefined ? {} : { elf }), ...(holding === undefined ? {} : { needles: check.needles, holding }) });
    const warnings = check.run({ entries, elf, holding: holding ?? [] });
    return { entries, warnings };
  }

  /** Whether the build installed nothing (told by the sandbox, else listed). */
  function isEmpty(o: PutOptions): boolean {
    return o.destEmpty === true || readdirSync(o.destDir).length === 0;
  }

  /** The output's manifest, checked when the caller has checks, and their warnings. */
  async function outputOf(o: PutOptions, empty = isEmpty(o)): Promise<{ entries: ManifestEntry[]; warnings: readonly string[] }> {
    if (empty) return { entries: [], warnings: [] };
    return o.check === undefined ? { entries: await buildManifest(o.destDir, { signal: o.signal }), warnings: [] } : manifestChecked(o, o.check);
  }

  async function put(key: string, o: PutOptions): Promise<ArtifactMeta> {
    const target = dir(key);
    // destEmpty is only ever said of a real directory (lstat'ed); anything else is looked at.
    if (o.destEmpty !== true) assertOutputFolder(o.destDir);
    // A sound entry another output replaces: moved aside only at the very moment the new one
    // is renamed into place (no gap in which the key has no entry), with the output checked once.
    let replacing: ArtifactMeta | undefined;
    let checkedOnce: { entries: ManifestEntry[]; warnings: readonly string[] } | undefined;
    if (o.knownAbsent !== true) {
      const existing = await get(key);
      // Only a forced rebuild puts over an existing entry (a normal build has just seen
      // none), so reading its archive once here is cheap next to the build: a corrupt
      // entry is replaced by the new one instead of being handed back.
      if (existing !== undefined && (await archiveProblem(existing, o.signal)) !== undefined) await discard(key, 'corrupt');
      else if (existing !== undefined) {
        // A forced rebuild's own output is checked all the same (forced-put.ts decides).
        if (o.check === undefined && o.replace !== true) return existing;
        const checked = await outputOf(o);
        switch (overExisting(existing, { outputHash: manifestHash(checked.entries), warnings: checked.warnings }, o.replace === true)) {
          case 'keep':
            return existing;
          case 'rewrite-warnings': {
            const { warnings: _old, ...rest } = existing;
            const updated: ArtifactMeta = { ...rest, ...(checked.warnings.length === 0 ? {} : { warnings: checked.warnings }) };
            const file = join(target, 'meta.json');
            const aside = `${file}.${workTag}-${++workSeq}`;
            writeFileSync(aside, `${JSON.stringify(updated, null, 2)}\n`, { flag: 'wx' });
            renameSync(aside, file);
            known.set(key, updated);
            return updated;
          }
          case 'replace':
            // A live run stages this entry: kept, and said (asked again right before the swap).
            if (await keepForLiveRun(cacheDir, key, existing.outputHash, o.onKept)) return existing;
            replacing = existing;
            checkedOnce = checked;
        }
      }
    }

    // Fast path: most no-op or metadata-only packages install nothing.
    const empty = checkedOnce !== undefined ? checkedOnce.entries.length === 0 : isEmpty(o);
    ensureDir(tmpRoot);
    const work = join(tmpRoot, `art-${key.slice(0, 16)}-${workTag}-${++workSeq}`);
    mkdirSync(work);
    let stored = false;
    try {
      const { entries, warnings } = checkedOnce ?? (await outputOf(o, empty));
      const archivePath = join(work, ARCHIVE);
      const packed = empty ? false : await packDir(o.destDir, archivePath, { sourceDateEpoch: o.sourceDateEpoch, signal: o.signal });
      let size = 0;
      let archiveSha: string | null = null;
      if (packed) {
        await fsyncFile(archivePath);
        size = (await stat(archivePath)).size;
        archiveSha = await sha256File(archivePath, { signal: o.signal });
      }
      const meta: ArtifactMeta = {
        ...o.meta,
        key,
        outputHash: manifestHash(entries),
        size,
        sha256: archiveSha,
        archive: packed ? ARCHIVE : null,
        installedSize: entries.reduce((n, e) => n + e.size, 0),
        fileCount: entries.filter((e) => e.type !== 'dir').length,
        ...(warnings.length === 0 ? {} : { warnings }),
        createdAt: new Date().toISOString(),
      };
      // An empty manifest is told by the output hash: one file fewer to create per
      // package that installs nothing (each new inode costs a no-op job ~50 µs on ext4).
      if (entries.length > 0) writeFileSync(join(work, 'manifest.json'), canonicalManifest(entries), { flag: 'wx' });
      writeFileSync(join(work, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`, { flag: 'wx' });
      ensureDir(join(target, '..'));

      o.signal?.throwIfAborted();
      let aside: string | undefined;
      // A run that began staging the entry while this one was packed keeps it after all.
      if (replacing !== undefined && (await keepForLiveRun(cacheDir, key, replacing.outputHash, o.onKept))) return replacing;
      if (replacing !== undefined) {
        aside = join(tmpRoot, `replaced-${key.slice(0, 16)}-${workTag}-${++workSeq}`);
        known.delete(key);
        putHere.delete(key);
        try {
          renameSync(target, aside);
        } catch {
          aside = undefined; // another process moved it first
        }
      }
      try {
        try {
          renameSync(work, target);
        } catch (e) {
          // The fan-out dir was known to exist, but cache gc may have removed it since.
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
          mkdirSync(join(target, '..'), { recursive: true });
          renameSync(work, target);
        }
        stored = true;
        known.set(key, meta);
        putHere.add(key);
        removedCorrupt.delete(key);
        return meta;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
        // Another process stored this key first: theirs is as good as ours.
        const theirs = await get(key);
        if (theirs === undefined) throw e;
        return theirs;
      } finally {
        if (aside !== undefined) await rm(aside, { recursive: true, force: true });
      }
    } finally {
      if (!stored) await rm(work, { recursive: true, force: true });
    }
  }

  async function stageInto(key: string, sysrootDir: string, opts: { signal?: AbortSignal; touch?: boolean } = {}): Promise<ArtifactMeta> {
    // A meta this store has seen is still right (entries never change): a stat tells
    // whether gc has removed the entry since.
    const fresh = putHere.has(key);
    let meta = known.get(key);
    if (meta !== undefined && !fresh && !existsSync(join(dir(key), 'meta.json'))) meta = undefined;
    meta ??= await get(key);
    if (meta === undefined) {
      throw new KilnError('artifact-missing', `artifact ${key} is not in the cache (${dir(key)})`, {
        hint: 'it may have been removed by cache gc; build the package again',
      });
    }
    if (opts.touch !== false && !fresh) await touch(key);
    if (meta.archive !== null) {
      try {
        await unpackArchive(join(dir(key), meta.archive), sysrootDir, { signal: opts.signal });
      } catch (e) {
        if (opts.signal?.aborted === true) throw e;
        await checkAfterFailedUnpack(key, e, opts.signal);
        throw e;
      }
    }
    return meta;
  }

  /**
   * Unpacking the entry's archive failed with `cause`: when the archive is not what its
   * meta.json (read afresh: the entry may have been replaced meanwhile) says, remove the
   * entry and throw artifact-corrupt. Returns when the archive is intact (the failure lies
   * elsewhere: the sysroot's disk, tar itself).
   */
  async function checkAfterFailedUnpack(key: string, cause: unknown, signal: AbortSignal | undefined): Promise<void> {
    const m = readMeta(key);
    const file = join(dir(key), typeof m === 'string' ? ARCHIVE : (m.archive ?? ARCHIVE));
    let problem: string | undefined;
    if (m === 'absent') {
      known.delete(key);
      putHere.delete(key);
      if (!removedCorrupt.has(key)) {
        throw new KilnError('artifact-missing', `artifact ${key} disappeared from the cache while it was being staged (${dir(key)})`, {
          hint: 'it may have been removed by cache gc; build the package again',
          cause,
        });
      }
      problem = 'was found corrupt by another job of this run';
    } else {
      problem = m === 'torn' ? 'has an unreadable meta.json' : await archiveProblem(m, signal);
      if (problem === undefined) return;
      // Before the entry leaves: a job of this run that then finds it gone is told why.
      removedCorrupt.add(key);
      await discard(key, 'corrupt');
    }
    throw new KilnError('artifact-corrupt', `artifact ${key} is corrupt: ${file} ${problem}`, {
      hint: 'it was removed from the cache; run the build again to rebuild it',
      cause,
    });
  }

  /** What is wrong with the entry's archive compared with its meta, or undefined (artifact-entry.ts). */
  async function archiveProblem(meta: ArtifactMeta, signal: AbortSignal | undefined): Promise<string | undefined> {
    return entryArchiveProblem(dir(meta.key), meta, signal);
  }

  return {
    dir,
    has: async (key) => {
      try {
        await stat(join(dir(key), 'meta.json'));
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw e;
      }
    },
    get,
    peek,
    remembered: (key) => (putHere.has(key) ? known.get(key) : undefined),
    manifest,
    put,
    forget: (key) => {
      known.delete(key);
      putHere.delete(key);
    },
    stageInto,
    touch,
    markUsed,
    async verify(key, o = {}) {
      const m = readMeta(key);
      // A folder left without its meta.json (by hand: put() renames whole entries into place) is damaged too; one gone meanwhile is not.
      if (m === 'absent' && !existsSync(dir(key))) return undefined;
      const problem = m === 'absent' ? 'has no meta.json' : m === 'torn' ? 'has an unreadable meta.json' : (await archiveProblem(m, o.signal)) ?? manifestFileProblem(dir(key), m.outputHash);
      if (problem !== undefined && o.fix === true) await discard(key, typeof m === 'string' ? 'torn' : 'corrupt');
      return problem;
    },
  };
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
