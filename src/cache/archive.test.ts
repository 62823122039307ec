import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveFailedHint, buildManifest, compressionFlagFor, canonicalManifest, manifestHash, notADirectoryMembers, packDir, unpackArchive } from './archive.ts';
import { smallTar } from './small-tar.ts';
import { sha256 } from '../lib/hash.ts';
import { KilnError } from '../errors.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-archive-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A small installed tree: dirs with odd modes, an executable, symlinks in and out. */
async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'usr/bin'), { recursive: true });
  await mkdir(join(root, 'usr/share/doc/a-b'), { recursive: true });
  await mkdir(join(root, 'usr/share/doc/a'), { recursive: true });
  await writeFile(join(root, 'usr/bin/tool'), '#!/bin/sh\necho hi\n');
  await chmod(join(root, 'usr/bin/tool'), 0o755);
  await writeFile(join(root, 'usr/share/doc/a/README'), 'read me\n');
  await writeFile(join(root, 'usr/share/doc/a-b/NEWS'), '');
  await chmod(join(root, 'usr/share/doc/a-b'), 0o750);
  await symlink('tool', join(root, 'usr/bin/tool-alias'));
  await symlink('/etc/hostname', join(root, 'usr/share/host'));
  await writeFile(join(root, '-rf'), 'a name that looks like an option\n');
}

test('buildManifest lists every entry sorted by path with modes, hashes and targets', async (t) => {
  const root = await tempDir(t);
  await makeTree(root);
  const m = await buildManifest(root);
  assert.deepEqual(m.map((e) => e.path), [
    '-rf', 'usr', 'usr/bin', 'usr/bin/tool', 'usr/bin/tool-alias', 'usr/share',
    'usr/share/doc', 'usr/share/doc/a', 'usr/share/doc/a-b', 'usr/share/doc/a-b/NEWS',
    'usr/share/doc/a/README', 'usr/share/host',
  ]);
  const byPath = new Map(m.map((e) => [e.path, e]));
  assert.deepEqual(byPath.get('usr/bin/tool'), {
    path: 'usr/bin/tool', type: 'file', mode: 0o755, size: 18, sha256: sha256('#!/bin/sh\necho hi\n'),
  });
  assert.equal(byPath.get('usr/share/doc/a-b')?.mode, 0o750);
  assert.equal(byPath.get('usr/share/doc/a-b')?.type, 'dir');
  assert.equal(byPath.get('usr/share/doc/a-b/NEWS')?.sha256, sha256(''));
  assert.deepEqual(byPath.get('usr/bin/tool-alias'), { path: 'usr/bin/tool-alias', type: 'symlink', mode: 0o777, size: 0, target: 'tool' });
  assert.equal(byPath.get('usr/share/host')?.target, '/etc/hostname');
});

test('an empty dir has an empty manifest, and packDir writes nothing for it', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'empty'));
  assert.deepEqual(await buildManifest(join(root, 'empty')), []);
  assert.equal(canonicalManifest([]), '[]\n');
  assert.equal(await packDir(join(root, 'empty'), join(root, 'out.tar.zst'), { sourceDateEpoch: 0 }), false);
  assert.deepEqual(await readdir(root), ['empty']);
});

test('the manifest hash ignores mtimes and changes with content or mode', async (t) => {
  const root = await tempDir(t);
  await makeTree(join(root, 'a'));
  await makeTree(join(root, 'b'));
  await utimes(join(root, 'b/usr/bin/tool'), 1000, 1000);
  const ha = manifestHash(await buildManifest(join(root, 'a')));
  assert.equal(manifestHash(await buildManifest(join(root, 'b'))), ha);
  await chmod(join(root, 'b/usr/bin/tool'), 0o700);
  const hb = manifestHash(await buildManifest(join(root, 'b')));
  assert.notEqual(hb, ha);
  await writeFile(join(root, 'a/usr/share/doc/a/README'), 'read me!\n');
  assert.notEqual(manifestHash(await buildManifest(join(root, 'a'))), ha);
});

