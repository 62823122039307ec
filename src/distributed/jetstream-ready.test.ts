import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jetstreamNotReady } from './jetstream-ready.ts';

test('jetstreamNotReady: a JetStream still electing its leader (10008, a timeout) is waited for; one that is not there at all is not', () => {
  const rows: [unknown, boolean][] = [
    [Object.assign(new Error('JetStream system temporarily unavailable'), { code: 10008 }), true],
    [new Error('jetstream system temporarily unavailable'), true],
    [Object.assign(new Error('timeout'), { name: 'TimeoutError' }), true],
    [Object.assign(new Error('jetstream is not enabled'), { name: 'JetStreamNotEnabled' }), false],
    [Object.assign(new Error('503'), { name: 'NoRespondersError' }), false],
    [new Error('Permissions Violation for Publish to "$JS.API.INFO"'), false],
    [null, false],
  ];
  for (const [e, want] of rows) assert.equal(jetstreamNotReady(e), want, String((e as Error | null)?.message));
});
