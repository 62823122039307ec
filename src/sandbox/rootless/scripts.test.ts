import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_PIDS } from '../cgroups/values.ts';
import { fstabs, rlimitArgs, setupScript, tmpfsOptions, type RootlessPaths, type RootlessTools } from './scripts.ts';

const tools: RootlessTools = { sh: '/bin/sh', unshare: '/usr/bin/unshare', setpriv: '/usr/bin/setpriv', mount: '/bin/mount', mkdir: '/bin/mkdir', perl: '/usr/bin/perl', prlimit: '/usr/bin/prlimit' };
const paths: RootlessPaths = {
  merged: '/w/root/merged', upper: '/w/root/upper', work: '/w/root/work', workspace: '/w/kiln', lowers: ['/env/root'], devTemplate: '/w/root/dev',
  readOnlyBinds: [], readWriteBinds: [], fileBinds: [], tmpfs: '/w/run/tmpfs', setupFile: '/w/run/setup.sh', fstabFiles: ['/w/run/fstab.root', '/w/run/fstab.more'], overlayName: 'kiln-x',
};

test('rootless rlimits: memory per process, and a process limit even when the limits name none (as the cgroup backends do)', () => {
  const cases: { limits: Parameters<typeof rlimitArgs>[0]; want: string[] }[] = [
    { limits: undefined, want: [] },
    { limits: { cpus: 2, memoryBytes: 1000 }, want: ['--data=1000', `--nproc=${DEFAULT_PIDS}`] },
    { limits: { cpus: 1, memoryBytes: 64, pids: 32 }, want: ['--data=64', '--nproc=32'] },
  ];
  for (const c of cases) assert.deepEqual(rlimitArgs(c.limits), c.want);
});

test('rootless tmpfs: one tmpfs of the build\'s memory (none given: the kernel\'s default) holds /tmp and /dev/shm', () => {
  assert.equal(tmpfsOptions({ cpus: 1, memoryBytes: 67108864 }), 'nosuid,nodev,mode=0700,size=67108864');
  assert.equal(tmpfsOptions(undefined), 'nosuid,nodev,mode=0700');
  const script = setupScript(tools, paths, { uid: 1000, gid: 1000, limits: { cpus: 1, memoryBytes: 67108864 } });
  const mountAt = script.indexOf("-t tmpfs -o 'nosuid,nodev,mode=0700,size=67108864' kiln-tmp '/w/run/tmpfs'");
  assert.ok(mountAt > 0, script);
  // Mounted, with its two directories made, before the fstabs bind them.
  assert.ok(mountAt < script.indexOf("-m 1777 '/w/run/tmpfs/tmp' '/w/run/tmpfs/shm'"), script);
  assert.ok(script.indexOf("-m 1777 '/w/run/tmpfs/tmp'") < script.indexOf('-a -T'), script);
  const [first, second] = fstabs(paths);
  assert.match(first, /^\/w\/run\/tmpfs\/tmp \/w\/root\/merged\/tmp none bind,nosuid,nodev 0 0$/m);
  assert.match(second, /^\/w\/run\/tmpfs\/shm \/w\/root\/merged\/dev\/shm none bind,nosuid,nodev,noexec 0 0$/m);
  assert.doesNotMatch(first + second, / tmpfs /);
});
