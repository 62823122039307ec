// A worker's acks must reach the message they answer. JetStream names a message in an ack
// by stream and sequence number only; a NATS server that came back without its store (or a
// stream deleted and made anew by another kiln) numbers from 1 again, so the ack of a job
// taken before that lands on whichever new job has the same number: acked (removed from
// the work queue) or terminated, never built, and its run waits for ever. It happened: a
// worker finished a job of a lost run and its ack removed the next run's second job.
//
// So each message is stamped with what the worker knew of the jobs stream when it came
// (reconnects so far, and the stream's `created`), and its ack, nak, term and heartbeat go
// out only while that is still the stream: at once when nothing reconnected since, else
// after asking the server once. Unknown means no: a message not acked is delivered again
// after the ack wait (a build twice, which the coordinator's fencing handles), where an
// ack sent astray loses a job.

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

/** Follows the connection's reconnects and the stream's `created` after each; stop() ends it. */
export function streamEpochs(nc: Pick<NatsConnection, 'status'>, created: () => Promise<string | undefined>): StreamEpochs & { stop(): void; ready: Promise<void> } {
  let epoch = 0;
  let known: string | undefined;
  let stopped = false;
  const look = async (at: number): Promise<void> => {
    const c = await created().catch(() => undefined);
    if (at === epoch) known = c;
  };
  const ready = look(0);
  const status = nc.status();
  void (async () => {
    for await (const s of status) {
      if (stopped) break;
      if (s.type !== 'reconnect') continue;
      epoch++;
      known = undefined;
      void look(epoch);
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
  const stamp = { epoch: epochs.epoch(), created: epochs.known() };
  /** The last answer, and the epoch it was for: asked once per reconnect at most. */
  let checked: { epoch: number; same: Promise<boolean> } | undefined;
  const same = (): Promise<boolean> => {
    const now = epochs.epoch();
    if (now === stamp.epoch) return Promise.resolve(true);
    if (checked?.epoch !== now) checked = { epoch: now, same: stamp.created === undefined ? Promise.resolve(false) : epochs.createdNow().then((c) => c === stamp.created) };
    return checked.same;
  };
  /** Synchronous when nothing reconnected (the usual case); else once the server has said. */
  const when = (send: () => void): void => {
    if (epochs.epoch() === stamp.epoch) send();
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