test('packDir → unpackArchive round trip keeps the tree; archives are reproducible', async (t) => {
  const root = await tempDir(t);
  await makeTree(join(root, 'a'));
  await makeTree(join(root, 'b'));
  await utimes(join(root, 'b/usr/bin/tool'), 1000, 1000);
  const epoch = 1_700_000_000;
  assert.equal(await packDir(join(root, 'a'), join(root, 'a.tar.zst'), { sourceDateEpoch: epoch }), true);
  assert.equal(await packDir(join(root, 'b'), join(root, 'b.tar.zst'), { sourceDateEpoch: epoch }), true);
  assert.deepEqual(await readFile(join(root, 'a.tar.zst')), await readFile(join(root, 'b.tar.zst')));

  const listing = execFileSync('tar', ['-tvf', join(root, 'a.tar.zst')], { encoding: 'utf8' });
  assert.doesNotMatch(listing, /\.\//, 'no ./ members');
  for (const line of listing.trim().split('\n')) assert.match(line, /^\S+ 0\/0 /, line);

  await mkdir(join(root, 'out'));
  await unpackArchive(join(root, 'a.tar.zst'), join(root, 'out'));
  assert.deepEqual(await buildManifest(join(root, 'out')), await buildManifest(join(root, 'a')));
  assert.equal((await lstat(join(root, 'out/usr/bin/tool'))).mtimeMs, epoch * 1000);
});

test('unpackArchive gives the same modes whatever kiln\'s umask (it extracts under 022, as builds run)', async (t) => {
  const root = await tempDir(t);
  await makeTree(join(root, 'a'));
  await packDir(join(root, 'a'), join(root, 'a.tar.zst'), { sourceDateEpoch: 1_700_000_000 });
  await mkdir(join(root, 'out'));
  const old = process.umask(0o077);
  try {
    await unpackArchive(join(root, 'a.tar.zst'), join(root, 'out'));
  } finally {
    process.umask(old);
  }
  assert.deepEqual(await buildManifest(join(root, 'out')), await buildManifest(join(root, 'a')));
});

test('unpackArchive keepModes (kiln rootfs) keeps set-user-ID bits and, as root, numeric owners; the default drops them', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'a/usr/bin'), { recursive: true });
  await writeFile(join(root, 'a/usr/bin/su'), '#!/bin/sh\n');
  await chmod(join(root, 'a/usr/bin/su'), 0o4755);
  await mkdir(join(root, 'a/var/mail'), { recursive: true });
  await chmod(join(root, 'a/var/mail'), 0o2775);
  execFileSync('tar', ['--create', '--zstd', '--numeric-owner', '--owner=1234', '--group=4321', `--file=${join(root, 'a.tar.zst')}`, '-C', join(root, 'a'), 'usr', 'var']);
  for (const keepModes of [false, true]) {
    const into = join(root, `out-${keepModes}`);
    await mkdir(into);
    await unpackArchive(join(root, 'a.tar.zst'), into, keepModes ? { keepModes } : {});
    const su = await lstat(join(into, 'usr/bin/su'));
    const mail = await lstat(join(into, 'var/mail'));
    assert.equal(su.mode & 0o7777, keepModes ? 0o4755 : 0o755, `keepModes ${keepModes}`);
    assert.equal(mail.mode & 0o7777, keepModes ? 0o2775 : 0o755, `keepModes ${keepModes}`);
    const asRoot = process.getuid?.() === 0;
    assert.equal(su.uid, keepModes && asRoot ? 1234 : process.getuid?.());
    assert.equal(su.gid, keepModes && asRoot ? 4321 : process.getgid?.());
  }
});

test('the in-process packer writes the same tar as GNU tar, byte for byte, and the same tree', async (t) => {
  const root = await tempDir(t);
  const tree = join(root, 'tree');
  await makeTree(tree);
  await mkdir(join(tree, 'usr/lib/x'), { recursive: true });
  await writeFile(join(tree, 'usr/lib/x/big'), Buffer.alloc(70_000, 7)); // several blocks, padded
  await writeFile(join(tree, 'usr/lib/B'), 'upper case sorts first\n');
  await chmod(join(tree, 'usr/lib/B'), 0o4711);
  await writeFile(join(tree, 'usr/lib/\u00e9t\u00e9'), 'utf-8 name\n');
  const epoch = 1_700_000_123;
  const top = (await readdir(tree)).sort();
  const ours = await smallTar(tree, top, epoch);
  assert.ok(ours !== undefined, 'a small tree is packed in-process');
  const gnu = execFileSync('tar', [
    '--create', '--file=-', `--directory=${tree}`, '--format=gnu', '--sort=name', `--mtime=@${epoch}`,
    '--owner=0', '--group=0', '--numeric-owner', '--null', '--verbatim-files-from', '--files-from=-',
  ], { input: top.map((n) => `${n}\0`).join(''), env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 1 << 24 });
  assert.equal(ours.length, gnu.length);
  assert.ok(ours.equals(gnu), 'the tar bytes differ from GNU tar\'s');

  // Both packers: GNU tar extracts either archive to the same tree, and the artifact's
  // manifest and outputHash do not depend on the packer.
  const hashes: string[] = [];
  for (const inProcess of [true, false]) {
    const file = join(root, `${inProcess}.tar.zst`);
    assert.equal(await packDir(tree, file, { sourceDateEpoch: epoch, inProcess }), true);
    const out = join(root, `out-${inProcess}`);
    await mkdir(out);
    await unpackArchive(file, out);
    const m = await buildManifest(out);
    // The archive keeps a set-user-ID bit; extracting drops it (kiln extracts as root).
    const noSetid = (await buildManifest(tree)).map((e) => ({ ...e, mode: e.mode & ~0o6000 }));
    assert.deepEqual(m, noSetid);
    assert.ok((await buildManifest(tree)).some((e) => (e.mode & 0o4000) !== 0), 'the tree has a setuid file to drop');
    hashes.push(manifestHash(m));
    assert.ok(execFileSync('zstd', ['-dc', file]).equals(gnu), `${inProcess ? 'in-process' : 'spawned'} archive holds another tar`);
  }
  assert.equal(hashes[0], hashes[1]);
});

