// What killed kiln processes left in `<cache>/tmp/`. Every writer there names its entry
// after its own pid (`art-<16 hex>-<pid>-…` an artifact being packed, `dl-…` a download,
// `import-…`, `substitute-…`, `git-…`, `gc-…`, `torn-…`, `learn-<pid>-…`); an entry whose
// pid is gone on this host was being written by a kiln that was killed, and nobody will
// finish it. A build's start-up sweep (run/run-workspaces.ts), `kiln doctor [--fix]` and
// `kiln cache gc` (gc.ts) all judge it with deadOwnerTmp() below:
//
//   - a pid that is alive keeps its entry, whatever process it is now (a reused pid: the
//     entry then waits for gc's hour rule, TMP_MIN_AGE_MS);
//   - a dead pid's entry is left over once nothing wrote to it for DEAD_OWNER_TMP_AGE_MS:
//     the build's sweep and gc remove it then. Not at once: a kiln of another machine
//     sharing the cache (a shared file system) writes there under pids that mean nothing
//     here, and not every writer says so (a worker, kiln fetch, a build still planning);
//   - a dead pid's entry written to lately is `recent`: `kiln doctor` lists it, saying
//     either may be so, and `--fix` removes it (whoever runs it knows who shares the cache).
//
// A kiln in another pid namespace on this host sharing the cache is not told apart.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive } from '../lib/pid-alive.ts';
import { walkStat } from './du.ts';

/** A tmp/ entry named by a pid that is gone here is left over once nothing wrote to it for this long. */
export const DEAD_OWNER_TMP_AGE_MS = 600_000;

/** The pid in a tmp/ entry's name (`<kind>-<16 hex>-<pid>-…`, `learn-<pid>-…`), if it has one. */
export function tmpOwnerPid(name: string): number | undefined {
  const m = /^[a-z]+-(?:[0-9a-f]{1,16}-)?(\d+)-/.exec(name);
  if (m === null) return undefined;
  const pid = Number(m[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

export type TmpVerdict =
  /** Not named by a pid: only gc's hour rule applies. */
  | 'unowned'
  /** Its writer runs (or its pid was reused): kept. */
  | 'owner-alive'
  /** Its writer is gone and it was left unwritten for DEAD_OWNER_TMP_AGE_MS: left over. */
  | 'left-over'
  /** Its pid is gone here, but it was written to lately (a kiln killed just now, or one of another machine): kept, said by doctor. */
  | 'recent';

/** Pure: what a tmp/ entry is, from its name's pid and what is known about it. */
export function deadOwnerTmp(o: {
  readonly owner: number | undefined;
  /** The owner pid is this process, or alive on this host. */
  readonly ownerAlive: boolean;
  /** How long ago anything in the entry was last written. */
  readonly quietMs: number;
}): TmpVerdict {
  if (o.owner === undefined) return 'unowned';
  if (o.ownerAlive) return 'owner-alive';
  return o.quietMs >= DEAD_OWNER_TMP_AGE_MS ? 'left-over' : 'recent';
}

export interface TmpLeftover {
  readonly path: string;
  /** The dead kiln's pid. */
  readonly owner: number;
  /** Written to lately (deadOwnerTmp's `recent`): not removed by a build's sweep, only by doctor --fix. */
  readonly recent: boolean;
  /** How long ago anything in it was last written. */
  readonly quietMs: number;
}

/** The entries of `<cache>/tmp/` whose writer is gone from this host, recent ones marked (nothing is removed here). */
export async function tmpLeftovers(cacheDir: string, o: { now?: number } = {}): Promise<TmpLeftover[]> {
  const tmp = join(cacheDir, 'tmp');
  let names: string[];
  try {
    names = readdirSync(tmp);
  } catch {
    return [];
  }
  const now = o.now ?? Date.now();
  const out: TmpLeftover[] = [];
  for (const name of names) {
    const owner = tmpOwnerPid(name);
    if (owner === undefined) continue;
    const ownerAlive = owner === process.pid || pidAlive(owner);
    if (ownerAlive) continue;
    const st = await walkStat(join(tmp, name)).catch(() => undefined);
    // Gone meanwhile (finished or removed by another sweep): nothing to report.
    if (st === undefined || st.newestMtimeMs === 0) continue;
    const quietMs = now - st.newestMtimeMs;
    out.push({ path: join(tmp, name), owner, recent: deadOwnerTmp({ owner, ownerAlive, quietMs }) === 'recent', quietMs });
  }
  return out;
}
