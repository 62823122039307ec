import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { compressionOf, detectCompression, extractRootTarball, listTarball } from './root-tarball.ts';
import { checkMembers, normalizeMemberPath, resolveInside, type TarMember } from './tar-scan.ts';
import { tinyRoot, writeTarball, type FakeMember } from './test-tarballs.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-roottar-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const isRoot = process.getuid?.() === 0;

test('normalizeMemberPath and resolveInside', () => {
  assert.equal(normalizeMemberPath('./a//b/'), 'a/b');
  assert.equal(normalizeMemberPath('./'), '');
  assert.equal(normalizeMemberPath('/etc/passwd'), '/etc/passwd');
  assert.equal(resolveInside('usr/bin', '../lib/x'), 'usr/lib/x');
  assert.equal(resolveInside('etc', '../usr/lib/os-release'), 'usr/lib/os-release');
  assert.equal(resolveInside('etc', '../../etc/shadow'), undefined);
  assert.equal(resolveInside('', '..'), undefined);
});

test('resolveThroughLinks follows the archive\'s own links, absolute ones from the root; out of the root or round a loop is undefined', async () => {
  const { resolveThroughLinks } = await import('./tar-scan.ts');
  const links = new Map([['lib', 'usr/lib'], ['c/l0', '..'], ['c/l1', 'l0/..'], ['etc/alt', '/usr/bin'], ['a', 'b'], ['b', 'a']]);
  assert.equal(resolveThroughLinks('usr/lib/foo', '../../../lib/x', links), 'usr/lib/x');
  assert.equal(resolveThroughLinks('c', '..', links), '');
  assert.equal(resolveThroughLinks('c', 'l0/..', links), undefined);
  assert.equal(resolveThroughLinks('etc', 'alt/../lib', links), 'usr/lib');
  assert.equal(resolveThroughLinks('', 'a/x', links), undefined);
});

test('checkMembers accepts a normal root: absolute and relative in-root symlinks, hardlinks, /dev nodes', () => {
  const m = (name: string, type: TarMember['type'], linkName = ''): TarMember => ({ name, type, linkName, size: 0 });
  checkMembers([
    m('./', 'dir'), m('./usr/bin/', 'dir'), m('./bin', 'symlink', 'usr/bin'), m('./usr/bin/a', 'file'),
    m('./usr/bin/b', 'hardlink', './usr/bin/a'), m('./etc/localtime', 'symlink', '/usr/share/zoneinfo/UTC'),
    m('./dev/null', 'char'), m('./run/initctl', 'fifo'),
  ], 'ok.tar');
});

const hostile: { name: string; members: FakeMember[]; why: RegExp }[] = [
  { name: 'dot-dot member', members: [{ name: 'etc/', type: 'dir' }, { name: 'etc/../../escaped', type: 'file', data: 'x' }], why: /contains "\.\."/ },
  { name: 'absolute member', members: [{ name: '/tmp/kiln-abs-escaped', type: 'file', data: 'x' }], why: /absolute path/ },
  {
    name: 'symlink then write through it',
    members: [{ name: 'etc', type: 'symlink', target: '/OUTSIDE' }, { name: 'etc/passwd', type: 'file', data: 'owned' }],
    why: /through the symlink "etc"/,
  },
  { name: 'relative symlink climbing out', members: [{ name: 'a/', type: 'dir' }, { name: 'a/up', type: 'symlink', target: '../../../etc' }], why: /points outside the root/ },
  { name: 'hardlink to an absolute path', members: [{ name: 'shadow', type: 'hardlink', target: '/etc/shadow' }], why: /absolute path/ },
  { name: 'hardlink climbing out', members: [{ name: 'shadow', type: 'hardlink', target: '../../etc/shadow' }], why: /contains "\.\."/ },
  { name: 'hardlink to a file not in the archive', members: [{ name: 'x', type: 'hardlink', target: 'etc/shadow' }], why: /earlier file/ },
  { name: 'device node outside dev/', members: [{ name: 'disk', type: 'char' }], why: /outside dev\// },
  {
    // Each link looks inside on its own; l0 is the root, so l1 (l0/..) is its parent.
    name: 'a chain of symlinks, each inside on its own, out of the root',
    members: [{ name: 'c/', type: 'dir' }, { name: 'c/l0', type: 'symlink', target: '..' }, { name: 'c/l1', type: 'symlink', target: 'l0/..' }, { name: 'c/l2', type: 'symlink', target: 'l1/..' }],
    why: /"c\/l1" -> "l0\/\.\." points outside the root through other symlinks/,
  },
  { name: 'a loop of symlinks', members: [{ name: 'a', type: 'symlink', target: 'b/x' }, { name: 'b', type: 'symlink', target: 'a/y' }], why: /loop of them/ },
  {
    // tar replaces d/d/f with the symlink, and the hard link copies that symlink to the root: up -> ../.. climbs out.
    name: 'a hard link to a name a symlink replaced',
    members: [{ name: 'd/d/f', type: 'file', data: 'x' }, { name: 'd/d/f', type: 'symlink', target: '../..' }, { name: 'up', type: 'hardlink', target: 'd/d/f' }],
    why: /hardlink "up" -> "d\/d\/f" does not name an earlier file/,
  },
];

for (const h of hostile) {
  test(`a tarball with: ${h.name}, is refused whole and nothing is written`, async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'evil.tar');
    // A harmless first member: it must not be written either.
    writeTarball(file, [{ name: 'first', type: 'file', data: 'first' }, ...h.members]);
    const into = join(dir, 'root');
    await mkdir(into);
    await assert.rejects(extractRootTarball(file, into), (e: unknown) => {
      assert.ok(e instanceof KilnError, String(e));
      assert.equal(e.code, 'unsafe-path');
      assert.match(e.message, h.why);
      assert.match(e.message, /evil\.tar/);
      return true;
    });
    assert.deepEqual(await readdir(into), []);
    assert.deepEqual((await readdir(dir)).sort(), ['evil.tar', 'root']);
    await assert.rejects(stat('/tmp/kiln-abs-escaped'));
  });
}

