// The API through app.request() (no socket), with a fake runner the test finishes by hand:
// auth, tenant isolation, validation, FIFO per tenant, concurrency across tenants,
// priority, cancel, retry, crash re-queue, builder, metrics, docs.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorCodes, KilnError } from '../errors.ts';
import { openServerRecords } from '../records/server-records.ts';
import type { BuildRecord } from '../records/server-record-types.ts';
import { createApp, type KilnServerApp } from './app.ts';
import type { BuildRunner, RunnerResult } from './queue.ts';
import { readResponse } from '../../test/helpers/read-response.ts';

interface FakeRun {
  readonly build: BuildRecord;
  readonly maxJobs: number;
  finish(state: RunnerResult['state']): void;
  fail(e: Error): void;
}

/** A runner whose builds end when the test says so (or 'cancelled' when aborted). */
function fakeRunner(): { runner: BuildRunner; runs: FakeRun[]; running: () => string[] } {
  const runs: FakeRun[] = [];
  const live = new Set<string>();
  const runner: BuildRunner = (build, ctx) =>
    new Promise((resolve, reject) => {
      const runId = `run-${build.id}`;
      live.add(build.id);
      const end = (): void => {
        live.delete(build.id);
      };
      ctx.bus.emit({ type: 'run-started', runId, at: Date.now(), tree: build.tree, targets: [], archs: ['amd64'], total: 1, maxJobs: ctx.maxJobs });
      ctx.signal.addEventListener('abort', () => {
        end();
        resolve({ runId, state: 'cancelled' });
      });
      runs.push({
        build,
        maxJobs: ctx.maxJobs,
        finish: (state) => {
          end();
          resolve({ runId, state });
        },
        fail: (e) => {
          end();
          reject(e);
        },
      });
    });
  return { runner, runs, running: () => [...live] };
}

function setup(t: TestContext, options: { maxConcurrentBuilds?: number; dir?: string; maxPriority?: number; maxQueuedPerTenant?: number } = {}) {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'kiln-server-'));
  if (options.dir === undefined) t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fake = fakeRunner();
  const tokens = openServerRecords(dir);
  const alice = tokens.createToken('alice').token;
  const bob = tokens.createToken('bob').token;
  const carol = tokens.createToken('carol').token;
  const admin = tokens.createToken('ops', { admin: true }).token;
  const revoked = tokens.createToken('mallory');
  tokens.revokeTokens('mallory');
  tokens.close();
  const kiln = createApp({ stateDir: dir, trees: { main: dir }, runner: fake.runner, slots: 4, maxConcurrentBuilds: options.maxConcurrentBuilds ?? 2, onError: () => undefined, ...(options.maxPriority === undefined ? {} : { maxPriority: options.maxPriority }), ...(options.maxQueuedPerTenant === undefined ? {} : { maxQueuedPerTenant: options.maxQueuedPerTenant }) });
  t.after(() => kiln.close());
  return { dir, kiln, fake, alice, bob, carol, admin, revokedToken: revoked.token };
}

