import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { envPackageNotes, envPackageVersions, installedFromStatus, packageVersionLines, PACKAGE_VERSIONS_NOTE } from './package-versions.ts';

const stanza = (name: string, status: string, version: string, arch: string, extra = '') =>
  `Package: ${name}\nStatus: ${status}\nPriority: optional\n${extra}Architecture: ${arch}\nVersion: ${version}\nDescription: ${name}\n more text: with a colon\n`;

test('installed packages of a dpkg status file: installed (held too) only, sorted by name then arch, as "name version arch" lines', () => {
  const cases: { name: string; status: string; want: string }[] = [
    { name: 'empty', status: '', want: '' },
    {
      name: 'sorted, installed ones only',
      status: [
        stanza('zlib1g', 'install ok installed', '1:1.2.13.dfsg-1', 'amd64', 'Multi-Arch: same\n'),
        stanza('libc6', 'install ok installed', '2.36-9+deb12u4', 'amd64'),
        stanza('oldpkg', 'deinstall ok config-files', '1.0', 'amd64'),
        stanza('half', 'install reinstreq half-installed', '2', 'amd64'),
        stanza('libc6', 'hold ok installed', '2.36-9+deb12u4', 'i386'),
        stanza('tzdata', 'install ok installed', '2024a-0+deb12u1', 'all'),
      ].join('\n'),
      want: 'libc6 2.36-9+deb12u4 amd64\nlibc6 2.36-9+deb12u4 i386\ntzdata 2024a-0+deb12u1 all\nzlib1g 1:1.2.13.dfsg-1 amd64',
    },
    { name: 'a continuation line that looks like a field is not one', status: stanza('a', 'install ok installed', '1', 'all', 'Conffiles:\n /etc/Version: 2\n'), want: 'a 1 all' },
  ];
  for (const c of cases) assert.equal(packageVersionLines(installedFromStatus(c.status)), c.want, c.name);
});

test('the list is the one dpkg-query gives of the host\'s own database', { skip: existsSync('/var/lib/dpkg/status') && spawnSync('dpkg-query', ['--version']).status === 0 ? false : 'no dpkg here' }, () => {
  const q = spawnSync('dpkg-query', ['-W', '-f=${db:Status-Status} ${Package} ${Version} ${Architecture}\\n'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' } });
  assert.equal(q.status, 0, q.stderr);
  const theirs = q.stdout.split('\n').filter((l) => l.startsWith('installed ')).map((l) => l.slice('installed '.length)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const ours = packageVersionLines(installedFromStatus(readFileSync('/var/lib/dpkg/status', 'utf8'))).split('\n');
  assert.ok(ours.length > 10);
  assert.deepEqual(ours.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), theirs);
});

test('an env\'s list: from the topmost layer with a status file, read inside the root (a symlink cannot leave it); none without dpkg', async () => {
  await using dir = await tmpDir();
  const base = join(dir.path, 'base');
  const layer = join(dir.path, 'layer');
  const bare = join(dir.path, 'bare');
  await mkdir(join(base, 'var/lib/dpkg'), { recursive: true });
  await mkdir(join(layer, 'var/lib/dpkg'), { recursive: true });
  await mkdir(join(bare, 'etc'), { recursive: true });
  await writeFile(join(base, 'var/lib/dpkg/status'), stanza('gcc-12', 'install ok installed', '12.2.0-14', 'amd64'));
  assert.equal(await envPackageVersions([base]), 'gcc-12 12.2.0-14 amd64');
  await writeFile(join(layer, 'var/lib/dpkg/status'), `${stanza('gcc-12', 'install ok installed', '12.2.0-14', 'amd64')}\n${stanza('extra', 'install ok installed', '3', 'all')}`);
  assert.equal(await envPackageVersions([base, layer]), 'extra 3 all\ngcc-12 12.2.0-14 amd64');
  assert.equal(await envPackageVersions([bare]), undefined);
  // An absolute link resolves inside the root: the host's database is not the env's.
  await mkdir(join(bare, 'var/lib/dpkg'), { recursive: true });
  await symlink('/var/lib/dpkg/status.real', join(bare, 'var/lib/dpkg/status'));
  await writeFile(join(bare, 'var/lib/dpkg/status.real'), stanza('inside', 'install ok installed', '1', 'all'));
  assert.equal(await envPackageVersions([bare]), 'inside 1 all');
});

test('an env version\'s note is read once, whatever number of jobs ask; another version is read on its own; a failed read is not kept', async () => {
  await using dir = await tmpDir();
  const root = join(dir.path, 'root');
  await mkdir(join(root, 'var/lib/dpkg'), { recursive: true });
  await writeFile(join(root, 'var/lib/dpkg/status'), stanza('libc6', 'install ok installed', '2.36-9', 'amd64'));
  const note = envPackageNotes(2);
  const env = { id: 'bw@1', layers: [root] };
  const first = await Promise.all([note(env), note(env)]);
  assert.deepEqual(first, [`${PACKAGE_VERSIONS_NOTE}\nlibc6 2.36-9 amd64`, `${PACKAGE_VERSIONS_NOTE}\nlibc6 2.36-9 amd64`]);
  // Gone from disk (an env update removed the version): the jobs of the run still say it.
  await rm(join(root, 'var/lib/dpkg/status'));
  assert.equal(await note(env), first[0]);
  assert.equal(await note({ id: 'bw@2', layers: [root] }), `${PACKAGE_VERSIONS_NOTE} (env bw@2 has no /var/lib/dpkg/status: no list)`);
  // Only the last two versions are kept.
  await note({ id: 'bw@3', layers: [root] });
  assert.equal(await note(env), `${PACKAGE_VERSIONS_NOTE} (env bw@1 has no /var/lib/dpkg/status: no list)`);
  // A status file that cannot be read (a directory) says why, and is tried again next time.
  await mkdir(join(root, 'var/lib/dpkg/status'));
  const broken = { id: 'bw@4', layers: [root] };
  assert.match(await note(broken), /^package versions in the build root: \(cannot read \/var\/lib\/dpkg\/status of env bw@4: EISDIR/);
  await rm(join(root, 'var/lib/dpkg/status'), { recursive: true });
  await writeFile(join(root, 'var/lib/dpkg/status'), stanza('libc6', 'install ok installed', '2.36-10', 'amd64'));
  assert.equal(await note(broken), `${PACKAGE_VERSIONS_NOTE}\nlibc6 2.36-10 amd64`);
});