test("a pax global header's linkpath is read as tar applies it: a symlink that looks inside but is extracted pointing out is refused", async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'evil.tar');
  writeTarball(file, [{ name: 'd/l', type: 'symlink', target: 'x' }], { format: 'pax', paxGlobal: { linkpath: '../../../../../..' } });
  // What GNU tar makes of it: the global linkpath, not the header's.
  assert.match(execFileSync('tar', ['-tvf', file], { encoding: 'utf8' }), /d\/l -> \.\.\/\.\.\//);
  const into = join(dir, 'root');
  await mkdir(into);
  await assert.rejects(extractRootTarball(file, into), /symlink "d\/l" -> "\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\." points outside the root/);
  assert.deepEqual(await readdir(into), []);
});

test('pax and GNU long names are read the same way tar lists them', async (t) => {
  const dir = await tempDir(t);
  const long = `${'d'.repeat(120)}/${'f'.repeat(130)}`;
  for (const format of ['gnu', 'pax', 'ustar'] as const) {
    const file = join(dir, `${format}.tar`);
    const members: FakeMember[] = [
      { name: 'a/', type: 'dir' }, { name: 'a/b', type: 'file', data: 'x'.repeat(1000) },
      { name: 'a/c', type: 'symlink', target: 'b' },
      ...(format === 'ustar' ? [] : [{ name: long, type: 'file' as const, data: 'y' }, { name: 'a/longlink', type: 'symlink' as const, target: `../${'t'.repeat(150)}` }]),
    ];
    writeTarball(file, members, { format });
    const ours = (await listTarball(file)).map((m) => m.name.replace(/\/$/, ''));
    const theirs = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n').map((n) => n.replace(/\/$/, ''));
    assert.deepEqual(ours, theirs, format);
  }
});

test('a corrupt or truncated archive is refused', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'junk.tar');
  await writeFile(file, Buffer.alloc(2048, 7));
  await assert.rejects(listTarball(file), /bad tar header checksum/);
  const good = join(dir, 'good.tar');
  writeTarball(good, [{ name: 'big', type: 'file', data: 'z'.repeat(5000) }]);
  const cut = join(dir, 'cut.tar');
  await writeFile(cut, (await readFile(good)).subarray(0, 1536));
  await assert.rejects(listTarball(cut), /truncated/);
});

test('compressionOf reads magic bytes', () => {
  assert.equal(compressionOf(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0])), 'zstd');
  assert.equal(compressionOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])), 'xz');
  assert.equal(compressionOf(Buffer.from([0x1f, 0x8b, 8])), 'gzip');
  assert.equal(compressionOf(Buffer.from('BZh91AY')), 'bzip2');
  assert.equal(compressionOf(Buffer.from('etc/\0\0\0')), 'none');
});

for (const compression of ['none', 'gz', 'xz', 'zst'] as const) {
  test(`a root tarball (${compression}) extracts with owners, modes, links and device nodes`, { skip: !isRoot && 'needs root' }, async (t) => {
    const dir = await tempDir(t);
    const plain = join(dir, 'root.tar');
    writeTarball(plain, tinyRoot(), { compression: compression === 'zst' ? 'none' : compression });
    let file = plain;
    if (compression === 'zst') {
      execFileSync('zstd', ['-q', plain, '-o', `${plain}.zst`]);
      file = `${plain}.zst`;
    }
    const into = join(dir, 'root');
    await mkdir(into);
    const r = await extractRootTarball(file, into);
    assert.equal(r.members, tinyRoot().length);
    assert.equal(await readlink(join(into, 'etc/os-release')), '../usr/lib/os-release');
    assert.equal(await readlink(join(into, 'etc/localtime')), '/usr/share/zoneinfo/Etc/UTC');
    const su = await stat(join(into, 'usr/bin/su'));
    assert.equal(su.mode & 0o7777, 0o4755);
    assert.equal((await stat(join(into, 'usr/bin/su2'))).ino, su.ino);
    const home = await stat(join(into, 'home/builder'));
    assert.equal(home.uid, 1234);
    assert.equal(home.mode & 0o777, 0o700);
    assert.ok((await lstat(join(into, 'dev/null'))).isCharacterDevice());
  });
}

test('detectCompression: a tarball that cannot be read is about the path (path-unusable), not a missing env', async () => {
  const missing = join(tmpdir(), `kiln-no-such-root-${process.pid}.tar`);
  await assert.rejects(detectCompression(missing), (e: unknown) => e instanceof KilnError && e.code === 'path-unusable' && e.message === `cannot read ${missing}: ENOENT`);
});