async function call(kiln: KilnServerApp, method: string, path: string, token: string | undefined, body?: unknown, headers: Record<string, string> = {}) {
  const res = await kiln.app.request(path, {
    method,
    headers: {
      ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return readResponse(res);
}

async function submit(kiln: KilnServerApp, token: string, body: Record<string, unknown> = {}): Promise<string> {
  const r = await call(kiln, 'POST', '/api/v1/builds', token, { tree: 'main', ...body });
  assert.equal(r.status, 201, r.text);
  return r.json.id as string;
}

/** Let the queue's promise callbacks run (the fake runner settles synchronously). */
async function settle(kiln: KilnServerApp, id: string): Promise<string> {
  return (await kiln.queue.settled(id))!.state;
}

test('auth: /healthz is open; no, wrong and revoked tokens get 401', async (t) => {
  const { kiln, alice, revokedToken } = setup(t);
  assert.equal((await call(kiln, 'GET', '/healthz', undefined)).status, 200);
  const none = await call(kiln, 'GET', '/api/v1/builds', undefined);
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate') ?? '', /Bearer/);
  assert.equal((await call(kiln, 'GET', '/api/v1/builds', 'kiln_nope_nope')).status, 401);
  assert.equal((await call(kiln, 'GET', '/api/v1/builds', revokedToken)).status, 401);
  assert.equal((await call(kiln, 'GET', '/metrics', undefined)).status, 401);
  assert.equal((await call(kiln, 'GET', '/api/v1/builder', undefined)).status, 401);
  assert.equal((await call(kiln, 'GET', '/api/v1/builds', alice)).status, 200);
});

test('a token revoked while the server runs stops working at once', async (t) => {
  const { dir, kiln } = setup(t);
  const records = openServerRecords(dir);
  t.after(() => records.close());
  const { token } = records.createToken('dave');
  assert.equal((await call(kiln, 'GET', '/api/v1/builds', token)).status, 200);
  records.revokeTokens('dave');
  assert.equal((await call(kiln, 'GET', '/api/v1/builds', token)).status, 401);
});

test('validation: unknown fields, bad types, malformed JSON, unknown tree, oversized body', async (t) => {
  const { kiln, alice } = setup(t);
  const unknown = await call(kiln, 'POST', '/api/v1/builds', alice, { tree: 'main', colour: 'red' });
  assert.equal(unknown.status, 400);
  assert.match(unknown.json.error.message, /unknown field "colour"/);
  const badType = await call(kiln, 'POST', '/api/v1/builds', alice, { tree: 'main', targets: [1] });
  assert.equal(badType.status, 400);
  assert.match(badType.json.error.message, /targets\.0/);
  // An arch name dpkg does not know, refused as the CLI refuses it (it was built on the host as m68kk).
  const badArch = await call(kiln, 'POST', '/api/v1/builds', alice, { tree: 'main', archs: ['amd64', 'm68kk'] });
  assert.equal(badArch.status, 400);
  assert.match(badArch.json.error.message, /archs\.1: not a Debian architecture name \(did you mean "m68k"\?\)/);
  const missing = await call(kiln, 'POST', '/api/v1/builds', alice, {});
  assert.equal(missing.status, 400);
  assert.match(missing.json.error.message, /tree/);
  // An enum's values said plainly, not in zod's wording.
  const badState = await call(kiln, 'GET', '/api/v1/builds?state=bogus', alice);
  assert.equal(badState.status, 400);
  assert.equal(badState.json.error.message, 'state: expected one of queued, running, done, failed, cancelled');
  const malformed = await call(kiln, 'POST', '/api/v1/builds', alice, '{"tree": ');
  assert.equal(malformed.status, 400);
  assert.match(malformed.json.error.message, /JSON/i);
  const badEnv = await call(kiln, 'POST', '/api/v1/builds', alice, { tree: 'main', env: '../../etc' });
  assert.equal(badEnv.status, 400);
  assert.match(badEnv.json.error.message, /env/);
  const noTree = await call(kiln, 'POST', '/api/v1/builds', alice, { tree: 'elsewhere' });
  assert.equal(noTree.status, 404);
  assert.equal(noTree.json.error.code, 'tree-not-found');
  assert.match(noTree.json.error.hint, /main/);
  const big = await call(kiln, 'POST', '/api/v1/builds', alice, { tree: 'main', targets: Array.from({ length: 900 }, () => 'x'.repeat(100)) });
  assert.equal(big.status, 413);
  assert.equal(big.json.error.code, 'too-large', 'a code of errors.ts, not usage');
  assert.match(big.json.error.message, /over the limit of 65536 bytes/);
  assert.deepEqual(kiln.context.records.listBuilds(), [], 'nothing was queued');
  // A body that is not said to be JSON.
  const noType = await kiln.app.request('/api/v1/builds', { method: 'POST', headers: { Authorization: `Bearer ${alice}` }, body: '{"tree":"main"}' });
  const noTypeBody = (await noType.json()) as { error: { code: string; message: string; hint: string } };
  assert.equal(noType.status, 415);
  assert.equal(noTypeBody.error.code, 'usage');
  assert.match(noTypeBody.error.message, /Content-Type/);
  assert.match(noTypeBody.error.hint, /Content-Type: application\/json/);
  // The sign-in form posted from elsewhere (or by a script, without an Origin): forbidden, saying why.
  for (const headers of [{}, { Origin: 'http://evil.example' }] as Record<string, string>[]) {
    const login = await kiln.app.request('/login', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, body: `token=${alice}` });
    const body = (await login.json()) as { error: { code: string; message: string; hint: string } };
    assert.equal(login.status, 403);
    assert.equal(body.error.code, 'forbidden');
    assert.match(body.error.message, /Origin is not this daemon's/);
    assert.match(body.error.hint, /Authorization: Bearer/);
  }
});

test('usage errors carry a hint: the accepted fields for an unknown one; bad JSON in kiln\'s words, naming what the parser found', async (t) => {
  const { kiln, alice } = setup(t);
  const colour = await call(kiln, 'POST', '/api/v1/builds', alice, { tree: 'examples', colour: 1 });
  assert.equal(colour.status, 400);
  assert.deepEqual(colour.json.error, {
    code: 'usage',
    message: 'unknown field "colour"',
    hint: 'the accepted fields are "tree", "bundle", "targets", "archs", "env", "priority", "debian", "treeName"; the API, its request fields and their values, is described at /api/v1/docs',
  });
  const nested = await call(kiln, 'POST', '/api/v1/builds', alice, { tree: 'main', debian: { suite: 'bookworm', sources: ['hello'], nochek: true } });
  assert.match(nested.json.error.hint, /^the accepted fields in "debian" are "suite", "sources", "profiles", "nocheck", "cross", "tryInstall", "autopkgtest", "checkValidUntil", "binnmu";/);
  const badType = await call(kiln, 'POST', '/api/v1/builds', alice, { tree: 'main', targets: [1] });
  assert.match(badType.json.error.hint, /\/api\/v1\/docs/);
  const badQuery = await call(kiln, 'GET', '/api/v1/builds?limit=0', alice);
  assert.equal(badQuery.status, 400);
  assert.match(badQuery.json.error.message, /^limit: /);
  assert.match(badQuery.json.error.hint, /\/api\/v1\/docs/);
  // A misspelt filter is refused, not ignored (it listed every build).
  const typo = await call(kiln, 'GET', '/api/v1/builds?sate=queued', alice);
  assert.equal(typo.status, 400);
  assert.equal(typo.json.error.message, 'unknown field "sate"');
  assert.match(typo.json.error.hint, /^the accepted fields are "state", "limit";/);
  for (const [body, said] of [['{"tree": ', /^the request body is not valid JSON: .*JSON/], ["{'tree': 'main'}", /^the request body is not valid JSON: .*position 1/], ['', /^the request body is empty$/]] as const) {
    const r = await call(kiln, 'POST', '/api/v1/builds', alice, body, { 'Content-Type': 'application/json' });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, 'usage');
    assert.match(r.json.error.message, said);
    assert.doesNotMatch(r.json.error.message, /Malformed/);
    assert.match(r.json.error.hint, /one JSON object with Content-Type: application\/json/);
  }
  // Only bodies are parsed: a cancel with a JSON content type and no body still works.
  const id = await submit(kiln, alice);
  assert.notEqual((await call(kiln, 'POST', `/api/v1/builds/${id}/cancel`, alice, undefined, { 'Content-Type': 'application/json' })).status, 400);
  // Not signed in: 401 before the body is looked at.
  assert.equal((await call(kiln, 'POST', '/api/v1/builds', undefined, '{"tree": ')).status, 401);
});

test('a tenant sees only its own builds (others are 404); an admin sees all', async (t) => {
  const { kiln, alice, bob, admin } = setup(t);
  const a = await submit(kiln, alice, { targets: ['hello'], archs: ['amd64'], priority: 3 });
  const got = await call(kiln, 'GET', `/api/v1/builds/${a}`, alice);
  assert.equal(got.status, 200);
  assert.equal(got.json.tenant, 'alice');
  assert.deepEqual(got.json.targets, ['hello']);
  assert.equal(got.json.priority, 3);
  assert.equal((await call(kiln, 'GET', `/api/v1/builds/${a}`, bob)).status, 404);
  assert.equal((await call(kiln, 'GET', `/api/v1/builds/${a}/jobs`, bob)).status, 404);
  assert.equal((await call(kiln, 'POST', `/api/v1/builds/${a}/cancel`, bob)).status, 404);
  assert.equal((await call(kiln, 'POST', `/api/v1/builds/${a}/retry`, bob)).status, 404);
  assert.equal((await call(kiln, 'GET', `/api/v1/builds/${a}/jobs/x@amd64/log`, bob)).status, 404);
  assert.deepEqual((await call(kiln, 'GET', '/api/v1/builds', bob)).json.builds, []);
  assert.deepEqual((await call(kiln, 'GET', '/api/v1/builds', alice)).json.builds.map((b: any) => b.id), [a]);
  assert.deepEqual((await call(kiln, 'GET', '/api/v1/builds', admin)).json.builds.map((b: any) => b.id), [a]);
  assert.equal((await call(kiln, 'GET', `/api/v1/builds/${a}`, admin)).status, 200);
  assert.equal((await call(kiln, 'GET', '/api/v1/builds/nonexistent', alice)).status, 404);
});

test('what a token sees is not kept by caches (Cache-Control: no-store); public paths keep their own', async (t) => {
  const { kiln, alice } = setup(t);
  const a = await submit(kiln, alice);
  for (const path of ['/api/v1/builds', `/api/v1/builds/${a}`, `/api/v1/builds/${a}/jobs`]) {
    const r = await call(kiln, 'GET', path, alice);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers.get('cache-control'), 'no-store', path);
  }
  // A 404 for a token too (it says what this tenant has not).
  assert.equal((await call(kiln, 'GET', '/api/v1/builds/nonexistent', alice)).headers.get('cache-control'), 'no-store');
  assert.equal((await call(kiln, 'GET', '/healthz', undefined)).headers.get('cache-control'), null);
});

test("one tenant's builds run one after another, in order; other tenants run alongside up to the cap", async (t) => {
  const { kiln, fake, alice, bob, carol } = setup(t, { maxConcurrentBuilds: 2 });
  const a1 = await submit(kiln, alice);
  const a2 = await submit(kiln, alice);
  const b1 = await submit(kiln, bob);
  const c1 = await submit(kiln, carol);
  assert.deepEqual(fake.running().sort(), [a1, b1].sort(), 'alice 1 and bob 1; alice 2 waits for alice 1, carol for a free place');
  assert.equal(fake.runs.find((r) => r.build.id === a1)?.maxJobs, 4, 'either build may use all 4 slots; the shared pool splits them job by job');
  assert.deepEqual(kiln.queue.pool.snapshot().members.map((m) => m.id).sort(), [a1, b1].sort(), 'both builds share one slot pool');
  assert.equal((await call(kiln, 'GET', `/api/v1/builds/${a2}`, alice)).json.state, 'queued');
  assert.equal((await call(kiln, 'GET', `/api/v1/builds/${a1}`, alice)).json.runId, `run-${a1}`);

  fake.runs.find((r) => r.build.id === a1)!.finish('done');
  assert.equal(await settle(kiln, a1), 'done');
  // Tenants take turns: carol has had none, alice just had one, so carol 1 goes before
  // alice 2 though alice 2 was queued first.
  assert.deepEqual(fake.running().sort(), [b1, c1].sort());
  fake.runs.find((r) => r.build.id === b1)!.finish('failed');
  assert.equal(await settle(kiln, b1), 'failed');
  assert.deepEqual(fake.running().sort(), [a2, c1].sort());
  fake.runs.find((r) => r.build.id === a2)!.finish('done');
  fake.runs.find((r) => r.build.id === c1)!.finish('done');
  assert.equal(await settle(kiln, a2), 'done');
  assert.equal(await settle(kiln, c1), 'done');
  assert.deepEqual(fake.runs.map((r) => r.build.id), [a1, b1, c1, a2]);
  const shown = await call(kiln, 'GET', `/api/v1/builds/${a1}`, alice);
  assert.ok(shown.json.startedAt !== null && shown.json.endedAt !== null);
});

test('among waiting tenants the higher priority starts first', async (t) => {
  const { kiln, fake, alice, bob, carol } = setup(t, { maxConcurrentBuilds: 1 });
  const a1 = await submit(kiln, alice);
  const b1 = await submit(kiln, bob, { priority: 0 });
  const c1 = await submit(kiln, carol, { priority: 5 });
  assert.deepEqual(fake.running(), [a1]);
  fake.runs[0]!.finish('done');
  await settle(kiln, a1);
  assert.deepEqual(fake.running(), [c1]);
  fake.runs[1]!.finish('done');
  await settle(kiln, c1);
  assert.deepEqual(fake.running(), [b1]);
});

test('cancel: a queued build at once, a running one by aborting it; an ended one is a 409', async (t) => {
  const { kiln, fake, alice } = setup(t);
  const a1 = await submit(kiln, alice);
  const a2 = await submit(kiln, alice);
  const q = await call(kiln, 'POST', `/api/v1/builds/${a2}/cancel`, alice);
  assert.equal(q.status, 200);
  assert.equal(q.json.state, 'cancelled');
  const r = await call(kiln, 'POST', `/api/v1/builds/${a1}/cancel`, alice);
  assert.equal(r.status, 202);
  assert.equal(await settle(kiln, a1), 'cancelled');
  assert.deepEqual(fake.running(), [], 'the cancelled queued build never started');
  assert.equal(fake.runs.length, 1);
  const again = await call(kiln, 'POST', `/api/v1/builds/${a1}/cancel`, alice);
  assert.equal(again.status, 409);
  assert.equal(again.json.error.code, 'build-ended', 'a code about the build, not the state directory');
  assert.match(again.json.error.message, new RegExp(`build ${a1} already ended \\(cancelled\\)`));
  assert.ok(again.json.error.hint);
});

test('a runner that throws ends the build failed with the message', async (t) => {
  const { kiln, fake, alice } = setup(t);
  const a1 = await submit(kiln, alice);
  fake.runs[0]!.fail(new Error('the tree has no kiln.toml'));
  assert.equal(await settle(kiln, a1), 'failed');
  const b = (await call(kiln, 'GET', `/api/v1/builds/${a1}`, alice)).json;
  assert.match(b.error, /no kiln\.toml/);
  assert.equal(b.errorCode, null, 'not a KilnError: no code');
});

test('a build that fails with a KilnError keeps its code and hint, in the API and across a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-server-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const first = setup(t, { dir });
  const a1 = await submit(first.kiln, first.alice);
  first.fake.runs[0]!.fail(new KilnError('config-invalid', "the tree's configuration is invalid:\n  /s/kiln.toml: invalid TOML", { hint: 'fix kiln.toml' }));
  assert.equal(await settle(first.kiln, a1), 'failed');
  await first.kiln.close();
  const { kiln, alice } = setup(t, { dir });
  const b = (await call(kiln, 'GET', `/api/v1/builds/${a1}`, alice)).json;
  assert.equal(b.error, "the tree's configuration is invalid:\n  /s/kiln.toml: invalid TOML");
  assert.equal(b.errorCode, 'config-invalid');
  assert.equal(b.errorHint, 'fix kiln.toml');
  const listed = (await call(kiln, 'GET', '/api/v1/builds', alice)).json.builds.find((x: any) => x.id === a1);
  assert.equal(listed.errorCode, 'config-invalid');
});

