// The web status page through app.request() (no socket), with a runner the test drives
// event by event (recorded into real records by the real subscriber): sign-in and the
// session cookie's limits, tenant isolation, the pages, and the build event stream.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventBus, KilnEvent } from '../../events/events.ts';
import { describeReason } from '../../plan/reason.ts';
import { openRecords } from '../../records/records.ts';
import { openServerRecords } from '../../records/server-records.ts';
import { recordEvents } from '../../records/subscriber.ts';
import { createApp, type KilnServerApp } from '../app.ts';
import type { BuildRunner, RunnerResult } from '../queue.ts';
import { SESSION_COOKIE } from './session.ts';

interface DrivenRun {
  readonly runId: string;
  emit(e: KilnEvent): void;
  finish(state: RunnerResult['state']): void;
}

/** A runner that records its bus like runBuild does and lets the test emit the events. */
function drivenRunner(dir: string): { runner: BuildRunner; runs: DrivenRun[]; started: Promise<void>[] } {
  const runs: DrivenRun[] = [];
  const waiting: Array<() => void> = [];
  const started = Array.from({ length: 4 }, () => new Promise<void>((r) => waiting.push(r)));
  const runner: BuildRunner = (build, ctx) =>
    new Promise((resolve) => {
      const runId = `run-${build.id}`;
      const records = openRecords(dir);
      const recorder = recordEvents(ctx.bus as EventBus, records, { flushMs: 5 });
      const done = (state: RunnerResult['state']): void => {
        recorder.dispose();
        records.close();
        resolve({ runId, state });
      };
      ctx.bus.emit({ type: 'run-started', runId, at: Date.now(), tree: build.tree, targets: [], archs: ['amd64'], total: 3, maxJobs: ctx.maxJobs });
      ctx.signal.addEventListener('abort', () => done('cancelled'));
      runs.push({ runId, emit: (e) => ctx.bus.emit(e), finish: done });
      waiting.shift()?.();
    });
  return { runner, runs, started };
}

function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-web-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tokens = openServerRecords(dir);
  const alice = tokens.createToken('alice').token;
  const bob = tokens.createToken('bob').token;
  tokens.close();
  const driven = drivenRunner(dir);
  const kiln = createApp({ stateDir: dir, trees: { main: dir }, runner: driven.runner, slots: 2, maxConcurrentBuilds: 2, onError: () => undefined });
  t.after(() => kiln.close());
  return { dir, kiln, alice, bob, ...driven };
}

const ORIGIN = 'http://localhost';

async function signIn(kiln: KilnServerApp, token: string): Promise<string> {
  const res = await kiln.app.request(`${ORIGIN}/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: ORIGIN },
    body: new URLSearchParams({ token, next: '/' }).toString(),
  });
  assert.equal(res.status, 303, await res.text());
  const cookie = res.headers.get('set-cookie') ?? '';
  return /^([^;]+)/.exec(cookie)![1]!;
}

async function submit(kiln: KilnServerApp, token: string): Promise<string> {
  const res = await kiln.app.request('/api/v1/builds', { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ tree: 'main' }) });
  assert.equal(res.status, 201);
  return ((await res.json()) as { id: string }).id;
}

test('sign-in: a page without a session goes to the form; the cookie is HttpOnly, SameSite=Strict; bad tokens and cross-site posts are refused', async (t) => {
  const { kiln, alice } = setup(t);
  const anon = await kiln.app.request('/builds/xyz?a=1');
  assert.equal(anon.status, 303);
  assert.equal(anon.headers.get('location'), '/login?next=%2Fbuilds%2Fxyz%3Fa%3D1');
  const form = await kiln.app.request('/login?next=//evil.example/');
  assert.equal(form.status, 200);
  assert.match(await form.text(), /name="next" value="\/"/, 'an off-site next is replaced by /');
  assert.match(form.headers.get('content-security-policy') ?? '', /script-src 'self'/);

  const bad = await kiln.app.request(`${ORIGIN}/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: ORIGIN }, body: 'token=kiln_nope&next=/',
  });
  assert.equal(bad.status, 401);
  assert.equal(bad.headers.get('set-cookie'), null);
  const crossSite = await kiln.app.request(`${ORIGIN}/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'http://evil.example' }, body: `token=${alice}&next=/`,
  });
  assert.equal(crossSite.status, 403);
  assert.equal(crossSite.headers.get('set-cookie'), null);

  const ok = await kiln.app.request(`${ORIGIN}/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Sec-Fetch-Site': 'same-origin' }, body: new URLSearchParams({ token: alice, next: '/builds/b1' }).toString(),
  });
  assert.equal(ok.status, 303);
  assert.equal(ok.headers.get('location'), '/builds/b1');
  const cookie = ok.headers.get('set-cookie') ?? '';
  assert.match(cookie, new RegExp(`^${SESSION_COOKIE}=`));
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.match(cookie, /Path=\//);
  assert.doesNotMatch(cookie, /Secure/, 'plain http on loopback');
});

