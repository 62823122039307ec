import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpDir } from '../../test/helpers/tmp.ts';
import {
  CCACHE_CONF_INSIDE, CCACHE_INSIDE, DEFAULT_CCACHE_BYTES, ccacheBytes, ccacheDirName, ccacheMaxSize, ccacheSettingsOf, ccacheVariables, ccacheWanted, gcCcache, rootHasCcache, runCcache, withCcachePath,
} from './ccache.ts';
import type { SandboxEnv } from '../sandbox/sandbox.ts';
import { BUILD_GID, BUILD_UID } from '../sandbox/chroot/scripts.ts';

const ROOT = process.getuid?.() === 0;

const wantedRows: { flag: boolean | undefined; config: boolean | undefined; onDaemon?: boolean; want: boolean }[] = [
  { flag: undefined, config: undefined, want: false },
  { flag: true, config: undefined, want: true },
  { flag: undefined, config: true, want: true },
  { flag: false, config: true, want: false },
  { flag: true, config: false, want: true },
  { flag: undefined, config: false, want: false },
  { flag: true, config: true, onDaemon: true, want: false },
];
for (const r of wantedRows) {
  test(`ccacheWanted: flag ${r.flag}, kiln.toml ${r.config}${r.onDaemon ? ', daemon' : ''} → ${r.want}`, () => {
    assert.equal(ccacheWanted(r), r.want);
  });
}

test('the size: --ccache-size over kiln.toml over 5 GiB; given to ccache in decimal k (a bare number is G to ccache)', () => {
  assert.equal(ccacheBytes({ flag: undefined, config: undefined }), DEFAULT_CCACHE_BYTES);
  assert.equal(ccacheBytes({ flag: 2, config: 3 }), 2);
  assert.equal(ccacheBytes({ flag: undefined, config: 3 }), 3);
  assert.equal(ccacheMaxSize(5 * 1024 ** 3), '5368709k');
  assert.equal(ccacheMaxSize(10), '1k');
});

test('one directory per build root, arch and backend (a chroot and a rootless build write as different users)', () => {
  assert.equal(ccacheDirName(undefined, 'amd64', 'host'), 'host-amd64');
  assert.equal(ccacheDirName({ name: 'bookworm-arm64' }, 'arm64', 'chroot'), 'bookworm-arm64-arm64-chroot');
  assert.equal(ccacheDirName({ name: 'bookworm-arm64' }, 'arm64', 'rootless'), 'bookworm-arm64-arm64-rootless');
  assert.notEqual(ccacheDirName({ name: 'bookworm' }, 'amd64', 'chroot'), ccacheDirName({ name: 'trixie' }, 'amd64', 'chroot'));
});

test('a job\'s variables and PATH', () => {
  assert.deepEqual(ccacheVariables({ dir: '/c', configPath: '/k/ccache.conf', basedir: '/w/job', maxBytes: 1_000_000 }), {
    CCACHE_DIR: '/c', CCACHE_CONFIGPATH: '/k/ccache.conf', CCACHE_BASEDIR: '/w/job', CCACHE_NOHASHDIR: '1', CCACHE_COMPILERCHECK: 'content', CCACHE_MAXSIZE: '1000k',
  });
  assert.equal(withCcachePath('/s/usr/bin:/usr/bin:/bin'), '/usr/lib/ccache:/s/usr/bin:/usr/bin:/bin');
  assert.equal(withCcachePath('/usr/bin:/usr/lib/ccache'), '/usr/lib/ccache:/usr/bin');
});

function fakeRoot(dir: string, withCcache: boolean): string {
  mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  if (withCcache) {
    mkdirSync(join(dir, 'usr/lib/ccache'), { recursive: true });
    writeFileSync(join(dir, 'usr/bin/ccache'), '');
    writeFileSync(join(dir, 'usr/lib/ccache/gcc'), '');
  }
  return dir;
}

const envOf = (layers: string[]): SandboxEnv => ({ id: 'bookworm-amd64@1', name: 'bookworm-amd64', arch: 'amd64', layers });