test('retry queues the same request again for failed or cancelled builds only', async (t) => {
  const { kiln, fake, alice } = setup(t);
  const a1 = await submit(kiln, alice, { targets: ['x'] });
  const running = await call(kiln, 'POST', `/api/v1/builds/${a1}/retry`, alice);
  assert.equal(running.status, 409, 'still running');
  assert.equal(running.json.error.code, 'build-not-ended');
  fake.runs[0]!.finish('failed');
  await settle(kiln, a1);
  const r = await call(kiln, 'POST', `/api/v1/builds/${a1}/retry`, alice);
  assert.equal(r.status, 201);
  const again = await call(kiln, 'GET', `/api/v1/builds/${r.json.id}`, alice);
  assert.equal(again.json.retryOf, a1);
  assert.deepEqual(again.json.targets, ['x']);
  fake.runs[1]!.finish('done');
  await settle(kiln, r.json.id);
  const done = await call(kiln, 'POST', `/api/v1/builds/${r.json.id}/retry`, alice);
  assert.equal(done.status, 409, 'done');
  assert.equal(done.json.error.code, 'build-ended');
  assert.match(done.json.error.message, /already ended \(done\)/);
  assert.match(done.json.error.hint, /start a new build/);
});

test('builds a dead server left running are queued again and run at start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-server-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const records = openServerRecords(dir);
  const b = records.insertBuild({ tenant: 'alice', tree: 'main', request: { tree: 'main' } });
  records.markStarted(b.id);
  records.setRunId(b.id, 'old-run');
  records.close();
  const { kiln, fake } = setup(t, { dir });
  assert.deepEqual(kiln.requeued, [b.id]);
  assert.deepEqual(fake.running(), [b.id]);
  assert.equal(kiln.context.records.getBuild(b.id)?.runId, `run-${b.id}`);
});

