import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import type { NatsConnection } from '@nats-io/transport-node';
import { holdForRoom, raceAbort, sleepUnlessAborted, type Hold } from './worker-hold.ts';

test('raceAbort / sleepUnlessAborted: a worker waiting many times leaves no listener on its long-lived signal', async () => {
  const stop = new AbortController();
  const other = new AbortController();
  for (let i = 0; i < 200; i++) {
    await raceAbort([Promise.resolve(), new Promise(() => undefined)], [stop.signal, other.signal]);
    await raceAbort([Promise.reject(new Error('a job failed'))], [stop.signal]);
    await sleepUnlessAborted(0, [stop.signal]);
  }
  assert.equal(getEventListeners(stop.signal, 'abort').length, 0);
  assert.equal(getEventListeners(other.signal, 'abort').length, 0);
  // A wait ends when the signal aborts, and its listener goes too.
  const never = new Promise(() => undefined);
  const waiting = raceAbort([never], [stop.signal]);
  assert.equal(getEventListeners(stop.signal, 'abort').length, 1);
  stop.abort();
  await waiting;
  assert.equal(getEventListeners(stop.signal, 'abort').length, 0);
  await raceAbort([never], [stop.signal]); // aborted already: at once
});

function hold(over: Partial<Hold>): Hold & { beats: () => number; said: () => number } {
  let beats = 0;
  let said = 0;
  return {
    msg: { working: () => void beats++ },
    runId: 'r1',
    alive: false,
    nc: undefined as unknown as NatsConnection,
    fits: () => false,
    running: () => [new Promise(() => undefined)],
    stop: new AbortController().signal,
    cancel: new AbortController().signal,
    heartbeatMs: 10,
    waiting: () => void said++,
    ...over,
    beats: () => beats,
    said: () => said,
  };
}

test('holdForRoom: a held job is cancelled by its coordinator (the hold ends, no heartbeat after), ends with room, or with the stop', async () => {
  const cancel = new AbortController();
  const h = hold({ cancel: cancel.signal });
  const end = holdForRoom(h);
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(h.beats() > 0, 'kept in progress while held');
  assert.equal(h.said(), 1);
  cancel.abort();
  assert.equal(await end, 'cancelled');
  const beats = h.beats();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(h.beats(), beats, 'no heartbeat once the hold ended');
  assert.equal(getEventListeners(cancel.signal, 'abort').length, 0);

  // Cancelled before the hold (a run stopped whole): not held at all.
  const before = hold({ cancel: AbortSignal.abort() });
  assert.equal(await holdForRoom(before), 'cancelled');
  assert.equal(before.said(), 0);

  // A running job ends: room.
  let room = false;
  let end1!: () => void;
  const job = new Promise<void>((r) => (end1 = r));
  const h2 = hold({ fits: () => room, running: () => [job] });
  const ended = holdForRoom(h2);
  room = true;
  end1();
  assert.equal(await ended, 'room');

  const stop = new AbortController();
  const h3 = hold({ stop: stop.signal });
  const stopped = holdForRoom(h3);
  stop.abort();
  assert.equal(await stopped, 'stopping');
});
