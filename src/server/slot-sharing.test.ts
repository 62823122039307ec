// The daemon's job slots are one pool shared by the running builds, not a fixed split:
// a lone build runs with every slot (real runBuild on the host sandbox: two independent
// jobs that can only finish if they run at the same time), and two builds of different
// tenants take one slot each while both have work, the survivor both once the other ends
// (runners that drive runScheduler with the queue's slot gate).

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServerRecords } from '../records/server-records.ts';
import { runScheduler } from '../schedule/scheduler.ts';
import { createApp, type KilnServerApp } from './app.ts';
import type { BuildRunner } from './queue.ts';

function tokens(state: string, ...tenants: string[]): string[] {
  const records = openServerRecords(state);
  try {
    return tenants.map((t) => records.createToken(t).token);
  } finally {
    records.close();
  }
}

async function call(kiln: KilnServerApp, method: string, path: string, token: string, body?: unknown): Promise<any> {
  const res = await kiln.app.request(path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** A package whose build marks itself started, then waits (bounded) until `other` has started too. */
function rendezvousRecipe(name: string, dir: string, other: string, o: { cpus?: number; waitS?: number } = {}): string {
  return [
    `name = "${name}"`,
    'version = "1.0"',
    `summary = "slot sharing: ${name}"`,
    'license = "MIT"',
    '',
    '[build]',
    ...(o.cpus === undefined ? [] : [`cpus = ${o.cpus}`]),
    'script = """',
    `echo "${name} built with JOBS=$JOBS"`,
    `touch '${join(dir, name)}'`,
    // 30 s at most: if the jobs ran one after another, the first one fails here.
    `for i in $(seq 1 ${(o.waitS ?? 30) * 20}); do test -f '${join(dir, other)}' && break; sleep 0.05; done`,
    `test -f '${join(dir, other)}' || { echo "${other} never ran alongside ${name}"; exit 1; }`,
    'mkdir -p "$DESTDIR/usr/share"',
    `echo ${name} > "$DESTDIR/usr/share/${name}.txt"`,
    '"""',
    '',
  ].join('\n');
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-slot-sharing-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a lone build runs with all the slots: two independent jobs run at the same time (slots 2, 2 builds at once)', async (t) => {
  const dir = tempDir(t);
  const tree = join(dir, 'tree');
  const marks = join(dir, 'marks');
  mkdirSync(marks);
  for (const [name, other] of [['left', 'right'], ['right', 'left']] as const) {
    mkdirSync(join(tree, name), { recursive: true });
    writeFileSync(join(tree, name, 'recipe.toml'), rendezvousRecipe(name, marks, other));
  }
  const state = join(dir, 'state');
  const [alice] = tokens(state, 'alice') as [string];
  const kiln = createApp({ stateDir: state, trees: { main: tree }, sandbox: 'host', slots: 2, maxConcurrentBuilds: 2, onError: () => undefined });
  t.after(() => kiln.close());

  const started = Date.now();
  const { id } = await call(kiln, 'POST', '/api/v1/builds', alice, { tree: 'main' });
  const ended = await kiln.queue.settled(id);
  const wallMs = Date.now() - started;
  const jobs = (await call(kiln, 'GET', `/api/v1/builds/${id}/jobs`, alice)).jobs as any[];
  assert.deepEqual(jobs.map((j) => [j.name, j.state]).sort(), [['left', 'built'], ['right', 'built']], JSON.stringify(jobs));
  assert.equal(ended?.state, 'done');
  // Each job ran while the other did: their running intervals overlap.
  const [l, r] = ['left', 'right'].map((n) => jobs.find((j) => j.name === n)).map((j) => [Date.parse(j.startedAt), Date.parse(j.endedAt)]) as [[number, number], [number, number]];
  assert.ok(l[0] < r[1] && r[0] < l[1], `left ${l} and right ${r} overlap`);
  t.diagnostic(`lone build of two rendezvous jobs on 2 shared slots: ${wallMs} ms`);
});

test('two tenants share the slots job by job; the survivor gets them all', async (t) => {
  const dir = tempDir(t);
  const [alice, bob] = tokens(dir, 'alice', 'bob') as [string, string];
  // Each build is three jobs the test ends by hand, scheduled by the real runScheduler
  // on the queue's slot gate.
  const live = new Map<string, () => void>();
  const runner: BuildRunner = async (build, ctx) => {
    const runId = `run-${build.id}`;
    const results = await runScheduler({
      jobs: ['1', '2', '3'].map((n) => ({ id: `${build.tenant}${n}`, waitsFor: [], cpus: 1, memoryBytes: 1, priority: 0 })),
      capacity: { slots: ctx.maxJobs, cpus: 64, memoryBytes: 2 ** 40 },
      slotGate: ctx.slotGate,
      signal: ctx.signal,
      run: (id, { signal }) =>
        new Promise((resolve) => {
          live.set(id, () => (live.delete(id), resolve('succeeded')));
          signal.addEventListener('abort', () => (live.delete(id), resolve('cancelled')), { once: true });
        }),
    });
    return { runId, state: [...results.values()].every((r) => r.state === 'succeeded') ? 'done' : 'failed' };
  };
  const kiln = createApp({ stateDir: dir, trees: { main: dir }, runner, slots: 2, maxConcurrentBuilds: 2, onError: () => undefined });
  t.after(() => kiln.close());
  const flush = (): Promise<void> => new Promise((r) => setImmediate(r));
  const running = (): string[] => [...live.keys()].sort();
  const finish = async (id: string): Promise<void> => {
    const end = live.get(id);
    assert.ok(end !== undefined, `${id} is not running (running: ${running()})`);
    end();
    await flush();
  };

  const a = (await call(kiln, 'POST', '/api/v1/builds', alice, { tree: 'main' })).id as string;
  await flush();
  assert.deepEqual(running(), ['alice1', 'alice2'], 'alone, alice has both slots');
  const b = (await call(kiln, 'POST', '/api/v1/builds', bob, { tree: 'main' })).id as string;
  await flush();
  assert.deepEqual(running(), ['alice1', 'alice2'], 'bob waits for a free slot');
  await finish('alice1');
  assert.deepEqual(running(), ['alice2', 'bob1'], 'the freed slot goes to bob');
  await finish('bob1');
  assert.deepEqual(running(), ['alice2', 'bob2'], 'bob keeps his one; alice is at her share too');
  await finish('alice2');
  assert.deepEqual(running(), ['alice3', 'bob2']);
  await finish('alice3');
  assert.equal((await kiln.queue.settled(a))?.state, 'done');
  await flush();
  assert.deepEqual(running(), ['bob2', 'bob3'], 'alice is done: bob has both slots');
  await finish('bob2');
  await finish('bob3');
  assert.equal((await kiln.queue.settled(b))?.state, 'done');
  assert.deepEqual(kiln.queue.pool.free().slots, 2);
  assert.deepEqual(kiln.queue.pool.snapshot().members, [], 'ended builds leave the pool');
});

test('the shared pool holds the cores in cpus, plus --overcommit-cpus', async (t) => {
  const dir = tempDir(t);
  const plain = createApp({ stateDir: join(dir, 'a'), trees: {}, slots: 3, onError: () => undefined });
  t.after(() => plain.close());
  const over = createApp({ stateDir: join(dir, 'b'), trees: {}, slots: 3, overcommitCpus: 1, onError: () => undefined });
  t.after(() => over.close());
  assert.equal(over.queue.pool.total.cpus, plain.queue.pool.total.cpus + 1);
  assert.equal(over.queue.pool.total.memoryBytes, plain.queue.pool.total.memoryBytes, 'memory is never overcommitted');
});

test("--max-job-cpus: one tenant's recipe asking for every core does not lock out another tenant's job; it builds with JOBS capped", async (t) => {
  const dir = tempDir(t);
  const tree = join(dir, 'tree');
  const marks = join(dir, 'marks');
  mkdirSync(marks);
  // `big` asks for every core of the machine (the pool's cpus): uncapped, it holds them all
  // while it waits for `small`, which then cannot start, and `big` fails after its wait.
  const cores = availableParallelism();
  for (const [name, other, cpus] of [['big', 'small', cores], ['small', 'big', 1]] as const) {
    mkdirSync(join(tree, name), { recursive: true });
    writeFileSync(join(tree, name, 'recipe.toml'), rendezvousRecipe(name, marks, other, { cpus, waitS: 10 }));
  }
  const state = join(dir, 'state');
  const [alice, bob] = tokens(state, 'alice', 'bob') as [string, string];
  const kiln = createApp({ stateDir: state, trees: { main: tree }, sandbox: 'host', slots: 2, maxConcurrentBuilds: 2, maxJobCpus: 1, onError: () => undefined });
  t.after(() => kiln.close());

  const a = (await call(kiln, 'POST', '/api/v1/builds', alice, { tree: 'main', targets: ['big'] })).id as string;
  const b = (await call(kiln, 'POST', '/api/v1/builds', bob, { tree: 'main', targets: ['small'] })).id as string;
  const [ea, eb] = await Promise.all([kiln.queue.settled(a), kiln.queue.settled(b)]);
  const jobsA = (await call(kiln, 'GET', `/api/v1/builds/${a}/jobs`, alice)).jobs as any[];
  const jobsB = (await call(kiln, 'GET', `/api/v1/builds/${b}/jobs`, bob)).jobs as any[];
  assert.equal(ea?.state, 'done', JSON.stringify(jobsA));
  assert.equal(eb?.state, 'done', JSON.stringify(jobsB));
  const res = await kiln.app.request(jobsA[0].log, { headers: { Authorization: `Bearer ${alice}` } });
  const log = await res.text();
  assert.match(log, / o big built with JOBS=1$/m, 'big builds with $JOBS capped to --max-job-cpus');
  assert.match(log, / k {3}JOBS='1'$/m, 'the environment in its log shows the capped JOBS');
});
