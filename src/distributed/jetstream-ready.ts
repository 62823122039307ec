// A NATS server that answers but whose JetStream is not ready yet: a cluster electing its
// meta leader at boot answers JetStream requests with "temporarily unavailable" (10008)
// or not at all (a timeout). `kiln worker` waits for it, as it waits for a server it
// cannot reach (wait-for-server.ts); a server without JetStream at all (nobody answers
// its API: "no responders") is not waited for: that is its configuration.

import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { KilnError } from '../errors.ts';
import { retryDelayMs } from './wait-for-server.ts';

/** Whether a JetStream API failure is one of a JetStream not ready yet (pure). */
export function jetstreamNotReady(e: unknown): boolean {
  const err = e as { code?: unknown; name?: unknown; message?: unknown } | null;
  const message = String(err?.message ?? '');
  if (err?.code === 10008 || /temporarily unavailable/i.test(message)) return true;
  return err?.name === 'TimeoutError' || /^timeout$/i.test(message);
}

/** Until JetStream answers (its account info); said once, and when it does. Aborted: KilnError 'cancelled'. */
export async function waitForJetStream(nc: NatsConnection, url: string, o: { signal: AbortSignal; say: (text: string) => void; delayMs?: (n: number) => number }): Promise<void> {
  const started = Date.now();
  for (let n = 1; ; n++) {
    if (o.signal.aborted) throw new KilnError('cancelled', `stopped while waiting for the JetStream of NATS at ${url}`);
    try {
      await (await jetstreamManager(nc)).getAccountInfo();
      if (n > 1) o.say(`the JetStream of NATS at ${url} is ready after ${Math.round((Date.now() - started) / 1000)} s`);
      return;
    } catch (e) {
      if (!jetstreamNotReady(e)) throw e;
      if (n === 1) o.say(`NATS at ${url} answers, but its JetStream is not ready (${(e as Error).message}: a cluster still electing its leader?): trying again until it is (Ctrl-C to stop)`);
      await sleep((o.delayMs ?? retryDelayMs)(n), undefined, { signal: o.signal }).catch(() => undefined);
    }
  }
}
