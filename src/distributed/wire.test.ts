import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventMessage, JobMessage, parseMessage } from './wire.ts';
import { consumerName, jobsSubject } from './cluster.ts';
import { workerEnvId } from '../run/env-id.ts';
import { credentialsOf, displayUrl, serversOf } from './nats-url.ts';
import { workerEnvFlag } from '../run/env-id.ts';

const KEY = 'ab'.repeat(32);
const job = { id: 'zlib@amd64', runId: 'r1', arch: 'amd64', stage: ['base@amd64'], waitsFor: [], spec: { name: 'zlib', build: { script: ':' } }, ownKey: 'o', cpus: 1, envId: 'host:x', attempt: 1, why: { kind: 'new' } };
const message = { v: 1, runId: 'r1', jobId: 'zlib@amd64', job, key: KEY, tree: `sha256-${'0'.repeat(64)}`, mirrors: {}, deps: [], options: { sourceDateEpoch: 0, profiles: [], warningsFail: false } };

test('JobMessage: ids, keys and blob names that name files are checked', () => {
  assert.equal(parseMessage(JobMessage, JSON.stringify(message)).ok, true);
  const bad: [string, unknown][] = [
    ['a job id that climbs', { ...message, jobId: '../../etc/x@amd64' }],
    ['a job whose id climbs', { ...message, job: { ...job, id: '../../../tmp/EVIL' } }],
    ['a staged id that climbs', { ...message, job: { ...job, stage: ['../x'] } }],
    ['an arch with a slash', { ...message, job: { ...job, arch: 'amd64/../x' } }],
    ['a key that is a path', { ...message, key: '../../x' }],
    ['a dep key that is a path', { ...message, deps: [{ id: 'base@amd64', key: '../x', outputHash: 'a'.repeat(64), artifact: { metaText: '{}', manifest: null, archive: null } }] }],
    ['a blob name that is not a hash', { ...message, tree: '../../etc/passwd' }],
    ['no cpus', { ...message, job: { ...job, cpus: 0 } }],
  ];
  for (const [what, m] of bad) assert.equal(parseMessage(JobMessage, JSON.stringify(m)).ok, false, what);
  assert.deepEqual(parseMessage(JobMessage, 'not json'), { ok: false, why: 'not JSON' });
});

test('JobMessage: a Debian job\'s part names a blob, an http(s) or file:/// mirror and a .dsc file name, nothing else', () => {
  const debian = { suite: 'bookworm', mirror: 'http://mirror.example/debian', buildArch: 'amd64', packages: `sha256-${'1'.repeat(64)}`, extras: [], dsc: 'kiln-app_1.0.dsc' };
  assert.equal(parseMessage(JobMessage, JSON.stringify({ ...message, debian })).ok, true);
  const { dsc: _dsc, ...archive } = debian;
  assert.equal(parseMessage(JobMessage, JSON.stringify({ ...message, debian: archive })).ok, true, 'an archive source has no .dsc');
  assert.equal(parseMessage(JobMessage, JSON.stringify({ ...message, debian: { ...debian, dsc: 'kiln-liba@1.0.dsc' } })).ok, true, 'any file name');
  const bad: [string, unknown][] = [
    ['a .dsc that is a path', { ...debian, dsc: '../../etc/x.dsc' }],
    ['a .dsc that is a hidden file', { ...debian, dsc: '..dsc' }],
    ['a .dsc with a backslash', { ...debian, dsc: 'a\\b.dsc' }],
    ['a .dsc that is not one', { ...debian, dsc: 'x.tar.gz' }],
    ['an index that is not a blob', { ...debian, packages: '/etc/passwd' }],
    ['a mirror of another scheme', { ...debian, mirror: 'ftp://mirror.example/debian' }],
    ['a relative file: mirror', { ...debian, mirror: 'file:debian' }],
    ['a suite with a slash', { ...debian, suite: 'bookworm/../x' }],
    ['an arch with a slash', { ...debian, buildArch: 'amd64/..' }],
  ];
  for (const [what, d] of bad) assert.equal(parseMessage(JobMessage, JSON.stringify({ ...message, debian: d })).ok, false, what);
});