test('a build the server died under three times in a row is failed at the next start, not run again (a poison build)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-server-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const records = openServerRecords(dir);
  const b = records.insertBuild({ tenant: 'alice', tree: 'main', request: { tree: 'main' } });
  // A stop (not a crash) re-queues it without counting.
  records.markStarted(b.id);
  records.requeue(b.id, 'stopped');
  for (let crash = 1; crash <= 3; crash++) {
    records.markStarted(b.id);
    records.setRunId(b.id, `run-${crash}`);
    const r = records.requeueInterrupted(1000 + crash);
    assert.deepEqual(r, crash < 3 ? { requeued: [b.id], failed: [], cancelled: [] } : { requeued: [], failed: [b.id], cancelled: [] }, `crash ${crash}`);
  }
  const failed = records.getBuild(b.id)!;
  assert.equal(failed.state, 'failed');
  assert.match(failed.error ?? '', /^interrupted 3 times: the server died while this build ran/);
  // Its last run stays its run (report.json, the web page and its jobs show how far it got).
  assert.equal(failed.runId, 'run-3');
  assert.deepEqual(failed.priorRuns, ['run-1', 'run-2']);
  assert.equal(failed.errorHint, `GET /api/v1/builds/${b.id}/jobs lists its jobs as its last run left them, with each attempt of the runs before and its log; fix the tree and submit it again`);
  records.close();
  const { kiln, fake } = setup(t, { dir });
  assert.deepEqual(kiln.requeued, []);
  assert.deepEqual(fake.running(), []);
});

