import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMain as kiln } from '../../test/helpers/cli-streams.ts';
import { isKilnError } from '../errors.ts';
import { openRecords, type Records } from '../records/records.ts';
import { hostArch } from '../run/host-env.ts';
import { chooseArch } from './logs.ts';

function stateDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-logs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A finished run in which `name` built on each of `archs`, each with its own log. */
function builtRun(r: Records, dir: string, runId: string, at: number, name: string, archs: readonly string[]): void {
  r.createRun({ id: runId, tree: '/t', targets: [], archs, maxJobs: 2, startedAt: at });
  for (const arch of archs) {
    const log = join(dir, 'logs', runId, `${name}_${arch}.log`);
    mkdirSync(join(dir, 'logs', runId), { recursive: true });
    writeFileSync(log, `the ${arch} log of ${name}\n`);
    const base = { runId, jobId: `${name}@${arch}`, name, version: '1', arch };
    r.recordJobStart({ ...base, attempt: 1, why: { kind: 'new' }, log, startedAt: at + 1 });
    r.recordJobEnd({ ...base, state: 'built', key: `k-${arch}`, startedAt: at + 1, endedAt: at + 2 });
  }
  r.finishRun(runId, { state: 'done', endedAt: at + 3, counts: { built: archs.length } });
}

test('chooseArch: --arch, the only one, the host\'s, else a usage error listing them', () => {
  const cases: [readonly string[], string | undefined, string, string | undefined][] = [
    [['amd64'], undefined, 'amd64', 'amd64'],
    [['arm64'], undefined, 'amd64', 'arm64'],
    [['amd64', 'arm64'], undefined, 'amd64', 'amd64'],
    [['amd64', 'arm64'], undefined, 'arm64', 'arm64'],
    [['amd64', 'arm64'], 'arm64', 'amd64', 'arm64'],
    [['amd64', 'arm64'], 'riscv64', 'amd64', undefined],
    [[], undefined, 'amd64', undefined],
  ];
  for (const [archs, wanted, host, want] of cases) assert.equal(chooseArch('base', 'R', archs, wanted, host), want, `${archs} ${wanted} ${host}`);
  assert.throws(() => chooseArch('base', 'R', ['arm64', 'riscv64'], undefined, 'amd64'), (e) => {
    assert.ok(isKilnError(e));
    assert.equal(e.code, 'usage');
    assert.match(e.message, /"base" has jobs on several architectures in run R: arm64, riscv64; say which with --arch/);
    return true;
  });
});

test('kiln logs after a multi-arch build: the host\'s arch, --arch for another, a usage error when the host\'s is not among them', async (t) => {
  const dir = stateDir(t);
  const host = hostArch();
  const other = host === 'arm64' ? 'riscv64' : 'arm64';
  {
    using r = openRecords(dir);
    // Jobs are listed by job id: the other arch sorts after or before the host's; either way the host's wins.
    builtRun(r, dir, 'r1', 1000, 'base', [host, other]);
  }
  const mine = await kiln(['logs', 'base', '--state', dir]);
  assert.equal(mine.code, 0, mine.err);
  assert.equal(mine.out, `the ${host} log of base\n`);
  const chosen = await kiln(['logs', 'base', '--state', dir, '--arch', other]);
  assert.equal(chosen.out, `the ${other} log of base\n`);

  {
    using r = openRecords(dir);
    builtRun(r, dir, 'r2', 2000, 'base', ['riscv64', 's390x']);
  }
  const refused = await kiln(['logs', 'base', '--state', dir]);
  assert.equal(refused.code, 2, refused.err);
  assert.equal(refused.out, '');
  assert.match(refused.err, /^kiln: error \[usage\]: "base" has jobs on several architectures in run r2: riscv64, s390x; say which with --arch/);
  const picked = await kiln(['logs', 'base', '--state', dir, '--arch', 's390x']);
  assert.equal(picked.out, 'the s390x log of base\n');
  // --arch also picks among runs: the newest run that has that arch.
  const older = await kiln(['logs', 'base', '--state', dir, '--arch', host]);
  assert.equal(older.out, `the ${host} log of base\n`);
});

