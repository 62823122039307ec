import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guardedMsg, streamEpochs, type JobMsg, type StreamEpochs } from './stale-ack.ts';

/** A message that records what was sent for it. */
function fakeMsg(): { msg: JobMsg; sent: string[] } {
  const sent: string[] = [];
  const msg = {
    subject: 'kiln.jobs.amd64.x',
    info: { deliveryCount: 1 },
    string: () => '{}',
    ack: () => void sent.push('ack'),
    term: () => void sent.push('term'),
    nak: () => void sent.push('nak'),
    working: () => void sent.push('working'),
    ackAck: async () => (sent.push('ackAck'), true),
  } as unknown as JobMsg;
  return { msg, sent };
}

/** Epochs under the test's hand: reconnect() bumps the epoch; the stream's created is `created`. */
function fakeEpochs(created: string | undefined): StreamEpochs & { reconnect(made?: string): void; asked: number } {
  let epoch = 0;
  let now = created;
  let known = created;
  const e = {
    asked: 0,
    epoch: () => epoch,
    known: () => known,
    createdNow: async () => {
      e.asked++;
      return now;
    },
    reconnect(made?: string) {
      epoch++;
      now = made ?? now;
      known = undefined;
    },
  };
  return e;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('no reconnect since the message came: its acks go out at once, and the server is not asked', async () => {
  const e = fakeEpochs('t1');
  const { msg, sent } = fakeMsg();
  const g = guardedMsg(msg, e);
  g.working();
  g.ack();
  assert.deepEqual(sent, ['working', 'ack']);
  assert.equal(await g.ackAck(), true);
  assert.equal(e.asked, 0);
});

test('the server came back with the same stream: the acks go out, asked once per reconnect', async () => {
  const e = fakeEpochs('t1');
  const { msg, sent } = fakeMsg();
  const g = guardedMsg(msg, e);
  e.reconnect();
  g.working();
  g.working();
  g.ack();
  await tick();
  assert.deepEqual(sent, ['working', 'working', 'ack']);
  assert.equal(e.asked, 1);
});

test('the stream was made anew (a server back without its store): nothing goes out for the old message, which would hit a new job with its number', async () => {
  const e = fakeEpochs('t1');
  const { msg, sent } = fakeMsg();
  const g = guardedMsg(msg, e);
  e.reconnect('t2');
  g.ack();
  g.term();
  g.nak(5000);
  g.working();
  assert.equal(await g.ackAck(), false);
  await tick();
  assert.deepEqual(sent, []);
});

test('a message that came while the stream was unknown (just after a reconnect) is stamped by asking the server then', async () => {
  const e = fakeEpochs('t1');
  e.reconnect();
  const { msg, sent } = fakeMsg();
  const g = guardedMsg(msg, e);
  g.ack();
  assert.deepEqual(sent, ['ack'], 'same connection: sent');
  e.reconnect();
  g.ack();
  await tick();
  assert.deepEqual(sent, ['ack', 'ack'], 'back with the same stream: sent');
  e.reconnect('t2');
  g.ack();
  await tick();
  assert.deepEqual(sent, ['ack', 'ack'], 'back with a stream made anew: not sent');
});

test('while the server cannot say (an error, a cluster electing its leader), nothing is sent and it is asked again: a normal reconnect does not block the acks for good', async () => {
  const e = fakeEpochs('t1');
  const { msg, sent } = fakeMsg();
  const g = guardedMsg(msg, e);
  e.reconnect();
  const real = e.createdNow;
  e.createdNow = async () => {
    e.asked++;
    return undefined;
  };
  g.working();
  await tick();
  assert.deepEqual(sent, []);
  e.createdNow = real;
  g.working();
  await tick();
  assert.deepEqual(sent, ['working'], 'asked again, and the stream is the same');
});

test('streamEpochs: a drop and a reconnect each start a new epoch; after a reconnect the stream is asked until the server says', async () => {
  const events: { type: string }[] = [];
  let push: (() => void) | undefined;
  const status = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (events.length > 0) yield events.shift()!;
        await new Promise<void>((r) => (push = r));
      }
    },
  };
  const answers: (string | undefined)[] = ['t1', undefined, 't1'];
  const epochs = streamEpochs({ status: () => status as never }, async () => {
    const a = answers.shift();
    if (a === undefined) throw new Error('not now');
    return a;
  }, { retryMs: 5 });
  await epochs.ready;
  assert.equal(epochs.known(), 't1');
  const emit = (type: string): void => {
    events.push({ type });
    push?.();
  };
  emit('disconnect');
  await tick();
  assert.equal(epochs.epoch(), 1);
  assert.equal(epochs.known(), undefined);
  emit('reconnect');
  await tick();
  assert.equal(epochs.epoch(), 2);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(epochs.known(), 't1', 'asked again after the first answer failed');
  epochs.stop();
  push?.();
});
