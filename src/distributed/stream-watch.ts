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
  const err = e as { code?: unknown; api_error?: { err_code?: unknown }; message?: unknown } | null;
  return err?.api_error?.err_code === 10059 || /stream not found/i.test(String(err?.message ?? ''));
}

/** The streams the server no longer has, of those kiln needs ([] when all are there, or it cannot tell). */
export async function missingStreams(cluster: Pick<Cluster, 'jsm'>): Promise<string[]> {
  const missing: string[] = [];
  for (const name of [JOBS_STREAM, EVENTS_STREAM]) {
    try {
      await cluster.jsm.streams.info(name);
    } catch (e) {
      if (streamMissing(e)) missing.push(name);
    }
  }
  return missing;
}

/** Says once, through `onLost`, why the streams are gone; stop() ends the watch. */
export function watchStreams(cluster: Pick<Cluster, 'jsm' | 'nc' | 'url'>, onLost: (why: string) => void, everyMs = STREAM_CHECK_MS): { stop(): void } {
  let stopped = false;
  let checking = false;
  const check = async (): Promise<void> => {
    if (stopped || checking) return;
    checking = true;
    try {
      const missing = await missingStreams(cluster);
      if (missing.length > 0 && !stopped) {
        stopped = true;
        clearInterval(timer);
        onLost(`the NATS server at ${cluster.url} no longer has kiln's stream${missing.length > 1 ? 's' : ''} ${missing.join(' and ')} (it came back without its JetStream store, or they were deleted): the jobs queued or building there are lost; build again`);
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