test('kiln logs (no -f) of a package queued in a running run: the error says queued in run R, not that it never ran', async (t) => {
  const dir = stateDir(t);
  {
    using r = openRecords(dir);
    builtRun(r, dir, 'old', 1000, 'tail', ['amd64']);
    // This process owns the run: it is alive and running.
    r.createRun({ id: 'live', tree: '/t', targets: [], archs: ['amd64'], maxJobs: 1, startedAt: 2000, toBuild: ['head@amd64', 'tail@amd64'] });
    r.recordJobStart({ runId: 'live', jobId: 'head@amd64', attempt: 1, name: 'head', version: '1', arch: 'amd64', why: { kind: 'new' }, log: join(dir, 'head.log'), startedAt: 2001 });
  }
  const q = await kiln(['logs', 'tail', '--state', dir]);
  assert.equal(q.code, 2, q.err);
  assert.match(q.err, /^kiln: error \[log-not-found\]: tail@amd64 is queued in run live and has not started yet/);
  assert.match(q.err, /kiln logs tail -f/);
  assert.doesNotMatch(q.err, /only packages that ran/);
  // The older run's log is still there for --run.
  const old = await kiln(['logs', 'tail', '--state', dir, '--run', 'old']);
  assert.equal(old.out, 'the amd64 log of tail\n');
  // A package in no run at all: no such package (a typo, likely), not that it did not run.
  const none = await kiln(['logs', 'nothing', '--state', dir]);
  assert.match(none.err, /\[package-not-found\]: no package "nothing" in the records of /);
  assert.doesNotMatch(none.err, /only packages that ran/);
});

test('kiln logs -f of a job whose kiln had already died: the log, then a last line saying it was interrupted, exit 1', async (t) => {
  const dir = stateDir(t);
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  const log = join(dir, 'a.log');
  writeFileSync(log, '[   0.000] k ==> log opened\n[   0.100] o half way\n');
  {
    using r = openRecords(dir);
    r.createRun({ id: 'crashed', tree: '/t', targets: [], archs: ['amd64'], maxJobs: 1, startedAt: 1000, pid: dead, toBuild: ['a@amd64', 'b@amd64'] });
    r.recordJobStart({ runId: 'crashed', jobId: 'a@amd64', attempt: 1, name: 'a', version: '1', arch: 'amd64', why: { kind: 'new' }, log, startedAt: 1001 });
  }
  const f = await kiln(['logs', 'a', '-f', '--state', dir]);
  assert.equal(f.code, 1, f.err);
  assert.equal(f.out, '[   0.000] k ==> log opened\n[   0.100] o half way\n');
  assert.equal(f.err, `kiln: the kiln process of run crashed (pid ${dead}) is gone (killed or crashed): a@amd64 was interrupted\n`);
  // b was queued in that run: the run is no longer running, so it is not queued any more.
  const b = await kiln(['logs', 'b', '-f', '--state', dir]);
  assert.equal(b.code, 2);
  assert.match(b.err, /no log of "b"/);
  // Without -f: just the log.
  const plain = await kiln(['logs', 'a', '--state', dir]);
  assert.equal(plain.code, 0);
  assert.equal(plain.err, '');
});

