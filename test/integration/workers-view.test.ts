// `kiln workers`: the fleet view, with a real nats-server. The workers answer on
// kiln.workers.status (src/distributed/worker-status.ts); the first tests start their own
// responder, the last a real `kiln worker`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { tmpDir } from '../helpers/tmp.ts';
import { runKiln } from '../helpers/run-kiln.ts';
import { natsServer, noNats, startWorker, until } from '../helpers/nats.ts';
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
  assert.match(lines[0]!, /^NAME\s+SERVES\s+SANDBOX\s+JOBS\s+FREE DISK\s+UP\s+VERSION$/, r.stdout);
  assert.match(lines[1]!, /^arm-0\s+arm64 in debian-12@3\s+chroot\s+0\/2\s+80\.0 GiB\s+2h00m\s+9\.8\.7$/, r.stdout);
  assert.match(lines[2]!, /^build-1\s+amd64 in debian-12@3, i386 in debian-12@3\s+rootless\s+1\/2\s+1\.5 GiB LOW \(--min-free 5\.0 GiB\)\s+2h00m\s+9\.8\.7$/, r.stdout);
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
  const table = await runKiln(['workers', '--nats', url]);
  assert.match(table.stdout, new RegExp(`^the-worker\\s+${hostArch()} in \\S+\\s+host\\s+0/1\\s`, 'm'), table.stdout);
});
