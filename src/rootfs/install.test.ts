import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, lstat, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { packDir } from '../cache/archive.ts';
import { KilnError } from '../errors.ts';
import { sha256File } from '../lib/hash.ts';
import type { Selected } from './closure.ts';
import { installRoot, INSTALLED_JSON } from './install.ts';

/** A package archive (packDir, as builds pack) made by `fill` in its DESTDIR. */
async function pkg(dir: string, name: string, fill: (destdir: string) => Promise<void>): Promise<Selected> {
  const dest = join(dir, `dest-${name}`);
  await mkdir(dest);
  await fill(dest);
  const path = join(dir, `${name}.tar.zst`);
  await packDir(dest, path, { sourceDateEpoch: 1_700_000_000 });
  return {
    pkg: { name, version: '1', release: 1, arch: 'amd64', depends: [], provides: [], size: (await stat(path)).size, sha256: await sha256File(path), path },
    why: { kind: 'named' },
  };
}

const opts = { arch: 'amd64', force: false, tar: false, sourceDateEpoch: 1_700_000_000 };

/** What is beside OUT in `dir` besides the package sources. */
const leftovers = (dir: string): string[] => readdirSync(dir).filter((n) => n.includes('kiln-tmp') || n === 'out');

const unsafe: readonly { name: string; fill: (d: string, host: string) => Promise<void>; code: string; message: RegExp }[] = [
  {
    name: 'var/lib/kiln as a link out of the root',
    fill: async (d, host) => { await mkdir(join(d, 'var/lib'), { recursive: true }); await symlink(host, join(d, 'var/lib/kiln')); },
    code: 'unsafe-path',
    message: /^evil ships var\/lib\/kiln as a link \(-> \/.*host\)/,
  },
  {
    name: 'var as a link (var -> /var)',
    fill: async (d, host) => { await symlink(host, join(d, 'var')); },
    code: 'unsafe-path',
    message: /^evil ships var as a link/,
  },
  {
    name: 'var/lib/kiln as a file',
    fill: async (d) => { await mkdir(join(d, 'var/lib'), { recursive: true }); await writeFile(join(d, 'var/lib/kiln'), 'x'); },
    code: 'file-conflict',
    message: /^evil ships var\/lib\/kiln as a file/,
  },
  {
    name: 'installed.json itself',
    fill: async (d) => { await mkdir(join(d, 'var/lib/kiln'), { recursive: true }); await writeFile(join(d, INSTALLED_JSON), '{}'); },
    code: 'file-conflict',
    message: /^evil ships var\/lib\/kiln\/installed\.json, which kiln rootfs writes/,
  },
];

for (const c of unsafe) {
  test(`installRoot never writes installed.json through what a package shipped: ${c.name}`, async () => {
    await using d = await tmpDir('kiln-rootfs-install-');
    const host = join(d.path, 'host');
    await mkdir(host);
    const good = await pkg(d.path, 'good', async (dest) => { await mkdir(join(dest, 'usr')); await writeFile(join(dest, 'usr/a'), 'a'); });
    const evil = await pkg(d.path, 'evil', (dest) => c.fill(dest, host));
    await assert.rejects(installRoot({ ...opts, out: join(d.path, 'out'), selected: [good, evil] }), (e: unknown) => {
      assert.ok(e instanceof KilnError, String(e));
      assert.equal(e.code, c.code);
      assert.match(e.message, c.message);
      return true;
    });
    assert.deepEqual(readdirSync(host), [], 'nothing was written outside the root');
    assert.deepEqual(leftovers(d.path), []);
  });
}

test('installRoot: modes do not depend on kiln\'s umask (root 0755, var/lib/kiln 0755, installed.json 0644), set-user-ID bits are kept, --tar is the same bytes', async () => {
  await using d = await tmpDir('kiln-rootfs-install-');
  const su = await pkg(d.path, 'su', async (dest) => {
    await mkdir(join(dest, 'usr/bin'), { recursive: true });
    await writeFile(join(dest, 'usr/bin/su'), '#!/bin/sh\n');
    await chmod(join(dest, 'usr/bin/su'), 0o4755);
  });
  const tars: Buffer[] = [];
  for (const [i, umask] of [0o022, 0o077].entries()) {
    const old = process.umask(umask);
    try {
      const out = join(d.path, `root-${i}`);
      await installRoot({ ...opts, out, selected: [su] });
      for (const p of ['', 'var', 'var/lib', 'var/lib/kiln']) assert.equal((await stat(join(out, p))).mode & 0o7777, 0o755, `${p || 'the root'} under umask ${umask.toString(8)}`);
      assert.equal((await stat(join(out, INSTALLED_JSON))).mode & 0o7777, 0o644);
      assert.equal((await lstat(join(out, 'usr/bin/su'))).mode & 0o7777, 0o4755, 'su keeps its set-user-ID bit');
      assert.match(await readFile(join(out, INSTALLED_JSON), 'utf8'), /"name": "su"/);
      const tar = join(d.path, `root-${i}.tar.zst`);
      await installRoot({ ...opts, out: tar, selected: [su], tar: true });
      tars.push(await readFile(tar));
    } finally {
      process.umask(old);
    }
  }
  assert.ok(tars[0]!.equals(tars[1]!), 'the same tarball under umask 022 and 077');
  assert.ok(!existsSync(join(d.path, 'out')));
});