test('the session cookie reads pages and the API, but writes still need a bearer token; revoking ends the session', async (t) => {
  const { dir, kiln, alice } = setup(t);
  const cookie = await signIn(kiln, alice);
  const list = await kiln.app.request('/', { headers: { Cookie: cookie } });
  assert.equal(list.status, 200);
  assert.match(await list.text(), /<h1>Builds<\/h1>/);
  assert.equal((await kiln.app.request('/api/v1/builds', { headers: { Cookie: cookie } })).status, 200);
  const write = await kiln.app.request('/api/v1/builds', { method: 'POST', headers: { Cookie: cookie, 'Content-Type': 'application/json' }, body: '{"tree":"main"}' });
  assert.equal(write.status, 401);
  // Bearer tokens work for the pages too.
  assert.equal((await kiln.app.request('/', { headers: { Authorization: `Bearer ${alice}` } })).status, 200);

  const records = openServerRecords(dir);
  records.revokeTokens('alice');
  records.close();
  assert.equal((await kiln.app.request('/', { headers: { Cookie: cookie } })).status, 303);
  assert.equal((await kiln.app.request('/api/v1/builds', { headers: { Cookie: cookie } })).status, 401);

  const out = await kiln.app.request(`${ORIGIN}/logout`, { method: 'POST', headers: { Cookie: cookie, Origin: ORIGIN, 'Content-Type': 'application/x-www-form-urlencoded' } });
  assert.equal(out.status, 303);
  assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
});

test('the cookie holds a session, not the token: the token as a cookie signs nobody in; a session ends at logout and when it expires', async (t) => {
  const { dir, kiln, alice } = setup(t);
  const cookie = await signIn(kiln, alice);
  assert.ok(!cookie.includes(alice), 'the bearer token is in the cookie');
  assert.equal((await kiln.app.request('/api/v1/builds', { headers: { Cookie: `${SESSION_COOKIE}=${alice}` } })).status, 401);
  assert.equal((await kiln.app.request('/api/v1/builds', { headers: { Cookie: cookie } })).status, 200);
  // Logout ends it on the server: the same cookie, replayed, no longer works.
  await kiln.app.request(`${ORIGIN}/logout`, { method: 'POST', headers: { Cookie: cookie, Origin: ORIGIN, 'Content-Type': 'application/x-www-form-urlencoded' } });
  assert.equal((await kiln.app.request('/api/v1/builds', { headers: { Cookie: cookie } })).status, 401);
  // A session past its 12 hours ends whatever the browser keeps.
  const again = await signIn(kiln, alice);
  const records = openServerRecords(dir);
  const secret = again.slice(`${SESSION_COOKIE}=`.length);
  assert.ok(records.sessionToken(secret) !== undefined);
  assert.equal(records.sessionToken(secret, Date.now() + 12 * 3600_000 + 1000), undefined);
  records.close();
});

test("another tenant's build page and event stream are 404", async (t) => {
  const { kiln, alice, bob } = setup(t);
  const id = await submit(kiln, alice);
  const bobCookie = await signIn(kiln, bob);
  const page = await kiln.app.request(`/builds/${id}`, { headers: { Cookie: bobCookie } });
  assert.equal(page.status, 404);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.equal((await kiln.app.request(`/api/v1/builds/${id}/events`, { headers: { Cookie: bobCookie } })).status, 404);
  assert.equal((await kiln.app.request(`/api/v1/builds/${id}/events`)).status, 401);
  const aliceCookie = await signIn(kiln, alice);
  assert.equal((await kiln.app.request(`/builds/${id}`, { headers: { Cookie: aliceCookie } })).status, 200);
});

/** Read an SSE response as {event, data} messages. */
async function* sse(res: Response): AsyncGenerator<{ event: string; data: any }> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
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
      if (data.length > 0) yield { event, data: JSON.parse(data.join('\n')) };
    }
  }
}

/** A submitted build whose run has started, with job a@amd64 running in it. */
async function withRunningJob(t: TestContext) {
  const { kiln, alice, runs, started } = setup(t);
  const id = await submit(kiln, alice);
  await started[0];
  const run = runs[0]!;
  const base = { runId: run.runId, version: '1.0', arch: 'amd64' };
  run.emit({ type: 'job-started', ...base, jobId: 'a@amd64', name: 'a', why: { kind: 'new' }, attempt: 1, log: '/nowhere/a.log', at: Date.now(), expectedMs: undefined });
  return { kiln, alice, id, run, base };
}

