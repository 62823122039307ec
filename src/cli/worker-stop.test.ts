import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stopAgainText } from './worker.ts';

test('kiln worker, a second stop signal: stops now, naming the jobs it abandons to the server\'s redelivery, if any', () => {
  assert.equal(stopAgainText('SIGTERM', []), 'SIGTERM again: stopping now');
  assert.equal(stopAgainText('SIGINT', ['r1 a@amd64']), 'SIGINT again: stopping now; not given back: r1 a@amd64 (the NATS server delivers it again once its ack wait runs out)');
  assert.equal(stopAgainText('SIGINT', ['r1 a@amd64', 'r1 b@amd64']), 'SIGINT again: stopping now; not given back: r1 a@amd64, r1 b@amd64 (the NATS server delivers them again once their ack wait runs out)');
});
