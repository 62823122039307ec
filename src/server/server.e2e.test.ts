// End to end through a real socket on 127.0.0.1: real runBuild() on the host sandbox, a
// build's jobs and logs, a log followed live over server-sent events while the job runs,
// and a stop that re-queues a running build which a new server then finishes.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServerRecords } from '../records/server-records.ts';
import { createApp } from './app.ts';
import { listen, parseListen, type Listening } from './listen.ts';
import { recipeText } from '../../test/helpers/recipe-text.ts';
import { readResponse } from '../../test/helpers/read-response.ts';

const DEADLINE_MS = 30_000;

const recipe = (name: string, script: string, deps: string[] = []): string => recipeText({ name, script, deps, summary: `server e2e: ${name}` });

/** A tree of two packages: `base`, and `slow` (needs base) which waits for the `go` file. */
function makeTree(dir: string, gate: string): string {
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'base'), { recursive: true });
  mkdirSync(join(tree, 'slow'), { recursive: true });
  writeFileSync(join(tree, 'base', 'recipe.toml'), recipe('base', 'echo base-building\nmkdir -p "$DESTDIR/usr/lib"\necho base > "$DESTDIR/usr/lib/base.txt"'));
  writeFileSync(
    join(tree, 'slow', 'recipe.toml'),
    recipe(
      'slow',
      // Waits (bounded) for the test to create the gate file, so the test sees it running.
      `echo first-line\nfor i in $(seq 1 600); do test -f '${gate}' && break; sleep 0.05; done\necho second-line\nmkdir -p "$DESTDIR/usr/lib"\necho slow > "$DESTDIR/usr/lib/slow.txt"`,
      ['base'],
    ),
  );
  return tree;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-server-e2e-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const gate = join(dir, 'go');
  const tree = makeTree(dir, gate);
  const state = join(dir, 'state');
  const records = openServerRecords(state);
  const token = records.createToken('alice').token;
  records.close();
  return { dir, gate, tree, state, token };
}

async function start(t: TestContext, state: string, tree: string): Promise<Listening> {
  const kiln = createApp({ stateDir: state, trees: { main: tree }, sandbox: 'host', slots: 2, maxConcurrentBuilds: 1 });
  const server = await listen(kiln, parseListen('127.0.0.1:0'));
  t.after(() => server.stop());
  return server;
}

function api(server: Listening, token: string) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any; text: string }> => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return readResponse(res);
  };
}

/** Read SSE events from a response body as {event, data} until `end`. */
async function* sseEvents(res: Response): AsyncGenerator<{ event: string; data: string }> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    for (let sep = buf.indexOf('\n\n'); sep !== -1; sep = buf.indexOf('\n\n')) {
      const block = buf.slice(0, sep);
      buf = buf.slice(sep + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      yield { event, data: data.join('\n') };
    }
  }
}

