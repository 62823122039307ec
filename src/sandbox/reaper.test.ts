// The reaper and the journal: SIGKILL a kiln-like process in the middle of two chroot
// builds, then reap: no build process, mount, cgroup, workspace or journal entry is left.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readdir } from 'node:fs/promises';
import { eventually } from '../../test/helpers/proc.ts';
import { testRoot } from '../../test/helpers/test-root.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { detectCgroups, listKilnCgroups } from './cgroups/cgroups.ts';
import { chrootUnavailable } from './chroot/chroot-backend.ts';
import { ownEntry, ownerAlive, readEntries, writeEntry } from './journal.ts';
import { liveMountsUnder } from './mounts.ts';
import { reapSandboxes } from './reaper.ts';

/** Live `sleep <marker>` processes, wherever their pid namespace. */
async function sleepers(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = (await readFile(`/proc/${name}/cmdline`, 'latin1').catch(() => '')).split('\0');
    if (argv[0]?.endsWith('sleep') && argv[1] === marker) found.push(Number(name));
  }
  return found;
}

/** A pid that surely does not run any more: a child that has exited and been reaped. */
function deadPid(): number {
  return spawnSync('/bin/true').pid!;
}

describe('journal and reaper', () => {
  test('entries of live owners are left alone; dead owners, garbled entries and dead locks are reaped', async () => {
    await using state = await tmpDir();
    const live = ownEntry({ id: 'live.1.aa', jobId: 'live@x', backend: 'chroot', workDir: join(state.path, 'w-live'), cgroup: null });
    const dead = { ...ownEntry({ id: 'dead.1.bb', jobId: 'dead@x', backend: 'chroot', workDir: join(state.path, 'w-dead'), cgroup: null }), kilnPid: deadPid() };
    const recycled = { ...live, id: 'recycled.1.cc', workDir: join(state.path, 'w-recycled'), kilnStart: '1' }; // our pid, another start time
    for (const e of [live, dead, recycled]) {
      await writeEntry(state.path, e);
      await mkdir(join(e.workDir, 'kiln', 'src'), { recursive: true });
    }
    assert.deepEqual([ownerAlive(live), ownerAlive(dead), ownerAlive(recycled)], [true, false, false]);
    await writeFile(join(state.path, 'sandboxes', 'garbled.json'), '{"half');
    const locks = join(state.path, 'cache', 'locks');
    await mkdir(locks, { recursive: true });
    await writeFile(join(locks, 'dead.lock'), `${deadPid()} ${hostname()} ${Date.now()} abc\n`);
    await writeFile(join(locks, 'live.lock'), `${process.pid} ${hostname()} ${Date.now()} abc\n`);
    await writeFile(join(locks, 'remote.lock'), `1 another-host.example ${Date.now()} abc\n`);

    const report = await reapSandboxes(state.path);
    assert.deepEqual(report.sandboxes.map((s) => s.replace(/.*\//, '')).sort(), ['dead.1.bb', 'garbled.json', 'recycled.1.cc']);
    assert.deepEqual(report.workspaces.sort(), [dead.workDir, recycled.workDir].sort());
    assert.deepEqual(report.locks, [join(locks, 'dead.lock')]);
    assert.deepEqual((await readEntries(state.path)).map((e) => e.entry?.id), ['live.1.aa']);
    await stat(live.workDir);
    await assert.rejects(stat(dead.workDir), { code: 'ENOENT' });
    await stat(join(locks, 'live.lock'));
    await stat(join(locks, 'remote.lock'));
  });

  const why = chrootUnavailable();
  test('SIGKILL of kiln in the middle of two chroot builds: its builds die, the reaper leaves nothing', { skip: why ?? false }, async (t) => {
    await using state = await tmpDir('kiln-reap-');
    const root = testRoot();
    const marker = `300.${Math.floor(Math.random() * 1e8) + 1e8}`;
    const script = `
      import { createChrootBackend } from ${JSON.stringify(new URL('./chroot/chroot-backend.ts', import.meta.url).href)};
      import { existsSync } from 'node:fs';
      const [stateDir, rootPath, marker] = process.argv.slice(1);
      const backend = createChrootBackend({ stateDir });
      const env = { id: 't@1', name: 't', arch: 'amd64', layers: [rootPath] };
      const boxes = [];
      for (const n of [1, 2]) boxes.push(await backend.create({ jobId: 'job' + n + '@amd64', workDir: stateDir + '/work/run1/job' + n, limits: { cpus: 1, memoryBytes: 1 << 28 }, env }));
      for (const sb of boxes) void sb.run({ argv: ['/bin/sh', '-c', '(setsid sleep ' + marker + ' &); touch /kiln/tmp/ready; exec sleep ' + marker], cwd: '/kiln/src', env: { PATH: '/usr/bin:/bin' }, onOutput: () => {} });
      while (!boxes.every((sb) => existsSync(sb.host.tmp + '/ready'))) await new Promise((r) => setTimeout(r, 10));
      console.log('ready');
      setInterval(() => {}, 1000);
    `;
    const kiln = spawn(process.execPath, ['--input-type=module', '-e', script, state.path, root.path, marker], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => kiln.kill('SIGKILL'));
    let out = '';
    kiln.stdout.on('data', (c: Buffer) => (out += c.toString()));
    assert.ok(await eventually(() => out.includes('ready') || kiln.exitCode !== null, 30_000), 'the kiln-like process never got both builds running');
    assert.equal(out.trim(), 'ready');
    assert.equal((await sleepers(marker)).length, 4);
    const gone = new Promise((r) => kiln.once('exit', r));
    kiln.kill('SIGKILL');
    await gone;

    // The parent-death signal takes every build process down, setsid'd ones included.
    assert.ok(await eventually(async () => (await sleepers(marker)).length === 0, 10_000), 'build processes outlived kiln');
    const entries = await readEntries(state.path);
    assert.equal(entries.length, 2);
    const cgroupDirs = entries.flatMap((e) => Object.values(e.entry!.cgroup!.dirs));
    for (const d of cgroupDirs) await stat(d); // left for the reaper
    assert.deepEqual(await liveMountsUnder(state.path), [], 'no sandbox mount ever shows in kiln\'s namespace');

    const report = await reapSandboxes(state.path);
    assert.equal(report.sandboxes.length, 2);
    assert.equal(report.workspaces.length, 2);
    assert.deepEqual(await readEntries(state.path), []);
    for (const d of cgroupDirs) await assert.rejects(stat(d), { code: 'ENOENT' });
    const system = detectCgroups()!;
    assert.deepEqual((await listKilnCgroups(system, 'kiln')).filter((d) => d.includes(`.${kiln.pid}.`)), []);
    assert.deepEqual(await liveMountsUnder(state.path), []);
    for (const e of entries) await assert.rejects(stat(e.entry!.workDir), { code: 'ENOENT' });
    assert.doesNotMatch(await readFile('/proc/self/mountinfo', 'utf8'), new RegExp(state.path));
  });
});