test('the build event stream: snapshot, then jobs and samples as they happen, then end', async (t) => {
  // One job already running before the stream opens: it must be in the snapshot.
  const { kiln, alice, id, run, base } = await withRunningJob(t);
  const cookie = await signIn(kiln, alice);
  const res = await kiln.app.request(`/api/v1/builds/${id}/events`, { headers: { Cookie: cookie } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);

  const seen: Array<{ event: string; data: any }> = [];
  for await (const m of sse(res)) {
    seen.push(m);
    if (m.event === 'snapshot') {
      assert.deepEqual(m.data.jobs.map((j: any) => [j.jobId, j.state]), [['a@amd64', 'running']]);
      assert.equal(m.data.build.total, 3);
      assert.equal(m.data.build.state, 'running');
      run.emit({ type: 'job-sample', runId: run.runId, jobId: 'a@amd64', cpuCores: 1.5, memoryBytes: 42 * 1024 * 1024, diskBytes: 4096, at: Date.now() });
    } else if (m.event === 'sample') {
      assert.deepEqual([m.data.jobId, m.data.cpuCores, m.data.memoryBytes], ['a@amd64', 1.5, 42 * 1024 * 1024]);
      run.emit({ type: 'job-finished', ...base, jobId: 'a@amd64', name: 'a', state: 'built', key: 'k1', startedAt: Date.now() - 1000, at: Date.now() });
    } else if (m.event === 'job' && m.data.jobId === 'a@amd64' && m.data.state === 'built') {
      run.emit({ type: 'job-settled', ...base, jobId: 'b@amd64', name: '<b>', state: 'broken', cause: 'needs "zlib", which no recipe provides', at: Date.now() });
    } else if (m.event === 'job' && m.data.jobId === 'b@amd64') {
      assert.equal(m.data.name, '<b>', 'JSON carries the raw name; the page puts it in as text');
      run.emit({ type: 'run-finished', runId: run.runId, at: Date.now(), state: 'failed', counts: { built: 1, broken: 1, failed: 0, skipped: 1, 'up-to-date': 0, cancelled: 0 } });
      run.finish('failed');
    } else if (m.event === 'end') {
      break;
    }
  }
  const kinds = seen.map((m) => m.event);
  assert.equal(kinds[0], 'snapshot');
  assert.ok(kinds.includes('sample') && kinds.at(-1) === 'end', kinds.join(' '));
  const end = seen.at(-1)!.data;
  assert.equal(end.state, 'failed');
  assert.deepEqual(end.counts, { built: 1, broken: 1 });
  assert.equal(end.pending, 1);

  // The page of the ended build shows the failure first and the learned state.
  const page = await (await kiln.app.request(`/builds/${id}`, { headers: { Cookie: cookie } })).text();
  assert.ok(page.indexOf('&lt;b&gt;') !== -1 && page.indexOf('&lt;b&gt;') < page.indexOf('<td class="name">a</td>'), 'broken <b> escaped, listed before the built a');
  assert.match(page, /id="build-state" class="state state-failed">failed</);
});

test('the stream of a queued build waits for it, then sends a snapshot of its run', async (t) => {
  const { kiln, alice, runs, started } = setup(t);
  const first = await submit(kiln, alice);
  const second = await submit(kiln, alice);
  await started[0];
  const res = await kiln.app.request(`/api/v1/builds/${second}/events`, { headers: { Authorization: `Bearer ${alice}` } });
  assert.equal(res.status, 200);
  const seen: string[] = [];
  for await (const m of sse(res)) {
    seen.push(`${m.event}:${m.data.build?.state ?? m.data.state}`);
    if (seen.length === 1) {
      assert.equal(m.event, 'snapshot');
      assert.equal(m.data.build.state, 'queued');
      assert.equal(m.data.build.total, null);
      runs[0]!.finish('done');
      assert.equal((await kiln.queue.settled(first))?.state, 'done');
    } else if (m.event === 'snapshot') {
      assert.equal(m.data.build.state, 'running');
      assert.equal(m.data.build.total, 3);
      runs[1]!.finish('cancelled');
    } else if (m.event === 'end') {
      break;
    }
  }
  assert.equal(seen[0], 'snapshot:queued');
  assert.ok(seen.includes('snapshot:running'), seen.join(' '));
  assert.equal(seen.at(-1), 'end:cancelled');
});

test("a job's phase before the stream opened is in the snapshot and the page; GET /jobs says why each job ran", async (t) => {
  const { kiln, alice, id, run } = await withRunningJob(t);
  run.emit({ type: 'job-phase', runId: run.runId, jobId: 'a@amd64', phase: 'build', at: Date.now() });
  const auth = { Authorization: `Bearer ${alice}` };

  const res = await kiln.app.request(`/api/v1/builds/${id}/events`, { headers: auth });
  for await (const m of sse(res)) {
    assert.equal(m.event, 'snapshot');
    assert.deepEqual(m.data.jobs.map((j: any) => [j.jobId, j.state, j.phase]), [['a@amd64', 'running', 'build']]);
    break;
  }
  const page = await (await kiln.app.request(`/builds/${id}`, { headers: auth })).text();
  assert.match(page, /<td class="phase">build<\/td>/);

  // The records are written in batches: wait for the job's row.
  let jobs: any[] = [];
  for (let i = 0; i < 200 && jobs.length === 0; i++) {
    jobs = ((await (await kiln.app.request(`/api/v1/builds/${id}/jobs`, { headers: auth })).json()) as { jobs: any[] }).jobs;
    if (jobs.length === 0) await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(jobs[0]?.jobId, 'a@amd64');
  assert.equal(jobs[0]?.why, describeReason({ kind: 'new' }));
  assert.ok(typeof jobs[0]?.why === 'string' && jobs[0].why.length > 0);
  run.finish('done');
});