test('an env without ccache: the job builds without it, and is told how to add it; with it: a bind at the fixed path', async () => {
  await using tmp = await tmpDir();
  const dir = tmp.path;
  const bare = fakeRoot(join(dir, 'bare'), false);
  const withIt = fakeRoot(join(dir, 'with'), true);
  assert.equal(rootHasCcache([bare]), false);
  assert.equal(rootHasCcache([bare, withIt]), true);
  const root = join(dir, 'cache', 'ccache');
  const off = await runCcache({ root, maxBytes: 1 << 30 }, { name: 'rootless' }).forJob(envOf([bare]), 'amd64');
  assert.equal(off.kind, 'off');
  assert.match(off.kind === 'off' ? off.why : '', /env bookworm-amd64 has no ccache .*kiln env create bookworm-amd64 --include ccache/);
  const cc = runCcache({ root, maxBytes: 1 << 30 }, { name: 'rootless' });
  const on = await cc.forJob(envOf([bare, withIt]), 'amd64');
  assert.equal(on.kind, 'on');
  if (on.kind !== 'on') return;
  assert.equal(on.hostDir, join(root, 'bookworm-amd64-amd64-rootless'));
  assert.deepEqual(on.bind, { host: on.hostDir, inside: CCACHE_INSIDE });
  assert.equal(on.variables('/kiln')['CCACHE_DIR'], CCACHE_INSIDE);
  // kiln's config, outside the cache, bound read-only: a build cannot change later builds' ccache.
  assert.equal(on.configFile, join(root, '.conf', 'bookworm-amd64-amd64-rootless', 'ccache.conf'));
  assert.deepEqual(on.readOnlyBinds, [{ host: join(root, '.conf', 'bookworm-amd64-amd64-rootless'), inside: CCACHE_CONF_INSIDE }]);
  assert.equal(on.variables('/kiln')['CCACHE_CONFIGPATH'], `${CCACHE_CONF_INSIDE}/ccache.conf`);
  assert.match(readFileSync(on.configFile, 'utf8'), /^max_size = 1073741k\ncompiler_check = content$/m);
  assert.equal(statSync(on.configFile).mode & 0o777, 0o644);
  assert.equal(statSync(on.configFile).uid, process.getuid!());
  assert.equal(statSync(on.hostDir).uid, process.getuid!());
  // The same build root: the same answer, made once.
  assert.equal(await cc.forJob(envOf([bare, withIt]), 'amd64'), on);
});

test('the host sandbox uses the directory where it is (no bind)', { skip: rootHasCcache(undefined) ? false : 'no ccache on this host' }, async () => {
  await using tmp = await tmpDir();
  const dir = tmp.path;
  const on = await runCcache({ root: dir, maxBytes: 1 << 30 }, { name: 'host' }).forJob(undefined, 'amd64');
  assert.equal(on.kind, 'on');
  if (on.kind !== 'on') return;
  assert.equal(on.bind, undefined);
  assert.equal(on.variables('/w')['CCACHE_DIR'], join(dir, 'host-amd64'));
  assert.deepEqual(on.readOnlyBinds, []);
  assert.equal(on.variables('/w')['CCACHE_CONFIGPATH'], join(dir, '.conf', 'host-amd64', 'ccache.conf'));
});

/** A run's answer for one env with ccache, under `root`. */
async function jobCcache(dir: string, root: string, backend: 'chroot' | 'rootless') {
  const withIt = fakeRoot(join(dir, 'with'), true);
  return runCcache({ root, maxBytes: 1 << 30 }, { name: backend }).forJob(envOf([withIt]), 'amd64');
}
const whyOf = (cc: { kind: string; why?: string }): string => (cc.kind === 'off' ? cc.why! : '');

