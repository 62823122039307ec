// `kiln workers`: the fleet view, with a real nats-server. The workers answer on
// kiln.workers.status (src/distributed/worker-status.ts); the first tests start their own
// responder (answers as a worker before the capacity gives them: none), the last ones a
// real `kiln worker`, one of them holding a job that does not fit beside the running one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, runKiln, spawnKiln } from '../helpers/run-kiln.ts';
import { ACK_WAIT_MS, natsServer, noNats, startWorker, until } from '../helpers/nats.ts';
import { answerStatus, WORKERS_STATUS_SUBJECT, type WorkerStatus } from '../../src/distributed/worker-status.ts';
import { hostArch } from '../../src/run/host-env.ts';

const GiB = 1024 ** 3;

test('kiln workers: a line per worker that answers (LOW disk marked), a line per job it builds; --json the answers', { skip: noNats, timeout: 60_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const nc = await connect({ servers: url });
  t.after(() => nc.close());
  const now = Date.now();
  const w1: WorkerStatus = {
    name: 'build-1', host: 'box1', pid: 4242, version: '9.8.7', startedAt: now - 2 * 3600_000,
    archs: [{ arch: 'amd64', envId: 'debian-12@3' }, { arch: 'i386', envId: 'debian-12@3' }], sandbox: 'rootless', jobs: 2,
    running: [{ runId: 'run-abc', jobId: 'zlib@amd64', attempt: 2, since: now - 60_000 }],
    disk: { free: 1.5 * GiB, where: '/var/lib/kiln', minFree: 5 * GiB, low: true },
  };
  const w0: WorkerStatus = { ...w1, name: 'arm-0', pid: 7, archs: [{ arch: 'arm64', envId: 'debian-12@3' }], sandbox: 'chroot', running: [], disk: { free: 80 * GiB, where: '/s', minFree: GiB, low: false } };
  answerStatus(nc, () => w1);
  answerStatus(nc, () => w0);
  // An answer that is not a worker's status: counted, said, not shown.
  nc.subscribe(WORKERS_STATUS_SUBJECT, { callback: (_e, m) => void m.respond('{"name":"odd"}') });
  await nc.flush();

  const r = await runKiln(['workers', '--nats', url, '--wait', '500']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^NAME\s+SERVES\s+SANDBOX\s+JOBS\s+CPUS\s+MEMORY\s+FREE DISK\s+UP\s+VERSION$/, r.stdout);
  assert.match(lines[1]!, /^arm-0\s+arm64 in debian-12@3\s+chroot\s+0\/2\s+-\s+-\s+80\.0 GiB\s+2h00m\s+9\.8\.7$/, r.stdout);
  assert.match(lines[2]!, /^build-1\s+amd64 in debian-12@3, i386 in debian-12@3\s+rootless\s+1\/2\s+-\s+-\s+1\.5 GiB LOW \(--min-free 5\.0 GiB\)\s+2h00m\s+9\.8\.7$/, r.stdout);
  assert.match(lines[3]!, /^ {4}zlib@amd64 {2}run run-abc, attempt 2, for 1m0\ds$/, r.stdout);
  assert.equal(lines.length, 4, r.stdout);
  assert.match(r.stderr, /1 answer\(s\) could not be read/);

  const j = await runKiln(['workers', '--json', '--wait', '500'], { env: { KILN_NATS: url } });
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual(JSON.parse(j.stdout), [w0, w1]);
});

test('kiln workers: none answers (exit 0); no server (an error); no URL (usage, exit 2)', { skip: noNats, timeout: 60_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const r = await runKiln(['workers', '--nats', url]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `no worker answered on NATS at ${url}\n`);
  const j = await runKiln(['workers', '--nats', url, '--json', '--wait', '200']);
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual(JSON.parse(j.stdout), []);

  const gone = await runKiln(['workers', '--nats', 'nats://127.0.0.1:1']);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /cannot reach NATS at nats:\/\/127\.0\.0\.1:1/);
  const usage = await runKiln(['workers'], { env: { KILN_NATS: '' } });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /kiln workers needs the NATS server: --nats/);
  const wait = await runKiln(['workers', '--nats', url, '--wait', 'soon']);
  assert.equal(wait.code, 2);
  assert.match(wait.stderr, /--wait: expected a whole number/);
});

