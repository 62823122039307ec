import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { askWorkers, KILN_VERSION, unclaimedHint, WorkerStatus, workerStatusOf, WORKERS_STATUS_SUBJECT } from './worker-status.ts';
import { workersTable } from '../cli/workers.ts';

const GiB = 1024 ** 3;
const ENV = 'debian-12@1';

function worker(name: string, archs: [string, string][], more: Partial<WorkerStatus> = {}): WorkerStatus {
  return {
    name, host: 'h', pid: 100, version: '0.1.0', startedAt: 1_000, archs: archs.map(([arch, envId]) => ({ arch, envId })),
    sandbox: 'rootless', jobs: 4, running: [], disk: null, ...more,
  };
}
const busy = (n: number): WorkerStatus['running'] => Array.from({ length: n }, (_, i) => ({ runId: `r${i}`, jobId: `p${i}@amd64`, attempt: 1, since: 2_000 }));

test('WorkerStatus: a full answer parses; strings are capped and unknown fields refused', () => {
  const full = worker('w1', [['amd64', ENV]], { running: busy(2), disk: { free: 5 * GiB, where: '/var/lib/kiln', minFree: GiB, low: false } });
  assert.deepEqual(WorkerStatus.parse(JSON.parse(JSON.stringify(full))), full);
  assert.equal(WorkerStatus.safeParse({ ...full, name: 'x'.repeat(201) }).success, false);
  assert.equal(WorkerStatus.safeParse({ ...full, name: 'a\nb' }).success, false);
  assert.equal(WorkerStatus.safeParse({ ...full, host: 'h'.repeat(254) }).success, false);
  assert.equal(WorkerStatus.safeParse({ ...full, version: 'v'.repeat(65) }).success, false);
  assert.equal(WorkerStatus.safeParse({ ...full, archs: [{ arch: 'amd64', envId: 'e'.repeat(1001) }] }).success, false);
  assert.equal(WorkerStatus.safeParse({ ...full, archs: [{ arch: 'AMD 64', envId: ENV }] }).success, false);
  assert.equal(WorkerStatus.safeParse({ ...full, running: [{ runId: 'r', jobId: 'not a job', attempt: 1, since: 0 }] }).success, false);
  assert.equal(WorkerStatus.safeParse({ ...full, disk: { free: -1, where: '/', minFree: 0, low: false } }).success, false);
  assert.equal(WorkerStatus.safeParse({ ...full, jobs: 0 }).success, false);
  assert.equal(WorkerStatus.safeParse({ ...full, extra: 1 }).success, false);
});

test('workerStatusOf: the worker\'s facts, its host, pid and version, its disk against --min-free', () => {
  const facts = { name: 'w', startedAt: 5, archs: [{ arch: 'amd64', envId: ENV }], sandbox: 'host', jobs: 2, running: new Map([['k', { runId: 'r1', jobId: 'a@amd64', attempt: 2, since: 9 }]]).values() };
  const s = workerStatusOf({ ...facts, minFree: { bytes: 2 * GiB, free: () => ({ bytes: GiB, where: '/s' }) } });
  assert.equal(WorkerStatus.safeParse(s).success, true);
  assert.equal(s.pid, process.pid);
  assert.equal(s.version, KILN_VERSION);
  assert.match(KILN_VERSION, /^\d+\.\d+\.\d+/);
  assert.deepEqual(s.running, [{ runId: 'r1', jobId: 'a@amd64', attempt: 2, since: 9 }]);
  assert.deepEqual(s.disk, { free: GiB, where: '/s', minFree: 2 * GiB, low: true });
  assert.equal(workerStatusOf({ ...facts, running: [] }).disk, null);
  assert.equal(workerStatusOf({ ...facts, running: [], minFree: { bytes: GiB, free: () => ({ bytes: 3 * GiB, where: '/s' }) } }).disk?.low, false);
});

