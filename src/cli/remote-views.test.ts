// `kiln status --server` and `kiln build --server` as a user reads them, through the real CLI
// (in-process) against a local HTTP server answering what the daemon answers: a failed job
// shows its message (not only its reason code), `--runs` shows counts in words and the
// error of a build that ended before it ran.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { runMain } from '../../test/helpers/cli-streams.ts';
import { followBuild, jobNote } from './remote-build.ts';
import { buildsText } from './remote-views.ts';

const MISMATCH = 'sha256 mismatch for http://127.0.0.1:9/zlib-1.3.tar.gz: expected 1111aaaa, got 2222bbbb';

const build = (over: Record<string, unknown>) => ({
  id: 'b1', tenant: 'alice', tree: 'main', bundle: null, state: 'failed', targets: [], archs: null, env: null, priority: 0, runId: 'r1',
  error: null, errorCode: null, errorHint: null, retryOf: null, priorRuns: [],
  createdAt: '2025-01-01T00:00:00.000Z', startedAt: '2025-01-01T00:00:00.000Z', endedAt: '2025-01-01T00:00:03.000Z', total: 2, counts: { built: 1, failed: 1 },
  ...over,
});

const job = (jobId: string, state: string, over: Record<string, unknown> = {}) => ({
  jobId, name: jobId.split('@')[0], version: '1', arch: 'amd64', state, attempt: 1, why: null, cause: null, failureReason: null,
  startedAt: '2025-01-01T00:00:01.000Z', endedAt: '2025-01-01T00:00:02.000Z', durationMs: 18, log: null, sample: null, earlierAttempts: [], ...over,
});

const JOBS = { buildId: 'b1', runId: 'r1', jobs: [job('libpng@amd64', 'built'), job('zlib@amd64', 'failed', { failureReason: 'fetch-failed', cause: MISMATCH })] };

