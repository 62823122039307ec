import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debBuildOptions, dpkgBuildpackageFlag, parseAptSimulation, runRepoScript, safePoolPath } from './debian-build-steps.ts';

test('parseAptSimulation reads the Inst lines of apt-get -s (apt 2.6, Debian 12), and nothing else', () => {
  // Real lines of apt 2.6: `apt-get -s install debhelper` and `apt-get -s dist-upgrade` on a
  // bookworm host, and `apt-get -s install` against a local file repository (origin localhost).
  const text = [
    'NOTE: This is only a simulation!',
    '      apt-get needs root privileges for real execution.',
    'Reading package lists...',
    'The following NEW packages will be installed:',
    '  autoconf automake',
    '0 upgraded, 2 newly installed, 0 to remove and 131 not upgraded.',
    'Inst m4 (1.4.19-3 Debian:12.15/oldstable [amd64])',
    'Inst autoconf (2.71-3 Debian:12.15/oldstable [all])',
    'Inst automake (1:1.16.5-1.3 Debian:12.15/oldstable [all])',
    'Inst libtool (2.4.7-7~deb12u1 Debian:12.15/oldstable [all])',
    'Inst dpkg [1.21.22] (1.21.23 Debian:12.15/oldstable [amd64])',
    'Inst libperl5.36 [5.36.0-7+deb12u2] (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64]) [perl:amd64 ]',
    'Inst perl [5.36.0-7+deb12u2] (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64]) []',
    'Inst libc6:i386 (2.36-9+deb12u4 localhost [i386])',
    'Inst hello:amd64 (2.10-3 localhost [amd64])',
    'Conf m4 (1.4.19-3 Debian:12.15/oldstable [amd64])',
    'Conf libc6:i386 (2.36-9+deb12u4 localhost [i386])',
    'Remv oldthing [0.9-1]',
    '',
  ].join('\n');
  assert.deepEqual(parseAptSimulation(text).map((w) => `${w.name}=${w.version} ${w.arch}`), [
    'm4=1.4.19-3 amd64',
    'autoconf=2.71-3 all',
    'automake=1:1.16.5-1.3 all',
    'libtool=2.4.7-7~deb12u1 all',
    'dpkg=1.21.23 amd64', // the new version, not the installed one in [brackets]
    'libperl5.36=5.36.0-7+deb12u4 amd64',
    'perl=5.36.0-7+deb12u4 amd64',
    'libc6=2.36-9+deb12u4 i386', // arch-qualified names lose the qualifier; the arch is kept
    'hello=2.10-3 amd64',
  ]);
  assert.deepEqual(parseAptSimulation(''), []);
});

const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;

