import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KilnError } from '../errors.ts';
import { checkEnvName, envId, isEnvName, isVersionId, newVersionId, parseEnvId, versionTime } from './names.ts';

test('env names: lower-case letters, digits, . _ -, starting with a letter or digit', () => {
  for (const ok of ['bookworm-amd64', 'trixie_riscv64', 'a', '0', 'deb12.3-x']) assert.equal(checkEnvName(ok), ok);
  for (const bad of ['', '-x', '.hidden', 'Bookworm', 'a/b', '..', 'a b', 'x@y', 'a'.repeat(65)]) {
    assert.equal(isEnvName(bad), false, bad);
    assert.throws(() => checkEnvName(bad), (e: unknown) => e instanceof KilnError && e.code === 'usage' && e.message.includes('not a valid environment name'));
  }
});

test('version ids carry the UTC time and a short hash, sort by time and differ within one second', () => {
  const now = new Date('2026-11-22T00:15:00.123Z');
  const a = newVersionId('x', { now, nonce: '1' });
  assert.match(a, /^20261122T001500-[0-9a-f]{8}$/);
  assert.equal(newVersionId('x', { now, nonce: '1' }), a, 'deterministic for the same input');
  assert.notEqual(newVersionId('x', { now }), newVersionId('x', { now }), 'random nonce by default');
  assert.equal(versionTime(a)?.toISOString(), '2026-11-22T00:15:00.000Z');
  const later = newVersionId('x', { now: new Date('2026-11-22T00:15:01Z') });
  assert.ok(later > a);
  assert.equal(isVersionId(a), true);
  for (const bad of ['20261122T001500', '20261122-001500-ab12cd34', '20261122T001500-AB12CD34', 'x']) assert.equal(isVersionId(bad), false, bad);
});

test('env id is name@version and parses back', () => {
  const id = envId('bookworm-amd64', '20261122T001500-ab12cd34');
  assert.equal(id, 'bookworm-amd64@20261122T001500-ab12cd34');
  assert.deepEqual(parseEnvId(id), { name: 'bookworm-amd64', versionId: '20261122T001500-ab12cd34' });
  assert.equal(parseEnvId('bookworm-amd64'), undefined);
  assert.equal(parseEnvId('Bad@20261122T001500-ab12cd34'), undefined);
});