test('stopping the server aborts running builds and leaves them queued for the next start', async (t) => {
  const { kiln, fake, alice } = setup(t);
  const a1 = await submit(kiln, alice);
  assert.deepEqual(fake.running(), [a1]);
  await kiln.queue.stop();
  assert.deepEqual(fake.running(), []);
  assert.equal(kiln.context.records.getBuild(a1)?.state, 'queued');
  assert.equal((await call(kiln, 'GET', `/api/v1/builds/${a1}`, alice)).json.error, 'interrupted: the server stopped while it ran; queued again');
});

test('builder, metrics (admin only) and the API description', async (t) => {
  const { kiln, fake, alice, admin } = setup(t);
  const a1 = await submit(kiln, alice);
  const builder = await call(kiln, 'GET', '/api/v1/builder', alice);
  assert.equal(builder.status, 200);
  assert.equal(builder.json.slots, 4);
  assert.equal(builder.json.activeBuilds, 1);
  assert.equal(builder.json.load.length, 3);
  assert.ok(builder.json.disk.freeBytes > 0);
  assert.equal(builder.json.disk.path, undefined, "a tenant is not told the daemon's paths");
  assert.equal(typeof (await call(kiln, 'GET', '/api/v1/builder', admin)).json.disk.path, 'string');
  assert.equal((await call(kiln, 'GET', '/metrics', alice)).status, 403);
  const m = await call(kiln, 'GET', '/metrics', admin);
  assert.equal(m.status, 200);
  assert.match(m.text, /^kiln_builds\{state="running"\} 1$/m);
  assert.match(m.text, /^kiln_queue_length 0$/m);
  assert.match(m.text, /^kiln_state_free_bytes \d+$/m);
  assert.match(m.text, /^kiln_low_space 0$/m);
  assert.match(m.text, /^kiln_jobs_running 0$/m);
  fake.runs[0]!.finish('done');
  await settle(kiln, a1);

  const doc = await call(kiln, 'GET', '/api/v1/openapi.json', undefined);
  assert.equal(doc.status, 200);
  for (const p of ['/api/v1/builds', '/api/v1/builds/{id}', '/api/v1/builds/{id}/jobs', '/api/v1/builds/{id}/jobs/{job}/log', '/api/v1/builds/{id}/cancel', '/api/v1/builds/{id}/retry', '/api/v1/builder']) {
    assert.ok(doc.json.paths[p] !== undefined, `openapi.json documents ${p}`);
  }
  assert.equal(doc.json.components.securitySchemes.bearer.scheme, 'bearer');
  const page = await call(kiln, 'GET', '/api/v1/docs', undefined);
  assert.equal(page.status, 200);
  assert.match(page.text, /swagger-ui-bundle\.js/);
  assert.doesNotMatch(page.text, /https?:\/\//, 'no CDN');
  const asset = await kiln.app.request('/api/v1/docs/swagger-ui-bundle.js');
  assert.equal(asset.status, 200);
  assert.ok((await asset.arrayBuffer()).byteLength > 100_000);
  const traversal = await call(kiln, 'GET', '/api/v1/docs/..%2Fpackage.json', undefined);
  assert.equal(traversal.status, 404);
  assert.equal(traversal.json.error.code, 'not-found');
  const nothing = await call(kiln, 'GET', '/api/v1/nothing', alice);
  assert.equal(nothing.status, 404);
  assert.deepEqual(nothing.json.error, { code: 'not-found', message: 'no such endpoint: GET /api/v1/nothing', hint: 'see /api/v1/docs' });
  // An endpoint asked with a method it does not take: 405 with Allow, not "no such endpoint".
  const wrongMethod = await call(kiln, 'DELETE', `/api/v1/builds/${a1}`, alice);
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get('allow'), 'GET, HEAD');
  assert.deepEqual(wrongMethod.json.error, { code: 'method-not-allowed', message: `/api/v1/builds/${a1} does not take DELETE: it takes GET`, hint: 'see /api/v1/docs' });
  const getCancel = await call(kiln, 'GET', `/api/v1/builds/${a1}/cancel`, alice);
  assert.equal(getCancel.status, 405);
  assert.equal(getCancel.headers.get('allow'), 'POST');
  const builds = await call(kiln, 'PUT', '/api/v1/builds', alice);
  assert.equal(builds.headers.get('allow'), 'GET, HEAD, POST');
  for (const r of [traversal, nothing, wrongMethod]) assert.ok(r.json.error.code in errorCodes, `${r.json.error.code} is a code of errors.ts`);
});