test('the in-process packer leaves long names, hard links and big trees to GNU tar', async (t) => {
  const root = await tempDir(t);
  const long = join(root, 'long');
  await mkdir(long);
  await writeFile(join(long, 'n'.repeat(101)), '');
  assert.equal(await smallTar(long, await readdir(long), 0), undefined);
  const linked = join(root, 'linked');
  await mkdir(linked);
  await writeFile(join(linked, 'a'), 'x');
  execFileSync('ln', [join(linked, 'a'), join(linked, 'b')]);
  assert.equal(await smallTar(linked, ['a', 'b'], 0), undefined);
  const big = join(root, 'big');
  await mkdir(big);
  await writeFile(join(big, 'f'), Buffer.alloc((1 << 20) + 1));
  assert.equal(await smallTar(big, ['f'], 0), undefined);
  // packDir still packs them (through GNU tar), and they round-trip.
  for (const dir of [long, linked, big]) {
    const file = `${dir}.tar.zst`;
    assert.equal(await packDir(dir, file, { sourceDateEpoch: 0 }), true);
    const out = `${dir}-out`;
    await mkdir(out);
    await unpackArchive(file, out);
    assert.deepEqual((await buildManifest(out)).map((e) => e.path), (await buildManifest(dir)).map((e) => e.path));
  }
});

test('unpackArchive detects the compression of source tarballs and strips components', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'hello-1.0/src'), { recursive: true });
  await writeFile(join(root, 'hello-1.0/src/main.c'), 'int main(void) { return 0; }\n');
  const formats: [string, string[]][] = [
    ['hello.tar.gz', ['-z']],
    ['hello.tgz', ['-z']],
    ['hello.tar.xz', ['-J']],
    ['hello.tar.bz2', ['-j']],
    ['hello.tar.zst', ['--zstd']],
    ['hello.tar', []],
    ['misnamed.tar.gz', ['-J']],
  ];
  for (const [name, flags] of formats) {
    execFileSync('tar', ['-c', ...flags, '-f', join(root, name), '-C', root, 'hello-1.0']);
    const into = join(root, `x-${name}`);
    await mkdir(into);
    await unpackArchive(join(root, name), into, { strip: 1 });
    assert.equal(await readFile(join(into, 'src/main.c'), 'utf8'), 'int main(void) { return 0; }\n', name);
  }
});

test('archives with members outside the target are refused', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'work'));
  await writeFile(join(root, 'outside.txt'), 'outside\n');
  await writeFile(join(root, 'work/inside.txt'), 'inside\n');
  // -P keeps `..` and a leading `/` in member names when creating.
  execFileSync('tar', ['-cPf', join(root, 'dotdot.tar'), 'inside.txt', '../outside.txt'], { cwd: join(root, 'work') });
  execFileSync('tar', ['-cPf', join(root, 'abs.tar'), join(root, 'outside.txt')]);

  for (const name of ['dotdot.tar', 'abs.tar']) {
    const into = join(root, `x-${name}`, 'deep');
    await mkdir(into, { recursive: true });
    await assert.rejects(unpackArchive(join(root, name), into), (e: unknown) => {
      assert(e instanceof KilnError, String(e));
      assert.equal(e.code, 'unsafe-path');
      assert(e.message.includes(join(root, name)));
      return true;
    });
    // Nothing was written next to or above the target.
    assert.deepEqual(await readdir(join(root, `x-${name}`)), ['deep']);
  }
});

test('a symlink member cannot be used to write outside the target', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'src/real'), { recursive: true });
  await symlink('..', join(root, 'src/evil'));
  await writeFile(join(root, 'src/real/escaped.txt'), 'bad\n');
  execFileSync('tar', ['-cf', join(root, 'sym.tar'), '--transform', 's,^real,evil,', 'evil', 'real/escaped.txt'], { cwd: join(root, 'src') });
  const into = join(root, 'x/deep');
  await mkdir(into, { recursive: true });
  // A hostile archive, said as such (it was archive-failed, with a hint about two sources disagreeing).
  await assert.rejects(unpackArchive(join(root, 'sym.tar'), into), (e: unknown) => e instanceof KilnError && e.code === 'unsafe-path' && /member evil\/escaped\.txt is written through its link evil -> \.\./.test(e.message));
  assert.deepEqual(await readdir(join(root, 'x')), ['deep']);
});

