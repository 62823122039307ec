// Job resource sampling: the pure parts as tables (proc stat parsing, the job's process
// tree, cgroup working set, cores between readings), then the real readers on a real
// process tree busy in a workspace, and the sampler emitting job-sample events for it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus, type KilnEvent } from '../events/events.ts';
import { startJobSampler } from './job-sampler.ts';
import { coresBetween, jobTree, parseProcStat, processTreeUsage, treeUsage, workingSet, workspaceBytes, type ProcInfo } from './job-usage.ts';

test('parseProcStat: ppid, utime+stime+cutime+cstime and rss; zombies and garbage are undefined', () => {
  const line = (comm: string, state: string): string =>
    `1234 (${comm}) ${state} 77 1234 1234 0 -1 4194560 100 0 0 0 30 12 5 3 20 0 1 0 555 10000000 250 18446744073709551615`;
  assert.deepEqual(parseProcStat(line('bash', 'S')), { ppid: 77, ticks: 50, rssPages: 250 });
  assert.deepEqual(parseProcStat(line('a) (b', 'R')), { ppid: 77, ticks: 50, rssPages: 250 }, 'comm with parentheses and spaces');
  assert.equal(parseProcStat(line('gone', 'Z')), undefined);
  assert.equal(parseProcStat('garbage'), undefined);
  assert.equal(parseProcStat('1 (x) S 1 2'), undefined);
});

test('jobTree: processes working inside the workspace and all their descendants, nothing else', () => {
  const p = (pid: number, ppid: number, cwd: string | undefined, ticks = 1, rssPages = 1): ProcInfo => ({ pid, ppid, ticks, rssPages, cwd });
  const procs = [
    p(1, 0, '/'),
    p(10, 1, '/srv/kiln'), // kiln itself
    p(20, 10, '/w/run/hello_amd64/src', 100, 10), // the build script
    p(21, 20, '/tmp', 50, 5), // a child that cd'd away: still the job's
    p(22, 21, '/', 7, 1), // grandchild
    p(30, 10, '/w/run/hello_amd64-other/src'), // a sibling workspace with a common prefix
    p(40, 1, undefined), // unreadable cwd
  ];
  const tree = jobTree(procs, '/w/run/hello_amd64');
  assert.deepEqual([...tree].sort((a, b) => a - b), [20, 21, 22]);
  assert.deepEqual(treeUsage(procs, tree), { cpuUs: 1_570_000, memoryBytes: 16 * 4096 });
  assert.equal(jobTree(procs, '/nowhere').size, 0);
});

test('workingSet and coresBetween', () => {
  assert.equal(workingSet(1000, 'cache 600\ntotal_inactive_file 300\n', 1), 700);
  assert.equal(workingSet(1000, 'anon 100\ninactive_file 900\n', 2), 100);
  assert.equal(workingSet(100, 'inactive_file 900\n', 2), 0);
  assert.equal(workingSet(1000, '', 1), 1000);
  assert.equal(coresBetween(0, 2_000_000, 1000), 2);
  assert.equal(coresBetween(1_000_000, 1_500_000, 1000), 0.5);
  assert.equal(coresBetween(5, 1, 1000), 0, 'counter went back');
  assert.equal(coresBetween(0, 5, 0), 0);
});