test('an unexpected error is a 500 `internal` (a code of errors.ts) with a hint; the details go to the log, not the client', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-server-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tokens = openServerRecords(dir);
  const alice = tokens.createToken('alice').token;
  tokens.close();
  const logged: string[] = [];
  const kiln = createApp({ stateDir: dir, trees: {}, runner: fakeRunner().runner, onError: (m) => logged.push(m) });
  t.after(() => kiln.close());
  kiln.app.get('/api/v1/boom', () => {
    throw new Error('secret detail');
  });
  const r = await call(kiln, 'GET', '/api/v1/boom', alice);
  assert.equal(r.status, 500);
  assert.equal(r.json.error.code, 'internal');
  assert.ok('internal' in errorCodes);
  assert.match(r.json.error.hint, /logged/);
  assert.doesNotMatch(r.text, /secret detail/);
  assert.equal(logged.length, 1);
  assert.match(logged[0]!, /GET \/api\/v1\/boom: Error: secret detail/);
});

test('the free-space guard: below --min-free no build starts and /healthz says why (503); with space again they start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-server-space-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fake = fakeRunner();
  const tokens = openServerRecords(dir);
  const alice = tokens.createToken('alice').token;
  tokens.close();
  let free = 512 * 1024 ** 2;
  const kiln = createApp({ stateDir: dir, trees: { main: dir }, runner: fake.runner, slots: 4, onError: () => undefined, minFreeBytes: 1024 ** 3, freeSpace: () => ({ bytes: free, where: '/srv/kiln' }) });
  t.after(() => kiln.close());
  const health = await call(kiln, 'GET', '/healthz', undefined);
  assert.equal(health.status, 503);
  assert.deepEqual(health.json, { ok: false, problems: ["only 512.0 MiB free on the state directory's disk, under --min-free 1.0 GiB: queued builds wait (kiln cache gc frees space)"] });
  const id = await submit(kiln, alice);
  assert.deepEqual(fake.running(), [], 'nothing starts while the disk is low');
  assert.equal((await call(kiln, 'GET', `/api/v1/builds/${id}`, alice)).json.state, 'queued');
  free = 2 * 1024 ** 3;
  kiln.queue.pump(); // what the guard's own re-check does every 10 s
  assert.deepEqual(fake.running(), [id]);
  assert.deepEqual((await call(kiln, 'GET', '/healthz', undefined)).json, { ok: true });
});

