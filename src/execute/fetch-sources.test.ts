import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDownloads } from '../cache/downloads.ts';
import type { PackageSpec } from '../plan/spec.ts';
import { scanRecipeTree } from '../recipes/scan-tree.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { fetchSources } from './fetch-sources.ts';

const RECIPE = 'name = "p"\nversion = "1.0"\nsummary = "s"\nlicense = "MIT"\n[[sources]]\nurl = "file:fix.patch"\n[build]\nscript = "make"\n';

/** A one-package tree whose fix.patch is a symlink into the folder, scanned valid. */
async function plannedTree(root: string): Promise<PackageSpec> {
  await mkdir(join(root, 'tree/p/real'), { recursive: true });
  await mkdir(join(root, 'outside'));
  await writeFile(join(root, 'tree/p/recipe.toml'), RECIPE);
  await writeFile(join(root, 'tree/p/real/fix.patch'), 'the patch\n');
  await writeFile(join(root, 'outside/secret'), 'the patch\n'); // the same bytes, so only the path can tell
  await symlink('real/fix.patch', join(root, 'tree/p/fix.patch'));
  const scan = await scanRecipeTree(join(root, 'tree'));
  assert.deepEqual(scan.invalid, []);
  return scan.specs[0]!;
}

function fetchInto(spec: PackageSpec, root: string, srcDir: string): Promise<void> {
  const downloads = createDownloads({ cacheDir: join(root, 'downloads'), mirrors: {}, fetchImpl: () => Promise.reject(new Error('no network in this test')) });
  return fetchSources(spec, { srcDir, downloads, note: () => {}, signal: new AbortController().signal });
}

test('fetchSources copies a file: source reached through a symlink inside the package folder', async () => {
  await using dir = await tmpDir();
  const spec = await plannedTree(dir.path);
  const srcDir = join(dir.path, 'src');
  await fetchInto(spec, dir.path, srcDir);
  assert.equal(await readFile(join(srcDir, 'fix.patch'), 'utf8'), 'the patch\n');
});

test('fetchSources refuses a file: source that the tree changed, since the plan, into a link out of the folder, a directory or nothing', async () => {
  await using dir = await tmpDir();
  const spec = await plannedTree(dir.path);
  const link = join(dir.path, 'tree/p/fix.patch');
  const cases: Array<[string, () => Promise<void>, string, RegExp]> = [
    ['a link out of the folder', () => symlink(join(dir.path, 'outside/secret'), link), 'unsafe-path', /"file:fix\.patch": fix\.patch resolves outside the package folder \(to \S*outside\/secret\)/],
    ['a link to a folder outside', () => symlink('../../outside', link), 'unsafe-path', /resolves outside the package folder/],
    ['a directory', () => mkdir(link), 'source-not-found', /"file:fix\.patch": fix\.patch is a directory, not a file$/],
    ['nothing', async () => {}, 'source-not-found', /fix\.patch not found in \S*tree\/p$/],
  ];
  for (const [what, change, code, message] of cases) {
    await rm(link, { recursive: true, force: true });
    await change();
    const srcDir = join(dir.path, `src-${code}-${cases.findIndex((c) => c[0] === what)}`);
    await assert.rejects(fetchInto(spec, dir.path, srcDir), (e: unknown) => {
      assert.equal((e as { code?: string }).code, code, what);
      assert.match((e as Error).message, message, what);
      assert.ok((e as Error).message.startsWith(spec.file), 'names the recipe');
      return true;
    });
    const copied = await readdir(srcDir).catch(() => []);
    assert.deepEqual(copied, [], `${what}: nothing copied`);
  }
});

/** A one-package tree whose sources are the given files (made by `make` in the package folder), scanned valid. */
async function treeWithSources(root: string, sources: string, make: (pkg: string) => Promise<void>): Promise<PackageSpec> {
  const pkg = join(root, 'tree/p');
  await mkdir(pkg, { recursive: true });
  await writeFile(join(pkg, 'recipe.toml'), `name = "p"\nversion = "1.0"\nsummary = "s"\nlicense = "MIT"\n${sources}\n[build]\nscript = "make"\n`);
  await make(pkg);
  const scan = await scanRecipeTree(join(root, 'tree'));
  assert.deepEqual(scan.invalid, []);
  return scan.specs[0]!;
}

/** A .tar.gz at `file` of what `fill` puts in a fresh folder. */
async function tarball(file: string, fill: (dir: string) => Promise<void>): Promise<void> {
  const dir = `${file}.d`;
  await mkdir(dir);
  await fill(dir);
  execFileSync('tar', ['-czf', file, '-C', dir, '.']);
  await rm(dir, { recursive: true });
}

