// A worker's acks must reach the message they answer. JetStream names a message in an ack
// by stream and sequence number only; a NATS server that came back without its store
// numbers from 1 again, so the ack of a job
// taken before that lands on whichever new job has the same number: acked (removed from
// the work queue) or terminated, never built, and its run waits for ever. It happened: a
// worker finished a job of a lost run and its ack removed the next run's second job.
//
// So each message is stamped with what the worker knew of the jobs stream when it came
// (disconnects and reconnects so far, and the stream's `created`), and its ack, nak, term
// and heartbeat go out only while that is still the stream: at once when the connection
// did not drop since, else once the server has said the stream is the same (asked again
// while it cannot say: a cluster electing its leader). A stream deleted and made anew
// while the connection stays up is not seen here (the coordinator's stream watch is).

import type { JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

/** What the worker uses of a job's message. */
export type JobMsg = Pick<JsMsg, 'subject' | 'info' | 'string' | 'ack' | 'ackAck' | 'term' | 'nak' | 'working'>;

/** What a message's stamp is compared with. */
export interface StreamEpochs {
  /** Reconnects seen so far. */
  epoch(): number;
  /** The stream's `created` as last seen (undefined while unknown: just after a reconnect). */
  known(): string | undefined;
  /** The stream's `created` now, asked of the server; undefined when it cannot be told. */
  createdNow(): Promise<string | undefined>;
}

/** Follows the connection's drops and the stream's `created` after each reconnect; stop() ends it. */
export function streamEpochs(nc: Pick<NatsConnection, 'status'>, created: () => Promise<string | undefined>, o: { retryMs?: number } = {}): StreamEpochs & { stop(): void; ready: Promise<void> } {
  let epoch = 0;
  let known: string | undefined;
  let stopped = false;
  // Until the server says (it may not, for a while, just after it is back), with a growing
  // wait; `ready` once it was asked the first time (a start is not held up for longer).
  let asked: () => void = () => {};
  const ready = new Promise<void>((r) => (asked = r));
  const look = async (at: number): Promise<void> => {
    try {
      for (let wait = o.retryMs ?? 1_000; !stopped && at === epoch; wait = Math.min(wait * 2, 30_000)) {
        const c = await created().catch(() => undefined);
        asked();
        if (at !== epoch) return;
        if (c !== undefined) {
          known = c;
          return;
        }
        await new Promise((r) => setTimeout(r, wait).unref());
      }
    } finally {
      asked();
    }
  };
  void look(0);
  const status = nc.status();
  void (async () => {
    for await (const s of status) {
      if (stopped) break;
      // A drop too: an ack written while the client reconnects goes to whichever server answers.
      if (s.type !== 'reconnect' && s.type !== 'disconnect' && s.type !== 'staleConnection') continue;
      epoch++;
      known = undefined;
      if (s.type === 'reconnect') void look(epoch);
    }
  })().catch(() => undefined);
  return {
    epoch: () => epoch,
    known: () => known,
    createdNow: () => created().catch(() => undefined),
    ready,
    stop() {
      stopped = true;
      (status as unknown as { stop?: () => void }).stop?.();
    },
  };
}

/**
 * The message with its acks going out only while its stream is the one it came from (see
 * the header). Call it as the message arrives: the stamp is what is known then.
 */
export function guardedMsg(msg: JobMsg, epochs: StreamEpochs): JobMsg {
  const epoch = epochs.epoch();
  // The stream it came from: as known, else (just after a reconnect) asked now.
  const from = epochs.known() !== undefined ? Promise.resolve(epochs.known()) : epochs.createdNow();
  /** The answer for an epoch: asked once per drop at most, and again while the server cannot say. */
  let checked: { epoch: number; answer: Promise<boolean | undefined> } | undefined;
  const same = async (): Promise<boolean> => {
    const now = epochs.epoch();
    if (now === epoch) return true;
    if (checked?.epoch !== now) {
      // Unknown (the server cannot say now, or could not when the message came): not sent, and asked again next time.
      const answer = Promise.all([from, epochs.createdNow()]).then(([was, is]) => (was === undefined || is === undefined ? undefined : was === is));
      const mine = { epoch: now, answer };
      checked = mine;
      void answer.then((a) => {
        if (a === undefined && checked === mine) checked = undefined;
      });
    }
    return (await checked!.answer) === true;
  };
  /** Synchronous when nothing reconnected (the usual case); else once the server has said. */
  const when = (send: () => void): void => {
    if (epochs.epoch() === epoch) send();
    else void same().then((ok) => ok && send(), () => undefined);
  };
  return {
    get subject() {
      return msg.subject;
    },
    get info() {
      return msg.info;
    },
    string: () => msg.string(),
    ack: () => when(() => msg.ack()),
    term: (reason?: string) => when(() => msg.term(reason)),
    nak: (millis?: number) => when(() => msg.nak(millis)),
    working: () => when(() => msg.working()),
    ackAck: async (opts?: Parameters<JsMsg['ackAck']>[0]) => ((await same()) ? msg.ackAck(opts) : false),
  };
}