test('the real free-space guard reads the state dir\'s disk: a --min-free above it holds builds', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-server-space-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fake = fakeRunner();
  const kiln = createApp({ stateDir: dir, trees: { main: dir }, runner: fake.runner, slots: 4, onError: () => undefined, minFreeBytes: 2 ** 52 });
  t.after(() => kiln.close());
  const health = await call(kiln, 'GET', '/healthz', undefined);
  assert.equal(health.status, 503);
  assert.match(health.json.problems[0], /^only \d+(\.\d)? [KMGT]?i?B free on the state directory's disk, under --min-free 4096\.0 TiB/);
  assert.doesNotMatch(health.text, new RegExp(dir), 'no host path without a token');
});

test('--max-priority: a tenant asking for more is refused (403, saying the ceiling); an admin may', async (t) => {
  const { kiln, alice, admin } = setup(t, { maxPriority: 10 });
  const high = await call(kiln, 'POST', '/api/v1/builds', alice, { tree: 'main', priority: 50 });
  assert.equal(high.status, 403, high.text);
  assert.match(high.json.error.message, /priority 50 is above what this daemon lets a tenant ask for \(10\)/);
  assert.equal((await call(kiln, 'POST', '/api/v1/builds', alice, { tree: 'main', priority: 10 })).status, 201);
  assert.equal((await call(kiln, 'POST', '/api/v1/builds', admin, { tree: 'main', priority: 50 })).status, 201);
});

test('--max-queued: one tenant\'s builds waiting past it are refused (429 too-many-builds); other tenants are not held back; a stopping server takes no bundle either', async (t) => {
  const { kiln, fake, alice, bob } = setup(t, { maxConcurrentBuilds: 1, maxQueuedPerTenant: 2 });
  const running = await submit(kiln, alice);
  assert.deepEqual(fake.running(), [running]);
  await submit(kiln, alice);
  await submit(kiln, alice);
  const third = await call(kiln, 'POST', '/api/v1/builds', alice, { tree: 'main' });
  assert.equal(third.status, 429, third.text);
  assert.equal(third.json.error.code, 'too-many-builds');
  assert.match(third.json.error.message, /tenant alice has 2 builds queued already/);
  assert.match(third.json.error.hint, /kiln serve --max-queued N/);
  // The running one does not count, nor do another tenant's.
  await submit(kiln, bob);
  await kiln.queue.stop();
  const put = await call(kiln, 'PUT', '/api/v1/bundles/late', alice, undefined, { 'content-length': '0' });
  assert.equal(put.status, 503, put.text);
  assert.equal(put.json.error.code, 'server-stopping');
});
