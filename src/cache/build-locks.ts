// One build per input key among the kiln processes that share a cache (two CI jobs on one
// machine, several state directories): a process building a key holds
// `<cache>/locks/build-<key>.lock` while it builds and packs it; another that wants the same
// key waits for it, then finds its artifact and has nothing to build. (lock.ts breaks the
// lock of a process that died; one of another host after an hour.)
//
// Only while another kiln process uses the cache, so that a build with the cache to itself
// (the usual case, and the 10,000-package benchmark) creates no lock file: `<cache>/in-use/`
// lists a file per run with something to build, and it is looked at every SHARED_CHECK_MS.
// When another run appears, the keys being built right then are locked at once (they
// started unlocked); a run that finds another one already there waits SETTLE_MS before its
// first build, so that the other has locked what it is building by then.
//
// A lock taken at once (`waited` false) does not mean nobody built the key: the other run may
// have stored it and let go during the settle delay, or between the caller's look in the
// store and its lock. So `locked` says a lock was taken, and the caller looks in the store
// again under it (execute/build-lock-wait.ts).

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { takeLock, tryLock } from './lock.ts';

const SHARED_CHECK_MS = 500;
const SETTLE_MS = 2 * SHARED_CHECK_MS;

export interface BuildLocks {
  /**
   * Before building `key`; release() when its artifact is stored (or the build failed).
   * `waited`: another process held it. `locked`: a lock was taken (another run uses the
   * cache), so another run may have stored the key since the caller last looked.
   */
  acquire(key: string, o: { signal: AbortSignal; onWait: (holder: string) => void }): Promise<{ release(): Promise<void>; waited: boolean; locked: boolean }>;
  /** Stop looking at the cache (the run ended). */
  close(): void;
}

export function createBuildLocks(cacheDir: string, runId: string, o: { checkMs?: number } = {}): BuildLocks {
  const checkMs = o.checkMs ?? SHARED_CHECK_MS;
  const others = (): boolean => {
    try {
      return readdirSync(join(cacheDir, 'in-use')).some((f) => f.endsWith('.json') && f !== `${runId}.json`);
    } catch {
      return false;
    }
  };
  const dir = join(cacheDir, 'locks');
  /** Keys being built, with their lock when they have one. */
  const active = new Map<string, { release?: () => Promise<void> }>();
  let shared = others();
  // Another run was here first: give it time to lock what it builds.
  let settle: Promise<unknown> | undefined = shared ? delay(SETTLE_MS * (checkMs / SHARED_CHECK_MS)) : undefined;
  const timer = setInterval(() => {
    if (shared || !others()) return;
    shared = true;
    for (const [key, a] of active) {
      if (a.release !== undefined) continue;
      void tryLock(dir, `build-${key}`).then((got) => {
        // Ended meanwhile: give it back at once.
        if (got === undefined) return;
        if (active.get(key) === a) a.release = got.release;
        else void got.release();
      }).catch(() => undefined);
    }
  }, checkMs);
  timer.unref();
  return {
    async acquire(key, opts) {
      const entry: { release?: () => Promise<void> } = {};
      let waited = false;
      let locked = false;
      if (shared) {
        await settle;
        settle = undefined;
        const got = await takeLock(dir, `build-${key}`, { signal: opts.signal, onWait: opts.onWait, pollMaxMs: 1_000 });
        entry.release = got.release;
        waited = got.waited;
        locked = true;
      }
      active.set(key, entry);
      return {
        waited,
        locked,
        release: async () => {
          if (active.get(key) === entry) active.delete(key);
          await entry.release?.();
        },
      };
    },
    close: () => clearInterval(timer),
  };
}
