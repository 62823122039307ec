import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archFromDpkgStatus, parseOsRelease, resolveInRoot, rootArch, rootSuite } from './root-info.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-rootinfo-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('parseOsRelease unquotes values', () => {
  assert.deepEqual(parseOsRelease('NAME="Debian GNU/Linux"\nVERSION_CODENAME=trixie\n# c\nX=\'a b\'\n'), {
    NAME: 'Debian GNU/Linux', VERSION_CODENAME: 'trixie', X: 'a b',
  });
});

test('archFromDpkgStatus prefers base-files, skips arch all and removed packages', () => {
  const status = [
    'Package: tzdata\nStatus: install ok installed\nArchitecture: all',
    'Package: old\nStatus: deinstall ok config-files\nArchitecture: i386',
    'Package: libc6\nStatus: install ok installed\nArchitecture: riscv64',
    'Package: base-files\nStatus: install ok installed\nArchitecture: riscv64',
  ].join('\n\n');
  assert.equal(archFromDpkgStatus(status), 'riscv64');
  assert.equal(archFromDpkgStatus('Package: libc6\nStatus: install ok installed\nArchitecture: arm64\n'), 'arm64');
  assert.equal(archFromDpkgStatus('Package: tzdata\nStatus: install ok installed\nArchitecture: all\n'), undefined);
});

test('paths resolve inside the root as a chroot would: absolute links and .. stay in the root', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'usr/lib'), { recursive: true });
  await mkdir(join(root, 'etc'));
  await writeFile(join(root, 'usr/lib/os-release'), 'VERSION_CODENAME=bookworm\n');
  await symlink('/usr/lib/os-release', join(root, 'etc/os-release'));
  assert.equal(await resolveInRoot(root, '/etc/os-release'), join(root, 'usr/lib/os-release'));
  await symlink('../../../../../../usr/lib', join(root, 'etc/up'));
  assert.equal(await resolveInRoot(root, '/etc/up/os-release'), join(root, 'usr/lib/os-release'));
  await symlink('loop', join(root, 'etc/loop'));
  assert.equal(await resolveInRoot(root, '/etc/loop'), undefined);
  assert.equal(await rootSuite(root), 'bookworm');
});

test("a hostile root cannot make kiln read the host's files", async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'etc'));
  await mkdir(join(root, 'var/lib/dpkg'), { recursive: true });
  // On the host, /etc/os-release is Debian's: resolving it there would say "bookworm".
  await symlink('/etc/os-release', join(root, 'etc/os-release'));
  await symlink('/var/lib/dpkg/status', join(root, 'var/lib/dpkg/status'));
  assert.equal(await rootSuite(root), undefined);
  assert.equal(await rootArch(root), undefined);
});

test('rootSuite falls back to debian_version of testing/unstable', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'etc'));
  await writeFile(join(root, 'etc/os-release'), 'PRETTY_NAME="Debian GNU/Linux trixie/sid"\n');
  await writeFile(join(root, 'etc/debian_version'), 'trixie/sid\n');
  assert.equal(await rootSuite(root), 'trixie');
});
