// How much space each part of the cache takes (`kiln cache du`). Bytes are apparent sizes
// (st_size summed over files), counted without following symlinks.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

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
  /** count = files in indexes/: verified InRelease files and decompressed Sources/Packages (src/debian/indexes.ts). */
  readonly indexes: UsageBucket;
  /** count = ccache directories (ccache/<env or host>-<arch>: kiln build --ccache), each kept under its size limit by ccache. */
  readonly ccache: UsageBucket;
}

export async function cacheUsage(cacheDir: string): Promise<CacheUsage> {
  const [downloads, artifacts, tmp, depsLayers, indexes, ccache] = await Promise.all([
    bucket(await entries(join(cacheDir, 'downloads'))),
    bucket(await artifactDirs(cacheDir)),
    bucket(await entries(join(cacheDir, 'tmp'))),
    bucket(await entries(join(cacheDir, 'deps-layers'))),
    bucket(await entries(join(cacheDir, 'indexes'))),
    bucket(await entries(join(cacheDir, 'ccache'))),
  ]);
  return { downloads, artifacts, tmp, depsLayers, indexes, ccache };
}

async function bucket(paths: readonly string[]): Promise<UsageBucket> {
  let bytes = 0;
  for (const p of paths) bytes += await treeBytes(p);
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

/** Every `<cacheDir>/artifacts/<shard>/<key>` directory. */
export async function artifactDirs(cacheDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const shard of await entries(join(cacheDir, 'artifacts'))) out.push(...(await entries(shard)));
  return out;
}

/** Total bytes of the files under `path` (or of `path` itself); 0 if it vanished meanwhile. */
export async function treeBytes(path: string): Promise<number> {
  return (await walkStat(path)).bytes;
}

/** Total bytes and the newest mtime under `path`; both 0 if it vanished meanwhile. */
export async function walkStat(path: string): Promise<{ bytes: number; newestMtimeMs: number }> {
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
    for (const child of await entries(path)) {
      const sub = await walkStat(child);
      bytes += sub.bytes;
      newestMtimeMs = Math.max(newestMtimeMs, sub.newestMtimeMs);
    }
  }
  return { bytes, newestMtimeMs };
}