test('unclaimedHint: why nobody took a job of amd64 in ENV', () => {
  const low = { free: 1.2 * GiB, where: '/s', minFree: 5 * GiB, low: true };
  const cases: [string, WorkerStatus[], string][] = [
    ['nobody', [], 'no worker answers at all'],
    ['another arch, another env', [worker('w1', [['arm64', 'X']]), worker('w2', [['amd64', 'Y']])],
      `2 workers answer, none for amd64 in ${ENV}: w1 (arm64 in X), w2 (amd64 in Y — another env: its host release or --env differs)`],
    ['one, of another arch', [worker('w1', [['arm64', ENV], ['armhf', ENV]])], `1 worker answers, none for amd64 in ${ENV}: w1 (arm64 in ${ENV}, armhf in ${ENV})`],
    ['low on disk', [worker('w3', [['amd64', ENV]], { disk: low })], `worker w3 serves amd64 in ${ENV} but is low on disk (1.2 GiB free, --min-free 5.0 GiB)`],
    ['busy', [worker('w4', [['amd64', ENV]], { running: busy(4) })], `worker w4 serves amd64 in ${ENV} and is busy with 4 of 4 jobs`],
    ['has room', [worker('w5', [['amd64', ENV]], { running: busy(1) })], `worker w5 serves amd64 in ${ENV} and has room (1 of 4 jobs running): it should take it soon`],
    ['several, the others not named', [worker('w3', [['amd64', ENV]], { disk: low }), worker('w4', [['arm64', ENV], ['amd64', ENV]], { running: busy(4) }), worker('x', [['arm64', ENV]])],
      `2 workers serve amd64 in ${ENV}: w3 is low on disk (1.2 GiB free, --min-free 5.0 GiB); w4 is busy with 4 of 4 jobs`],
    ['many: capped', Array.from({ length: 8 }, (_, i) => worker(`w${i}`, [['arm64', ENV]])),
      `8 workers answer, none for amd64 in ${ENV}: ${Array.from({ length: 6 }, (_, i) => `w${i} (arm64 in ${ENV})`).join(', ')}, and 2 more`],
  ];
  for (const [what, statuses, want] of cases) assert.equal(unclaimedHint(statuses, 'amd64', ENV), want, what);
});

/** A connection whose requestMany yields `answers` (or throws `error`). */
function fakeNc(answers: string[], error?: Error): { nc: NatsConnection; asked: unknown[] } {
  const asked: unknown[] = [];
  const nc = {
    requestMany: async (subject: string, _data: unknown, opts: unknown) => {
      asked.push({ subject, opts });
      return (async function* () {
        for (const a of answers) yield { string: () => a } as Msg;
        if (error !== undefined) throw error;
      })();
    },
  } as unknown as NatsConnection;
  return { nc, asked };
}

test('askWorkers: readable answers sorted by name, the others counted; no responders is nobody', async () => {
  const { nc, asked } = fakeNc([JSON.stringify(worker('b', [])), 'not json', JSON.stringify({ name: 'c' }), JSON.stringify(worker('a', []))]);
  const got = await askWorkers(nc, 250);
  assert.deepEqual(got.statuses.map((s) => s.name), ['a', 'b']);
  assert.equal(got.unreadable, 2);
  assert.deepEqual(asked, [{ subject: WORKERS_STATUS_SUBJECT, opts: { strategy: 'timer', maxWait: 250 } }]);
  assert.deepEqual(await askWorkers(fakeNc([], Object.assign(new Error('503'), { isNoResponders: () => true })).nc), { statuses: [], unreadable: 0 });
  // As nats-core 3.x throws it from requestMany: bare, named NoResponders.
  assert.deepEqual(await askWorkers(fakeNc([], Object.assign(new Error("no responders: 'kiln.workers.status'"), { name: 'NoResponders' })).nc), { statuses: [], unreadable: 0 });
  await assert.rejects(askWorkers(fakeNc([], new Error('connection closed')).nc), /connection closed/);
});

test('workersTable: a line per worker (LOW marked), a line per running job', () => {
  const now = 3_600_000 + 1_000;
  const text = workersTable([
    worker('w1', [['amd64', ENV]], { running: [{ runId: 'run-1', jobId: 'zlib@amd64', attempt: 2, since: now - 90_000 }], jobs: 2, disk: { free: GiB, where: '/s', minFree: 5 * GiB, low: true } }),
    worker('w2', [['arm64', 'X']]),
  ], now);
  const lines = text.trimEnd().split('\n');
  assert.match(lines[0]!, /^NAME\s+SERVES\s+SANDBOX\s+JOBS\s+FREE DISK\s+UP\s+VERSION$/);
  assert.match(lines[1]!, new RegExp(`^w1\\s+amd64 in ${ENV}\\s+rootless\\s+1/2\\s+1\\.0 GiB LOW \\(--min-free 5\\.0 GiB\\)\\s+1h00m\\s+0\\.1\\.0$`));
  assert.equal(lines[2], '    zlib@amd64  run run-1, attempt 2, for 1m30s');
  assert.match(lines[3]!, /^w2\s+arm64 in X\s+rootless\s+0\/4\s+-\s+1h00m\s+0\.1\.0$/);
  assert.equal(lines.length, 4);
});