test('sources never write through a link an earlier source made, nor bring a link out of $SRCDIR (the two-archive escape)', async () => {
  await using dir = await tmpDir();
  const outside = join(dir.path, 'outside');
  await mkdir(outside);
  // Both links resolve inside $SRCDIR on paper; through them, top/esc is $SRCDIR's parent.
  const linkPair = (d: string) => mkdir(join(d, 'top')).then(() => Promise.all([symlink('..', join(d, 'top/sub')), symlink('sub/..', join(d, 'top/esc'))])).then(() => undefined);
  const cases: Array<[string, string, (pkg: string) => Promise<void>, RegExp]> = [
    ['a second archive writing through the link', '[[sources]]\nurl = "file:a.tar.gz"\n[[sources]]\nurl = "file:b.tar.gz"',
      async (pkg) => {
        await tarball(join(pkg, 'a.tar.gz'), linkPair);
        await tarball(join(pkg, 'b.tar.gz'), async (d) => {
          await mkdir(join(d, 'top/esc/outside'), { recursive: true });
          await writeFile(join(d, 'top/esc/outside/pwned'), 'x');
        });
      }, /has a directory \$SRCDIR\/top\/esc where an earlier source made a link/],
    ['a file copied to a dest through the link', '[[sources]]\nurl = "file:a.tar.gz"\n[[sources]]\nurl = "file:pwned"\ndest = "top/esc/outside"',
      async (pkg) => {
        await tarball(join(pkg, 'a.tar.gz'), linkPair);
        await writeFile(join(pkg, 'pwned'), 'x');
      }, /\$SRCDIR\/top\/esc is a link an earlier source made/],
    ['an archive bringing a link to an absolute path', '[[sources]]\nurl = "file:a.tar.gz"',
      async (pkg) => tarball(join(pkg, 'a.tar.gz'), async (d) => {
        await mkdir(join(d, 'top'));
        await symlink(outside, join(d, 'top/link'));
      }), /member top\/link is a link to \S*outside, outside \$SRCDIR/],
    ['an archive bringing a link that climbs out', '[[sources]]\nurl = "file:a.tar.gz"\ndest = "sub"',
      async (pkg) => tarball(join(pkg, 'a.tar.gz'), async (d) => symlink('../../x', join(d, 'up'))), /member up is a link to \.\.\/\.\.\/x, outside \$SRCDIR/],
  ];
  for (const [i, [what, sources, make, message]] of cases.entries()) {
    const root = join(dir.path, `case-${i}`);
    const spec = await treeWithSources(root, sources, make);
    const srcDir = join(root, 'work', 'src');
    await assert.rejects(fetchInto(spec, root, srcDir), (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'unsafe-path', `${what}: ${(e as Error).message}`);
      assert.match((e as Error).message, message, what);
      return true;
    });
    assert.deepEqual(await readdir(outside), [], `${what}: nothing written outside`);
    assert.deepEqual(await readdir(join(root, 'work')), ['src'], `${what}: nothing written beside $SRCDIR`);
    assert.ok(!(await readdir(srcDir)).some((n) => n.startsWith('.kiln-unpack-')), `${what}: no extraction folder left`);
  }
});

test('sources bring no device node and no set-user-ID bit: kiln extracts them as root on the host', { skip: process.getuid?.() !== 0 ? 'needs root (mknod, a root-owned setuid file)' : undefined }, async () => {
  await using dir = await tmpDir();
  const setuid = await treeWithSources(join(dir.path, 'a'), '[[sources]]\nurl = "file:a.tar"', async (pkg) => {
    await mkdir(join(pkg, 'in'));
    await writeFile(join(pkg, 'in/rootsh'), '#!/bin/sh\n');
    await chmod(join(pkg, 'in/rootsh'), 0o6755);
    execFileSync('tar', ['-cf', join(pkg, 'a.tar'), '-C', join(pkg, 'in'), '.']);
    await rm(join(pkg, 'in'), { recursive: true });
  });
  await fetchInto(setuid, join(dir.path, 'a'), join(dir.path, 'a/src'));
  assert.equal((await stat(join(dir.path, 'a/src/rootsh'))).mode & 0o6000, 0, 'no setuid or setgid bit');
  const device = await treeWithSources(join(dir.path, 'b'), '[[sources]]\nurl = "file:b.tar"', async (pkg) => {
    await mkdir(join(pkg, 'in'));
    execFileSync('mknod', [join(pkg, 'in/disk'), 'b', '8', '0']);
    execFileSync('tar', ['-cf', join(pkg, 'b.tar'), '-C', join(pkg, 'in'), '.']);
    await rm(join(pkg, 'in'), { recursive: true });
  });
  await assert.rejects(fetchInto(device, join(dir.path, 'b'), join(dir.path, 'b/src')), (e: unknown) => {
    assert.equal((e as { code?: string }).code, 'unsafe-path');
    assert.match((e as Error).message, /member disk is a device node, fifo or socket/);
    return true;
  });
  assert.deepEqual(await readdir(join(dir.path, 'b/src')), [], 'nothing of it is left in $SRCDIR');
});

