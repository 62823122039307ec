// How much space each part of the cache takes (`kiln cache du`). Bytes are apparent sizes
// (st_size summed over files), counted without following symlinks.
import { lstat, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';

export interface UsageBucket {
  readonly count: number;
  readonly bytes: number;
}

export interface CacheUsage {
  /** count = files in downloads/. */
  readonly downloads: UsageBucket;
  /** count = artifact directories (one per input key). */
  readonly artifacts: UsageBucket;
  /** count = entries in tmp/ (in-progress or abandoned writes). */
  readonly tmp: UsageBucket;
  /** count = layers of installed Debian build dependencies (deps-layers/). */
  readonly depsLayers: UsageBucket;
  /** count = bare mirrors of git sources' repositories (git/<sha256 of the url>.git). */
  readonly git: UsageBucket;
  /** count = files in indexes/: verified InRelease files and decompressed Sources/Packages (src/debian/indexes.ts). */
  readonly indexes: UsageBucket;
  /**
   * count = ccache directories (ccache/host-<arch>, ccache/<env>-<arch>-<backend>: kiln build
   * --ccache), each kept under its size limit by ccache; kiln's config files (ccache/.conf) aside.
   * What the builds made unreadable to kiln's user is not counted.
   */
  readonly ccache: UsageBucket;
}

export async function cacheUsage(cacheDir: string): Promise<CacheUsage> {
  const [downloads, artifacts, tmp, depsLayers, git, indexes, ccache] = await Promise.all([
    bucket(await entries(join(cacheDir, 'downloads'))),
    bucket(await artifactDirs(cacheDir)),
    bucket(await entries(join(cacheDir, 'tmp'))),
    bucket(await entries(join(cacheDir, 'deps-layers'))),
    bucket(await entries(join(cacheDir, 'git'))),
    bucket(await entries(join(cacheDir, 'indexes'))),
    bucket((await entries(join(cacheDir, 'ccache'))).filter((p) => basename(p) !== '.conf'), { skipUnreadable: true }),
  ]);
  return { downloads, artifacts, tmp, depsLayers, git, indexes, ccache };
}

async function bucket(paths: readonly string[], o: WalkOptions = {}): Promise<UsageBucket> {
  let bytes = 0;
  for (const p of paths) bytes += (await walkStat(p, o)).bytes;
  return { count: paths.length, bytes };
}

/** Absolute paths of the entries of `dir`, sorted; [] when it does not exist. */
export async function entries(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort().map((n) => join(dir, n));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/**
 * Every `<cacheDir>/artifacts/<shard>/<key>` directory. Anything else there (a file a
 * desktop left, a folder that is not a key's) is not an entry: passed over, not an error.
 */
export async function artifactDirs(cacheDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const shard of await dirEntries(join(cacheDir, 'artifacts'))) {
    for (const key of await dirEntries(join(cacheDir, 'artifacts', shard))) if (key.startsWith(shard)) out.push(join(cacheDir, 'artifacts', shard, key));
  }
  return out;
}

/** The names of the folders in `dir`, sorted; [] when it does not exist. */
async function dirEntries(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw e;
  }
}

/** Total bytes of the files under `path` (or of `path` itself); 0 if it vanished meanwhile. */
export async function treeBytes(path: string): Promise<number> {
  return (await walkStat(path)).bytes;
}

export interface WalkOptions {
  /** A folder that cannot be read (EACCES: a build's 0700 folder in ccache/) counts as empty instead of failing. */
  readonly skipUnreadable?: boolean;
}

/** Total bytes and the newest mtime under `path`; both 0 if it vanished meanwhile. */
export async function walkStat(path: string, o: WalkOptions = {}): Promise<{ bytes: number; newestMtimeMs: number }> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { bytes: 0, newestMtimeMs: 0 };
    throw e;
  }
  let bytes = st.isFile() ? st.size : 0;
  let newestMtimeMs = st.mtimeMs;
  if (st.isDirectory()) {
    let children: string[] = [];
    try {
      children = await entries(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (o.skipUnreadable !== true || (code !== 'EACCES' && code !== 'EPERM')) throw e;
    }
    for (const child of children) {
      const sub = await walkStat(child, o);
      bytes += sub.bytes;
      newestMtimeMs = Math.max(newestMtimeMs, sub.newestMtimeMs);
    }
  }
  return { bytes, newestMtimeMs };
}