// Passes once `kiln worker` answers on kiln.workers.status (src/distributed/worker.ts wires answerStatus).
test('kiln workers: a real `kiln worker` answers with its name, arch, sandbox and slots', { skip: noNats, timeout: 90_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const w = startWorker(t, url, join(dir.path, 'w'), 'the-worker');
  await until('the worker to wait for jobs', () => (/taking jobs for/.test(w.output()) ? true : undefined), 30_000);
  // Asked until it answers (it may subscribe a moment after it says it takes jobs).
  let statuses: WorkerStatus[] = [];
  const end = Date.now() + 15_000;
  while (statuses.length === 0 && Date.now() < end) {
    const r = await runKiln(['workers', '--nats', url, '--json', '--wait', '300']);
    assert.equal(r.code, 0, r.stderr);
    statuses = JSON.parse(r.stdout) as WorkerStatus[];
    if (statuses.length === 0) await new Promise((res) => setTimeout(res, 200));
  }
  assert.equal(statuses.length, 1, `no answer from the worker (or more than one): ${JSON.stringify(statuses)}\n${w.output()}`);
  const s = statuses[0]!;
  assert.equal(s.name, 'the-worker');
  assert.equal(s.pid, w.child.pid);
  assert.equal(s.sandbox, 'host');
  assert.equal(s.jobs, 1);
  assert.deepEqual(s.archs.map((a) => a.arch), [hostArch()]);
  assert.deepEqual(s.running, []);
  assert.equal(s.disk?.low, false);
  assert.deepEqual(s.capacity, { cpus: { reserved: 0, total: availableParallelism() }, memory: { reserved: 0, total: totalmem() }, held: [] });
  const table = await runKiln(['workers', '--nats', url]);
  assert.match(table.stdout, new RegExp(`^the-worker\\s+${hostArch()} in \\S+\\s+host\\s+0/1\\s+0/${availableParallelism()}\\s+0 B/\\S+ \\S+\\s`, 'm'), table.stdout);
});

test('kiln workers: a real worker says what its running job reserves and the job it holds for room; an older kiln\'s question gets the fields it knows', { skip: noNats, timeout: 150_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const w = startWorker(t, url, join(dir.path, 'w'), 'w1', undefined, {}, ['--sandbox', 'host', '--jobs', '2']);
  const release = join(dir.path, 'release');
  const build = async (tree: string, name: string, script: string): Promise<ReturnType<typeof spawnKiln>> => {
    await mkdir(join(dir.path, tree, name), { recursive: true });
    // Each reserves more than half the memory: the second is held while the first builds.
    await writeFile(join(dir.path, tree, name, 'recipe.toml'), `${recipeText({ name, script: `${script}\nmkdir -p "$DESTDIR/usr/share/${name}"; echo ok > "$DESTDIR/usr/share/${name}/ok"` })}cpus = 1\nmemory = ${memory}\n`);
    return spawnKiln(['build', '--tree', join(dir.path, tree), '--state', join(dir.path, `coordinator-${tree}`), '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 120_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  };
  const memory = Math.ceil(totalmem() * 0.6);
  // (Bounded: a test that fails leaves nothing running for long.)
  const run1 = await build('one', 'runner', `for i in $(seq 900); do [ -e '${release}' ] && break; sleep 0.1; done`);
  try {
    await until('the worker to take runner', () => (/runner@\S+: taken/.test(w.output()) ? true : undefined), 60_000);
    const run2 = await build('two', 'held', 'true');
    await until('the worker to hold held', () => (/held@\S+: waits for room here/.test(w.output()) ? true : undefined), 60_000);
    const r = await runKiln(['workers', '--nats', url, '--json', '--wait', '500']);
    assert.equal(r.code, 0, r.stderr);
    const [s] = JSON.parse(r.stdout) as WorkerStatus[];
    assert.deepEqual(s?.capacity?.cpus, { reserved: 1, total: availableParallelism() }, r.stdout);
    assert.deepEqual(s.capacity.memory, { reserved: memory, total: totalmem() });
    assert.equal(s.capacity.held.length, 1, r.stdout);
    assert.match(s.capacity.held[0]!.jobId, /^held@/);
    assert.equal(s.capacity.held[0]!.cpus, 1);
    assert.equal(s.capacity.held[0]!.memoryBytes, memory);
    assert.equal(s.running.length, 1, 'a free slot (--jobs 2), but no room in its memory');
    const table = await runKiln(['workers', '--nats', url, '--wait', '500']);
    assert.match(table.stdout, new RegExp(`^w1\\s+\\S+ in \\S+\\s+host\\s+1/2\\s+1/${availableParallelism()}\\s+\\S+ GiB/\\S+ GiB\\s`, 'm'), table.stdout);
    assert.match(table.stdout, /^ {4}held@\S+ {2}held until there is room for 1 cpu and [\d.]+ GiB of memory \(it takes no other job meanwhile\), run \S+, for /m, table.stdout);
    // A kiln before the capacity asks with an empty question, and reads its answers strictly.
    const nc = await connect({ servers: url });
    try {
      const old = JSON.parse((await nc.request('kiln.workers.status', '', { timeout: 5_000 })).string()) as Record<string, unknown>;
      assert.equal(old['name'], 'w1');
      assert.equal('capacity' in old, false, JSON.stringify(old));
    } finally {
      await nc.close();
    }
    await writeFile(release, '');
    for (const run of [run1, run2]) {
      const done = await run.done;
      assert.equal(done.code, 0, `${explain(done)}\nworker:\n${w.output()}`);
    }
  } finally {
    await writeFile(release, '');
    run1.child.kill('SIGKILL');
  }
});
