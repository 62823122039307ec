// Read-only tokens (`kiln token create --read-only`) through the real app: they look (GET,
// HEAD) as their full-access twin would, tenant or admin, and every request that would
// change something is a 403 `forbidden` naming the method, the path and why, that changed
// nothing. The web page signs them in. readOnlyRefusal (auth.ts) is the one check.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServerRecords } from '../records/server-records.ts';
import { createApp, type KilnServerApp } from './app.ts';
import { readOnlyRefusal } from './auth.ts';
import type { BuildRunner } from './queue.ts';
import { readResponse } from '../../test/helpers/read-response.ts';

/** A runner whose builds run until aborted. */
const holding: BuildRunner = (build, ctx) =>
  new Promise((resolve) => {
    const runId = `run-${build.id}`;
    ctx.bus.emit({ type: 'run-started', runId, at: Date.now(), tree: build.tree, targets: [], archs: ['amd64'], total: 1, maxJobs: ctx.maxJobs });
    ctx.signal.addEventListener('abort', () => resolve({ runId, state: 'cancelled' }));
  });

function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-server-ro-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const records = openServerRecords(dir);
  const alice = records.createToken('alice').token;
  const bob = records.createToken('bob').token;
  const watcher = records.createToken('alice', { readOnly: true });
  const monitor = records.createToken('mon', { admin: true, readOnly: true });
  records.close();
  // One build at a time: the second of alice's is queued behind the first.
  const kiln = createApp({ stateDir: dir, trees: { main: dir }, runner: holding, slots: 2, maxConcurrentBuilds: 1, onError: () => undefined });
  t.after(() => kiln.close());
  return { kiln, alice, bob, watcher, monitor };
}

