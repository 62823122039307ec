import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { exitCodeFor, KilnError } from '../errors.ts';
import { forTheCli } from './remote.ts';
import { buildFailure, followBuild, jobChanges, remoteBuild, summaryLine, type RemoteBuild, type RemoteJob } from './remote-build.ts';
import { hideTreeRoot } from '../server/tree-root.ts';

const build = (state: RemoteBuild['state']): RemoteBuild => ({
  id: 'b1',
  state,
  runId: 'r1',
  error: null,
  startedAt: null,
  endedAt: null,
  counts: null,
});

/** A daemon answering each request with the next of `answers` (a 500 once they run out); its URL. */
async function answering(t: TestContext, answers: unknown[]): Promise<string> {
  const server = createServer((_req, res) => {
    const a = answers.shift();
    res.writeHead(a === undefined ? 500 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(a ?? { error: { code: 'usage', message: 'asked too often' } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('followBuild waits for a daemon that dies between its two calls or in the middle of an answer', async (t) => {
  // The daemon's answers in order; a function answers by itself (here: by dropping the connection).
  type Drop = (req: IncomingMessage, res: ServerResponse) => void;
  const answers: unknown[] = [
    build('running'),
    ((req) => req.socket.destroy()) satisfies Drop, // killed between the build and its jobs: ECONNRESET
    ((_req, res) => {
      // killed in the middle of an answer: headers and half a body
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"id":"b1","sta');
      setTimeout(() => res.socket?.destroy(), 20);
    }) satisfies Drop,
    build('running'),
    { jobs: [{ jobId: 'x@1', state: 'built', durationMs: 5, cause: null, failureReason: null }] },
    build('done'),
    { jobs: [{ jobId: 'x@1', state: 'built', durationMs: 5, cause: null, failureReason: null }] },
  ];
  const asked: string[] = [];
  const server = createServer((req, res) => {
    asked.push(req.url ?? '');
    const a = answers.shift();
    if (typeof a === 'function') return void (a as Drop)(req, res);
    res.writeHead(a === undefined ? 500 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(a ?? { error: { code: 'usage', message: 'asked too often' } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const [stdout, stderr] = [new PassThrough(), new PassThrough()];
  const text = (s: PassThrough): string => String(s.read() ?? '');

  const final = await followBuild({ url, token: 't' }, 'b1', { exitCode: 0, stdout, stderr }, { pollMs: 10 });

  assert.equal(final.state, 'done');
  assert.equal(answers.length, 0, `not every answer was asked for: ${asked.join(' ')}`);
  const err = text(stderr);
  assert.match(err, /cannot reach the kiln daemon .*; waiting up to 120s for it to come back/);
  assert.equal(err.match(/waiting up to/g)?.length, 1, 'said once per outage');
  assert.match(text(stdout), /built\s+x@1 5ms/);
});

test('followBuild prints the last jobs of a build before saying how it ended', async (t) => {
  const job = (state: string) => ({ jobs: [{ jobId: 'slow@amd64', state, durationMs: state === 'running' ? null : 20_000, cause: null, failureReason: null }] });
  const url = await answering(t, [build('running'), job('running'), build('failed'), job('built')]);
  // One stream for both, as on a terminal: the order is what a user reads.
  const out = new PassThrough();
  await followBuild({ url, token: 't' }, 'b1', { exitCode: 0, stdout: out, stderr: out }, { pollMs: 10 });
  assert.deepEqual(String(out.read()).trimEnd().split('\n'), ['kiln: build b1 running', '  running    slow@amd64', '  built      slow@amd64 20.0s', 'kiln: build b1 failed']);
});

test('followBuild says what holds a queued build back, once while it holds', async (t) => {
  const queued = { ...build('queued'), runId: null, waitingFor: 'disk space: only 64.9 GiB free on the state directory\'s disk, under --min-free 1.0 TiB; it starts by itself once there is space' };
  const url = await answering(t, [queued, queued, build('running'), { jobs: [] }, build('done'), { jobs: [] }]);
  const out = new PassThrough();
  await followBuild({ url, token: 't' }, 'b1', { exitCode: 0, stdout: out, stderr: out }, { pollMs: 10 });
  assert.deepEqual(String(out.read()).trimEnd().split('\n'), [
    'kiln: build b1 is waiting: disk space: only 64.9 GiB free on the state directory\'s disk, under --min-free 1.0 TiB; it starts by itself once there is space',
    'kiln: build b1 queued', 'kiln: build b1 running', 'kiln: build b1 done',
  ]);
  // A build cancelled before it started has no time of its own.
  assert.equal(summaryLine({ ...build('cancelled'), runId: null, error: 'cancelled before it started', counts: {} }), 'kiln: build b1 cancelled: 0 built (cancelled before it started)\n');
});

test('followBuild: end false leaves how it ended to the caller\'s summary; states false says neither start nor end (kiln cancel)', async (t) => {
  const job = (state: string) => ({ jobs: [{ jobId: 'slow@amd64', state, durationMs: state === 'running' ? null : 20_000, cause: null, failureReason: null }] });
  const lines = async (o: { end?: boolean; states?: boolean }): Promise<string[]> => {
    const url = await answering(t, [build('running'), job('running'), build('cancelled'), job('cancelled')]);
    const out = new PassThrough();
    const err = new PassThrough();
    await followBuild({ url, token: 't' }, 'b1', { exitCode: 0, stdout: out, stderr: err }, { pollMs: 10, ...o });
    return String(err.read() ?? '').trimEnd().split('\n').filter((l) => l !== '');
  };
  assert.deepEqual(await lines({}), ['kiln: build b1 running', 'kiln: build b1 cancelled']);
  assert.deepEqual(await lines({ end: false }), ['kiln: build b1 running']);
  assert.deepEqual(await lines({ states: false }), []);
});

test('a build that failed with a kiln error ends as the local run would: code, hint, exit status, the user\'s paths', () => {
  // The daemon names the uploaded tree's files {tree}/… (server/tree-root.ts).
  const failed: RemoteBuild = {
    ...build('failed'),
    error: `the tree's configuration is invalid:\n  {tree}/kiln.toml: invalid TOML: invalid value at line 2, column 1`,
    errorCode: 'config-invalid',
    errorHint: 'fix {tree}/kiln.toml (docs/recipes.md describes its keys)',
  };
  const e = buildFailure(failed, { treeDir: '/home/u/my tree' });
  assert.equal(e?.code, 'config-invalid');
  assert.equal(exitCodeFor(e), 2);
  assert.equal(e?.message, "the tree's configuration is invalid:\n  /home/u/my tree/kiln.toml: invalid TOML: invalid value at line 2, column 1");
  assert.equal(e?.hint, 'fix /home/u/my tree/kiln.toml (docs/recipes.md describes its keys)');
  const notFound = buildFailure({ ...build('failed'), error: 'target "nosuch" matches no package of the tree', errorCode: 'target-not-found', errorHint: null }, { treeDir: '.' });
  assert.equal(exitCodeFor(notFound), 2);
  assert.equal(notFound?.hint, undefined);
  // Not a kiln error of the build as a whole: the summary line and exit 1/130 as before.
  assert.equal(buildFailure({ ...build('failed'), error: null }, { treeDir: '.' }), undefined);
  assert.equal(buildFailure({ ...build('failed'), error: 'boom' }, { treeDir: '.' }), undefined, 'an older server sends no code');
  assert.equal(buildFailure({ ...build('failed'), error: 'x', errorCode: 'no-such-code' }, { treeDir: '.' }), undefined);
});

test('the daemon writes the folder of an uploaded tree as {tree}, whatever its path holds', () => {
  const dir = '/srv/my state/bundles/alice/tree-73ae90c4';
  assert.equal(hideTreeRoot(`${dir}/kiln.toml: bad; see ${dir}.`, `${dir}/`), '{tree}/kiln.toml: bad; see {tree}.');
  assert.equal(hideTreeRoot('no path here', dir), 'no path here');
});

test('job lines come in the order things happened, not by name', () => {
  const job = (jobId: string, state: string, startedAt: string | null, endedAt: string | null): RemoteJob => ({ jobId, state, durationMs: null, cause: null, failureReason: null, startedAt, endedAt });
  const seen = new Map<string, string>([['zlib@amd64', 'running']]);
  // One poll sees libpng already running (started at :05) and zlib built (ended at :04).
  const order = jobChanges(seen, [
    job('libpng@amd64', 'running', '2025-01-01T00:00:05Z', null),
    job('pngcrush@amd64', 'running', null, null),
    job('zlib@amd64', 'built', '2025-01-01T00:00:01Z', '2025-01-01T00:00:04Z'),
  ]);
  assert.deepEqual(order.map((j) => `${j.jobId} ${j.state}`), ['zlib@amd64 built', 'libpng@amd64 running', 'pngcrush@amd64 running']);
  assert.deepEqual(jobChanges(seen, [job('zlib@amd64', 'built', null, '2025-01-01T00:00:04Z')]), [], 'no change, no line');
  // The daemon lists the jobs its plan will build as waiting (and a resumed build's as not-started): no line until they start.
  assert.deepEqual(jobChanges(seen, [job('tool@amd64', 'waiting', null, null), job('old@amd64', 'not-started', null, null)]), []);
  assert.deepEqual(jobChanges(seen, [job('tool@amd64', 'running', '2025-01-01T00:00:06Z', null)]).map((j) => j.state), ['running']);
});

test('the summary line says cancelled once, and keeps a note that adds something', () => {
  const ended = { ...build('cancelled'), startedAt: '2025-01-01T00:00:00Z', endedAt: '2025-01-01T00:00:02Z', counts: { built: 1, cancelled: 1 } };
  const line = summaryLine({ ...ended, error: 'cancelled' });
  assert.equal(line, 'kiln: build b1 cancelled in 2.0s: 1 built, 1 cancelled\n');
  assert.match(summaryLine({ ...ended, error: 'cancelled before it started' }), /1 cancelled \(cancelled before it started\)\n$/);
  assert.doesNotMatch(summaryLine({ ...ended, state: 'done', error: 'interrupted: queued again' }), /\(/);
});

test("the server's API hints become CLI hints for kiln cancel and kiln status", () => {
  const missing = forTheCli(new KilnError('run-not-found', 'the server says: no build "nosuch" for this token', { hint: 'list your builds with GET /api/v1/builds' }), 'nosuch') as KilnError;
  assert.equal(missing.code, 'run-not-found');
  assert.equal(missing.hint, 'list your builds with `kiln status --runs --server URL`');
  const ended = forTheCli(new KilnError('build-ended', 'the server says: build b1 already ended (done)', { hint: 'see how it ended with GET /api/v1/builds/b1' }), 'b1') as KilnError;
  assert.equal(ended.hint, 'see how it ended with `kiln status b1 --server URL`');
  assert.equal(exitCodeFor(ended), 1);
  const other = new KilnError('unauthorized', 'no');
  assert.equal(forTheCli(other, 'b1'), other);
});

test('packBundle: the tree without its VCS data, the local state dir, or the substitute token file kiln.toml names (a secret)', async () => {
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { execFileSync } = await import('node:child_process');
  const { packBundle } = await import('./remote-build.ts');
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bundle-test-'));
  try {
    for (const d of ['.git', 'secrets', 'pkg', 'state', 'odd[1]']) mkdirSync(join(dir, d));
    writeFileSync(join(dir, '.git', 'HEAD'), 'ref\n');
    writeFileSync(join(dir, 'secrets', 'token'), 'TOP-SECRET\n');
    writeFileSync(join(dir, 'secrets', 'readme'), 'kept\n');
    writeFileSync(join(dir, 'pkg', 'recipe.toml'), 'x\n');
    writeFileSync(join(dir, 'state', 'kiln.db'), '');
    writeFileSync(join(dir, 'odd[1]', 'f'), 'kept\n');
    writeFileSync(join(dir, 'kiln.toml'), '[substitutes]\nurl = "https://cache.example/kiln"\ntoken-file = "secrets/token"\n');
    const { bytes } = await packBundle(dir, join(dir, 'state'));
    writeFileSync(join(dir, '..', `${dir.split('/').pop()}.tar.zst`), bytes);
    const listed = execFileSync('tar', ['--zstd', '-tf', join(dir, '..', `${dir.split('/').pop()}.tar.zst`)], { encoding: 'utf8' }).split('\n').filter((l) => l !== '').sort();
    assert.deepEqual(listed, ['./', './kiln.toml', './odd[1]/', './odd[1]/f', './pkg/', './pkg/recipe.toml', './secrets/', './secrets/readme']);
    // A kiln.toml that does not read whole is not packed: its token file could not be known.
    writeFileSync(join(dir, 'kiln.toml'), 'archs = 5\n[substitutes]\nurl = "https://cache.example/kiln"\ntoken-file = "secrets/token"\n');
    await assert.rejects(packBundle(dir, join(dir, 'state')), (e: unknown) => e instanceof KilnError && e.code === 'config-invalid' && /not packed/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}.tar.zst`, { force: true });
  }
});

test('kiln build --server: a queued build is said queued once; a failed job\'s log tail comes without its escape sequences', async (t) => {
  const queued = { ...build('queued'), runId: null, waitingFor: 'disk space: it starts by itself once there is space' };
  const polls: unknown[] = [queued, queued, build('running'), build('failed')];
  const failed = { jobId: 'esc@amd64', state: 'failed', durationMs: 23, cause: 'the build script exited with status 5', failureReason: 'exit-status' };
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    const json = (a: unknown): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(a));
    if (req.method === 'POST' && url === '/api/v1/builds') return json({ id: 'b1' });
    if (url === '/api/v1/builds/b1') return json(polls.length > 1 ? polls.shift() : polls[0]);
    if (url === '/api/v1/builds/b1/jobs') return json({ jobs: polls.length > 1 ? [] : [failed] });
    if (url.startsWith('/api/v1/builds/b1/jobs/esc%40amd64/log')) {
      return void res.writeHead(200, { 'content-type': 'text/plain' }).end('[   0.019] o \x1b[31mred error\x1b[0m\n[   0.020] o \x1b]52;c;ZXZpbA==\x07clip\n[   0.020] o 10%\r100%\n');
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const out = new PassThrough();
  const code = await remoteBuild({ url, token: 't' }, { treeDir: '.', stateDir: '.kiln', targets: [], serverTree: 'main', pollMs: 10 }, { exitCode: 0, stdout: out, stderr: out });
  assert.equal(code, 1);
  const lines = String(out.read()).trimEnd().split('\n');
  assert.deepEqual(lines.filter((l) => l.startsWith('kiln: build b1 ')).slice(0, 3), [
    `kiln: build b1 queued on ${url}`,
    'kiln: build b1 is waiting: disk space: it starts by itself once there is space',
    'kiln: build b1 running',
  ]);
  assert.equal(lines.filter((l) => /\bqueued\b/.test(l)).length, 1, lines.join('\n'));
  assert.deepEqual(lines.filter((l) => l.startsWith('             | ')), ['             | [   0.019] o red error', '             | [   0.020] o clip', '             | [   0.020] o 10% 100%']);
  assert.doesNotMatch(lines.join('\n'), /[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
});