test('a result\'s outcome: known fields of known types only (no path, no made-up state)', () => {
  const result = { type: 'result', jobId: 'zlib@amd64', attempt: 1, worker: 'w1', outcome: { state: 'built', key: KEY, startedAt: 1, endedAt: 2 }, artifact: null, log: null };
  assert.equal(parseMessage(EventMessage, JSON.stringify(result)).ok, true);
  for (const outcome of [
    { state: 'built', key: KEY, startedAt: 1, endedAt: 2, artifact: '/etc/shadow' },
    { state: 'done', key: KEY, startedAt: 1, endedAt: 2 },
    { state: 'failed', key: KEY, startedAt: 1, endedAt: 2, failure: { reason: 'whatever', message: 'x' } },
    { state: 'built', key: '../../x', startedAt: 1, endedAt: 2 },
  ]) assert.equal(parseMessage(EventMessage, JSON.stringify({ ...result, outcome })).ok, false, JSON.stringify(outcome));
  assert.equal(parseMessage(EventMessage, JSON.stringify({ ...result, worker: 'evil\u001b]0;pwned\u0007' })).ok, false, 'a worker name with control characters');
});

test('displayUrl: a NATS URL as it may be shown, without its user and password', () => {
  assert.equal(displayUrl('nats://alice:s3cret@nats.example:4222'), 'nats://nats.example:4222');
  assert.equal(displayUrl('nats://token@nats.example:4222'), 'nats://nats.example:4222');
  assert.equal(displayUrl('nats://127.0.0.1:4222'), 'nats://127.0.0.1:4222');
  assert.equal(displayUrl('alice:s3cret@nats.example:4222'), 'nats.example:4222', 'a server without its scheme (the client\'s nats://)');
  assert.equal(displayUrl('127.0.0.1:4222'), '127.0.0.1:4222');
});

test('credentialsOf: what the NATS client is given of a URL\'s credentials', () => {
  assert.deepEqual(credentialsOf('nats://alice:s3cret@nats.example:4222'), { user: 'alice', pass: 's3cret' });
  assert.deepEqual(credentialsOf('nats://alice:p%40ss%3Aword@nats.example:4222'), { user: 'alice', pass: 'p@ss:word' });
  assert.deepEqual(credentialsOf('nats://tok3n@nats.example:4222'), { token: 'tok3n' });
  assert.deepEqual(credentialsOf('nats://nats.example:4222'), {});
  assert.deepEqual(credentialsOf('nats://@nats.example:4222'), {});
  assert.deepEqual(credentialsOf('nats://u:p@ss@nats.example:4222'), { user: 'u', pass: 'p@ss' }, 'up to the last @, as a URL parser');
  assert.equal(displayUrl('nats://u:p@a.example:4222,nats://u:p@b.example:4222'), 'nats://a.example:4222,nats://b.example:4222', 'every server of a list');
  assert.deepEqual(serversOf('nats://u:p@a.example:4222, nats://b.example:4222'), ['nats://a.example:4222', 'nats://b.example:4222']);
  assert.deepEqual(credentialsOf('nats://u:p@a.example:4222,nats://u:p@b.example:4222'), { user: 'u', pass: 'p' });
  assert.deepEqual(credentialsOf('alice:s3cret@nats.example:4222'), { user: 'alice', pass: 's3cret' }, 'a server without its scheme');
  assert.deepEqual(credentialsOf('nats.example:4222'), {});
});

test('jobs go to the queue of their arch and env; the note says which --env a worker needs', () => {
  assert.match(jobsSubject('amd64', 'bookworm-amd64@v1'), /^kiln\.jobs\.amd64\.[0-9a-f]{12}$/);
  assert.notEqual(jobsSubject('amd64', 'bookworm-amd64@v1'), jobsSubject('amd64', 'host:abc'), 'another env, another queue');
  assert.notEqual(jobsSubject('amd64', 'bookworm-amd64@v1'), jobsSubject('amd64', 'bookworm-amd64@v2'), 'another version, another queue');
  assert.equal(consumerName('riscv64', 'e@1').replace(/[0-9a-f]{12}$/, 'X'), 'kiln-riscv64-X');
  assert.equal(workerEnvFlag('host:0123abcd'), '');
  assert.equal(workerEnvFlag('bookworm-amd64@20261122T101010Z'), ' --env bookworm-amd64');
});

test('workerEnvId: the env a worker builds in, without the run\'s profiles or an [instance] layer', () => {
  assert.equal(workerEnvId('host:408b9a6a'), 'host:408b9a6a');
  assert.equal(workerEnvId('host:408b9a6a+profiles:nocheck,nodoc'), 'host:408b9a6a');
  assert.equal(workerEnvId('bookworm-amd64@20261122T020818-e93c63c4+stable.0123456789ab'), 'bookworm-amd64@20261122T020818-e93c63c4');
});
