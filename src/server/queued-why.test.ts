// A queued build says what holds it back (GET /builds/{id} `waitingFor`): the free-space
// guard (--min-free, in the same units as /healthz and kiln serve's start line), an
// earlier build of its tenant, every build slot taken; null once it runs.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServerRecords } from '../records/server-records.ts';
import { createApp, type KilnServerApp } from './app.ts';
import type { BuildRunner } from './queue.ts';
import { readResponse } from '../../test/helpers/read-response.ts';

function setup(t: TestContext, o: { minFreeBytes?: number; free?: () => number; maxConcurrentBuilds?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-queued-why-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tokens = openServerRecords(dir);
  const alice = tokens.createToken('alice').token;
  const bob = tokens.createToken('bob').token;
  tokens.close();
  const ends = new Map<string, () => void>();
  const runner: BuildRunner = (b, ctx) =>
    new Promise((resolve) => {
      const end = (): void => resolve({ runId: `run-${b.id}`, state: 'done' });
      ends.set(b.id, end);
      ctx.signal.addEventListener('abort', end);
    });
  const kiln = createApp({
    stateDir: dir, trees: { main: dir }, runner, slots: 2, maxConcurrentBuilds: o.maxConcurrentBuilds ?? 2, onError: () => undefined,
    ...(o.minFreeBytes === undefined ? {} : { minFreeBytes: o.minFreeBytes, freeSpace: () => ({ bytes: o.free!(), where: '/srv/kiln' }) }),
  });
  t.after(() => kiln.close());
  return { kiln, alice, bob, ends };
}

async function call(kiln: KilnServerApp, method: string, path: string, token: string | undefined, body?: unknown) {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return readResponse(await kiln.app.request(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }));
}

test('a build held back by --min-free says so in waitingFor, with the figures /healthz gives in the same units', async (t) => {
  let free = 3 * 1024 ** 4;
  const s = setup(t, { minFreeBytes: 100 * 1024 ** 4, free: () => free });
  const health = await call(s.kiln, 'GET', '/healthz', undefined);
  assert.equal(health.status, 503);
  assert.match(health.json.problems[0], /^only 3\.0 TiB free on the state directory's disk, under --min-free 100\.0 TiB: /);
  const created = await call(s.kiln, 'POST', '/api/v1/builds', s.alice, { tree: 'main' });
  assert.equal(created.status, 201, created.text);
  const queued = await call(s.kiln, 'GET', `/api/v1/builds/${created.json.id}`, s.alice);
  assert.equal(queued.json.state, 'queued');
  assert.match(queued.json.waitingFor, /^disk space: only 3\.0 TiB free on the state directory's disk, under --min-free 100\.0 TiB; it starts by itself once there is space/);
  assert.doesNotMatch(queued.json.waitingFor, /\/srv\/kiln/, 'no host path for a tenant');
  // The list shows it too.
  const list = await call(s.kiln, 'GET', '/api/v1/builds', s.alice);
  assert.match(list.json.builds[0].waitingFor, /^disk space: /);
  free = 200 * 1024 ** 4;
  s.kiln.queue.pump();
  const running = await call(s.kiln, 'GET', `/api/v1/builds/${created.json.id}`, s.alice);
  assert.equal(running.json.state, 'running');
  assert.equal(running.json.waitingFor, null);
});

test('a queued build behind its tenant\'s running build, or behind every build slot taken, says which', async (t) => {
  const s = setup(t, { maxConcurrentBuilds: 1 });
  const first = (await call(s.kiln, 'POST', '/api/v1/builds', s.alice, { tree: 'main' })).json.id as string;
  const second = (await call(s.kiln, 'POST', '/api/v1/builds', s.alice, { tree: 'main' })).json.id as string;
  const bobs = (await call(s.kiln, 'POST', '/api/v1/builds', s.bob, { tree: 'main' })).json.id as string;
  assert.equal((await call(s.kiln, 'GET', `/api/v1/builds/${first}`, s.alice)).json.waitingFor, null);
  assert.match((await call(s.kiln, 'GET', `/api/v1/builds/${second}`, s.alice)).json.waitingFor, /^an earlier build of tenant alice is running/);
  assert.match((await call(s.kiln, 'GET', `/api/v1/builds/${bobs}`, s.bob)).json.waitingFor, /runs 1 build at once, its most \(--max-concurrent-builds\)/);
});
