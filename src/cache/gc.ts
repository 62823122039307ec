// Garbage-collect the cache (`kiln cache gc`): artifacts, downloads, Debian build-dependency
// layers, git mirrors and Debian indexes not used since the cutoff and not kept, plus
// abandoned entries in tmp/. Nothing a running build relies on is removed (in-use.ts), whatever the cutoff.
//
// "Used" is the mtime of an artifact's meta.json and of a download file: the stores touch
// them on every hit (an up-to-date artifact at most once an hour: artifacts.ts markUsed). Entries are first renamed into tmp/ (so other processes see them
// whole or gone, never half-deleted), re-checked for a use that raced with us, and only
// then deleted. tmp/ entries younger than an hour are never removed: they may be a write
// in progress by another kiln process; unless the kiln named in them is gone (tmp-leftovers.ts).
//
// Debian indexes (indexes/<sha256>: InRelease files and decompressed Sources/Packages) are
// touched by src/debian/indexes.ts on every use. A kiln reads an index right after touching
// it, so one used in the last hour (INDEX_MIN_AGE_MS, whatever --older-than says) or held
// open by any process (/proc/<pid>/fd) stays; a removed one is simply fetched again.
import { lstat, mkdir, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import { SHA256_RE } from '../lib/hash.ts';
import { pidAlive } from '../lib/pid-alive.ts';
import { artifactDirs, entries, walkStat } from './du.ts';
import { liveInUse } from './in-use.ts';
import { deadOwnerTmp, tmpOwnerPid } from './tmp-leftovers.ts';
import { USE_MARK_MS } from './artifact-types.ts';
import { gcCcache } from '../execute/ccache.ts';
import { openFilesUnder } from './open-files.ts';
import { tryLock } from './lock.ts';
import { GIT_MIRROR_RE, GIT_USED_STAMP, gitLockName } from './git-mirror.ts';

export interface GcOptions {
  /** Remove what was last used longer ago than this; default 0: anything not kept. */
  readonly olderThanMs?: number;
  /** Artifact keys that must stay (e.g. referenced by the last N runs). */
  readonly keep: ReadonlySet<string>;
  /** Download sha256s that must stay. */
  readonly keepDownloads?: ReadonlySet<string>;
  /**
   * Keep the cache under this many bytes: after the age pass, the least recently used
   * artifacts, downloads and Debian layers go until it fits (never what is kept or in use).
   */
  readonly maxBytes?: number;
  /** Report what would be removed without removing it. */
  readonly dryRun?: boolean;
  /** For tests: the current time in ms. */
  readonly now?: number;
  readonly signal?: AbortSignal;
}

export type GcKind = 'artifact' | 'download' | 'tmp' | 'deps-layer' | 'git' | 'index' | 'ccache';

export interface GcRemoved {
  readonly kind: GcKind;
  readonly path: string;
  readonly bytes: number;
}

export interface GcResult {
  readonly removed: readonly GcRemoved[];
  readonly freedBytes: number;
  /** With maxBytes: what the cache holds afterwards (tmp/ aside). */
  readonly sizeAfter?: number;
  /**
   * With maxBytes, when the cache is still over it: what each rule kept, in the order of
   * GC_HELD_REASONS, only the rules that kept something.
   */
  readonly held?: readonly GcHeld[];
}

/**
 * Why the size pass left an entry: `kept` (options.keep / keepDownloads: --keep-last-runs),
 * `in-use` (a running build relies on it, or was using it as gc looked), `recent` (used in
 * the last hour: the size pass never takes those), `index` (Debian indexes: only their age
 * removes them), `writing` (an unfinished layer capture or index write).
 */
export const GC_HELD_REASONS = ['recent', 'kept', 'in-use', 'index', 'writing'] as const;
export type GcHeldReason = (typeof GC_HELD_REASONS)[number];
export { describeHeld } from './gc-held.ts';

export interface GcHeld {
  readonly reason: GcHeldReason;
  readonly count: number;
  readonly bytes: number;
}

/** An entry the age pass kept that the size pass may remove, oldest use first. */
interface SizeCandidate {
  readonly kind: GcKind;
  readonly path: string;
  readonly used: number;
  readonly probe: string | undefined;
  readonly wanted?: () => Promise<boolean>;
  readonly lock?: Lock;
}

/** Taken around a removal; undefined: busy (the entry stays). */
type Lock = () => Promise<{ release(): Promise<void> } | undefined>;

/** tmp/ entries younger than this may still be written to. */
export const TMP_MIN_AGE_MS = 3_600_000;

/** A Debian index used more recently than this may be about to be read by a running kiln. */
export const INDEX_MIN_AGE_MS = 3_600_000;

export async function gcCache(cacheDir: string, options: GcOptions): Promise<GcResult> {
  const now = options.now ?? Date.now();
  const cutoff = now - (options.olderThanMs ?? 0);
  const dryRun = options.dryRun ?? false;
  const tmpDir = join(cacheDir, 'tmp');
  const removed: GcRemoved[] = [];

  // Snapshot tmp/ first, so entries that gc itself moves there are not listed twice.
  const tmpEntries = await entries(tmpDir);
  const sizeCandidates: SizeCandidate[] = [];
  // What running builds (of any state directory sharing this cache) rely on: the
  // artifacts they will stage, and whatever was used since the oldest of them started.
  const live = await liveInUse(cacheDir, { dryRun });
  const inUse = (used: number): boolean => live.since !== undefined && used >= live.since;
  // What stays and why, for a size pass that cannot get under maxBytes.
  const heldPaths: Record<GcHeldReason, string[]> = { recent: [], kept: [], 'in-use': [], index: [], writing: [] };

  for (const dir of await artifactDirs(cacheDir)) {
    options.signal?.throwIfAborted();
    if (options.keep.has(basename(dir))) {
      heldPaths.kept.push(dir);
      continue;
    }
    if (live.keys.has(basename(dir))) {
      heldPaths['in-use'].push(dir);
      continue;
    }
    const used = await lastUse(join(dir, 'meta.json'), dir);
    if (used === undefined) continue;
    if (inUse(used)) {
      heldPaths['in-use'].push(dir);
      continue;
    }
    // A build may have registered it since `live` was read (it plans, then registers).
    const key = basename(dir);
    const wanted = async (): Promise<boolean> => {
      const now = await liveInUse(cacheDir, { dryRun: true });
      return now.keys.has(key) || (now.since !== undefined && used >= now.since);
    };
    if (used >= cutoff) {
      sizeCandidates.push({ kind: 'artifact', path: dir, used, probe: 'meta.json', wanted });
      continue;
    }
    const r = await remove({ kind: 'artifact', path: dir, probe: 'meta.json', cutoff, tmpDir, dryRun, wanted });
    if (r !== undefined) removed.push(r);
  }

  for (const file of await entries(join(cacheDir, 'downloads'))) {
    options.signal?.throwIfAborted();
    const name = basename(file);
    if (!SHA256_RE.test(name)) continue;
    if (options.keepDownloads?.has(name) === true) {
      heldPaths.kept.push(file);
      continue;
    }
    const used = await lastUse(file, undefined);
    if (used === undefined) continue;
    if (inUse(used)) {
      heldPaths['in-use'].push(file);
      continue;
    }
    if (used >= cutoff) {
      sizeCandidates.push({ kind: 'download', path: file, used, probe: undefined });
      continue;
    }
    const r = await remove({ kind: 'download', path: file, probe: undefined, cutoff, tmpDir, dryRun });
    if (r !== undefined) removed.push(r);
  }

  // Layers of installed Debian build dependencies (deps-layers.ts): used = the directory's
  // mtime, which every build that mounts one touches first. Captures in progress (.tmp-*)
  // follow the tmp/ rule.
  for (const dir of await entries(join(cacheDir, 'deps-layers'))) {
    options.signal?.throwIfAborted();
    if (basename(dir).startsWith('.tmp-')) {
      const { bytes, newestMtimeMs } = await walkStat(dir);
      if (newestMtimeMs === 0 || newestMtimeMs >= now - TMP_MIN_AGE_MS) {
        heldPaths.writing.push(dir);
        continue;
      }
      if (!dryRun) await rm(dir, { recursive: true, force: true });
      removed.push({ kind: 'tmp', path: dir, bytes });
      continue;
    }
    const used = await mtimeOf(dir);
    if (used === undefined) continue;
    if (inUse(used)) {
      heldPaths['in-use'].push(dir);
      continue;
    }
    if (used >= cutoff) {
      sizeCandidates.push({ kind: 'deps-layer', path: dir, used, probe: undefined });
      continue;
    }
    const r = await remove({ kind: 'deps-layer', path: dir, probe: undefined, cutoff, tmpDir, dryRun });
    if (r !== undefined) removed.push(r);
  }

  // Git mirrors (git/<sha256>.git, git-mirror.ts): used = the mtime of their kiln-used stamp,
  // touched by every build that exports from one. Removed under the lock their fetches take.
  for (const dir of await entries(join(cacheDir, 'git'))) {
    options.signal?.throwIfAborted();
    if (!GIT_MIRROR_RE.test(basename(dir))) continue;
    const used = await lastUse(join(dir, GIT_USED_STAMP), dir);
    if (used === undefined) continue;
    if (inUse(used)) {
      heldPaths['in-use'].push(dir);
      continue;
    }
    const lock: Lock = () => tryLock(join(cacheDir, 'locks'), gitLockName(dir));
    if (used >= cutoff) {
      sizeCandidates.push({ kind: 'git', path: dir, used, probe: GIT_USED_STAMP, lock });
      continue;
    }
    const r = await remove({ kind: 'git', path: dir, probe: GIT_USED_STAMP, cutoff, tmpDir, dryRun, lock });
    if (r === undefined) heldPaths['in-use'].push(dir);
    else removed.push(r);
  }

  // An index a running build used since it started may be read again by it.
  const indexCutoff = live.since === undefined ? cutoff : Math.min(cutoff, live.since);
  removed.push(...(await gcIndexes(join(cacheDir, 'indexes'), { now, cutoff: indexCutoff, tmpDir, dryRun, held: heldPaths, ...(options.signal === undefined ? {} : { signal: options.signal }) })));

  // ccache/ (kiln build --ccache): ccache's own size limit, and its eviction of what the cutoff passed.
  removed.push(...gcCcache(cacheDir, { now, cutoff, dryRun }));

  for (const entry of tmpEntries) {
    options.signal?.throwIfAborted();
    const { bytes, newestMtimeMs } = await walkStat(entry);
    if (newestMtimeMs === 0) continue;
    const owner = tmpOwnerPid(basename(entry));
    const ownerAlive = owner !== undefined && (owner === process.pid || pidAlive(owner));
    // Its writer (the pid in its name) gone and nothing written for a while: left by a killed
    // kiln, as a build's start-up sweep judges it (tmp-leftovers.ts).
    const leftOver = deadOwnerTmp({ owner, ownerAlive, quietMs: now - newestMtimeMs }) === 'left-over';
    if (!leftOver && newestMtimeMs >= now - TMP_MIN_AGE_MS) continue;
    if (!dryRun) await rm(entry, { recursive: true, force: true });
    removed.push({ kind: 'tmp', path: entry, bytes });
  }

  let sizeAfter: number | undefined;
  let held: GcHeld[] | undefined;
  if (options.maxBytes !== undefined) {
    // What is left besides tmp/: every kind, kept or not (only candidates can go).
    let total = 0;
    for (const sub of ['artifacts', 'downloads', 'deps-layers', 'git', 'indexes']) total += (await walkStat(join(cacheDir, sub))).bytes;
    // A dry run removed nothing: count out what it would have, outside tmp/ (not measured).
    if (dryRun) total -= removed.filter((r) => !r.path.startsWith(`${tmpDir}/`)).reduce((n, r) => n + r.bytes, 0);
    sizeCandidates.sort((a, b) => a.used - b.used);
    for (const c of sizeCandidates) {
      if (total <= options.maxBytes) break;
      // A use is noted at most once an hour (artifacts.ts markUsed): an entry used in the
      // last hour may be one a running build just found up to date.
      if (c.used >= now - USE_MARK_MS) {
        heldPaths.recent.push(c.path);
        continue;
      }
      options.signal?.throwIfAborted();
      // Used since it was looked at: put back (the cutoff is just after that look).
      const r = await remove({ kind: c.kind, path: c.path, probe: c.probe, cutoff: c.used + 1, tmpDir, dryRun, ...(c.wanted === undefined ? {} : { wanted: c.wanted }), ...(c.lock === undefined ? {} : { lock: c.lock }) });
      if (r === undefined) {
        heldPaths['in-use'].push(c.path);
        continue;
      }
      removed.push(r);
      total -= r.bytes;
    }
    sizeAfter = total;
    if (total > options.maxBytes) {
      held = [];
      for (const reason of GC_HELD_REASONS) {
        if (heldPaths[reason].length === 0) continue;
        let bytes = 0;
        for (const p of heldPaths[reason]) bytes += (await walkStat(p)).bytes;
        held.push({ reason, count: heldPaths[reason].length, bytes });
      }
    }
  }

  return { removed, freedBytes: removed.reduce((n, r) => n + r.bytes, 0), ...(sizeAfter === undefined ? {} : { sizeAfter }), ...(held === undefined ? {} : { held }) };
}

/** Old Debian indexes not open anywhere, and abandoned temporary files of the index code. */
async function gcIndexes(dir: string, o: { now: number; cutoff: number; tmpDir: string; dryRun: boolean; held: Record<GcHeldReason, string[]>; signal?: AbortSignal }): Promise<GcRemoved[]> {
  const removed: GcRemoved[] = [];
  const cutoff = Math.min(o.cutoff, o.now - INDEX_MIN_AGE_MS);
  let open: ReadonlySet<string> | undefined;
  for (const file of await entries(dir)) {
    o.signal?.throwIfAborted();
    const name = basename(file);
    if (name.startsWith('.') && name.includes('.tmp-')) {
      // atomicWrite / decompress in progress, or left by a killed kiln.
      const { bytes, newestMtimeMs } = await walkStat(file);
      if (newestMtimeMs === 0 || newestMtimeMs >= o.now - TMP_MIN_AGE_MS) {
        o.held.writing.push(file);
        continue;
      }
      if (!o.dryRun) await rm(file, { force: true });
      removed.push({ kind: 'tmp', path: file, bytes });
      continue;
    }
    if (!SHA256_RE.test(name)) continue;
    const used = await mtimeOf(file);
    if (used === undefined) continue;
    if (used < cutoff) open ??= await openFilesUnder(dir);
    if (used >= cutoff || open?.has(name) === true) {
      o.held.index.push(file);
      continue;
    }
    const r = await remove({ kind: 'index', path: file, probe: undefined, cutoff, tmpDir: o.tmpDir, dryRun: o.dryRun });
    if (r === undefined) o.held.index.push(file);
    else removed.push(r);
  }
  return removed;
}

async function mtimeOf(path: string): Promise<number | undefined> {
  try {
    return (await lstat(path)).mtimeMs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** mtime of `path`; for an artifact without meta.json, that of its directory. */
async function lastUse(path: string, fallback: string | undefined): Promise<number | undefined> {
  return (await mtimeOf(path)) ?? (fallback === undefined ? undefined : mtimeOf(fallback));
}

interface RemoveOptions {
  readonly kind: GcKind;
  readonly path: string;
  /** File inside a directory entry whose mtime is the last use; undefined: the entry itself. */
  readonly probe: string | undefined;
  /** Asked once the entry is moved aside: true puts it back (a running build registered it meanwhile). */
  readonly wanted?: () => Promise<boolean>;
  /** Held while the entry is moved aside and checked (a git mirror's: never during a fetch). */
  readonly lock?: Lock;
  readonly cutoff: number;
  readonly tmpDir: string;
  readonly dryRun: boolean;
}

async function remove(o: RemoveOptions): Promise<GcRemoved | undefined> {
  const { bytes } = await walkStat(o.path);
  if (o.dryRun) return { kind: o.kind, path: o.path, bytes };
  const held = o.lock === undefined ? { release: async () => {} } : await o.lock();
  if (held === undefined) return undefined;
  try {
    await mkdir(o.tmpDir, { recursive: true });
    const moved = join(o.tmpDir, `gc-${basename(o.path).slice(0, 16)}-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(o.path, moved);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // someone else removed it
      throw e;
    }
    // A process may have used it between our check and the rename: put it back.
    const used = await mtimeOf(o.probe === undefined ? moved : join(moved, o.probe));
    if ((used !== undefined && used >= o.cutoff) || (await o.wanted?.()) === true) {
      try {
        await rename(moved, o.path);
        return undefined;
      } catch {
        // Its place was taken (e.g. the artifact was stored again): drop our copy.
      }
    }
    await rm(moved, { recursive: true, force: true });
    return { kind: o.kind, path: o.path, bytes };
  } finally {
    await held.release();
  }
}
