// What killed kiln processes left in `<cache>/tmp/`. Every writer there names its entry
// after its own pid (`art-<16 hex>-<pid>-…` an artifact being packed, `dl-…` a download,
// `import-…`, `substitute-…`, `git-…`, `gc-…`, `torn-…`, `learn-<pid>-…`); an entry whose
// pid is gone on this host was being written by a kiln that was killed, and nobody will
// finish it. A build's start-up sweep (run/run-workspaces.ts), `kiln doctor [--fix]` and
// `kiln cache gc` (gc.ts) all judge it with deadOwnerTmp() below:
//
//   - a pid that is alive keeps its entry, whatever process it is now (a reused pid: the
//     entry then waits for gc's hour rule, TMP_MIN_AGE_MS);
//   - a dead pid's entry is left over at once, unless another machine uses the cache right
//     now (a run of another host in `<cache>/in-use/`, a cache on a shared file system):
//     its writers' pids mean nothing here, so the entry must also have been left unwritten
//     for DEAD_OWNER_TMP_AGE_MS.
//
// A kiln in another pid namespace on this host sharing the cache is not told apart.

import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from '../lib/pid-alive.ts';
import { walkStat } from './du.ts';
import { OTHER_HOST_LIVE_MS } from './in-use.ts';

/**
 * With another machine using the cache: a tmp/ entry named by a pid that is gone here goes
 * once nothing wrote to it for this long (it may be that machine's write in progress).
 */
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
  /** Its writer is gone: left over. */
  | 'left-over'
  /** Its pid is gone here, but another machine uses the cache and wrote to it lately: kept for now. */
  | 'maybe-elsewhere';

/** Pure: what a tmp/ entry is, from its name's pid and what is known about it. */
export function deadOwnerTmp(o: {
  readonly owner: number | undefined;
  /** The owner pid is this process, or alive on this host. */
  readonly ownerAlive: boolean;
  /** A run of another machine is in `<cache>/in-use/`. */
  readonly otherHost: boolean;
  /** How long ago anything in the entry was last written (only looked at, and only measured, with otherHost). */
  readonly quietMs: number;
}): TmpVerdict {
  if (o.owner === undefined) return 'unowned';
  if (o.ownerAlive) return 'owner-alive';
  if (!o.otherHost) return 'left-over';
  return o.quietMs >= DEAD_OWNER_TMP_AGE_MS ? 'left-over' : 'maybe-elsewhere';
}

/** Whether a run of another machine uses the cache now (an in-use file naming another host, young enough to be live). */
export function otherHostUsesCache(cacheDir: string, now = Date.now()): boolean {
  const dir = join(cacheDir, 'in-use');
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return false;
  }
  const here = hostname();
  for (const name of names) {
    try {
      const f = JSON.parse(readFileSync(join(dir, name), 'utf8')) as { host?: unknown; startedAt?: unknown };
      if (typeof f.host === 'string' && f.host !== here && typeof f.startedAt === 'number' && now - f.startedAt < OTHER_HOST_LIVE_MS) return true;
    } catch {
      // being written, or gone meanwhile
    }
  }
  return false;
}

export interface TmpLeftover {
  readonly path: string;
  /** The dead kiln's pid. */
  readonly owner: number;
}

/** The entries of `<cache>/tmp/` that killed kilns left (nothing is removed here). */
export async function tmpLeftovers(cacheDir: string, o: { now?: number } = {}): Promise<TmpLeftover[]> {
  const tmp = join(cacheDir, 'tmp');
  let names: string[];
  try {
    names = readdirSync(tmp);
  } catch {
    return [];
  }
  const now = o.now ?? Date.now();
  let otherHost: boolean | undefined;
  const out: TmpLeftover[] = [];
  for (const name of names) {
    const owner = tmpOwnerPid(name);
    if (owner === undefined) continue;
    const ownerAlive = owner === process.pid || pidAlive(owner);
    if (ownerAlive) continue;
    otherHost ??= otherHostUsesCache(cacheDir, now);
    let quietMs = 0;
    if (otherHost) {
      const st = await walkStat(join(tmp, name)).catch(() => undefined);
      // Gone meanwhile (finished or removed by another sweep): nothing to report.
      if (st === undefined || st.newestMtimeMs === 0) continue;
      quietMs = now - st.newestMtimeMs;
    }
    if (deadOwnerTmp({ owner, ownerAlive, otherHost, quietMs }) === 'left-over') out.push({ path: join(tmp, name), owner });
  }
  return out;
}
