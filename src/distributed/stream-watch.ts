// Whether kiln's streams are still on the NATS server. A server that comes back without
// its JetStream store (a wiped disk, a new machine at the old address, a memory store) or
// an operator's `nats stream rm` takes the queued jobs and the runs' events with it: the
// client reconnects as if nothing happened, and a coordinator would wait for results that
// can never come. It looks at every reconnect and every STREAM_CHECK_MS.

import type { Cluster } from './cluster.ts';
import { EVENTS_STREAM, JOBS_STREAM } from './cluster.ts';

/** How often the streams are looked at besides each reconnect. */
export const STREAM_CHECK_MS = 10_000;

/** A JetStream answer that the stream is not there (err_code 10059), as opposed to a timeout or a lost connection. */
export function streamMissing(e: unknown): boolean {
  const err = e as { code?: unknown; name?: unknown; message?: unknown } | null;
  return err?.code === 10059 || err?.name === 'StreamNotFoundError' || /stream not found/i.test(String(err?.message ?? ''));
}

/** When each of kiln's streams was made (its `created`), undefined for one that cannot be told now. */
export async function streamsMade(cluster: Pick<Cluster, 'jsm'>): Promise<Map<string, string | 'missing' | undefined>> {
  const made = new Map<string, string | 'missing' | undefined>();
  for (const name of [JOBS_STREAM, EVENTS_STREAM]) {
    try {
      made.set(name, String((await cluster.jsm.streams.info(name)).created));
    } catch (e) {
      made.set(name, streamMissing(e) ? 'missing' : undefined);
    }
  }
  return made;
}

/**
 * The streams gone since `before` (pure): missing now, or made anew (another kiln made
 * them again on a server that had lost them: the same name, not the same stream).
 */
export function lostStreams(before: ReadonlyMap<string, string | 'missing' | undefined>, now: ReadonlyMap<string, string | 'missing' | undefined>): string[] {
  const lost: string[] = [];
  for (const [name, made] of now) {
    const was = before.get(name);
    if (made === 'missing' || (made !== undefined && was !== undefined && was !== 'missing' && made !== was)) lost.push(name);
  }
  return lost;
}

/** Says once, through `onLost`, why the streams are gone; stop() ends the watch. */
export function watchStreams(cluster: Pick<Cluster, 'jsm' | 'nc' | 'url'>, onLost: (why: string) => void, everyMs = STREAM_CHECK_MS): { stop(): void } {
  let stopped = false;
  let checking = false;
  // The streams as this run found them: one made anew later is not the one its jobs went to.
  const first = streamsMade(cluster);
  const check = async (): Promise<void> => {
    if (stopped || checking) return;
    checking = true;
    try {
      const lost = lostStreams(await first, await streamsMade(cluster));
      if (lost.length > 0 && !stopped) {
        stopped = true;
        clearInterval(timer);
        onLost(`the NATS server at ${cluster.url} no longer has kiln's stream${lost.length > 1 ? 's' : ''} ${lost.join(' and ')} as this run found ${lost.length > 1 ? 'them' : 'it'} (it came back without its JetStream store, or ${lost.length > 1 ? 'they were' : 'it was'} deleted, maybe made anew since): the jobs queued or building there are lost; build again`);
      }
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), everyMs);
  timer.unref();
  void (async () => {
    for await (const s of cluster.nc.status()) {
      if (stopped) return;
      if (s.type === 'reconnect') void check();
    }
  })().catch(() => undefined);
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
