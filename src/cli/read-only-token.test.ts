// Read-only tokens at the CLI: `kiln token create --read-only` (with or without --admin)
// says so and `kiln token list` marks it; `kiln build --server` and `kiln cancel --server`
// with one print the daemon's 403 (what was refused, why, what to do) and exit as for
// `forbidden`, and nothing is queued or cancelled.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runMain } from '../../test/helpers/cli-streams.ts';
import { exitCodeFor, KilnError } from '../errors.ts';
import { openServerRecords } from '../records/server-records.ts';
import { createApp } from '../server/app.ts';
import { listen } from '../server/listen.ts';
import type { BuildRunner } from '../server/queue.ts';

function stateDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-cli-ro-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('kiln token create --read-only says (read-only) and stores it so; kiln token list marks it; others are full-access', async (t) => {
  const state = stateDir(t);
  const ro = await runMain(['token', 'create', 'alice', '--read-only', '--state', state]);
  assert.equal(ro.code, 0, ro.err);
  assert.match(ro.err, /^kiln: token [0-9a-f]{8} for tenant alice \(read-only\); keep it secret/m);
  const admin = await runMain(['token', 'create', 'mon', '--admin', '--read-only', '--state', state]);
  assert.match(admin.err, /for tenant mon \(admin\) \(read-only\);/);
  const full = await runMain(['token', 'create', 'bob', '--state', state]);
  assert.doesNotMatch(full.err, /read-only/);
  {
    using r = openServerRecords(state);
    assert.deepEqual([ro, admin, full].map((x) => [r.tokenFor(x.out.trim())?.admin, r.tokenFor(x.out.trim())?.readOnly]), [[false, true], [true, true], [false, false]]);
  }
  assert.equal((await runMain(['token', 'create', 'eve', '--state', state])).code, 0);
  const list = (await runMain(['token', 'list', '--state', state])).out.split('\n');
  assert.match(list.find((l) => l.includes(' alice '))!, / alice {2}read-only {2}created /);
  assert.match(list.find((l) => l.includes(' mon '))!, / mon {2}admin {2}read-only {2}created /);
  assert.doesNotMatch(list.find((l) => l.includes(' bob '))!, /read-only/);
  // Not "never used": a token used only under a kiln that did not record use has no date either.
  assert.match(list.find((l) => l.includes(' eve '))!, /created \S+ {2}no use recorded$/);
});

test("kiln build --server and kiln cancel --server with a read-only token print the daemon's 403 and change nothing", async (t) => {
  const state = stateDir(t);
  const records = openServerRecords(state);
  const alice = records.createToken('alice').token;
  const watcher = records.createToken('alice', { readOnly: true });
  records.close();
  // A build asked for with priority 1 runs until aborted; any other ends at once (were one
  // let through, the CLI would follow it to its end and the test fail rather than hang).
  const runner: BuildRunner = (build, ctx) =>
    new Promise((done) => {
      if ((build.request as { priority?: number }).priority !== 1) return done({ runId: `run-${build.id}`, state: 'done' });
      ctx.signal.addEventListener('abort', () => done({ runId: `run-${build.id}`, state: 'cancelled' }));
    });
  const kiln = createApp({ stateDir: state, trees: { main: state }, runner, slots: 2, maxConcurrentBuilds: 2, onError: () => undefined });
  const server = await listen(kiln, { host: '127.0.0.1', port: 0 });
  t.after(() => server.stop());
  const forbidden = exitCodeFor(new KilnError('forbidden', ''));

  const build = await runMain(['build', '--server', server.url, '--server-tree', 'main', '--token', watcher.token]);
  assert.equal(build.code, forbidden, build.err);
  assert.match(build.err, new RegExp(`kiln: error \\[forbidden\\]: the server says: POST /api/v1/builds: token ${watcher.id} is read-only: it may look \\(GET, HEAD\\) but not change anything`));
  assert.match(build.err, /create a token without --read-only/);
  // Uploading a tree is refused at its first write, the bundle.
  const upload = await runMain(['build', '--server', server.url, '--tree', resolve(import.meta.dirname, '../../examples'), '--token', watcher.token]);
  assert.equal(upload.code, forbidden, upload.err);
  assert.match(upload.err, /the server says: PUT \/api\/v1\/bundles\/\S+: token \S+ is read-only/);
  assert.match(upload.err, /create a token without --read-only/);

  assert.deepEqual(kiln.context.records.listBuilds({}), [], 'nothing queued');

  const created = await fetch(`${server.url}/api/v1/builds`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: JSON.stringify({ tree: 'main', priority: 1 }) });
  assert.equal(created.status, 201);
  const id = ((await created.json()) as { id: string }).id;
  assert.equal(kiln.context.records.getBuild(id)?.state, 'running');
  const cancel = await runMain(['cancel', id, '--server', server.url, '--token', watcher.token]);
  assert.equal(cancel.code, forbidden, cancel.err);
  assert.match(cancel.err, new RegExp(`the server says: POST /api/v1/builds/${id}/cancel: token ${watcher.id} is read-only`));
  assert.match(cancel.err, /create a token without --read-only/);

  assert.deepEqual(kiln.context.records.listBuilds({}).map((b) => [b.id, b.state]), [[id, 'running']], 'nothing cancelled');
  // Looking works: kiln status --server with the same token.
  const status = await runMain(['status', id, '--server', server.url, '--token', watcher.token]);
  assert.equal(status.code, 0, status.err);
});
