import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareRootForApt } from './apt-prep.ts';
import { diskUsage, mmdebstrapArgv, PRIVATE_NS, runStreaming, upgradeArgv, upgradeEnv } from './root-commands.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-rootcmd-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('mmdebstrapArgv: variant, arch, includes, then suite target mirror', () => {
  assert.deepEqual(mmdebstrapArgv({ suite: 'bookworm', arch: 'arm64', mirror: 'http://deb.example/debian', include: ['ccache', 'git'], variant: 'buildd' }, '/r'), [
    'mmdebstrap', '--variant=buildd', '--arch=arm64', '--include=ccache,git', 'bookworm', '/r', 'http://deb.example/debian',
  ]);
  assert.deepEqual(mmdebstrapArgv({ suite: 'sid', arch: 'amd64', mirror: 'http://m.example', include: [], variant: 'minbase' }, '/r').slice(3), ['sid', '/r', 'http://m.example']);
  // --no-check-valid-until (a snapshot mirror): mmdebstrap's apt, and the root's own after (apt.conf.d).
  assert.deepEqual(mmdebstrapArgv({ suite: 'sid', arch: 'riscv64', mirror: 'http://m.example', include: [], variant: 'buildd', checkValidUntil: false }, '/r'), [
    'mmdebstrap', '--variant=buildd', '--arch=riscv64', '--aptopt=Acquire::Check-Valid-Until "false"', 'sid', '/r', 'http://m.example',
  ]);
});

test('mmdebstrapArgv with a keyring: mmdebstrap\'s apt checks the mirror with it, the root\'s trusted.gpg.d gets it, no signed-by guessed from the suite', () => {
  const spec = { suite: 'unstable', arch: 'riscv64', mirror: 'http://ports.example/debian-ports', include: [], variant: 'buildd', keyring: '/keys/ports.asc' };
  assert.deepEqual(mmdebstrapArgv(spec, '/r', "/state/envs/e/tmp/v/it's/kiln-archive.asc"), [
    'mmdebstrap', '--variant=buildd', '--arch=riscv64',
    "--keyring=/state/envs/e/tmp/v/it's/kiln-archive.asc", '--skip=check/signed-by',
    '--setup-hook=mkdir -p "$1/etc/apt/trusted.gpg.d"',
    "--setup-hook=upload '/state/envs/e/tmp/v/it'\\''s/kiln-archive.asc' /etc/apt/trusted.gpg.d/kiln-archive.asc",
    'unstable', '/r', 'http://ports.example/debian-ports',
  ]);
  // Without the staged copy: as before.
  assert.deepEqual(mmdebstrapArgv(spec, '/r').slice(3), ['unstable', '/r', 'http://ports.example/debian-ports']);
});

test('the upgrade runs in private mount and pid namespaces with a clean environment that keeps proxies', () => {
  const argv = upgradeArgv('/state/envs/e/tmp/v/root');
  assert.deepEqual(argv.slice(0, PRIVATE_NS.length), [...PRIVATE_NS]);
  assert.ok(PRIVATE_NS.includes('--mount') && PRIVATE_NS.includes('--pid') && PRIVATE_NS.includes('--kill-child'));
  assert.equal(argv.at(-1), '/state/envs/e/tmp/v/root');
  const env = upgradeEnv({ HOME: '/home/me', SECRET: 'x', http_proxy: 'http://proxy.example:3128' });
  assert.equal(env['SECRET'], undefined);
  assert.equal(env['http_proxy'], 'http://proxy.example:3128');
  assert.equal(env['DEBIAN_FRONTEND'], 'noninteractive');
});

test('runStreaming splits lines, keeps the last state of \\r progress lines, and returns the tail', async () => {
  const lines: string[] = [];
  const r = await runStreaming(['sh', '-c', 'printf "a\\nprog 10%%\\rprog 100%%\\n"; echo err >&2; exit 3'], { onLine: (l) => lines.push(l) });
  assert.equal(r.code, 3);
  assert.deepEqual(lines.sort(), ['a', 'err', 'prog 100%'].sort());
});

test('aborting runStreaming ends the whole process group, background children too', async (t) => {
  const dir = await tempDir(t);
  const pidFile = join(dir, 'pid');
  const ac = new AbortController();
  const p = runStreaming(['sh', '-c', `sleep 300 & echo $! > ${pidFile}; echo started; wait`], {
    signal: ac.signal, graceMs: 200, onLine: (l) => l === 'started' && ac.abort(new Error('stop')),
  });
  await assert.rejects(p, /stop/);
  const bg = Number(await readFile(pidFile, 'utf8'));
  const deadline = Date.now() + 5000;
  while (alive(bg) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(alive(bg), false, `background child ${bg} survived`);
});

test('diskUsage counts the bytes on disk', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'f'), Buffer.alloc(100_000, 1));
  const n = await diskUsage(dir);
  assert.ok(n >= 100_000 && n < 1_000_000, String(n));
});

test('prepareRootForApt makes resolv.conf a regular file and adds policy-rc.d, then restores both', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'etc'));
  await mkdir(join(root, 'usr/sbin'), { recursive: true });
  await symlink('../run/systemd/resolve/stub-resolv.conf', join(root, 'etc/resolv.conf'));
  const restore = await prepareRootForApt(root);
  assert.ok((await lstat(join(root, 'etc/resolv.conf'))).isFile());
  assert.equal((await stat(join(root, 'usr/sbin/policy-rc.d'))).mode & 0o777, 0o755);
  assert.match(await readFile(join(root, 'usr/sbin/policy-rc.d'), 'utf8'), /exit 101/);
  await restore();
  assert.equal(await readlink(join(root, 'etc/resolv.conf')), '../run/systemd/resolve/stub-resolv.conf');
  await assert.rejects(lstat(join(root, 'usr/sbin/policy-rc.d')));
  await assert.rejects(lstat(join(root, 'etc/resolv.conf.kiln-saved')));
});

test('a command runStreaming started dies with the kiln process that started it, killed with SIGKILL (no orphan goes on filling an env)', { skip: existsSync('/usr/bin/setpriv') || existsSync('/bin/setpriv') ? false : 'no setpriv' }, async (t) => {
  const marker = `kiln-orphan-probe-${process.pid}-${Date.now()}`;
  // An orphan the test found is not left for 300 s.
  t.after(() => void spawnSync('pkill', ['-f', marker]));
  const script = `import('${join(import.meta.dirname, 'root-commands.ts')}').then((m) => m.runStreaming(['sh', '-c', 'sleep 300; : ${marker}']));`;
  const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
  // The shell itself (its command line starts with sh), not the parent whose script names it too.
  const alive = (): boolean => spawnSync('pgrep', ['-f', `^sh -c sleep 300; : ${marker}`]).status === 0;
  for (let i = 0; i < 100 && !alive(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(alive(), 'the command started');
  parent.kill('SIGKILL');
  for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(alive(), false, 'the command outlived the kiln process');
  assert.deepEqual(await runStreaming(['no-such-command-for-kiln']).then(() => 'ran', (e: unknown) => (e as { code?: string }).code), 'sandbox-unavailable');
});
