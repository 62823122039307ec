// GET /api/v1/workers of `kiln serve --nats`: the workers that answer, with a real
// nats-server, a real daemon and a real `kiln worker`. An admin sees hosts and every job; a
// tenant the queues and how busy the workers are, and of the jobs only its own builds'.
// A daemon without --nats has no workers: 404 saying so.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { spawnKiln } from '../helpers/run-kiln.ts';
import { ACK_WAIT_MS, natsServer, noNats, startWorker, until } from '../helpers/nats.ts';

async function daemon(t: import('node:test').TestContext, state: string, tree: string, extra: readonly string[]): Promise<string> {
  const d = spawnKiln(['serve', '--listen', '127.0.0.1:0', '--state', state, '--sandbox', 'host', '--tree', `main=${tree}`, ...extra], { timeoutMs: 100_000, env: { KILN_ENVS: '', KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  let err = '';
  d.child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  t.after(() => d.child.kill('SIGKILL'));
  return until('kiln serve to listen', () => /listening on (http:\/\/\S+) /.exec(err)?.[1]);
}

test('GET /api/v1/workers: the workers of a daemon with --nats; a tenant sees only its own jobs on them, no host; without --nats a 404 saying so', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const gate = join(dir.path, 'gate');
  const tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'held'), { recursive: true });
  await writeFile(join(tree, 'held', 'recipe.toml'), recipeText({ name: 'held', script: `while [ ! -e '${gate}' ]; do sleep 0.1; done; mkdir -p "$DESTDIR/usr/share/held"; echo ok > "$DESTDIR/usr/share/held/ok"` }));
  const state = join(dir.path, 'daemon');
  const { openServerRecords } = await import('../../src/records/server-records.ts');
  const records = openServerRecords(state);
  const tokens = { alice: records.createToken('alice').token, bob: records.createToken('bob').token, admin: records.createToken('ops', { admin: true }).token };
  records.close();
  const base = await daemon(t, state, tree, ['--nats', url]);
  const call = async (who: keyof typeof tokens, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${tokens[who]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, json: await res.json() };
  };
  // No worker yet: an empty list, not an error.
  assert.deepEqual((await call('alice', 'GET', '/api/v1/workers')).json, { workers: [] });
  const w = startWorker(t, url, join(dir.path, 'w'), 'w1');
  await until('the worker to wait for jobs', () => (/taking jobs for/.test(w.output()) ? true : undefined), 30_000);
  const submitted = await call('alice', 'POST', '/api/v1/builds', { tree: 'main' });
  assert.equal(submitted.status, 201, JSON.stringify(submitted.json));
  await until('the worker to take the job', () => (/held@\S+: taken/.test(w.output()) ? true : undefined), 60_000);
  // The worker's answer (asked until it shows the job: the daemon hears of the run a moment after the worker takes it).
  let admin: any;
  for (const end = Date.now() + 15_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    admin = (await call('admin', 'GET', '/api/v1/workers')).json;
    if (admin.workers?.[0]?.running?.[0]?.buildId === submitted.json.id) break;
  }
  assert.equal(admin.workers.length, 1, JSON.stringify(admin));
  const a = admin.workers[0];
  assert.equal(a.name, 'w1');
  assert.equal(a.host, hostname());
  assert.equal(a.busy, 1);
  assert.equal(a.running[0].buildId, submitted.json.id, JSON.stringify(a));
  assert.match(a.running[0].jobId, /^held@/);
  assert.equal(typeof a.disk.path, 'string');
  const alice = (await call('alice', 'GET', '/api/v1/workers')).json.workers[0];
  assert.equal(alice.host, null);
  assert.equal(alice.disk.path, null);
  assert.equal(alice.running.length, 1, 'alice sees her own job');
  const bob = (await call('bob', 'GET', '/api/v1/workers')).json.workers[0];
  assert.equal(bob.busy, 1, 'bob sees that the worker is busy');
  assert.deepEqual(bob.running, [], "bob does not see alice's job");
  assert.equal(bob.host, null);
  await writeFile(gate, 'go');
  // A daemon without --nats has no workers.
  const local = await daemon(t, join(dir.path, 'local'), tree, []);
  const localRecords = openServerRecords(join(dir.path, 'local'));
  const token = localRecords.createToken('alice').token;
  localRecords.close();
  const res = await fetch(`${local}/api/v1/workers`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 404);
  const body = (await res.json()) as { error: { code: string; message: string; hint: string } };
  assert.equal(body.error.code, 'not-found');
  assert.match(body.error.message, /this daemon builds on its own machine: it has no workers/);
  assert.match(body.error.hint, /kiln serve --nats URL/);
});
