import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROC_READ_ONLY, badPathChars, fstabs, initProgram, parseStatus, q, type ScriptPaths } from './scripts.ts';

const paths: ScriptPaths = {
  merged: '/s/my work/root/merged',
  upper: '/s/my work/root/upper',
  work: '/s/my work/root/work',
  workspace: '/s/my work/kiln',
  lowers: ['/envs/base', '/envs/instance'],
  readOnlyBinds: [{ host: '/cache/downloads', inside: '/var/cache/kiln' }],
  readWriteBinds: [{ host: '/cache/ccache', inside: '/ccache' }],
  procsFiles: [],
  setupFile: '/s/run/setup.sh',
  fstabFiles: ['/s/run/a', '/s/run/b'],
  overlayName: 'kiln-job',
  devTemplate: '/s/my work/root/dev',
};

test('fstabs: overlay with the topmost layer first, spaces escaped, binds after the /dev template', () => {
  const [root, more] = fstabs(paths);
  const lines = root.trim().split('\n');
  assert.equal(lines[0], 'kiln-job /s/my\\040work/root/merged overlay lowerdir=/envs/instance:/envs/base,upperdir=/s/my\\040work/root/upper,workdir=/s/my\\040work/root/work 0 0');
  assert.deepEqual(lines.slice(1).map((l) => l.split(' ')[1]), ['proc', 'sys', 'dev', 'tmp', 'kiln'].map((d) => `/s/my\\040work/root/merged/${d}`));
  assert.match(root, /^proc \S+ proc nosuid,nodev,noexec,hidepid=2 0 0$/m);
  assert.match(root, /^sysfs \S+ sysfs ro,/m);
  assert.deepEqual(more.trim().split('\n').map((l) => l.split(' ').slice(0, 4).join(' ')), [
    'kiln-pts /s/my\\040work/root/merged/dev/pts devpts newinstance,ptmxmode=0666,mode=0620,nosuid,noexec',
    // Host kernel settings under /proc, read-only (those this kernel has).
    ...PROC_READ_ONLY.map((d) => `/s/my\\040work/root/merged${d} /s/my\\040work/root/merged${d} none bind,ro,nosuid,nodev,noexec`),
    '/cache/downloads /s/my\\040work/root/merged/var/cache/kiln none bind,ro,nosuid,nodev',
    '/cache/ccache /s/my\\040work/root/merged/ccache none bind,nosuid,nodev',
  ]);
});

test('status file, quoting and path checks', () => {
  assert.deepEqual(parseStatus('exit 42\n'), { exitCode: 42, signal: null });
  assert.deepEqual(parseStatus('signal 9\n'), { exitCode: null, signal: 9 });
  assert.equal(parseStatus(''), undefined);
  assert.equal(q("it's"), `'it'\\''s'`);
  assert.equal(badPathChars('/a b/c'), false);
  for (const bad of ['/a,b', '/a:b', '/a\\b', '/a\nb']) assert.equal(badPathChars(bad), true, bad);
});

test('init gives the build an oom_score_adj of 1000: the OOM killer takes the build before the sandbox\'s init, whatever init itself could get', () => {
  const init = initProgram({ unshare: '/usr/bin/unshare' } as Parameters<typeof initProgram>[0], '/m');
  assert.match(init, /open\(my \$adj, '>', '\/proc\/self\/oom_score_adj'\)\) \{ print \$adj "1000"/);
});
