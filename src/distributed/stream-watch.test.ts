import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lostStreams, streamMissing, streamsMade } from './stream-watch.ts';

test('streamMissing: only JetStream saying the stream is not there', () => {
  assert.equal(streamMissing(Object.assign(new Error('x'), { code: 10059 })), true);
  assert.equal(streamMissing(Object.assign(new Error('x'), { name: 'StreamNotFoundError' })), true);
  assert.equal(streamMissing(new Error('stream not found')), true);
  assert.equal(streamMissing(new Error('TIMEOUT')), false);
  assert.equal(streamMissing(new Error('connection closed')), false);
  assert.equal(streamMissing(Object.assign(new Error('consumer not found'), { code: 10014 })), false);
  assert.equal(streamMissing(null), false);
});

test('streamsMade: when each stream was made; missing when JetStream says so; unknown on a timeout', async () => {
  const jsm = (answers: Record<string, Error | string>) => ({ streams: { info: async (name: string) => { const a = answers[name]!; if (a instanceof Error) throw a; return { created: a }; } } });
  assert.deepEqual([...await streamsMade({ jsm: jsm({ KILN_JOBS: 't1', KILN_EVENTS: 't2' }) } as never)], [['KILN_JOBS', 't1'], ['KILN_EVENTS', 't2']]);
  assert.deepEqual([...await streamsMade({ jsm: jsm({ KILN_JOBS: Object.assign(new Error('x'), { code: 10059 }), KILN_EVENTS: new Error('TIMEOUT') }) } as never)], [['KILN_JOBS', 'missing'], ['KILN_EVENTS', undefined]]);
});

test('lostStreams: missing now, or made anew since; not a stream that could not be told either time', () => {
  const m = (j: string | undefined, e: string | undefined) => new Map<string, string | undefined>([['KILN_JOBS', j], ['KILN_EVENTS', e]]);
  assert.deepEqual(lostStreams(m('t1', 't2'), m('t1', 't2')), []);
  assert.deepEqual(lostStreams(m('t1', 't2'), m('missing', 't2')), ['KILN_JOBS']);
  assert.deepEqual(lostStreams(m('t1', 't2'), m('t3', 't4')), ['KILN_JOBS', 'KILN_EVENTS'], 'made anew by another kiln');
  assert.deepEqual(lostStreams(m(undefined, 't2'), m('t3', undefined)), [], 'unknown before or now: not said lost');
  assert.deepEqual(lostStreams(m('t1', 't2'), m('missing', 'missing')), ['KILN_JOBS', 'KILN_EVENTS']);
});