test('a build through the socket: queued, run, jobs, plain log, a log followed live over SSE', async (t) => {
  const { gate, tree, state, token } = setup(t);
  const server = await start(t, state, tree);
  const call = api(server, token);
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  assert.equal((await fetch(`${server.url}/api/v1/builds`)).status, 401);

  const created = await call('POST', '/api/v1/builds', { tree: 'main' });
  assert.equal(created.status, 201, created.text);
  const id = created.json.id as string;

  // slow is running (it waits for the gate): follow its log live.
  const slowJob = await until('slow to run', async () => {
    const jobs = await call('GET', `/api/v1/builds/${id}/jobs`);
    return jobs.json.jobs.find((j: any) => j.name === 'slow' && j.state === 'running');
  });
  const builder = await call('GET', '/api/v1/builder');
  assert.deepEqual(builder.json.runningJobs.map((j: any) => j.name), ['slow']);
  const res = await fetch(`${server.url}${slowJob.log}`, { headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const lines: string[] = [];
  let end: string | undefined;
  for await (const e of sseEvents(res)) {
    if (e.event === 'line') {
      lines.push(e.data);
      // Open the gate only once the first line arrived live: the rest must follow.
      // (Log lines read `[   0.039] o first-line`: time, stream, text.)
      if (e.data.endsWith(' first-line')) writeFileSync(gate, '');
    } else if (e.event === 'end') {
      end = e.data;
      break;
    }
  }
  const at = (text: string): number => lines.findIndex((l) => l.endsWith(` ${text}`));
  assert.ok(at('first-line') !== -1 && at('second-line') > at('first-line'), lines.join('\n'));
  assert.equal(end, 'built');

  const done = await until('the build to end', async () => {
    const b = await call('GET', `/api/v1/builds/${id}`);
    return b.json.state === 'queued' || b.json.state === 'running' ? undefined : b.json;
  });
  assert.equal(done.state, 'done');
  assert.equal(done.counts.built, 2);
  const jobs = await call('GET', `/api/v1/builds/${id}/jobs`);
  assert.deepEqual(jobs.json.jobs.map((j: any) => [j.name, j.state]).sort(), [['base', 'built'], ['slow', 'built']]);
  const base = jobs.json.jobs.find((j: any) => j.name === 'base');
  const log = await fetch(`${server.url}${base.log}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(log.status, 200);
  assert.match(log.headers.get('content-type') ?? '', /text\/plain/);
  assert.match(await log.text(), /base-building/);
  // {job} is the id NAME@ARCH (the @ may come as %40), or a package name that is one job of the build.
  for (const job of ['base', encodeURIComponent(base.jobId), base.jobId]) {
    const r = await fetch(`${server.url}/api/v1/builds/${id}/jobs/${job}/log`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, job);
    assert.match(await r.text(), /base-building/, job);
  }
  assert.equal((await call('GET', `/api/v1/builds/${id}/jobs/nosuch/log`)).json.error.code, 'log-not-found');
  // A finished job's log as SSE: everything, then end.
  const replay = await fetch(`${server.url}${base.log}`, { headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' } });
  const replayed: string[] = [];
  for await (const e of sseEvents(replay)) {
    replayed.push(e.event === 'end' ? `end:${e.data}` : e.data);
    if (e.event === 'end') break;
  }
  assert.ok(replayed.some((l) => l.endsWith(' base-building')), replayed.join('\n'));
  assert.equal(replayed.at(-1), 'end:built');
});

test('stopping the server cancels the running build and re-queues it; the next server finishes it', async (t) => {
  const { gate, tree, state, token } = setup(t);
  const first = await start(t, state, tree);
  const created = await api(first, token)('POST', '/api/v1/builds', { tree: 'main' });
  const id = created.json.id as string;
  await until('slow to run', async () => {
    const jobs = await api(first, token)('GET', `/api/v1/builds/${id}/jobs`);
    return jobs.json.jobs.find((j: any) => j.name === 'slow' && j.state === 'running');
  });
  await first.stop();
  await assert.rejects(fetch(`${first.url}/healthz`), 'no longer accepting');
  const records = openServerRecords(state);
  assert.equal(records.getBuild(id)?.state, 'queued');
  records.close();

  writeFileSync(gate, '');
  const second = await start(t, state, tree);
  const done = await until('the resumed build to end', async () => {
    const b = await api(second, token)('GET', `/api/v1/builds/${id}`);
    return b.json.state === 'queued' || b.json.state === 'running' ? undefined : b.json;
  });
  assert.equal(done.state, 'done');
  assert.equal(done.counts.built, 1, 'slow is built; base was built by the first server and is up to date');
  assert.equal(done.counts['up-to-date'], 1);
  // The attempt the stop cut off says what happened to it: not cancelled for good, queued again.
  const slow = (await api(second, token)('GET', `/api/v1/builds/${id}/jobs`)).json.jobs.find((j: any) => j.name === 'slow');
  const cutOff = await api(second, token)('GET', slow.earlierAttempts[0].log);
  assert.equal(cutOff.status, 200);
  assert.match(cutOff.text, /killed: the run was cancelled \(the server is stopping: the build goes back to the queue and runs again at the next start\)/);
});

test("a client's tree cannot choose the host sandbox: a daemon without --sandbox host refuses a build that names no env, and runs none of its scripts", async (t) => {
  const { dir, tree, state, token } = setup(t);
  const marker = join(dir, 'ran-on-host');
  mkdirSync(join(tree, 'escape'));
  writeFileSync(join(tree, 'escape', 'recipe.toml'), recipe('escape', `touch '${marker}'`));
  writeFileSync(join(tree, 'kiln.toml'), 'sandbox = "host"\n');
  const kiln = createApp({ stateDir: state, trees: { main: tree }, slots: 2, maxConcurrentBuilds: 1, onError: () => undefined });
  const server = await listen(kiln, parseListen('127.0.0.1:0'));
  t.after(() => server.stop());
  const call = api(server, token);
  // Refused when submitted, not when its turn comes.
  const created = await call('POST', '/api/v1/builds', { tree: 'main', targets: ['escape'] });
  // The client's mistake: a 4xx, not the 503 a load balancer or retry loop takes for "try again".
  assert.equal(created.status, 422, created.text);
  assert.equal(created.json.error.code, 'env-required');
  assert.match(created.json.error.message, /builds only in isolation, and the build names no env/);
  assert.equal(existsSync(marker), false, 'the tree chose sandbox = "host" and its script ran on the host');
  assert.deepEqual((await call('GET', '/api/v1/builds')).json.builds, [], 'nothing was queued');

  // An env the daemon does not have: said in the client's terms, without the daemon's paths.
  const noEnv = await call('POST', '/api/v1/builds', { tree: 'main', targets: ['escape'], env: 'nosuch' });
  assert.equal(noEnv.status, 404, noEnv.text);
  assert.equal(noEnv.json.error.code, 'env-not-found');
  assert.match(noEnv.json.error.message, /this daemon has no env named "nosuch"/);
  assert.ok(!noEnv.text.includes(state), noEnv.text);
});

test('cross-building on a daemon whose workers build the jobs (--nats) is refused when submitted (400 usage), asked for in the request or in debian.toml', async (t) => {
  const { tree, state, token } = setup(t);
  // Never reached: the refusal comes before any plan, worker or NATS connection.
  const kiln = createApp({ stateDir: state, trees: { main: tree }, slots: 2, maxConcurrentBuilds: 1, nats: 'nats://127.0.0.1:9', onError: () => undefined });
  const server = await listen(kiln, parseListen('127.0.0.1:0'));
  t.after(() => server.stop());
  const call = api(server, token);
  const asked = await call('POST', '/api/v1/builds', { tree: 'main', targets: ['hello'], debian: { suite: 'bookworm', sources: ['hello'], cross: true } });
  assert.equal(asked.status, 400, asked.text);
  assert.equal(asked.json.error.code, 'usage');
  assert.match(asked.json.error.message, /^cross-building \("cross": true in the request's "debian"\) with --nats: not supported yet/);
  writeFileSync(join(tree, 'debian.toml'), 'suite = "bookworm"\nsources = ["hello"]\ncross = true\n');
  const inToml = await call('POST', '/api/v1/builds', { tree: 'main' });
  assert.equal(inToml.status, 400, inToml.text);
  assert.match(inToml.json.error.message, /^cross-building \(debian\.toml: cross = true\) with --nats/);
  assert.match(inToml.json.error.hint, /without --cross/);
  assert.deepEqual((await call('GET', '/api/v1/builds')).json.builds, [], 'nothing was queued');
});

test('a target that matches no package folder is refused when submitted (400 target-not-found, naming the nearest name), for a named tree and an uploaded bundle; Debian requests are left to the build', async (t) => {
  const { dir, tree, state, token } = setup(t);
  const server = await start(t, state, tree);
  const call = api(server, token);
  const typo = await call('POST', '/api/v1/builds', { tree: 'main', targets: ['base', 'slowe'] });
  assert.equal(typo.status, 400, typo.text);
  assert.equal(typo.json.error.code, 'target-not-found');
  assert.equal(typo.json.error.message, 'target "slowe" matches no package of the tree (did you mean "slow"?)');
  assert.match(typo.json.error.hint, /the tree's packages: base, slow$/);
  const glob = await call('POST', '/api/v1/builds', { tree: 'main', targets: ['lib*'] });
  assert.equal(glob.status, 400, glob.text);
  assert.match(glob.json.error.message, /target "lib\*" matches no package of the tree$/);
  assert.deepEqual((await call('GET', '/api/v1/builds')).json.builds, [], 'nothing was queued');

  // An uploaded bundle: the same, in the client's terms (no daemon path).
  const tar = join(dir, 'bundle.tar.gz');
  execFileSync('tar', ['--create', '--gzip', `--file=${tar}`, `--directory=${tree}`, '.']);
  const put = await fetch(`${server.url}/api/v1/bundles/b1`, { method: 'PUT', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/octet-stream' }, body: readFileSync(tar) });
  assert.ok(put.status < 300, await put.text());
  const inBundle = await call('POST', '/api/v1/builds', { bundle: 'b1', targets: ['bse'] });
  assert.equal(inBundle.status, 400, inBundle.text);
  assert.equal(inBundle.json.error.message, 'target "bse" matches no package of the tree (did you mean "base"?)');
  assert.ok(!inBundle.text.includes(state), inBundle.text);

  // Globs that match, and a Debian request (its targets may be source packages), are queued.
  const ok = await call('POST', '/api/v1/builds', { tree: 'main', targets: ['b*', 'slow'] });
  assert.equal(ok.status, 201, ok.text);
  await call('POST', `/api/v1/builds/${ok.json.id}/cancel`);
  const debian = await call('POST', '/api/v1/builds', { tree: 'main', targets: ['hello'], debian: { suite: 'bookworm', sources: ['hello'] } });
  assert.equal(debian.status, 201, debian.text);
  await call('POST', `/api/v1/builds/${debian.json.id}/cancel`);
});

test('GET /builds/{id} counts the jobs still waiting to start while a build runs (`waiting`), 0 once it ended, null while queued', async (t) => {
  const { dir, gate, state, token } = setup(t);
  // `hold` waits for the gate; after1..3 need it, so they wait while it runs.
  const tree = join(dir, 'fan');
  mkdirSync(join(tree, 'hold'), { recursive: true });
  writeFileSync(join(tree, 'hold', 'recipe.toml'), recipe('hold', `for i in $(seq 1 600); do test -f '${gate}' && break; sleep 0.05; done\nmkdir -p "$DESTDIR/usr/lib"\necho hold > "$DESTDIR/usr/lib/hold.txt"`));
  for (const n of ['after1', 'after2', 'after3']) {
    mkdirSync(join(tree, n), { recursive: true });
    writeFileSync(join(tree, n, 'recipe.toml'), recipe(n, `mkdir -p "$DESTDIR/usr/lib"\necho ${n} > "$DESTDIR/usr/lib/${n}.txt"`, ['hold']));
  }
  const server = await start(t, state, tree);
  const call = api(server, token);
  const { id } = (await call('POST', '/api/v1/builds', { tree: 'main' })).json;
  await until('hold running', async () => ((await call('GET', `/api/v1/builds/${id}/jobs`)).json?.jobs ?? []).some((j: any) => j.name === 'hold' && j.state === 'running') || undefined);
  const live = await until('three waiting', async () => {
    const b = (await call('GET', `/api/v1/builds/${id}`)).json;
    return b.waiting === 3 ? b : undefined;
  });
  assert.equal(live.state, 'running');
  assert.equal(live.counts.running, 1, JSON.stringify(live));
  // The second build of the same tenant waits for its turn: no run, nothing known yet.
  const queued = (await call('POST', '/api/v1/builds', { tree: 'main', targets: ['hold'] })).json;
  assert.equal((await call('GET', `/api/v1/builds/${queued.id}`)).json.waiting, null);
  writeFileSync(gate, '');
  const done = await until('the build done', async () => {
    const b = (await call('GET', `/api/v1/builds/${id}`)).json;
    return b.state === 'done' ? b : undefined;
  });
  assert.equal(done.waiting, 0);
  assert.equal(done.counts.built, 4);
});

test('a request Node cannot parse gets a JSON error as every other answer: an over-long URL 431 too-large, garbage 400 usage', async (t) => {
  const { tree, state } = setup(t);
  const kiln = createApp({ stateDir: state, trees: { main: tree }, slots: 1, onError: () => undefined });
  const server = await listen(kiln, parseListen('127.0.0.1:0'));
  t.after(() => server.stop());
  const { connect } = await import('node:net');
  const raw = (text: string): Promise<string> => new Promise((resolve, reject) => {
    const s = connect(server.port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('end', () => resolve(got));
    s.on('error', reject);
    s.write(text);
  });
  const long = await raw(`GET /api/v1/builds/${'x'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.match(long, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\nContent-Type: application\/json/);
  assert.equal(JSON.parse(long.slice(long.indexOf('\r\n\r\n') + 4)).error.code, 'too-large');
  const garbage = await raw('NOT HTTP AT ALL\r\n\r\n');
  assert.match(garbage, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.equal(JSON.parse(garbage.slice(garbage.indexOf('\r\n\r\n') + 4)).error.code, 'usage');
});
