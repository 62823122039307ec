// Before a job builds: another kiln process sharing the cache may be building this very key
// (cache/build-locks.ts). Wait for it, then use what it made, unless the build is forced.
// Every way this ends is an answer, never a throw: a job the scheduler only sees throw
// would be lost from the run.

import type { ArtifactMeta, ArtifactStore } from '../cache/artifact-types.ts';
import type { BuildLocks } from '../cache/build-locks.ts';
import type { EventBus } from '../events/events.ts';

export type LockWait =
  /** Build it; `release` gives the lock back (none when no other run uses the cache). */
  | { readonly kind: 'build'; readonly release: () => Promise<void>; readonly waited: boolean }
  /** Another run built it meanwhile: its artifact (the lock is already given back). */
  | { readonly kind: 'built-elsewhere'; readonly stored: ArtifactMeta }
  | { readonly kind: 'cancelled' | 'failed'; readonly message: string };

/** (No pid here: this cause reaches a daemon's tenants, the note does not.) */
export const BUILT_ELSEWHERE = 'built meanwhile by another run sharing this cache: its artifact is used';

export async function waitForBuildLock(o: {
  readonly buildLocks: BuildLocks | undefined;
  readonly artifacts: ArtifactStore;
  readonly bus: EventBus;
  readonly runId: string;
  readonly jobId: string;
  readonly key: string;
  readonly forced: boolean;
  readonly signal: AbortSignal;
}): Promise<LockWait> {
  let release: () => Promise<void> = async () => undefined;
  if (o.buildLocks === undefined) return { kind: 'build', release, waited: false };
  try {
    const got = await o.buildLocks.acquire(o.key, {
      signal: o.signal,
      onWait: (holder: string) => {
        const pid = holder.split(' ')[0];
        o.bus.emit({ type: 'job-waiting', runId: o.runId, jobId: o.jobId, holderPid: Number(pid), at: Date.now() });
        o.bus.emit({ type: 'note', at: Date.now(), text: `${o.jobId}: waiting for kiln pid ${pid}, which is building the same inputs (a cache shared with another run)` });
      },
    });
    release = lockReleaser(got, o.bus, o.jobId);
    // Under a lock, look again: the other run may have stored it and let go while this one
    // settled (build-locks.ts) or after the early cutoff's look, without this one waiting.
    if ((got.waited || got.locked) && !o.forced) {
      const stored = await o.artifacts.get(o.key);
      if (stored !== undefined) {
        await release();
        return { kind: 'built-elsewhere', stored };
      }
    }
    return { kind: 'build', release, waited: got.waited };
  } catch (e) {
    await release();
    if (o.signal.aborted) return { kind: 'cancelled', message: 'not started: the run was cancelled while it waited for another kiln process' };
    return { kind: 'failed', message: `cannot take the build lock of its inputs in the cache: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** Give the lock back once; a failure to is said, not thrown (the job's outcome stands). */
function lockReleaser(lock: { release(): Promise<void> }, bus: EventBus, jobId: string): () => Promise<void> {
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    try {
      await lock.release();
    } catch (e) {
      bus.emit({ type: 'note', at: Date.now(), text: `${jobId}: could not remove its build lock in the cache (${e instanceof Error ? e.message : String(e)}); another kiln waiting for it takes it over once this process ends` });
    }
  };
}