async function call(kiln: KilnServerApp, method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await kiln.app.request(path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return readResponse(res);
}

async function submit(kiln: KilnServerApp, token: string): Promise<string> {
  const r = await call(kiln, 'POST', '/api/v1/builds', token, { tree: 'main' });
  assert.equal(r.status, 201, r.text);
  return r.json.id as string;
}

function assertReadOnly403(r: { status: number; json: any }, method: string, path: string, tokenId: string): void {
  assert.equal(r.status, 403, JSON.stringify(r.json));
  assert.deepEqual(r.json.error, {
    code: 'forbidden',
    message: `${method} ${path}: token ${tokenId} is read-only: it may look (GET, HEAD) but not change anything`,
    hint: 'to submit, cancel or retry builds or upload bundles, create a token without --read-only (`kiln token create TENANT`)',
  });
}

test('readOnlyRefusal: a read-only token may GET and HEAD only; a full-access token anything', () => {
  const cases: [readOnly: boolean, method: string, refused: boolean][] = [
    [true, 'GET', false],
    [true, 'HEAD', false],
    [true, 'head', false],
    [true, 'POST', true],
    [true, 'PUT', true],
    [true, 'DELETE', true],
    [true, 'PATCH', true],
    [true, 'OPTIONS', true],
    [false, 'POST', false],
    [false, 'DELETE', false],
    [false, 'GET', false],
  ];
  for (const [readOnly, method, refused] of cases) {
    const e = readOnlyRefusal({ id: 'abcd0123', readOnly }, method, '/api/v1/builds');
    assert.equal(e !== undefined, refused, `${readOnly ? 'read-only' : 'full'} ${method}`);
    if (e !== undefined) {
      assert.equal(e.code, 'forbidden');
      assert.match(e.message, new RegExp(`^${method} /api/v1/builds: token abcd0123 is read-only`));
    }
  }
});

test("a tenant's read-only token sees the tenant's builds but cannot submit, cancel, retry or upload: 403, nothing changes", async (t) => {
  const { kiln, alice, bob, watcher } = setup(t);
  const running = await submit(kiln, alice);
  const queued = await submit(kiln, alice);
  const bobs = await submit(kiln, bob);
  assert.equal(kiln.context.records.getBuild(running)?.state, 'running');
  assert.equal(kiln.context.records.getBuild(queued)?.state, 'queued');

  // Looking works as for alice's full token: her builds, not bob's.
  const list = await call(kiln, 'GET', '/api/v1/builds', watcher.token);
  assert.equal(list.status, 200);
  assert.deepEqual(list.json.builds.map((b: { id: string }) => b.id).sort(), [running, queued].sort());
  assert.equal((await call(kiln, 'GET', `/api/v1/builds/${running}`, watcher.token)).json.state, 'running');
  assert.equal((await call(kiln, 'HEAD', `/api/v1/builds/${running}`, watcher.token)).status, 200);
  assert.equal((await call(kiln, 'GET', `/api/v1/builds/${bobs}`, watcher.token)).status, 404, "another tenant's build stays hidden");
  assert.equal((await call(kiln, 'GET', '/api/v1/builder', watcher.token)).status, 200);
  assert.equal((await call(kiln, 'GET', '/metrics', watcher.token)).status, 403, 'still no admin view');

  // Submitting queues nothing.
  const before = kiln.context.records.listBuilds({}).length;
  assertReadOnly403(await call(kiln, 'POST', '/api/v1/builds', watcher.token, { tree: 'main' }), 'POST', '/api/v1/builds', watcher.id);
  assert.equal(kiln.context.records.listBuilds({}).length, before, 'nothing queued');
  // Cancelling stops nothing: the running build runs, the queued one waits.
  assertReadOnly403(await call(kiln, 'POST', `/api/v1/builds/${running}/cancel`, watcher.token), 'POST', `/api/v1/builds/${running}/cancel`, watcher.id);
  assertReadOnly403(await call(kiln, 'POST', `/api/v1/builds/${queued}/cancel`, watcher.token), 'POST', `/api/v1/builds/${queued}/cancel`, watcher.id);
  assert.equal(kiln.context.records.getBuild(running)?.state, 'running');
  assert.equal(kiln.context.records.getBuild(running)?.cancelledBy, null);
  assert.equal(kiln.context.records.getBuild(queued)?.state, 'queued');
  assert.deepEqual(kiln.queue.active().map((a) => a.id), [running], 'still running');
  // A retry and a bundle upload or removal neither.
  assertReadOnly403(await call(kiln, 'POST', `/api/v1/builds/${running}/retry`, watcher.token), 'POST', `/api/v1/builds/${running}/retry`, watcher.id);
  assertReadOnly403(await call(kiln, 'PUT', '/api/v1/bundles/b1', watcher.token, 'not a tar', { 'Content-Type': 'application/octet-stream' }), 'PUT', '/api/v1/bundles/b1', watcher.id);
  assertReadOnly403(await call(kiln, 'DELETE', '/api/v1/bundles/b1', watcher.token), 'DELETE', '/api/v1/bundles/b1', watcher.id);
  assert.deepEqual((await call(kiln, 'GET', '/api/v1/bundles', watcher.token)).json.bundles, []);
  assert.equal(kiln.context.records.listBuilds({}).length, before);

  // A path nobody answers stays a 404, a method the path does not take a 405, as for any token.
  assert.equal((await call(kiln, 'POST', '/api/v1/nothing', watcher.token)).status, 404);
  const wrong = await call(kiln, 'DELETE', `/api/v1/builds/${running}`, watcher.token);
  assert.equal(wrong.status, 405);
  assert.equal(wrong.json.error.code, 'method-not-allowed');
  // An unknown token is still a 401, not a 403.
  assert.equal((await call(kiln, 'POST', '/api/v1/builds', 'kiln_nope_nope', { tree: 'main' })).status, 401);

  // alice's full-access token still cancels.
  assert.equal((await call(kiln, 'POST', `/api/v1/builds/${queued}/cancel`, alice)).status, 200);
});

test("a read-only admin sees every tenant's builds, /metrics and the admin views, and cancels nothing", async (t) => {
  const { kiln, alice, bob, monitor } = setup(t);
  const a = await submit(kiln, alice);
  const b = await submit(kiln, bob);
  const list = await call(kiln, 'GET', '/api/v1/builds', monitor.token);
  assert.equal(list.status, 200);
  assert.deepEqual(list.json.builds.map((x: { id: string }) => x.id).sort(), [a, b].sort());
  assert.equal((await call(kiln, 'GET', `/api/v1/builds/${b}`, monitor.token)).json.tenant, 'bob');
  const metrics = await call(kiln, 'GET', '/metrics', monitor.token);
  assert.equal(metrics.status, 200);
  assert.match(metrics.text, /^kiln_builds\{state="running"\} 1$/m);
  assert.equal(typeof (await call(kiln, 'GET', '/api/v1/builder', monitor.token)).json.disk.path, 'string', "the admin's view of the builder");

  assertReadOnly403(await call(kiln, 'POST', `/api/v1/builds/${a}/cancel`, monitor.token), 'POST', `/api/v1/builds/${a}/cancel`, monitor.id);
  assertReadOnly403(await call(kiln, 'POST', `/api/v1/builds/${b}/cancel`, monitor.token), 'POST', `/api/v1/builds/${b}/cancel`, monitor.id);
  assert.equal(kiln.context.records.getBuild(a)?.state, 'running');
  assert.equal(kiln.context.records.getBuild(b)?.state, 'queued');
  assert.equal(kiln.context.records.getBuild(a)?.cancelledBy, null);
  const before = kiln.context.records.listBuilds({}).length;
  // Not even within an admin's own powers (a priority over the ceiling).
  assertReadOnly403(await call(kiln, 'POST', '/api/v1/builds', monitor.token, { tree: 'main', priority: 100 }), 'POST', '/api/v1/builds', monitor.id);
  assert.equal(kiln.context.records.listBuilds({}).length, before);
});

test('a read-only token signs in to the web page and browses it; its session writes nothing either', async (t) => {
  const { kiln, alice, watcher } = setup(t);
  const id = await submit(kiln, alice);
  const ORIGIN = 'http://localhost';
  const login = await kiln.app.request(`${ORIGIN}/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: ORIGIN },
    body: new URLSearchParams({ token: watcher.token, next: '/' }).toString(),
  });
  assert.equal(login.status, 303, await login.text());
  const cookie = /^([^;]+)/.exec(login.headers.get('set-cookie') ?? '')![1]!;
  const page = await kiln.app.request('/', { headers: { Cookie: cookie } });
  assert.equal(page.status, 200);
  assert.match(await page.text(), new RegExp(id));
  assert.equal((await kiln.app.request(`/builds/${id}`, { headers: { Cookie: cookie } })).status, 200);
  // The cookie never authenticates a write (web/session.ts): a cancel without a bearer token is a 401.
  assert.equal((await kiln.app.request(`/api/v1/builds/${id}/cancel`, { method: 'POST', headers: { Cookie: cookie } })).status, 401);
  assert.equal(kiln.context.records.getBuild(id)?.state, 'running');
  const logout = await kiln.app.request(`${ORIGIN}/logout`, { method: 'POST', headers: { Cookie: cookie, Origin: ORIGIN } });
  assert.equal(logout.status, 303);
});
