import { test } from 'node:test';
import assert from 'node:assert/strict';
import { missingStreams, streamMissing } from './stream-watch.ts';

test('streamMissing: only JetStream saying the stream is not there', () => {
  assert.equal(streamMissing({ api_error: { err_code: 10059 }, message: 'x' }), true);
  assert.equal(streamMissing(new Error('stream not found')), true);
  assert.equal(streamMissing(new Error('TIMEOUT')), false);
  assert.equal(streamMissing(new Error('connection closed')), false);
  assert.equal(streamMissing({ api_error: { err_code: 10014 }, message: 'consumer not found' }), false);
  assert.equal(streamMissing(null), false);
});

test('missingStreams: the streams said missing; a timeout is not a missing stream', async () => {
  const jsm = (answers: Record<string, Error | undefined>) => ({ streams: { info: async (name: string) => { const e = answers[name]; if (e !== undefined) throw e; return {}; } } });
  assert.deepEqual(await missingStreams({ jsm: jsm({}) } as never), []);
  assert.deepEqual(await missingStreams({ jsm: jsm({ KILN_JOBS: new Error('stream not found') }) } as never), ['KILN_JOBS']);
  assert.deepEqual(await missingStreams({ jsm: jsm({ KILN_JOBS: new Error('stream not found'), KILN_EVENTS: new Error('stream not found') }) } as never), ['KILN_JOBS', 'KILN_EVENTS']);
  assert.deepEqual(await missingStreams({ jsm: jsm({ KILN_EVENTS: new Error('TIMEOUT') }) } as never), []);
});