test('sources merge as tar would: a second archive adds to the first\'s directories and replaces its files; links inside $SRCDIR are kept', async () => {
  await using dir = await tmpDir();
  const spec = await treeWithSources(dir.path, '[[sources]]\nurl = "file:a.tar.gz"\n[[sources]]\nurl = "file:b.tar.gz"\n[[sources]]\nurl = "file:extra.txt"\ndest = "pkg/doc"', async (pkg) => {
    await tarball(join(pkg, 'a.tar.gz'), async (d) => {
      await mkdir(join(d, 'pkg/src'), { recursive: true });
      await writeFile(join(d, 'pkg/src/a.c'), 'a1');
      await writeFile(join(d, 'pkg/README'), 'old');
      await symlink('src/a.c', join(d, 'pkg/main.c'));
    });
    await tarball(join(pkg, 'b.tar.gz'), async (d) => {
      await mkdir(join(d, 'pkg/src'), { recursive: true });
      await writeFile(join(d, 'pkg/src/b.c'), 'b1');
      await writeFile(join(d, 'pkg/README'), 'new');
    });
    await writeFile(join(pkg, 'extra.txt'), 'extra');
  });
  const srcDir = join(dir.path, 'src');
  await fetchInto(spec, dir.path, srcDir);
  assert.deepEqual((await readdir(join(srcDir, 'pkg/src'))).sort(), ['a.c', 'b.c']);
  assert.equal(await readFile(join(srcDir, 'pkg/README'), 'utf8'), 'new');
  assert.equal(await readFile(join(srcDir, 'pkg/main.c'), 'utf8'), 'a1');
  assert.equal(await readFile(join(srcDir, 'pkg/doc/extra.txt'), 'utf8'), 'extra');
  assert.deepEqual(await readdir(srcDir), ['pkg'], 'no extraction folder left');
});

test('fetchSources makes a source\'s dest folders 0755 whatever kiln\'s umask (the build\'s output must not depend on who ran it)', async () => {
  await using dir = await tmpDir();
  await mkdir(join(dir.path, 'tree/p'), { recursive: true });
  await writeFile(join(dir.path, 'tree/p/recipe.toml'), RECIPE.replace('url = "file:fix.patch"', 'url = "file:fix.patch"\ndest = "sub/deeper"'));
  await writeFile(join(dir.path, 'tree/p/fix.patch'), 'the patch\n');
  const scan = await scanRecipeTree(join(dir.path, 'tree'));
  assert.deepEqual(scan.invalid, []);
  const srcDir = join(dir.path, 'src');
  await mkdir(srcDir);
  const old = process.umask(0o077);
  try {
    await fetchInto(scan.specs[0]!, dir.path, srcDir);
  } finally {
    process.umask(old);
  }
  assert.equal((await stat(join(srcDir, 'sub'))).mode & 0o777, 0o755);
  assert.equal((await stat(join(srcDir, 'sub/deeper'))).mode & 0o777, 0o755);
});

test('fetchSources refuses a file: source whose content changed since the plan (the key holds the old content\'s sha256), and leaves no copy of it', async () => {
  await using dir = await tmpDir();
  const spec = await plannedTree(dir.path);
  await writeFile(join(dir.path, 'tree/p/real/fix.patch'), 'the patch, edited while the run went\n');
  const srcDir = join(dir.path, 'src');
  await assert.rejects(fetchInto(spec, dir.path, srcDir), (e: unknown) => {
    assert.equal((e as { code?: string }).code, 'checksum-mismatch');
    assert.match((e as Error).message, /"file:fix\.patch": fix\.patch changed after this run planned the package \(sha256 [0-9a-f]{12}… then, [0-9a-f]{12}… now\)$/);
    assert.ok((e as Error).message.startsWith(spec.file), 'names the recipe');
    return true;
  });
  assert.deepEqual(await readdir(srcDir).catch(() => []), [], 'nothing of it in $SRCDIR');
  assert.deepEqual((await readdir(dir.path)).filter((n) => n.startsWith('.kiln-file-')), [], 'its private copy is gone');
  // As planned: copied, and the private copy it was checked on is gone.
  await writeFile(join(dir.path, 'tree/p/real/fix.patch'), 'the patch\n');
  await fetchInto(spec, dir.path, srcDir);
  assert.deepEqual(await readdir(srcDir), ['fix.patch']);
  assert.deepEqual((await readdir(dir.path)).filter((n) => n.startsWith('.kiln-file-')), []);
});