test('a symlinked cache directory, or ccache root, is not used (nor its target re-owned)', async () => {
  await using tmp = await tmpDir();
  const outside = join(tmp.path, 'outside');
  mkdirSync(outside);
  const root = join(tmp.path, 'cache', 'ccache');
  mkdirSync(root, { recursive: true });
  symlinkSync(outside, join(root, 'bookworm-amd64-amd64-chroot'));
  const off = await jobCcache(tmp.path, root, 'chroot');
  assert.equal(off.kind, 'off');
  assert.match(whyOf(off), /built without a compiler cache: .*bookworm-amd64-amd64-chroot is a symlink: remove it/);
  assert.equal(statSync(outside).uid, process.getuid!());
  // The ccache root itself.
  const root2 = join(tmp.path, 'cache2', 'ccache');
  mkdirSync(join(tmp.path, 'cache2'));
  symlinkSync(outside, root2);
  const off2 = await jobCcache(tmp.path, root2, 'rootless');
  assert.match(whyOf(off2), /ccache is a symlink/);
});

test('a cache directory of another owner is not re-owned: built without, saying why and the fix', { skip: ROOT ? false : 'needs root (chown)' }, async () => {
  await using tmp = await tmpDir();
  const root = join(tmp.path, 'cache', 'ccache');
  const dir = join(root, 'bookworm-amd64-amd64-chroot');
  mkdirSync(join(dir, 'a'), { recursive: true });
  // What a build could have planted: a link to a root-owned file outside, a file of another user.
  const outside = join(tmp.path, 'shadow');
  writeFileSync(outside, 'secret');
  symlinkSync(outside, join(dir, 'a', 'evil'));
  writeFileSync(join(dir, 'a', 'theirs'), '');
  chownSync(join(dir, 'a', 'theirs'), 12345, 12345);
  const off = await jobCcache(tmp.path, root, 'chroot');
  assert.equal(off.kind, 'off');
  assert.match(whyOf(off), new RegExp(`bookworm-amd64-amd64-chroot belongs to uid 0, and this build writes as uid ${BUILD_UID}.*rm -r .*chown -R ${BUILD_UID}:${BUILD_GID}`));
  assert.equal(lstatSync(dir).uid, 0);
  assert.equal(lstatSync(join(dir, 'a')).uid, 0);
  assert.equal(lstatSync(join(dir, 'a', 'theirs')).uid, 12345);
  assert.equal(statSync(outside).uid, 0);
});

test('a new directory goes to the build user (that one directory); an existing one of the build user is used as it is', { skip: ROOT ? false : 'needs root (chown)' }, async () => {
  await using tmp = await tmpDir();
  const root = join(tmp.path, 'cache', 'ccache');
  const on = await jobCcache(tmp.path, root, 'chroot');
  assert.equal(on.kind, 'on');
  if (on.kind !== 'on') return;
  assert.equal(on.hostDir, join(root, 'bookworm-amd64-amd64-chroot'));
  assert.deepEqual([lstatSync(on.hostDir).uid, lstatSync(on.hostDir).gid], [BUILD_UID, BUILD_GID]);
  // The config is kiln's (root's here), 0644: the chroot's build user cannot write it.
  assert.deepEqual([statSync(on.configFile).uid, statSync(on.configFile).mode & 0o777], [0, 0o644]);
  assert.equal(on.configFile.startsWith(`${on.hostDir}/`), false);
  // A later run: files inside keep their owners (no walk), even one of another user.
  writeFileSync(join(on.hostDir, 'theirs'), '');
  chownSync(join(on.hostDir, 'theirs'), 12345, 12345);
  assert.equal((await jobCcache(tmp.path, root, 'chroot')).kind, 'on');
  assert.equal(lstatSync(join(on.hostDir, 'theirs')).uid, 12345);
});

test('a cache directory its owner cannot write is not used', async () => {
  await using tmp = await tmpDir();
  const root = join(tmp.path, 'cache', 'ccache');
  const dir = join(root, 'bookworm-amd64-amd64-rootless');
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o555);
  const off = await jobCcache(tmp.path, root, 'rootless');
  assert.match(whyOf(off), /bookworm-amd64-amd64-rootless is not writable by its owner \(mode 555\): chmod u\+w/);
});