test('a real busy process tree in a workspace: cpu, memory and disk are seen, and the sampler emits job-sample events', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-usage-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const work = join(root, 'work');
  const ws = join(work, 'run1', 'spin_amd64');
  mkdirSync(join(ws, 'src'), { recursive: true });
  writeFileSync(join(ws, 'src', 'data'), Buffer.alloc(256 * 1024, 1));
  // A shell that starts a busy child which leaves the workspace (cd /): both are the job's.
  const child = spawn('sh', ['-c', 'cd / && exec sh -c "while :; do :; done" & wait'], { cwd: join(ws, 'src'), stdio: 'ignore', detached: true });
  t.after(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  });
  const bus = new EventBus();
  const samples: Array<Extract<KilnEvent, { type: 'job-sample' }>> = [];
  bus.on((e) => {
    if (e.type === 'job-sample') samples.push(e);
  });
  const errors: unknown[] = [];
  const sampler = startJobSampler({ bus, stateRoot: root, workRoot: work, intervalMs: 300, onError: (e) => errors.push(e) });
  t.after(() => sampler.stop());
  const started = Date.now();
  bus.emit({ type: 'job-started', runId: 'run1', jobId: 'spin@amd64', name: 'spin', version: '1', arch: 'amd64', why: { kind: 'new' } as never, attempt: 1, log: '/dev/null', at: started, expectedMs: undefined });
  const deadline = Date.now() + 15_000;
  while (samples.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(errors, []);
  assert.ok(samples.length >= 4, `samples: ${samples.length}`);
  const last = samples.at(-1)!;
  assert.equal(last.runId, 'run1');
  assert.equal(last.jobId, 'spin@amd64');
  // One busy loop on a shared 2-core machine: clearly more than idle, at most the cores.
  assert.ok(last.cpuCores > 0.2 && last.cpuCores <= 2.5, `cpu ${last.cpuCores}`);
  assert.ok(last.memoryBytes > 100 * 1024, `memory ${last.memoryBytes}`);
  assert.ok(last.diskBytes >= 256 * 1024, `disk ${last.diskBytes}`);
  const direct = processTreeUsage(ws);
  assert.ok(direct.cpuUs > 0);
  assert.ok((await workspaceBytes(ws)) >= 256 * 1024);
  // The job ends: no more samples.
  bus.emit({ type: 'job-finished', runId: 'run1', jobId: 'spin@amd64', name: 'spin', version: '1', arch: 'amd64', state: 'cancelled', key: 'k', startedAt: started, at: Date.now() });
  const count = samples.length;
  await new Promise((r) => setTimeout(r, 800));
  assert.ok(samples.length <= count + 1, 'at most one in-flight sample after the end');
});

test('cgroupUsage reads a real cgroup: cpu time and working-set memory of a busy member', async (t) => {
  const { cgroupProblem, createCgroup, detectCgroups } = await import('../sandbox/cgroups/cgroups.ts');
  const { cgroupUsage } = await import('./job-usage.ts');
  const system = detectCgroups();
  if (process.getuid?.() !== 0 || system === undefined || cgroupProblem(system) !== undefined) {
    t.skip('needs root and the memory/cpu/pids cgroup controllers');
    return;
  }
  const cg = await createCgroup(system, { parent: 'kiln-test', name: `usage.${process.pid}.${Date.now().toString(16)}`, limits: { cpus: 1, memoryBytes: 256 * 1024 * 1024 } });
  t.after(() => cg.remove());
  const { writeFileSync: write } = await import('node:fs');
  const child = spawn('sh', ['-c', `read x; exec perl -e '$x = "a" x 30_000_000; 1 while 1'`], { stdio: ['pipe', 'ignore', 'ignore'] });
  for (const f of cg.procsFiles) write(f, String(child.pid));
  child.stdin!.write('go\n');
  // The sampler finds the group through the sandbox journal, as for a chroot job.
  const { ownEntry, writeEntry } = await import('../sandbox/journal.ts');
  const stateRoot = mkdtempSync(join(tmpdir(), 'kiln-usage-cg-'));
  t.after(() => rmSync(stateRoot, { recursive: true, force: true }));
  await writeEntry(stateRoot, ownEntry({ id: 'busy.1', jobId: 'run2-busy@amd64', backend: 'chroot', workDir: stateRoot, cgroup: cg.ref }));
  const bus = new EventBus();
  const seen: Array<Extract<KilnEvent, { type: 'job-sample' }>> = [];
  bus.on((e) => void (e.type === 'job-sample' && seen.push(e)));
  const sampler = startJobSampler({ bus, stateRoot, workRoot: join(stateRoot, 'work'), intervalMs: 200 });
  t.after(() => sampler.stop());
  bus.emit({ type: 'job-started', runId: 'run2', jobId: 'busy@amd64', name: 'busy', version: '1', arch: 'amd64', why: { kind: 'new' } as never, attempt: 1, log: '/dev/null', at: Date.now(), expectedMs: undefined });
  const before = await cgroupUsage(cg.ref);
  await new Promise((r) => setTimeout(r, 700));
  const after = await cgroupUsage(cg.ref);
  for (let i = 0; seen.length < 3 && i < 200; i++) await new Promise((r) => setTimeout(r, 50));
  sampler.stop();
  child.kill('SIGKILL');
  assert.ok(seen.at(-1)!.memoryBytes > 20_000_000 && seen.at(-1)!.cpuCores > 0.3, JSON.stringify(seen.at(-1)));
  const cores = coresBetween(before.cpuUs, after.cpuUs, 700);
  assert.ok(cores > 0.3 && cores <= 1.2, `cores ${cores} (limit 1 cpu)`);
  // Charged to the group: pages touched after the move (30 MB string).
  assert.ok(after.memoryBytes > 20_000_000, `memory ${after.memoryBytes}`);
});
