import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { answerFor, askWorkers, extrasWanted, KILN_VERSION, STATUS_QUESTION, unclaimedHint, WorkerStatus, workerStatusOf, WORKERS_STATUS_SUBJECT } from './worker-status.ts';
import { reservedOf } from './worker-capacity.ts';
import { workersTable } from '../cli/workers.ts';
import { workerView } from '../server/routes/workers.ts';

const GiB = 1024 ** 3;
const ENV = 'debian-12@1';

function worker(name: string, archs: [string, string][], more: Partial<WorkerStatus> = {}): WorkerStatus {
  return {
    name, host: 'h', pid: 100, version: '0.1.0', startedAt: 1_000, archs: archs.map(([arch, envId]) => ({ arch, envId })),
    sandbox: 'rootless', jobs: 4, running: [], disk: null, ...more,
  };
}
/** What a 8-cpu, 16 GiB worker's jobs reserve, and the jobs it holds. */
const capacity = (cpus: number, memory: number, held: NonNullable<WorkerStatus['capacity']>['held'] = []): NonNullable<WorkerStatus['capacity']> => ({ cpus: { reserved: cpus, total: 8 }, memory: { reserved: memory, total: 16 * GiB }, held });
const holding = (jobId: string, cpus: number, memoryBytes = 0, runId = 'r9', since = 2_000): NonNullable<WorkerStatus['capacity']>['held'][number] => ({ runId, jobId, cpus, memoryBytes, since });
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
  assert.match(lines[0]!, /^NAME\s+SERVES\s+SANDBOX\s+JOBS\s+CPUS\s+MEMORY\s+FREE DISK\s+UP\s+VERSION$/);
  assert.match(lines[1]!, new RegExp(`^w1\\s+amd64 in ${ENV}\\s+rootless\\s+1/2\\s+-\\s+-\\s+1\\.0 GiB LOW \\(--min-free 5\\.0 GiB\\)\\s+1h00m\\s+0\\.1\\.0$`));
  assert.equal(lines[2], '    zlib@amd64  run run-1, attempt 2, for 1m30s');
  assert.match(lines[3]!, /^w2\s+arm64 in X\s+rootless\s+0\/4\s+-\s+-\s+-\s+1h00m\s+0\.1\.0$/);
  assert.equal(lines.length, 4);
});

test('workersTable: what the running jobs reserve of the cpus and memory, and a line per job held for room', () => {
  const now = 10_000;
  const text = workersTable([
    worker('w1', [['amd64', ENV]], { jobs: 4, running: busy(1), capacity: capacity(6, 12 * GiB, [holding('llvm@amd64', 8, 4 * GiB, 'run-2', now - 65_000)]) }),
    worker('w2', [['amd64', ENV]], { capacity: capacity(0, 0) }),
  ], now);
  const lines = text.trimEnd().split('\n');
  assert.match(lines[0]!, /^NAME\s+SERVES\s+SANDBOX\s+JOBS\s+CPUS\s+MEMORY\s+FREE DISK\s+UP\s+VERSION$/);
  assert.match(lines[1]!, new RegExp(`^w1\\s+amd64 in ${ENV}\\s+rootless\\s+1/4\\s+6/8\\s+12\\.0 GiB/16\\.0 GiB\\s+-\\s+9\\.0s\\s+0\\.1\\.0$`), text);
  assert.equal(lines[2], '    p0@amd64  run r0, attempt 1, for 8.0s');
  assert.equal(lines[3], '    llvm@amd64  held until there is room for 8 cpus and 4.0 GiB of memory (it takes no other job meanwhile), run run-2, for 1m05s');
  assert.match(lines[4]!, /^w2\s+amd64 in \S+\s+rootless\s+0\/4\s+0\/8\s+0 B\/16\.0 GiB\s+-\s+/, text);
  assert.equal(lines.length, 5);
});

test('WorkerStatus: capacity is optional (an older worker has none) and checked when there', () => {
  const s = worker('w1', [['amd64', ENV]], { capacity: capacity(2, GiB, [holding('big@amd64', 8)]) });
  assert.deepEqual(WorkerStatus.parse(JSON.parse(JSON.stringify(s))), s);
  assert.equal(WorkerStatus.safeParse(worker('w0', [])).success, true, 'an older worker\'s answer');
  const bad: [string, unknown][] = [
    ['negative cpus', { ...s.capacity, cpus: { reserved: -1, total: 8 } }],
    ['fractional cpus', { ...s.capacity, cpus: { reserved: 0.5, total: 8 } }],
    ['an unknown field', { ...s.capacity, spare: 1 }],
    ['a held job id that is a path', { ...s.capacity, held: [holding('../x', 1)] }],
    ['a held job with no reservation', { ...s.capacity, held: [{ runId: 'r', jobId: 'a@amd64', since: 1 }] }],
  ];
  for (const [what, c] of bad) assert.equal(WorkerStatus.safeParse({ ...s, capacity: c }).success, false, what);
});