test('notADirectoryMembers: the members tar could not write for a non-directory on their path, from its stderr', () => {
  const stderr = 'tar: up/secret.txt: Cannot open: Not a directory\ntar: a/b/c: Cannot mkdir: Not a directory\ntar: x: Cannot open: Permission denied\ntar: Exiting with failure status due to previous errors\n';
  assert.deepEqual(notADirectoryMembers(stderr), ['up/secret.txt', 'a/b/c']);
  assert.deepEqual(notADirectoryMembers(''), []);
});

test('unpackArchive: a raw LZMA stream (no magic tar knows) is read as LZMA when its name ends in .tar.lzma, as a cache file named by its checksum is', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'hello-1.0'), { recursive: true });
  await writeFile(join(root, 'hello-1.0/README'), 'hi\n');
  // `lzma -9` (a 64 MiB dictionary): its header is not the one GNU tar recognises.
  const tar = execFileSync('tar', ['-c', '-f', '-', '-C', root, 'hello-1.0']);
  const cached = join(root, 'a'.repeat(64));
  await writeFile(cached, execFileSync('xz', ['--format=lzma', '-9', '-c'], { input: tar }));
  const into = join(root, 'out');
  await mkdir(into);
  await unpackArchive(cached, into, { strip: 1, name: 'https://dl.example/hello-1.0.tar.lzma?download=1' });
  assert.equal(await readFile(join(into, 'README'), 'utf8'), 'hi\n');
  assert.deepEqual(compressionFlagFor('https://dl.example/hello-1.0.tar.lzma'), ['--lzma']);
  assert.deepEqual(compressionFlagFor('https://dl.example/hello-1.0.tar.xz'), []);
});

test('a corrupt archive given its name (a source\'s url) is archive-failed naming it, not the cache\'s file', async (t) => {
  const root = await tempDir(t);
  const cached = join(root, 'b'.repeat(64));
  await writeFile(cached, 'this is not a tarball');
  await assert.rejects(unpackArchive(cached, root, { name: 'https://dl.example/junk-1.0.tar.gz' }), (e: unknown) => {
    assert(e instanceof KilnError);
    assert.equal(e.code, 'archive-failed');
    assert.match(e.message, /^extracting https:\/\/dl\.example\/junk-1\.0\.tar\.gz failed \(exit 2\): tar: This does not look like a tar archive/);
    assert(!e.message.includes(cached), e.message);
    return true;
  });
});

test('a corrupt archive is archive-failed naming the file; an aborted signal stops tar', async (t) => {
  const root = await tempDir(t);
  await writeFile(join(root, 'junk.tar.gz'), 'this is not a tarball');
  await assert.rejects(unpackArchive(join(root, 'junk.tar.gz'), root), (e: unknown) => {
    assert(e instanceof KilnError);
    assert.equal(e.code, 'archive-failed');
    assert(e.message.includes(join(root, 'junk.tar.gz')));
    return true;
  });
  await makeTree(join(root, 'a'));
  await assert.rejects(
    packDir(join(root, 'a'), join(root, 'a.tar.zst'), { sourceDateEpoch: 0, signal: AbortSignal.abort() }),
    { name: 'AbortError' },
  );
});

test('no tar on the PATH: archive-failed that says to install it', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-notar-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const path = process.env['PATH'];
  process.env['PATH'] = join(root, 'nothing-here');
  try {
    await assert.rejects(unpackArchive(join(root, 'a.tar'), root), (e: unknown) => {
      assert.ok(e instanceof KilnError && e.code === 'archive-failed', String(e));
      assert.match(e.message, /cannot run tar/);
      assert.equal(e.hint, 'install GNU tar and zstd');
      return true;
    });
  } finally {
    process.env['PATH'] = path;
  }
});

test('archiveFailedHint: what tar said decides the hint', () => {
  const cases: [string, RegExp][] = [
    ['tar: usr/lib: Cannot open: File exists\ntar: Exiting with failure status due to previous errors', /one path is two different things: .* or one archive with both/],
    ['tar: link/via-link: Cannot open: Not a directory', /one path is two different things: .* or one archive with both/],
    ['zstd: error 70 : Write error : cannot write block : No space left on device', /^free space on that disk/],
    ['tar: This does not look like a tar archive', /^check that the file is a tar archive/],
  ];
  for (const [said, want] of cases) assert.match(archiveFailedHint(said), want, said);
});
