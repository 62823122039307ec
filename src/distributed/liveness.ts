// Whether a run's coordinator (`kiln build --nats`, or `kiln serve --nats` for a build)
// is still there: it answers on kiln.alive.<run> while the run lasts. A worker asks before
// it builds a job and, while it builds, every LIVENESS_EVERY_MS: a coordinator killed
// outright (kill -9, a machine lost) leaves its jobs on the queue, and nobody would use
// what they build. "No responders" from the server is the answer that counts (nobody
// listens); a request that merely times out (a busy or slow coordinator) is not.
//
// A job whose coordinator is gone is given back (`returned`, acked) rather than dropped: a
// coordinator only cut off from the server for a moment sees the event when it is back and
// queues the job again.

import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { NATS_PERMISSIONS } from './cluster.ts';
import { positiveFromEnv } from '../lib/env-number.ts';

/** How often a worker asks again while it builds (KILN_LIVENESS_MS for tests). */
export const LIVENESS_EVERY_MS = positiveFromEnv('KILN_LIVENESS_MS', 30_000);
/** How long one question may take: past it, the coordinator counts as there (slow, not gone). */
const ASK_TIMEOUT_MS = 10_000;

export function aliveSubject(runId: string): string {
  return `kiln.alive.${runId}`;
}

/** The coordinator's side: answers for `runId` until unsubscribed. */
export function answerAlive(nc: NatsConnection, runId: string): Subscription {
  // An error (a subscription the server refused) has no message to answer: a callback that
  // touched it anyway would throw in the client's reader and leave the connection deaf.
  return nc.subscribe(aliveSubject(runId), { callback: (err, m) => void (err === null && m.respond('yes')) });
}

/** Give-backs of a job by workers that found its run not answering before it fails, and the pause before each is queued again. */
export const MAX_GONE_RETURNS = 3;
export const GONE_REQUEUE_MS = 2_000;

/** Why a job given back MAX_GONE_RETURNS times fails (pure). */
export function goneTooOften(runId: string, times: number): string {
  return `workers found nobody answering on ${aliveSubject(runId)} ${times} times while this run was there (may this kiln's NATS user subscribe there? NATS permissions: ${NATS_PERMISSIONS})`;
}

/**
 * The coordinator asks itself once: a subscription the server refused (a NATS user with
 * narrower permissions than kiln's) would have workers give every job of the run back.
 */
export function checkAnswering(nc: NatsConnection, runId: string, say: (text: string) => void): void {
  void nc.flush().then(() => askAlive(nc, runId)).then((l) => {
    if (l === 'gone') say(`workers cannot tell this run is here: nobody answers on ${aliveSubject(runId)} (may this kiln's NATS user subscribe there? NATS permissions: ${NATS_PERMISSIONS}); they give its jobs back`);
  }, () => undefined);
}

/** What a question about a run's coordinator found: `gone` only when nobody listens for it. */
export type Liveness = 'there' | 'gone' | 'unknown';

/** A worker's side: asks whether the coordinator of `runId` is there. */
export async function askAlive(nc: NatsConnection, runId: string): Promise<Liveness> {
  try {
    await nc.request(aliveSubject(runId), '', { timeout: ASK_TIMEOUT_MS });
    return 'there';
  } catch (e) {
    return noResponders(e) ? 'gone' : 'unknown';
  }
}

/** The server said nobody subscribes to the subject (NATS "503 no responders"). */
export function noResponders(e: unknown): boolean {
  const err = e as { isNoResponders?: () => boolean; name?: string; cause?: { name?: string } } | null;
  // request() wraps it (isNoResponders); requestMany throws it bare (named NoResponders in nats-core 3).
  const named = (n: string | undefined): boolean => n === 'NoResponders' || n === 'NoRespondersError';
  return err?.isNoResponders?.() === true || named(err?.name) || named(err?.cause?.name);
}

/**
 * Watches the coordinator of `runId` while a job of it builds: `onGone` once it is gone
 * twice in a row (a coordinator reconnecting to the server is not given up on at once).
 */
export function watchAlive(nc: NatsConnection, runId: string, onGone: () => void, everyMs = LIVENESS_EVERY_MS): { stop(): void } {
  let goneOnce = false;
  let asking = false;
  const timer = setInterval(() => {
    if (asking) return;
    asking = true;
    void askAlive(nc, runId).then((l) => {
      asking = false;
      if (l !== 'gone') {
        goneOnce = false;
        return;
      }
      if (goneOnce) {
        clearInterval(timer);
        onGone();
      }
      goneOnce = true;
    });
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