test('kiln logs --run of an unknown run is run-not-found (as kiln status says); --arch must be a Debian arch name', async (t) => {
  const dir = stateDir(t);
  {
    using r = openRecords(dir);
    builtRun(r, dir, 'r1', 1000, 'tool', [hostArch()]);
  }
  const run = await kiln(['logs', 'tool', '--state', dir, '--run', 'nosuchrun']);
  assert.equal(run.code, 2, run.err);
  assert.match(run.err, new RegExp(`^kiln: error \\[run-not-found\\]: no run "nosuchrun" in ${dir}$`, 'm'));
  assert.match(run.err, /^ {2}hint: list runs with `kiln status --runs`$/m);
  assert.doesNotMatch(run.err, /up-to-date/);
  // No records at all: --run names a run that cannot be there.
  const empty = stateDir(t);
  const none = await kiln(['logs', 'tool', '--state', empty, '--run', 'r1']);
  assert.equal(none.code, 2, none.err);
  assert.match(none.err, /\[run-not-found\]: no records in /);

  const arch = await kiln(['logs', 'tool', '--state', dir, '--arch', 'amd65']);
  assert.equal(arch.code, 2, arch.err);
  assert.match(arch.err, /^kiln: error \[usage\]: --arch: "amd65" is not a Debian architecture name \(did you mean "amd64"\?\)/m);
  assert.match(arch.err, /^ {2}hint: use a name dpkg-architecture -L lists/m);
  // A real arch the package has no job on is still log-not-found.
  const other = hostArch() === 'arm64' ? 'riscv64' : 'arm64';
  const miss = await kiln(['logs', 'tool', '--state', dir, '--arch', other]);
  assert.equal(miss.code, 2, miss.err);
  assert.match(miss.err, /\[log-not-found\]/);
  // The good case still works.
  const ok = await kiln(['logs', 'tool', '--state', dir, '--run', 'r1']);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /the .* log of tool/);
});

test('kiln logs: a job that ended without starting keeps the log its end names (a worker never took it); an older run\'s log says whose it is', async (t) => {
  const dir = stateDir(t);
  {
    using r = openRecords(dir);
    builtRun(r, dir, 'old', 1000, 'pkg', ['amd64']);
    builtRun(r, dir, 'other', 1500, 'unrelated', ['amd64']);
  }
  // The newest run has no job of pkg: the old run's log, said as such.
  const older = await kiln(['logs', 'pkg', '--state', dir]);
  assert.equal(older.code, 0, older.err);
  assert.equal(older.out, 'the amd64 log of pkg\n');
  assert.equal(older.err, 'kiln: pkg@amd64 in run old, the newest run with a log of it\n');
  {
    using r = openRecords(dir);
    r.createRun({ id: 'queued', tree: '/t', targets: [], archs: ['amd64'], maxJobs: 1, startedAt: 2000 });
    const log = join(dir, 'logs', 'queued', 'pkg_amd64.log');
    mkdirSync(join(dir, 'logs', 'queued'), { recursive: true });
    writeFileSync(log, 'queued for the workers\ncancelled: the run was stopped\n');
    r.recordJobEnd({ runId: 'queued', jobId: 'pkg@amd64', name: 'pkg', version: '1', arch: 'amd64', state: 'cancelled', key: 'k', failure: { reason: 'cancelled', message: 'not started: the run was cancelled' }, log, startedAt: 2001, endedAt: 2002 });
    r.finishRun('queued', { state: 'cancelled', endedAt: 2003, counts: { cancelled: 1 } });
  }
  const q = await kiln(['logs', 'pkg', '--state', dir]);
  assert.equal(q.code, 0, q.err);
  assert.equal(q.out, 'queued for the workers\ncancelled: the run was stopped\n');
  assert.equal(q.err, '', 'the newest run\'s own log: nothing to say');
});

test('kiln logs of a package one run builds now while a newer run waits for that build (two runs on one state): the running one\'s log', async (t) => {
  const dir = stateDir(t);
  const log = join(dir, 'c.log');
  writeFileSync(log, 'c is building in the first run\n');
  {
    using r = openRecords(dir);
    // Both runs are this process's, so both alive: the first builds c, the second has it queued (waiting for the first's build lock).
    r.createRun({ id: 'first', tree: '/t', targets: [], archs: ['amd64'], maxJobs: 1, startedAt: 1000, toBuild: ['c@amd64'] });
    r.recordJobStart({ runId: 'first', jobId: 'c@amd64', attempt: 1, name: 'c', version: '1', arch: 'amd64', why: { kind: 'new' }, log, startedAt: 1001 });
    r.createRun({ id: 'second', tree: '/t', targets: [], archs: ['amd64'], maxJobs: 1, startedAt: 1300, toBuild: ['c@amd64'] });
  }
  const shown = await kiln(['logs', 'c', '--state', dir]);
  assert.equal(shown.code, 0, shown.err);
  assert.equal(shown.out, 'c is building in the first run\n');
});