/** A daemon answering GET paths from a table (a 404 in kiln's shape otherwise). */
async function daemon(t: TestContext, answers: Record<string, unknown>): Promise<string> {
  const s = createServer((req, res) => {
    const a = answers[req.url ?? ''];
    res.writeHead(a === undefined ? 404 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(a ?? { error: { code: 'not-found', message: `no ${req.url}` } }));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  t.after(() => s.close());
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

test('jobNote: the cause (a failed job\'s message) as the local CLI shows it, the bare reason only when there is no message', () => {
  const cases: Array<[{ state: string; cause: string | null; failureReason: string | null }, string]> = [
    [{ state: 'failed', cause: MISMATCH, failureReason: 'fetch-failed' }, MISMATCH],
    [{ state: 'failed', cause: null, failureReason: 'exit-status' }, 'exit-status'],
    [{ state: 'skipped', cause: 'needs zlib@amd64, which failed', failureReason: null }, 'needs zlib@amd64, which failed'],
    [{ state: 'running', cause: null, failureReason: null }, ''],
    [{ state: 'built', cause: null, failureReason: null }, ''],
  ];
  for (const [j, want] of cases) assert.equal(jobNote(j), want, JSON.stringify(j));
});

test('kiln status --server: a failed job shows its message, not only its reason code', async (t) => {
  const url = await daemon(t, { '/api/v1/builds/b1': build({}), '/api/v1/builds/b1/jobs': JOBS });
  const r = await runMain(['status', 'b1', '--server', url, '--token', 't']);
  assert.equal(r.code, 0, r.err);
  const line = r.out.split('\n').find((l) => l.includes('zlib@amd64'));
  assert.match(line ?? '', /^ {2}failed {5}zlib@amd64 +18ms {2}sha256 mismatch for http:\/\/127\.0\.0\.1:9\/zlib-1\.3\.tar\.gz: expected 1111aaaa, got 2222bbbb$/, r.out);
});

test('kiln status --server: a build still planning or queued says so, not "0 packages"', async (t) => {
  const url = await daemon(t, {
    '/api/v1/builds/b2': build({ id: 'b2', state: 'running', endedAt: null, counts: {} }),
    '/api/v1/builds/b2/jobs': { buildId: 'b2', runId: null, jobs: [] },
    '/api/v1/builds/b3': build({ id: 'b3', state: 'queued', startedAt: null, endedAt: null, runId: null, counts: null }),
    '/api/v1/builds/b3/jobs': { buildId: 'b3', runId: null, jobs: [] },
    '/api/v1/builds/b4': build({ id: 'b4', state: 'queued', startedAt: null, endedAt: null, runId: null, counts: null, waitingFor: 'disk space: only 1.0 GiB free, under --min-free 2.0 GiB' }),
    '/api/v1/builds/b4/jobs': { buildId: 'b4', runId: null, jobs: [] },
  });
  const running = await runMain(['status', 'b2', '--server', url, '--token', 't']);
  assert.match(running.out, /^ {2}planning: no package has finished yet$/m, running.out);
  const queued = await runMain(['status', 'b3', '--server', url, '--token', 't']);
  assert.match(queued.out, /^ {2}waiting for its turn$/m, queued.out);
  // What holds it back, when the daemon says.
  const held = await runMain(['status', 'b4', '--server', url, '--token', 't']);
  assert.match(held.out, /^ {2}waiting: disk space: only 1\.0 GiB free, under --min-free 2\.0 GiB$/m, held.out);
});

test('kiln status --runs --server: a running build shows its jobs so far, running ones included', () => {
  const text = buildsText([{ ...build({ endedAt: null, counts: { built: 1, running: 2 } }), state: 'running' as const }]);
  assert.match(text, /running .* 1 built, 2 running$/m, text);
});

test('kiln build --server (following): a failed job shows its message', async (t) => {
  const url = await daemon(t, { '/api/v1/builds/b1': build({}), '/api/v1/builds/b1/jobs': JOBS });
  const [stdout, stderr] = [new PassThrough(), new PassThrough()];
  await followBuild({ url, token: 't' }, 'b1', { exitCode: 0, stdout, stderr }, { pollMs: 10 });
  const out = String(stdout.read() ?? '');
  assert.match(out, new RegExp(`^ {2}failed {5}zlib@amd64 18ms {2}${MISMATCH.replaceAll('.', '\\.')}$`, 'm'), out);
});

test('kiln status --runs --server: counts in words as locally, and the error of a build that ended before it ran', async (t) => {
  const builds = [
    build({}),
    build({ id: 'b2', runId: null, counts: {}, startedAt: '2025-01-01T00:00:00.000Z', endedAt: '2025-01-01T00:00:00.020Z', error: 'target "nosuch" matches no package of the tree', errorCode: 'target-not-found' }),
    build({ id: 'b3', state: 'running', endedAt: null, counts: { built: 2 } }),
    build({ id: 'b4', state: 'queued', runId: null, startedAt: null, endedAt: null, counts: null }),
  ];
  const url = await daemon(t, { '/api/v1/builds?limit=20': { builds } });
  const r = await runMain(['status', '--runs', '--server', url, '--token', 't']);
  assert.equal(r.code, 0, r.err);
  assert.doesNotMatch(r.out, /[{}]/, 'no JSON');
  assert.equal(
    r.out,
    [
      'b1  failed   alice  main  2025-01-01T00:00:00.000Z     3.0s  1 built, 1 failed',
      'b2  failed   alice  main  2025-01-01T00:00:00.000Z     20ms  error [target-not-found]: target "nosuch" matches no package of the tree',
      'b3  running  alice  main  2025-01-01T00:00:00.000Z  running  2 built',
      'b4  queued   alice  main  2025-01-01T00:00:00.000Z',
      '',
    ].join('\n'),
  );
  // A multi-line error stays on its build's line.
  assert.equal(buildsText([build({ counts: null, error: 'the tree\'s configuration is invalid:\n  {tree}/kiln.toml: bad', errorCode: 'config-invalid' }) as never]).split('\n').length, 2);
});

test('kiln status --server: a running build shows its jobs still waiting to start (GET /builds/{id} `waiting`)', async (t) => {
  const url = await daemon(t, {
    '/api/v1/builds/b4': build({ id: 'b4', state: 'running', endedAt: null, counts: { 'up-to-date': 1, running: 1 }, waiting: 4 }),
    '/api/v1/builds/b4/jobs': { buildId: 'b4', runId: 'r1', jobs: [job('base@amd64', 'up-to-date'), job('slow@amd64', 'running', { endedAt: null, durationMs: null })] },
    '/api/v1/builds/b5': build({ id: 'b5', state: 'running', endedAt: null, counts: {}, waiting: 3 }),
    '/api/v1/builds/b5/jobs': { buildId: 'b5', runId: 'r1', jobs: [] },
  });
  const r = await runMain(['status', 'b4', '--server', url, '--token', 't']);
  assert.match(r.out, /^ {2}0 built, 1 up to date, 1 running, 4 waiting$/m, r.out);
  const none = await runMain(['status', 'b5', '--server', url, '--token', 't']);
  assert.match(none.out, /^ {2}0 built, 3 waiting$/m, none.out);
  assert.match(buildsText([build({ state: 'running', endedAt: null, counts: { built: 1 }, waiting: 2 }) as never]), /running .* 1 built, 2 waiting$/m);
});

test('kiln logs --server: a build whose last run never reached the job shows its newest earlier attempt\'s log, saying so', async (t) => {
  const log = '/api/v1/builds/b9/jobs/slow%40amd64/log?run=r3';
  const url = await daemon(t, {
    '/api/v1/builds?limit=20': { builds: [build({ id: 'b9', state: 'failed' })] },
    '/api/v1/builds/b9/jobs': { buildId: 'b9', runId: 'r4', jobs: [job('slow@amd64', 'failed', { log: null, earlierAttempts: [
      { attempt: 2, runId: 'r2', log: '/api/v1/builds/b9/jobs/slow%40amd64/log?run=r2' }, { attempt: 3, runId: 'r3', log },
    ] })] },
    [log]: 'the third attempt, cut off',
  });
  const r = await runMain(['logs', 'slow', '--server', url, '--token', 't']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /the third attempt, cut off/);
  assert.match(r.err, /^kiln: slow@amd64 of build b9 has no log of its own; this is attempt 3's, of run r3 \(cut off when the daemon stopped\)$/m);
});
