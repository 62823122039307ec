// The state directory (default `$KILN_STATE`, else `.kiln` in the current directory):
//
//   kiln.db                      records (SQLite, WAL): runs, jobs, durations, key inputs
//   cache/downloads/<sha256>     downloaded sources, content-addressed (or --cache DIR / $KILN_CACHE)
//   cache/artifacts/<k2>/<key>/  one built package per input key: pkg.tar.zst, manifest.json, meta.json
//                                (only meta.json for a package that installed nothing)
//   cache/tmp/, cache/locks/     in-progress writes and cross-process locks
//   cache/indexes/<sha256>       Debian InRelease files and decompressed Sources/Packages (debian/indexes.ts)
//   cache/deps-layers/<key>/     installed Debian build dependencies (cache/deps-layers.ts)
//   cache/ccache/<env>-<arch>-<backend>/, host-<arch>/   the compiler cache of kiln build --ccache (execute/ccache.ts)
//   logs/<run>/<name>_<arch>.log one log per job
//   work/<run>/<name>_<arch>/    a job's private workspace while it runs (kept with --keep-failed)
//   runs/<run>/report.json|html  the report of each run
//   packages/index.json          the package index of every artifact built so far
//   scan-cache/<tree>.json       specs of unchanged recipes, keyed by file stats (recipes/scan-cache.ts)

import { randomBytes } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathErrorOf } from '../path-error.ts';
import { KilnError } from '../errors.ts';

export interface StateLayout {
  readonly root: string;
  readonly cache: string;
  readonly logs: string;
  readonly work: string;
  readonly runs: string;
  readonly index: string;
}

export function stateLayout(options: { state?: string; cache?: string; cwd?: string; env?: NodeJS.ProcessEnv }): StateLayout {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  // An empty path would mean the current directory: refused on the command line, and an
  // empty variable counts as unset (KILN_STATE= kiln … is how a shell unsets it for one run).
  for (const [option, value] of [['--state', options.state], ['--cache', options.cache]] as const) {
    if (value === '') {
      throw new KilnError('usage', `${option}: the path is empty`, { hint: `give a directory, or leave ${option} out for its default (see kiln build --help)` });
    }
  }
  const set = (v: string | undefined): string | undefined => (v === '' ? undefined : v);
  const root = resolve(cwd, options.state ?? set(env['KILN_STATE']) ?? '.kiln');
  const cache = resolve(cwd, options.cache ?? set(env['KILN_CACHE']) ?? join(root, 'cache'));
  return {
    root,
    cache,
    logs: join(root, 'logs'),
    work: join(root, 'work'),
    runs: join(root, 'runs'),
    index: join(root, 'packages', 'index.json'),
  };
}

/** Makes the state directory (and its parents); a path that cannot be one is a `path-unusable` error naming it. */
export async function makeStateDir(state: Pick<StateLayout, 'root'> & Partial<Pick<StateLayout, 'cache'>>): Promise<void> {
  // A cache path that cannot be a folder is said first, naming it, and leaves no new state directory behind.
  if (state.cache !== undefined) {
    const st = await stat(state.cache).catch(() => undefined);
    if (st !== undefined && !st.isDirectory()) {
      throw new KilnError('path-unusable', `the cache directory (--cache or $KILN_CACHE) ${state.cache} is not a directory`, { hint: 'name a directory (it is made when missing), or move the file away' });
    }
  }
  try {
    await mkdir(state.root, { recursive: true });
  } catch (e) {
    throw pathErrorOf(e, 'cannot make the state directory (--state or $KILN_STATE)') ?? e;
  }
}

/** A run's id, which names its folders (logs/<run>, runs/<run>, work/<run>): UTC date, time and a random tail. */
export function newRunId(now = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  const d = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}`;
  const t = `${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${d}-${t}-${randomBytes(2).toString('hex')}`;
}
