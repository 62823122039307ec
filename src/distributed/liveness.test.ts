import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/transport-node';
import { askAlive, noResponders, watchAlive } from './liveness.ts';

class NoRespondersError extends Error {
  override name = 'NoRespondersError';
}
/** A connection whose requests answer from `answers` in turn ('there', 'gone', 'slow'). */
function fakeNc(answers: string[]): NatsConnection {
  return {
    request: async () => {
      const a = answers.shift() ?? 'there';
      if (a === 'gone') throw Object.assign(new Error('503'), { isNoResponders: () => true });
      if (a === 'slow') throw new Error('TIMEOUT');
      return {};
    },
  } as unknown as NatsConnection;
}

test('noResponders: only the server\'s "no responders" answer counts as nobody there', () => {
  assert.equal(noResponders(Object.assign(new Error('x'), { isNoResponders: () => true })), true);
  assert.equal(noResponders(new NoRespondersError('503')), true);
  assert.equal(noResponders(Object.assign(new Error('503'), { name: 'NoResponders' })), true);
  assert.equal(noResponders(Object.assign(new Error('request failed'), { cause: new NoRespondersError('503') })), true);
  assert.equal(noResponders(Object.assign(new Error('timeout'), { isNoResponders: () => false })), false);
  assert.equal(noResponders(new Error('TIMEOUT')), false);
  assert.equal(noResponders(null), false);
});

test('askAlive: there, gone (no responders), unknown (a timeout: slow, not gone)', async () => {
  assert.equal(await askAlive(fakeNc(['there']), 'r'), 'there');
  assert.equal(await askAlive(fakeNc(['gone']), 'r'), 'gone');
  assert.equal(await askAlive(fakeNc(['slow']), 'r'), 'unknown');
});

test('watchAlive: gone twice in a row, not once, nor with an answer or a timeout between', async () => {
  const cases: [string[], boolean][] = [
    [['gone', 'gone'], true],
    [['there', 'gone', 'gone'], true],
    [['gone', 'there', 'gone', 'there'], false],
    [['gone', 'slow', 'gone', 'slow'], false],
    [['there', 'there', 'there'], false],
  ];
  for (const [answers, gone] of cases) {
    let said = 0;
    const w = watchAlive(fakeNc([...answers]), 'r', () => said++, 5);
    await new Promise((r) => setTimeout(r, 5 * (answers.length + 4) + 50));
    w.stop();
    assert.equal(said, gone ? 1 : 0, answers.join(','));
  }
});