test('gc and du, as a user who cannot read a folder a build made 0700: counted without it, no error', async () => {
  await using tmp = await tmpDir();
  chmodSync(tmp.path, 0o755);
  const d = join(tmp.path, 'ccache', 'host-amd64');
  mkdirSync(join(d, 'a'), { recursive: true });
  mkdirSync(join(d, 'locked'));
  mkdirSync(join(tmp.path, 'ccache', '.conf'));
  const old = new Date(Date.now() - 40 * 86_400_000);
  for (const f of [join(d, 'a', 'r'), join(d, 'locked', 'r')]) {
    writeFileSync(f, Buffer.alloc(100));
    utimesSync(f, old, old);
  }
  chmodSync(join(d, 'locked'), 0);
  const script = `
    const { gcCcache } = await import(${JSON.stringify(new URL('./ccache.ts', import.meta.url).href)});
    const { cacheUsage } = await import(${JSON.stringify(new URL('../cache/du.ts', import.meta.url).href)});
    const now = Date.now();
    const gc = gcCcache(${JSON.stringify(tmp.path)}, { now, cutoff: now - 30 * 86400000, dryRun: true });
    const du = (await cacheUsage(${JSON.stringify(tmp.path)})).ccache;
    console.log(JSON.stringify({ gc: gc.map((r) => r.bytes), du }));`;
  // As root every folder is readable: the check runs as nobody.
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', ...(ROOT ? { uid: 65534, gid: 65534 } : {}) });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { gc: number[]; du: { count: number; bytes: number } };
  assert.deepEqual(out.gc, [100]);
  assert.equal(out.du.count, 1);
  assert.equal(out.du.bytes, 100);
});

test('a run\'s settings: off by default, notes for a daemon, --nats and --twice', () => {
  const notes: string[] = [];
  const base = { state: { cache: '/s/cache' }, twice: false, note: (t: string) => notes.push(t) };
  assert.equal(ccacheSettingsOf({ ...base, config: {} }), undefined);
  assert.deepEqual(ccacheSettingsOf({ ...base, ccache: true, config: { ccacheBytes: 7 << 20 } }), { root: '/s/cache/ccache', maxBytes: 7 << 20 });
  assert.deepEqual(ccacheSettingsOf({ ...base, ccacheSize: 9 << 20, config: { ccache: true, ccacheBytes: 7 << 20 } }), { root: '/s/cache/ccache', maxBytes: 9 << 20 });
  assert.deepEqual(notes, []);
  assert.equal(ccacheSettingsOf({ ...base, onDaemon: true, config: { file: '/t/kiln.toml', ccache: true } }), undefined);
  assert.equal(ccacheSettingsOf({ ...base, ccache: true, nats: 'nats://q.example:4222', config: {} }), undefined);
  assert.equal(ccacheSettingsOf({ ...base, ccache: true, config: {}, twice: true }), undefined);
  assert.equal(notes.length, 3);
  assert.match(notes[0]!, /kiln.toml: ccache is not used on a daemon/);
  assert.match(notes[1]!, /not with --nats/);
  assert.match(notes[2]!, /not with --twice/);
});

test('gc: a dry run lists the bytes of files older than the cutoff, stats and config aside', async () => {
  await using tmp = await tmpDir();
  const dir = tmp.path;
  const d = join(dir, 'ccache', 'host-amd64', 'a', 'b');
  mkdirSync(d, { recursive: true });
  const old = new Date(Date.now() - 40 * 86_400_000);
  for (const [name, size, date] of [['oldR', 100, old], ['newR', 50, new Date()], ['stats', 10, old]] as const) {
    writeFileSync(join(d, name), Buffer.alloc(size));
    utimesSync(join(d, name), date, date);
  }
  const now = Date.now();
  assert.deepEqual(gcCcache(dir, { now, cutoff: now - 30 * 86_400_000, dryRun: true }), [{ kind: 'ccache', path: join(dir, 'ccache', 'host-amd64'), bytes: 100 }]);
  assert.deepEqual(gcCcache(join(dir, 'none'), { now, cutoff: now, dryRun: true }), []);
});