test('parseAptSimulation on a real offline apt-get -s against a local repository (upgrade, foreign arch, all)', { skip: hasApt ? false : 'apt-get is not installed' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-apt-sim-'));
  try {
    const stanza = (name: string, version: string, arch: string, extra = '') =>
      `Package: ${name}\nVersion: ${version}\nArchitecture: ${arch}\n${extra}Filename: pool/${name}_${arch}.deb\nSize: 1\nSHA256: ${'f'.repeat(64)}\nDescription: x\n`;
    await mkdir(join(dir, 'repo'));
    await writeFile(join(dir, 'repo', 'Packages'), [
      stanza('hello', '2.10-3', 'amd64', 'Depends: libc6 (>= 2.34)\n'),
      stanza('hello', '2.10-3', 'i386', 'Depends: libc6 (>= 2.34)\n'),
      stanza('libc6', '2.36-9+deb12u4', 'amd64', 'Multi-Arch: same\n'),
      stanza('libc6', '2.36-9+deb12u4', 'i386', 'Multi-Arch: same\n'),
      stanza('tzdata', '2024a-0+deb12u1', 'all'),
      stanza('libfoo1', '1:2.0-1', 'i386', 'Depends: libc6\n'),
    ].join('\n'));
    // One package installed at an older version: apt upgrades it ("Inst libc6 [old] (new …)").
    await writeFile(join(dir, 'status'), 'Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\nArchitecture: amd64\nMulti-Arch: same\nMaintainer: x\nDescription: x\n');
    await writeFile(join(dir, 'sources.list'), `deb [trusted=yes] file:${join(dir, 'repo')} ./\n`);
    for (const d of ['lists/partial', 'cache/archives/partial', 'log']) await mkdir(join(dir, d), { recursive: true });
    const apt = (native: string, foreign: string, args: readonly string[]) => execFileSync('apt-get', [
      '-o', `Dir::State::Lists=${join(dir, 'lists')}`, '-o', `Dir::Cache=${join(dir, 'cache')}`, '-o', `Dir::State::status=${join(dir, 'status')}`,
      '-o', `Dir::Etc::SourceList=${join(dir, 'sources.list')}`, '-o', `Dir::Etc::SourceParts=${join(dir, 'none')}`,
      '-o', `Dir::Etc::Preferences=${join(dir, 'none')}`, '-o', `Dir::Etc::PreferencesParts=${join(dir, 'none')}`, '-o', `Dir::Log=${join(dir, 'log')}`,
      '-o', `APT::Architecture=${native}`, '-o', `APT::Architectures::=${native}`, '-o', `APT::Architectures::=${foreign}`,
      '-o', 'Debug::NoLocking=1', '-o', 'APT::Sandbox::User=root', '-o', 'Acquire::Languages=none', ...args,
    ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    apt('amd64', 'i386', ['update']);
    const amd64 = apt('amd64', 'i386', ['-s', 'install', 'hello', 'tzdata', 'libfoo1:i386']);
    assert.match(amd64, /^Inst libc6 \[2\.36-9\] \(/m, amd64);
    assert.match(amd64, /^Inst libfoo1:i386 \(/m, amd64);
    assert.deepEqual(parseAptSimulation(amd64).map((w) => `${w.name}=${w.version} ${w.arch}`).sort(), [
      'hello=2.10-3 amd64', 'libc6=2.36-9+deb12u4 amd64', 'libc6=2.36-9+deb12u4 i386', 'libfoo1=1:2.0-1 i386', 'tzdata=2024a-0+deb12u1 all',
    ]);
    // Native i386, installing the amd64 build: apt qualifies the name with :amd64.
    const cross = apt('i386', 'amd64', ['-s', 'install', 'hello:amd64']);
    assert.match(cross, /^Inst hello:amd64 \(/m, cross);
    assert.ok(parseAptSimulation(cross).some((w) => w.name === 'hello' && w.arch === 'amd64' && w.version === '2.10-3'), cross);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('dpkgBuildpackageFlag and debBuildOptions', () => {
  assert.equal(dpkgBuildpackageFlag('binary'), '-b');
  assert.equal(dpkgBuildpackageFlag('binary-arch'), '-B');
  assert.equal(dpkgBuildpackageFlag('binary-indep'), '-A');
  assert.equal(debBuildOptions(1, false), 'parallel=1');
  assert.equal(debBuildOptions(8, true), 'parallel=8 nocheck');
  assert.equal(debBuildOptions(2, false, ['nocheck', 'nodoc', 'cross']), 'parallel=2 nocheck nodoc');
  assert.equal(debBuildOptions(1, false, ['nodoc']), 'parallel=1 nodoc');
});

const hasScan = hasApt && spawnSync('dpkg-scanpackages', ['--version'], { stdio: 'ignore' }).status === 0;

test('runRepoScript: the run\'s staged .debs as a flat repository whose Release apt takes without a warning (Date, SHA256 of Packages)', { skip: hasScan ? false : 'apt-get or dpkg-scanpackages is not installed' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-run-repo-'));
  try {
    // A real .deb in the repository folder, as a dependency's artifact stages it in $SYSROOT.
    const pkg = join(dir, 'pkg');
    await mkdir(join(pkg, 'DEBIAN'), { recursive: true });
    await writeFile(join(pkg, 'DEBIAN', 'control'), 'Package: libkiln-a-dev\nVersion: 1.0\nArchitecture: all\nMaintainer: kiln tests <kiln@example.invalid>\nDescription: kiln test\n');
    const repo = join(dir, 'repo');
    await mkdir(repo);
    execFileSync('dpkg-deb', ['--root-owner-group', '--build', pkg, join(repo, 'libkiln-a-dev_1.0_all.deb')], { stdio: 'ignore' });
    execFileSync('bash', ['-e', '-o', 'pipefail', '-c', runRepoScript(repo).join('\n')], { cwd: dir, stdio: 'ignore' });
    // apt itself: `apt-get update` over it prints no warning (it did: "No Hash entry in
    // Release file", "Invalid 'Date' entry"), and sees the package with kiln-run's origin.
    await writeFile(join(dir, 'sources.list'), `deb [trusted=yes] file:${repo} ./\n`);
    await writeFile(join(dir, 'status'), '');
    for (const d of ['lists/partial', 'cache/archives/partial', 'log']) await mkdir(join(dir, d), { recursive: true });
    const opts = [
      '-o', `Dir::State::Lists=${join(dir, 'lists')}`, '-o', `Dir::Cache=${join(dir, 'cache')}`, '-o', `Dir::State::status=${join(dir, 'status')}`,
      '-o', `Dir::Etc::SourceList=${join(dir, 'sources.list')}`, '-o', `Dir::Etc::SourceParts=${join(dir, 'none')}`,
      '-o', `Dir::Etc::Preferences=${join(dir, 'none')}`, '-o', `Dir::Etc::PreferencesParts=${join(dir, 'none')}`, '-o', `Dir::Log=${join(dir, 'log')}`,
      '-o', 'Debug::NoLocking=1', '-o', 'APT::Sandbox::User=root', '-o', 'Acquire::Languages=none',
    ];
    const update = spawnSync('apt-get', [...opts, 'update'], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    assert.equal(update.status, 0, update.stderr);
    assert.doesNotMatch(`${update.stdout}\n${update.stderr}`, /^[WE]: /m, update.stderr);
    const policy = execFileSync('apt-cache', [...opts, 'policy'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    assert.match(policy, /^ +release o=kiln-run,/m, policy);
    // What apt-ftparchive release writes for such a repository: a Date, the SHA256 and size of Packages.
    const release = await readFile(join(repo, 'Release'), 'utf8');
    const packages = await readFile(join(repo, 'Packages'));
    assert.match(packages.toString(), /^Package: libkiln-a-dev$/m);
    assert.match(release, /^Origin: kiln-run$/m);
    assert.match(release, /^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d UTC$/m);
    const sha = execFileSync('sha256sum', [join(repo, 'Packages')], { encoding: 'utf8' }).split(' ')[0];
    assert.ok(release.includes(`SHA256:\n ${sha} ${packages.length} Packages\n`), release);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('safePoolPath: a relative path inside the repository, not one a URL resolves out of it', () => {
  const table: [string, boolean][] = [
    ['pool/main/h/hello/hello_2.10-3_amd64.deb', true],
    ['dists/bookworm/pool/stable/amd64/tool_1.0_amd64.deb', true],
    ['pool/main/f/foo/foo_1%3a2.0-1_amd64.deb', true],
    ['hello_2.10-3_amd64.deb', false],
    ['Packages', false],
    ['/etc/shadow', false],
    ['pool/../../etc/shadow', false],
    ['pool/./x.deb', false],
    ['pool/%2e%2e/%2e%2e/etc/shadow', false],
    ['pool/%2E%2E/x.deb', false],
    ['pool/a%2fb/x.deb', false],
    ['pool/a%5cb/x.deb', false],
    ['pool/%zz/x.deb', false],
    ['pool/a b/x.deb', false],
    ['pool//x.deb', false],
  ];
  for (const [p, ok] of table) assert.equal(safePoolPath(p), ok, p);
});

test('HAS_INDEP_PACKAGES: true when debian/control has an `all` package the active build profiles keep (dpkg\'s own modules decide)', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { HAS_INDEP_PACKAGES } = await import('./debian-build-steps.ts');
  const dir = mkdtempSync(join(tmpdir(), 'kiln-indep-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'debian'));
  const has = (control: string, profiles: string): boolean => {
    writeFileSync(join(dir, 'debian', 'control'), control);
    return execFileSync('bash', ['-c', `if ${HAS_INDEP_PACKAGES}; then echo yes; else echo no; fi`], { cwd: dir, env: { ...process.env, DEB_BUILD_PROFILES: profiles }, encoding: 'utf8' }).trim() === 'yes';
  };
  const docOnly = 'Source: x\n\nPackage: x\nArchitecture: any\n\nPackage: x-doc\nArchitecture: all\nBuild-Profiles: <!nodoc>\n';
  assert.equal(has(docOnly, ''), true);
  assert.equal(has(docOnly, 'nodoc'), false);
  assert.equal(has(docOnly, 'nocheck nodoc'), false);
  assert.equal(has(`${docOnly}\nPackage: x-data\nArchitecture: all\n`, 'nodoc'), true);
  assert.equal(has('Source: x\n\nPackage: x\nArchitecture: any\n', ''), false);
});
