import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Command } from 'commander';
import { registerDoctor } from '../cli/doctor.ts';
import type { CliContext } from '../cli/main.ts';
import { openRecords } from '../records/records.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { cgroupProblem, createCgroup, detectCgroups, type Cgroup } from './cgroups/cgroups.ts';
import { ownEntry, writeEntry } from './journal.ts';
import { liveMountsUnder } from './mounts.ts';
import { runDoctor } from './doctor.ts';

const deadPid = (): number => spawnSync('/bin/true').pid!;
const system = detectCgroups();
const asRoot = process.getuid?.() === 0;
const realCgroups = asRoot && system !== undefined && cgroupProblem(system) === undefined;

describe('kiln doctor', () => {
  test('finds every kind of leftover, --fix removes them, and then it is clean', async (t) => {
    const state = { path: await mkdtemp(join(tmpdir(), 'kiln-doctor-')) };
    const leak = join(state.path, 'work', 'run-dead', 'leak');
    // The user's own file system for the logs: never kiln's to unmount.
    const own = join(state.path, 'logs');
    t.after(async () => {
      if (asRoot) spawnSync('umount', ['-l', leak]);
      if (asRoot) spawnSync('umount', ['-l', own]);
      await rm(state.path, { recursive: true, force: true });
    });
    const parent = `kiln-doctor-test-${process.pid}`;
    const dead = deadPid();
    // A dead kiln's sandbox: journal entry, workspace and (as root) its cgroup.
    const workDir = join(state.path, 'work', 'run-dead', 'zlib_amd64');
    await mkdir(join(workDir, 'kiln', 'src'), { recursive: true });
    let journaled: Cgroup | undefined;
    let stray: Cgroup | undefined;
    let foreign: Cgroup | undefined;
    if (realCgroups) {
      const limits = { cpus: 1, memoryBytes: 1 << 26 };
      journaled = await createCgroup(system, { parent, name: `zlib.${dead}.aa`, limits });
      stray = await createCgroup(system, { parent, name: `other.${dead}.bb`, limits });
      // Another program's group under a directory of the same name: never kiln's to remove.
      foreign = await createCgroup(system, { parent, name: 'someone-else', limits });
      t.after(async () => {
        await journaled?.remove();
        await stray?.remove();
        await foreign?.remove();
      });
    }
    await writeEntry(state.path, { ...ownEntry({ id: `zlib.${dead}.aa`, jobId: 'run-dead-zlib@amd64', backend: 'chroot', workDir, cgroup: journaled?.ref ?? null }), kilnPid: dead });
    // A run still going (this process) keeps its workspace; a finished one's is left over.
    {
      using records = openRecords(state.path);
      records.createRun({ id: 'run-live', tree: '.', targets: [], archs: ['amd64'], maxJobs: 1, startedAt: Date.now() });
      records.createRun({ id: 'run-old', tree: '.', targets: [], archs: ['amd64'], maxJobs: 1, startedAt: Date.now(), pid: dead, host: hostname() });
    }
    await mkdir(join(state.path, 'work', 'run-live', 'a_amd64'), { recursive: true });
    await mkdir(join(state.path, 'work', 'run-old', 'b_amd64'), { recursive: true });
    const locks = join(state.path, 'cache', 'locks');
    await mkdir(locks, { recursive: true });
    await writeFile(join(locks, 'x.lock'), `${dead} ${hostname()} ${Date.now()} abc\n`);
    // A root a killed env create left (its env's lock held by a dead pid), and one an env
    // update of another env is making now (its lock held by this live process): only the first.
    await mkdir(join(state.path, 'envs', 'e1', 'tmp', 'v1', 'usr'), { recursive: true });
    await mkdir(join(state.path, 'envs', 'e2', 'tmp', 'v2', 'usr'), { recursive: true });
    await mkdir(join(state.path, 'envs', '.locks'), { recursive: true });
    await writeFile(join(state.path, 'envs', '.locks', 'e1.lock'), `${dead} ${hostname()} ${Date.now()} abc\n`);
    await writeFile(join(state.path, 'envs', '.locks', 'e2.lock'), `${process.pid} ${hostname()} ${Date.now()} abc\n`);
    // Cache tmp/ entries: one a dead kiln was writing 20 minutes ago, one it wrote to a
    // minute ago (both left over: nothing says another machine uses this cache), and one of
    // this live process.
    const cacheTmp = join(state.path, 'cache', 'tmp');
    await mkdir(join(cacheTmp, `art-0123456789abcdef-${dead}-1`, 'x'), { recursive: true });
    await mkdir(join(cacheTmp, `art-0123456789abcdef-${dead}-2`), { recursive: true });
    await mkdir(join(cacheTmp, `art-0123456789abcdef-${process.pid}-3`), { recursive: true });
    const old = new Date(Date.now() - 20 * 60_000);
    await utimes(join(cacheTmp, `art-0123456789abcdef-${dead}-1`, 'x'), old, old);
    await utimes(join(cacheTmp, `art-0123456789abcdef-${dead}-1`), old, old);
    const recent = new Date(Date.now() - 60_000);
    await utimes(join(cacheTmp, `art-0123456789abcdef-${dead}-2`), recent, recent);
    // An old folder with a file written inside it just now: its kiln is gone all the same.
    await mkdir(join(cacheTmp, `art-0123456789abcdef-${dead}-4`));
    await writeFile(join(cacheTmp, `art-0123456789abcdef-${dead}-4`, 'archive.tar.zst'), 'x');
    await utimes(join(cacheTmp, `art-0123456789abcdef-${dead}-4`), old, old);
    // A mount in kiln's own namespace (what a leaky backend would leave).
    if (asRoot) {
      await mkdir(leak);
      assert.equal(spawnSync('mount', ['-t', 'tmpfs', 'kiln-doctor-test', leak]).status, 0);
      await mkdir(own);
      assert.equal(spawnSync('mount', ['-t', 'tmpfs', 'kiln-doctor-own', own]).status, 0);
    }

    const found = await runDoctor({ stateDir: state.path, cgroupParent: parent });
    const kinds = found.findings.map((f) => `${f.kind} ${f.path.replace(state.path, 'STATE')}`).sort();
    const expected = [
      'journal STATE/sandboxes/zlib.' + dead + '.aa.json',
      'lock STATE/cache/locks/x.lock',
      'env-temp STATE/envs/e1/tmp/v1',
      `cache-temp STATE/cache/tmp/art-0123456789abcdef-${dead}-1`,
      `cache-temp STATE/cache/tmp/art-0123456789abcdef-${dead}-2`,
      `cache-temp STATE/cache/tmp/art-0123456789abcdef-${dead}-4`,
      'workspace STATE/work/run-dead',
      'workspace STATE/work/run-old',
      ...(asRoot ? ['mount STATE/work/run-dead/leak'] : []),
    ];
    assert.deepEqual(kinds.filter((k) => !k.startsWith('cgroup')), expected.sort());
    // The journaled group is reported under its entry; the stray one on its own.
    assert.deepEqual(found.findings.filter((f) => f.kind === 'cgroup').map((f) => f.path), stray === undefined ? [] : [[...stray.paths].sort().join(' ')]);
    assert.equal(found.remaining, found.findings.length);
    assert.ok(found.findings.every((f) => f.fixed === undefined));

    const fixed = await runDoctor({ stateDir: state.path, cgroupParent: parent, fix: true });
    assert.deepEqual(fixed.findings.filter((f) => f.fixed !== true), []);
    assert.equal(fixed.remaining, 0);
    for (const p of [...(journaled?.paths ?? []), ...(stray?.paths ?? []), workDir, join(locks, 'x.lock')]) await assert.rejects(stat(p), { code: 'ENOENT' }, p);
    await stat(join(state.path, 'envs', 'e2', 'tmp', 'v2'));
    for (const n of [1, 2, 4]) await assert.rejects(stat(join(cacheTmp, `art-0123456789abcdef-${dead}-${n}`)), { code: 'ENOENT' });
    await stat(join(cacheTmp, `art-0123456789abcdef-${process.pid}-3`));
    await stat(join(state.path, 'work', 'run-live', 'a_amd64'));
    for (const p of foreign?.paths ?? []) await stat(p);
    assert.deepEqual(await liveMountsUnder(state.path), asRoot ? [own] : []);

    const again = await runDoctor({ stateDir: state.path, cgroupParent: parent });
    assert.deepEqual(again.findings, []);
    assert.equal(again.remaining, 0);
  });

  test('--fix leaves the work folders a live kiln owns (its runs, its pool of host workspaces that jobs build in)', async () => {
    await using state = await tmpDir('kiln-doctor-owned-');
    const owned = (dir: string, pid: number): Promise<void> =>
      mkdir(join(state.path, 'work', dir, 'src'), { recursive: true }).then(() => writeFile(join(state.path, 'work', dir, '.owner'), JSON.stringify({ pid, start: null })));
    await owned(`.kiln-free-${process.pid}`, process.pid);
    await owned('run-live', process.pid);
    await owned('.kiln-free-1', deadPid());
    const report = await runDoctor({ stateDir: state.path, fix: true, cgroupParent: `kiln-doctor-owned-${process.pid}` });
    assert.deepEqual(report.findings.map((f) => f.path).sort(), [join(state.path, 'work', '.kiln-free-1')]);
    await stat(join(state.path, 'work', `.kiln-free-${process.pid}`, 'src'));
    await stat(join(state.path, 'work', 'run-live', 'src'));
  });

  test('a cache tmp/ entry whose pid is gone here: reported either way, said recent (maybe another machine\'s) when written lately; --fix removes both', async () => {
    await using state = await tmpDir('kiln-doctor-shared-');
    const cache = join(state.path, 'cache');
    const dead = deadPid();
    const quiet = join(cache, 'tmp', `dl-0123456789abcdef-${dead}-a1b2c3d4`);
    const recent = join(cache, 'tmp', `art-0123456789abcdef-${dead}-a1b2c3-1`);
    await mkdir(recent, { recursive: true });
    await writeFile(join(recent, 'pkg.tar.zst'), 'being written, here or over there');
    await writeFile(quiet, 'left');
    const old = new Date(Date.now() - 20 * 60_000);
    await utimes(quiet, old, old);
    const found = await runDoctor({ stateDir: state.path, cgroups: undefined });
    const byPath = new Map(found.findings.map((f) => [f.path, f.detail]));
    assert.match(byPath.get(quiet) ?? '', new RegExp(`^a cache entry kiln pid ${dead} was writing when it was killed`));
    assert.match(byPath.get(recent) ?? '', new RegExp(`^a cache entry kiln pid ${dead}, gone from this machine, wrote \\d+ s ago: a kiln killed while it wrote it, or one of another machine sharing this cache`));
    const fixed = await runDoctor({ stateDir: state.path, fix: true, cgroups: undefined });
    assert.deepEqual(fixed.findings.map((f) => [f.kind, f.fixed]), [['cache-temp', true], ['cache-temp', true]]);
    await assert.rejects(stat(recent), { code: 'ENOENT' });
  });

  test('the command: exit 1 while something is left over, 0 when clean; --json', async () => {
    await using state = await tmpDir('kiln-doctor-cli-');
    await mkdir(join(state.path, 'work', 'run-x', 'a_amd64'), { recursive: true });
    const run = async (...args: string[]): Promise<{ code: number; out: string }> => {
      let out = '';
      const ctx: CliContext = { exitCode: 0, stdout: { write: (s: string) => ((out += s), true) } as never, stderr: process.stderr };
      const program = new Command('kiln').exitOverride();
      registerDoctor(program, ctx);
      await program.parseAsync(['doctor', '--state', state.path, '--cgroup-parent', `kiln-doctor-cli-${process.pid}`, ...args], { from: 'user' });
      return { code: ctx.exitCode, out };
    };
    const first = await run();
    assert.equal(first.code, 1);
    assert.match(first.out, /found +workspace .*run-x/);
    assert.match(first.out, /kiln doctor --fix/);
    const json = JSON.parse((await run('--json')).out) as { findings: { kind: string }[]; checks: { name: string }[] };
    assert.deepEqual(json.findings.map((f) => f.kind), ['workspace']);
    assert.deepEqual(json.checks.map((c) => c.name), ['root', 'chroot sandbox', 'rootless sandbox', 'cgroups', 'launcher', 'records']);
    assert.equal((await run('--fix')).code, 0);
    const clean = await run();
    assert.equal(clean.code, 0);
    assert.match(clean.out, /nothing left over/);
  });

  test('reports why the rootless sandbox cannot run, next to the chroot one', async () => {
    await using state = await tmpDir('kiln-doctor-rootless-');
    const why = 'unprivileged user namespaces are disabled (sysctl kernel.unprivileged_userns_clone=0; set it to 1)';
    const report = await runDoctor({ stateDir: state.path, cgroups: undefined, rootlessProbe: () => why });
    const rootless = report.checks.find((c) => c.name === 'rootless sandbox');
    assert.deepEqual(rootless, { name: 'rootless sandbox', ok: false, detail: why });
    const usable = await runDoctor({ stateDir: state.path, cgroups: undefined, rootlessProbe: () => undefined });
    assert.equal(usable.checks.find((c) => c.name === 'rootless sandbox')?.ok, true);
    assert.match(usable.checks.find((c) => c.name === 'rootless sandbox')?.detail ?? '', /^usable/);
    // Usable is not chroot's limits: the line says which it enforces and how.
    const detail = usable.checks.find((c) => c.name === 'rootless sandbox')!.detail;
    assert.match(detail, /limits: memory per process only \(RLIMIT_DATA;/);
    assert.match(detail, /\/tmp and \/dev\/shm together bounded at the memory limit/);
    assert.match(detail, /no cpu quota/);
    assert.match(detail, process.getuid?.() === 0 ? /no process limit when kiln runs as root/ : /processes limited per build \(RLIMIT_NPROC\)/);
    // Without a probe given, the real one runs: its answer is a reason or usable, never a crash.
    const real = await runDoctor({ stateDir: state.path, cgroups: undefined });
    const check = real.checks.find((c) => c.name === 'rootless sandbox')!;
    assert.equal(check.ok, check.detail.startsWith('usable'), check.detail);
  });
});

test('doctor looks for what a killed env create or update left where the envs are: $KILN_ENVS, shared between state dirs', async () => {
  await using state = await tmpDir();
  await using envs = await tmpDir();
  const dead = 2 ** 22 + 12345;
  await mkdir(join(envs.path, 'bw', 'tmp', '20261124T223429-853c0822', 'usr'), { recursive: true });
  await mkdir(join(envs.path, '.locks'), { recursive: true });
  await writeFile(join(envs.path, '.locks', 'bw.lock'), `${dead} ${hostname()} ${Date.now()} abc\n`);
  // A mount of the user's under STATE/tmp/ (beside the default envs folder): none of kiln's.
  const mine = join(state.path, 'tmp', 'm');
  await mkdir(mine, { recursive: true });
  const mounted = process.getuid?.() === 0 && spawnSync('mount', ['-t', 'tmpfs', 'kiln-doctor-user', mine]).status === 0;
  const saved = process.env['KILN_ENVS'];
  try {
    process.env['KILN_ENVS'] = ''; // the envs in STATE/envs, beside STATE/tmp
    const withDefault = await runDoctor({ stateDir: state.path });
    assert.deepEqual(withDefault.findings.filter((f) => f.kind === 'mount'), [], 'a mount of the user\'s is never kiln\'s');
    process.env['KILN_ENVS'] = envs.path;
    const found = await runDoctor({ stateDir: state.path, fix: true });
    assert.deepEqual(found.findings.filter((f) => f.kind === 'env-temp').map((f) => f.path), [join(envs.path, 'bw', 'tmp', '20261124T223429-853c0822')]);
    assert.equal(found.remaining, 0);
  } finally {
    if (saved === undefined) delete process.env['KILN_ENVS'];
    else process.env['KILN_ENVS'] = saved;
    if (mounted) spawnSync('umount', ['-l', mine]);
  }
});

test("doctor's records line: none yet, this kiln's schema, an older one the next command upgrades (one way), a newer one refused", async () => {
  const { DatabaseSync } = await import('node:sqlite');
  const { latestSchemaVersion } = await import('../records/migrations.ts');
  const { recordsCheck } = await import('./doctor.ts');
  await using dir = await tmpDir('kiln-doctor-schema-');
  const records = async (): Promise<string> => {
    const r = await runDoctor({ stateDir: dir.path, cgroups: undefined, rootlessProbe: () => 'skipped' });
    return r.checks.find((c) => c.name === 'records')!.detail;
  };
  assert.equal(await records(), 'none yet (the first build makes them)');
  const setVersion = (v: number): void => {
    const db = new DatabaseSync(join(dir.path, 'kiln.db'));
    db.exec(`PRAGMA user_version = ${v}`);
    db.close();
  };
  setVersion(0);
  assert.match(await records(), new RegExp(`^schema 0, from an older kiln: this kiln's next command upgrades it to ${latestSchemaVersion}, after which the older kiln refuses this state`));
  setVersion(latestSchemaVersion + 1);
  const newer = (await runDoctor({ stateDir: dir.path, cgroups: undefined, rootlessProbe: () => 'skipped' })).checks.find((c) => c.name === 'records')!;
  assert.equal(newer.ok, false);
  assert.match(newer.detail, /written by a newer kiln: this kiln \(schema \d+\) refuses this state; upgrade kiln/);
  await rm(join(dir.path, 'kiln.db'));
  openRecords(dir.path).close();
  assert.equal(await records(), `schema ${latestSchemaVersion}, this kiln's`);
  // Upgraded by doctor's own look at the runs (a work/ folder of a run): said as done.
  assert.match(recordsCheck(dir.path, { found: 3, known: 9 }, { found: 9, known: 9 }).detail, /^schema 3, from an older kiln, upgraded to 9 now/);
  assert.equal(recordsCheck(dir.path, undefined).ok, false);
});
