import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guardedMsg, type JobMsg, type StreamEpochs } from './stale-ack.ts';

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

test('a message that came while the stream was unknown (just after a reconnect) is answered only in that same connection', async () => {
  const e = fakeEpochs('t1');
  e.reconnect();
  const { msg, sent } = fakeMsg();
  const g = guardedMsg(msg, e);
  g.ack();
  assert.deepEqual(sent, ['ack'], 'same epoch: sent');
  e.reconnect();
  g.ack();
  await tick();
  assert.deepEqual(sent, ['ack'], 'another reconnect, and what its stream was cannot be told: not sent');
});
