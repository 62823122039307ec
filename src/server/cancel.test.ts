// Who cancelled a build, and what a stop says: the canceller (tenant, admin or not) is
// recorded and shown (cancelledBy, the error text), the daemon logs one line per cancel,
// a build being cancelled when the server died ends cancelled at the next start, and the
// reason a stop gives the running jobs says the build goes back to the queue.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServerRecords } from '../records/server-records.ts';
import { createApp, type KilnServerApp } from './app.ts';
import type { BuildRunner } from './queue.ts';

/** A runner whose builds run until aborted; the abort reasons it was given, by build id. */
function holdingRunner(): { runner: BuildRunner; reasons: Map<string, string> } {
  const reasons = new Map<string, string>();
  const runner: BuildRunner = (build, ctx) =>
    new Promise((resolve) => {
      const runId = `run-${build.id}`;
      ctx.bus.emit({ type: 'run-started', runId, at: Date.now(), tree: build.tree, targets: [], archs: ['amd64'], total: 1, maxJobs: ctx.maxJobs });
      ctx.signal.addEventListener('abort', () => {
        reasons.set(build.id, ctx.signal.reason instanceof Error ? ctx.signal.reason.message : String(ctx.signal.reason));
        resolve({ runId, state: 'cancelled' });
      });
    });
  return { runner, reasons };
}

function setup(t: TestContext, dir?: string) {
  const state = dir ?? mkdtempSync(join(tmpdir(), 'kiln-server-cancel-'));
  if (dir === undefined) t.after(() => rmSync(state, { recursive: true, force: true }));
  const records = openServerRecords(state);
  const alice = records.createToken('alice').token;
  const ops = records.createToken('ops', { admin: true }).token;
  records.close();
  const fake = holdingRunner();
  const lines: string[] = [];
  const kiln = createApp({ stateDir: state, trees: { main: state }, runner: fake.runner, slots: 2, maxConcurrentBuilds: 2, onError: () => undefined, log: (l) => lines.push(l) });
  t.after(() => kiln.close());
  return { state, kiln, alice, ops, lines, reasons: fake.reasons };
}

async function call(kiln: KilnServerApp, method: string, path: string, token: string, body?: unknown) {
  const res = await kiln.app.request(path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as any };
}

async function submit(kiln: KilnServerApp, token: string): Promise<string> {
  const r = await call(kiln, 'POST', '/api/v1/builds', token, { tree: 'main' });
  assert.equal(r.status, 201);
  return r.json.id as string;
}

test("an admin cancels a tenant's running build: the owner sees who (cancelledBy, the error), the jobs were told, the daemon logged it", async (t) => {
  const { kiln, alice, ops, lines, reasons } = setup(t);
  const id = await submit(kiln, alice);
  assert.equal(kiln.context.records.getBuild(id)?.state, 'running');
  const r = await call(kiln, 'POST', `/api/v1/builds/${id}/cancel`, ops);
  assert.equal(r.status, 202);
  assert.deepEqual(r.json.cancelledBy, { tenant: 'ops', admin: true }, 'known while it stops');
  assert.equal((await kiln.queue.settled(id))?.state, 'cancelled');
  const seen = (await call(kiln, 'GET', `/api/v1/builds/${id}`, alice)).json;
  assert.equal(seen.state, 'cancelled');
  assert.deepEqual(seen.cancelledBy, { tenant: 'ops', admin: true });
  assert.equal(seen.error, 'cancelled by ops (admin)');
  // What the jobs' logs say ended them (`killed: the run was cancelled (…)`).
  assert.equal(reasons.get(id), `build ${id} cancelled by ops (admin)`);
  assert.deepEqual(lines, [`build ${id} (tenant alice, tree main) cancelled by ops (admin): it was running: its jobs are being stopped`]);
  // An ended build is a 409 and no cancel: nothing more is logged, the name stays.
  assert.equal((await call(kiln, 'POST', `/api/v1/builds/${id}/cancel`, alice)).status, 409);
  assert.equal(lines.length, 1);
  assert.deepEqual(kiln.context.records.getBuild(id)?.cancelledBy, { tenant: 'ops', admin: true });
});

test('a tenant cancels its own queued build: cancelledBy names it, not as an admin; builds nobody cancelled have null', async (t) => {
  const { kiln, alice, lines } = setup(t);
  const first = await submit(kiln, alice);
  const queued = await submit(kiln, alice);
  const r = await call(kiln, 'POST', `/api/v1/builds/${queued}/cancel`, alice);
  assert.equal(r.status, 200);
  assert.equal(r.json.state, 'cancelled');
  assert.deepEqual(r.json.cancelledBy, { tenant: 'alice', admin: false });
  assert.equal(r.json.error, 'cancelled by alice before it started');
  assert.deepEqual(lines, [`build ${queued} (tenant alice, tree main) cancelled by alice: it was queued: cancelled`]);
  assert.equal((await call(kiln, 'GET', `/api/v1/builds/${first}`, alice)).json.cancelledBy, null);
  const list = (await call(kiln, 'GET', '/api/v1/builds', alice)).json.builds as Array<{ id: string; cancelledBy: unknown }>;
  assert.deepEqual(list.map((b) => [b.id, b.cancelledBy]), [[queued, { tenant: 'alice', admin: false }], [first, null]]);
});

test('a build being cancelled when the server died ends cancelled at the next start, naming who; it is not run again', async (t) => {
  const state = mkdtempSync(join(tmpdir(), 'kiln-server-cancel-'));
  t.after(() => rmSync(state, { recursive: true, force: true }));
  const records = openServerRecords(state);
  t.after(() => records.close());
  const cancelling = records.insertBuild({ tenant: 'alice', tree: 'main', request: { tree: 'main' } });
  const other = records.insertBuild({ tenant: 'bob', tree: 'main', request: { tree: 'main' } });
  for (const b of [cancelling, other]) records.markStarted(b.id);
  assert.equal(records.markCancelling(cancelling.id, { tenant: 'ops', admin: true }), true);
  assert.equal(records.markCancelling(cancelling.id, { tenant: 'alice', admin: false }), false, 'the first cancel keeps its name');
  const r = records.requeueInterrupted(5000);
  assert.deepEqual(r.cancelled, [cancelling.id]);
  assert.deepEqual(r.requeued, [other.id]);
  const after = records.getBuild(cancelling.id)!;
  assert.equal(after.state, 'cancelled');
  assert.equal(after.endedAt, 5000);
  assert.match(after.error ?? '', /^cancelled by ops \(admin\) /);
  assert.deepEqual(after.cancelledBy, { tenant: 'ops', admin: true });
});

test('stopping the server tells the running jobs their build goes back to the queue (not that it was cancelled for good)', async (t) => {
  const { kiln, alice, reasons, lines } = setup(t);
  const id = await submit(kiln, alice);
  await kiln.queue.stop();
  assert.equal(kiln.context.records.getBuild(id)?.state, 'queued');
  assert.equal(kiln.context.records.getBuild(id)?.cancelledBy, null);
  assert.match(reasons.get(id) ?? '', /^the server is stopping: the build goes back to the queue and runs again at the next start$/);
  assert.deepEqual(lines, [], 'a stop is no cancel');
});