test('answerFor: the capacity only to an asker that asks for it; an older asker\'s empty question gets what its strict schema reads', () => {
  const s = worker('w1', [['amd64', ENV]], { capacity: capacity(1, 0) });
  /** WorkerStatus as a kiln before the capacity reads it: strict, without it. */
  const older = WorkerStatus.omit({ capacity: true }).strict();
  assert.equal(older.safeParse(s).success, false, 'an older reader would drop a worker that says its capacity unasked');
  for (const question of ['', 'not json', 'null', '{}', '{"want":"capacity"}', '{"want":["disk"]}']) {
    const a = answerFor(s, question);
    assert.equal('capacity' in a, false, question);
    assert.equal(older.safeParse(JSON.parse(JSON.stringify(a))).success, true, question);
  }
  assert.deepEqual(answerFor(s, STATUS_QUESTION), s);
  assert.deepEqual([...extrasWanted(STATUS_QUESTION)], ['capacity']);
  assert.deepEqual([...extrasWanted('{"want":["capacity","later"]}')], ['capacity'], 'an extra this kiln does not know is not an error');
});

test('workerStatusOf: the capacity as the worker counts it', () => {
  const total = { slots: 4, cpus: 8, memoryBytes: 16 * GiB };
  const reserved = reservedOf([{ cpus: 2, memoryBytes: GiB }, { cpus: 16, memoryBytes: 0 }], total);
  assert.deepEqual(reserved, { cpus: { reserved: 10, total: 8 }, memory: { reserved: GiB, total: 16 * GiB } }, 'a job larger than the machine counts as all of it, not more (clamped, as fitsNow counts it)');
  const s = workerStatusOf({ name: 'w', startedAt: 5, archs: [], sandbox: 'host', jobs: 2, running: [], capacity: { reserved: reservedOf([{ cpus: 3, memoryBytes: GiB }], total), held: new Map([['k', holding('big@amd64', 8, 2 * GiB)]]).values() } });
  assert.deepEqual(s.capacity, { cpus: { reserved: 3, total: 8 }, memory: { reserved: GiB, total: 16 * GiB }, held: [holding('big@amd64', 8, 2 * GiB)] });
  assert.equal(WorkerStatus.safeParse(s).success, true);
  assert.equal('capacity' in workerStatusOf({ name: 'w', startedAt: 5, archs: [], sandbox: 'host', jobs: 2, running: [] }), false);
});

test('unclaimedHint: a worker with free slots that holds a job, or whose cpus are all reserved, says so', () => {
  const cases: [string, WorkerStatus, string][] = [
    ['holds a job', worker('w1', [['amd64', ENV]], { running: busy(1), capacity: capacity(6, 0, [holding('llvm@amd64', 8, 4 * GiB)]) }),
      `worker w1 serves amd64 in ${ENV} and is holding llvm@amd64 until its running jobs leave room for it (8 cpus and 4.0 GiB of memory): it takes no other job meanwhile`],
    ['cpus all reserved', worker('w1', [['amd64', ENV]], { running: busy(2), capacity: capacity(8, 0) }), `worker w1 serves amd64 in ${ENV} and is busy: its 2 running jobs reserve all 8 cpus`],
    ['room', worker('w1', [['amd64', ENV]], { running: busy(1), capacity: capacity(4, 0) }), `worker w1 serves amd64 in ${ENV} and has room (1 of 4 jobs running): it should take it soon`],
  ];
  for (const [what, s, want] of cases) assert.equal(unclaimedHint([s], 'amd64', ENV), want, what);
});

test('askWorkers asks for the extras it reads', async () => {
  const sent: string[] = [];
  await askWorkers({ requestMany: async (_s: string, data: string) => (sent.push(data), (async function* () {})()) } as unknown as NatsConnection, 10);
  assert.deepEqual(sent, [STATUS_QUESTION]);
  assert.deepEqual(JSON.parse(STATUS_QUESTION), { want: ['capacity'] });
});

test('workerView: the capacity for the API; a tenant sees how many jobs are held, but only its own builds\' of them', () => {
  const s = worker('w1', [['amd64', ENV]], { capacity: capacity(2, GiB, [holding('a@amd64', 8, 0, 'run-a'), holding('b@amd64', 4, GiB, 'run-b')]) });
  const runs = new Map([['run-a', { buildId: 'b-1', tenant: 'alice' }], ['run-b', { buildId: 'b-2', tenant: 'bob' }]]);
  const alice = workerView(s, 'alice', runs).capacity!;
  assert.deepEqual({ ...alice, heldJobs: undefined }, { cpus: { reserved: 2, total: 8 }, memory: { reservedBytes: GiB, totalBytes: 16 * GiB }, held: 2, heldJobs: undefined });
  assert.deepEqual(alice.heldJobs, [{ buildId: 'b-1', runId: 'run-a', jobId: 'a@amd64', cpus: 8, memoryBytes: 0, since: new Date(2_000).toISOString() }]);
  assert.deepEqual(workerView(s, undefined, runs).capacity!.heldJobs.map((h) => h.buildId), ['b-1', 'b-2']);
  assert.equal(workerView(worker('w0', []), undefined, runs).capacity, null, 'an older worker');
});
