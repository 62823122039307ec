// kiln build --debian … --binnmu auto, for real, in the shared bookworm amd64 env (chroot
// sandbox): two local sources, a library (kiln-abi-lib, its -dev package) and a program
// built against it (kiln-abi-app, an arch-dependent package that depends on its own
// arch-independent data package with (= ${source:Version})). A new version of the library
// rebuilds the program under its unchanged version: with --binnmu auto that rebuild is the
// binNMU 1.0+b1 (the data package keeps 1.0, built without the binNMU entry), which apt
// sees as an upgrade. Without auto the rebuild replaces 1.0 in kiln's repository under the
// same version, which apt does not. Slow (a minute): skipped as the other Debian tests are.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { hostDebianMirror } from '../../src/config/mirrors.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { makeSource, RULES_HEAD } from '../helpers/debian-source.ts';
import { saveCache, seededCache } from '../helpers/shared-cache.ts';
import { explain, jobLogOf, runKiln } from '../helpers/run-kiln.ts';

const skip = sharedEnvSkip();

/** The library: libkiln-abi-dev (arch any) with a header saying its ABI. */
function lib(src: string, version: string, abi: number): Promise<string> {
  return makeSource(src, 'kiln-abi-lib', {
    version,
    arch: 'any',
    buildDepends: 'make',
    control: 'Package: libkiln-abi-dev\nArchitecture: any\nDescription: kiln test library\n kiln test.\n',
    rules: `${RULES_HEAD}build build-arch build-indep:\n\t@true\nclean:\n\trm -rf debian/tmp debian/files\nbinary binary-arch binary-indep:\n\trm -rf debian/tmp && mkdir -p debian/tmp/DEBIAN debian/tmp/usr/include\n\tinstall -m644 kiln-abi.h debian/tmp/usr/include/\n\tdpkg-gencontrol -plibkiln-abi-dev -Pdebian/tmp\n\tdpkg-deb --root-owner-group --build debian/tmp ..\n`,
    files: { 'kiln-abi.h': `#define KILN_ABI ${abi}\n` },
  });
}

/**
 * A program built against the library: NAME (arch any, `anyControl` its extra fields) and
 * the arch-all package of `allControl`, made by the `indep` rule.
 */
function program(src: string, name: string, o: { anyControl: string; allControl: string; indep: string }): Promise<string> {
  const arch = `\trm -rf debian/bin && mkdir -p debian/bin/DEBIAN debian/bin/usr/bin\n\tinstall -m755 ${name} debian/bin/usr/bin/\n\tdpkg-gencontrol -p${name} -Pdebian/bin\n\tdpkg-deb --root-owner-group --build debian/bin ..\n`;
  return makeSource(src, name, {
    arch: 'any all',
    buildDepends: 'libkiln-abi-dev, make',
    control: `Package: ${name}\nArchitecture: any\n${o.anyControl}Description: kiln test program\n kiln test.\n\n${o.allControl}`,
    rules: `${RULES_HEAD}build build-arch:\n\tcc -o ${name} main.c\nbuild-indep:\n\t@true\nclean:\n\trm -rf debian/bin debian/all debian/files ${name}\nbinary-arch: build-arch\n${arch}binary-indep:\n${o.indep}binary: binary-arch binary-indep\n`,
    files: { 'main.c': '#include <stdio.h>\n#include <kiln-abi.h>\nint main(void) { printf("abi %d\\n", KILN_ABI); return 0; }\n' },
  });
}

/** kiln-abi-app (any), depending on kiln-abi-data (all) of its source's version. */
function app(src: string): Promise<string> {
  return program(src, 'kiln-abi-app', {
    anyControl: 'Depends: kiln-abi-data (= ${source:Version})\n',
    allControl: 'Package: kiln-abi-data\nArchitecture: all\nDescription: kiln test data\n kiln test.\n',
    indep: `\trm -rf debian/all && mkdir -p debian/all/DEBIAN debian/all/usr/share/kiln-abi\n\techo data > debian/all/usr/share/kiln-abi/data\n\tdpkg-gencontrol -pkiln-abi-data -Pdebian/all\n\tdpkg-deb --root-owner-group --build debian/all ..\n`,
  });
}

/** kiln-abi-tool (any), with a documentation package (all) only built without the nodoc profile. */
function tool(src: string): Promise<string> {
  return program(src, 'kiln-abi-tool', {
    anyControl: '',
    allControl: 'Package: kiln-abi-tool-doc\nArchitecture: all\nBuild-Profiles: <!nodoc>\nDescription: kiln test documentation\n kiln test.\n',
    indep: `\tcase " $$DEB_BUILD_PROFILES " in *" nodoc "*) ;; *) rm -rf debian/all && mkdir -p debian/all/DEBIAN debian/all/usr/share/doc/kiln-abi-tool-doc && echo doc > debian/all/usr/share/doc/kiln-abi-tool-doc/README && dpkg-gencontrol -pkiln-abi-tool-doc -Pdebian/all && dpkg-deb --root-owner-group --build debian/all .. ;; esac\n`,
  });
}

/** `name version arch` of every binary package the repository's amd64 Packages lists. */
function listed(repo: string): string[] {
  const text = readFileSync(join(repo, 'dists', 'bookworm', 'main', 'binary-amd64', 'Packages'), 'utf8');
  return text.split('\n\n').filter((s) => s.trim() !== '').map((s) => {
    const f = (k: string) => new RegExp(`^${k}: (.*)$`, 'm').exec(s)?.[1] ?? '';
    return `${f('Package')} ${f('Version')} ${f('Architecture')}`;
  }).sort();
}

test('--binnmu auto: a rebuild of an unchanged version is VERSION+bN (its arch-all packages keep VERSION), counted up per rebuild; the repository takes each', { skip, timeout: 30 * 60_000 }, async (t) => {
  if ((await hostDebianMirror({})) === undefined) {
    t.skip('the host has no Debian mirror in its apt sources');
    return;
  }
  const envs = await sharedEnv();
  await using dir = await tmpDir('kiln-debian-binnmu-');
  const src = join(dir.path, 'src');
  await mkdir(src);
  const lib1 = await lib(src, '1.0', 1);
  const lib2 = await lib(src, '1.1', 2);
  const prog = await app(src);
  const state = join(dir.path, 'state');
  const repo = join(state, 'repo');
  const cache = await seededCache(dir.path);
  const build = (args: string[]) => runKiln(['build', '--debian', 'bookworm', ...args, '--binnmu', 'auto', '--state', state, '--cache', cache, '--json'], { env: envs, timeoutMs: 20 * 60_000 });

  // The first build of each version: no binNMU.
  const first = await build(['--dsc', lib1, '--dsc', prog]);
  saveCache(cache);
  assert.equal(first.code, 0, explain(first));
  assert.equal(first.summary?.counts.built, 2, explain(first));
  assert.deepEqual(listed(repo), ['kiln-abi-app 1.0 amd64', 'kiln-abi-data 1.0 all', 'libkiln-abi-dev 1.0 amd64']);

  // A new library: the program is rebuilt under 1.0, as the binNMU 1.0+b1.
  const second = await build(['--dsc', lib2, '--dsc', prog]);
  assert.equal(second.code, 0, explain(second));
  assert.equal(second.summary?.counts.built, 2, explain(second));
  const appLog = jobLogOf(second, 'kiln-abi-app');
  assert.match(appLog, /--binnmu auto: kiln-abi-app 1\.0 on amd64 was built here once \(1\.0\), published in the repository \(1\.0\): this build is the binNMU 1\.0\+b1/);
  assert.match(appLog, /dpkg-buildpackage -us -uc -A \(arch amd64\) in .*, without the binNMU entry/);
  assert.doesNotMatch(jobLogOf(second, 'kiln-abi-lib'), /--binnmu auto/);
  assert.deepEqual(listed(repo), ['kiln-abi-app 1.0+b1 amd64', 'kiln-abi-data 1.0 all', 'libkiln-abi-dev 1.1 amd64']);
  // The arch-dependent package still depends on the data package of its source's version.
  const pool = join(repo, 'pool', 'main', 'k', 'kiln-abi-app');
  const deb = readdirSync(pool).find((f) => f === 'kiln-abi-app_1.0+b1_amd64.deb');
  assert.ok(deb !== undefined, readdirSync(pool).join(' '));
  assert.match(execFileSync('dpkg-deb', ['-f', join(pool, deb), 'Depends', 'Version', 'Source'], { encoding: 'utf8' }), /Depends: kiln-abi-data \(= 1\.0\)\nVersion: 1\.0\+b1\nSource: kiln-abi-app \(1\.0\)/);

  // The report and the history say which binNMU the build was.
  const report = JSON.parse(readFileSync(second.summary!.report, 'utf8')) as { packages: { name: string; version: string; binaryVersion?: string }[] };
  assert.deepEqual(report.packages.map((p) => [p.name, p.version, p.binaryVersion]).sort(), [['kiln-abi-app', '1.0', '1.0+b1'], ['kiln-abi-lib', '1.1', undefined]]);
  const history = await runKiln(['history', 'kiln-abi-app', '--state', state]);
  assert.equal(history.code, 0, explain(history));
  assert.match(history.stdout, /kiln-abi-app@amd64 +1\.0 \(1\.0\+b1\) +built/);

  // Nothing changed: up to date, no new number.
  const third = await build(['--dsc', lib2, '--dsc', prog]);
  assert.equal(third.code, 0, explain(third));
  assert.equal(third.summary?.counts['up-to-date'], 2, explain(third));
  // The report and the plan still say which binNMU each is (its artifact does).
  const still = JSON.parse(readFileSync(third.summary!.report, 'utf8')) as { packages: { name: string; binaryVersion?: string }[] };
  assert.deepEqual(still.packages.map((p) => [p.name, p.binaryVersion]).sort(), [['kiln-abi-app', '1.0+b1'], ['kiln-abi-lib', undefined]]);
  const unchanged = await runKiln(['plan', '--debian', 'bookworm', '--dsc', lib2, '--dsc', prog, '--binnmu', 'auto', '--state', state, '--cache', cache], { env: envs });
  assert.match(unchanged.stdout, /up-to-date +kiln-abi-app@amd64 +1\.0 +the binNMU 1\.0\+b1\n/, explain(unchanged));

  // A forced rebuild of the same inputs: the same binNMU again (one key, one version).
  const forced = await build(['--dsc', lib2, '--dsc', prog, '--force', 'kiln-abi-app']);
  assert.equal(forced.code, 0, explain(forced));
  assert.match(jobLogOf(forced, 'kiln-abi-app'), /kiln-abi-app 1\.0 on amd64 was built here from these very inputs as the binNMU 1\.0\+b1: built again as that/);
  assert.deepEqual(listed(repo), ['kiln-abi-app 1.0+b1 amd64', 'kiln-abi-data 1.0 all', 'libkiln-abi-dev 1.1 amd64'], explain(forced));

  // Without auto, the same rebuild replaces 1.0 in the repository under the same version:
  // an apt that has 1.0 installed sees no upgrade, and keeps the build against the old library.
  const plainState = join(dir.path, 'plain');
  const plain = (args: string[]) => runKiln(['build', '--debian', 'bookworm', ...args, '--state', plainState, '--cache', cache, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  const p1 = await plain(['--dsc', lib1, '--dsc', prog]);
  assert.equal(p1.code, 0, explain(p1));
  const p2 = await plain(['--dsc', lib2, '--dsc', prog]);
  assert.equal(p2.code, 0, explain(p2));
  assert.equal(p2.summary?.counts.built, 2, explain(p2));
  assert.deepEqual(listed(join(plainState, 'repo')), ['kiln-abi-app 1.0 amd64', 'kiln-abi-data 1.0 all', 'libkiln-abi-dev 1.1 amd64']);
  // The run says so, and what to do.
  assert.ok(p2.events.some((e) => e.type === 'note' && /^1 package\(s\) rebuilt and published again under the version they had \(kiln-abi-app 1\.0 \(amd64\)\): apt does not see them as upgrades; --binnmu auto gives each rebuild a version of its own$/.test((e as { text: string }).text)), explain(p2));

  // Another state directory sharing the cache takes those builds up to date (its records
  // hold no number) and publishes them; its own next rebuild counts past what its
  // repository lists.
  const otherState = join(dir.path, 'other');
  const other = (args: string[]) => runKiln(['build', '--debian', 'bookworm', ...args, '--binnmu', 'auto', '--state', otherState, '--cache', cache, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  for (const l of [lib1, lib2]) {
    const o = await other(['--dsc', l, '--dsc', prog]);
    assert.equal(o.code, 0, explain(o));
    assert.equal(o.summary?.counts['up-to-date'], 2, explain(o));
  }
  assert.deepEqual(listed(join(otherState, 'repo')), ['kiln-abi-app 1.0+b1 amd64', 'kiln-abi-data 1.0 all', 'libkiln-abi-dev 1.1 amd64']);
  const lib4 = await lib(src, '1.3', 4);
  const o3 = await other(['--dsc', lib4, '--dsc', prog]);
  assert.equal(o3.code, 0, explain(o3));
  assert.match(jobLogOf(o3, 'kiln-abi-app'), /kiln-abi-app 1\.0 on amd64 was published in the repository \(\+b1\): this build is the binNMU 1\.0\+b2/);
  assert.deepEqual(listed(join(otherState, 'repo')), ['kiln-abi-app 1.0+b2 amd64', 'kiln-abi-data 1.0 all', 'libkiln-abi-dev 1.3 amd64']);

  // With the nodoc profile the tool has no arch-all package left: its binNMU has no -A half.
  const nodocState = join(dir.path, 'nodoc');
  const nodoc = (args: string[]) => runKiln(['build', '--debian', 'bookworm', ...args, '--profiles', 'nodoc', '--binnmu', 'auto', '--state', nodocState, '--cache', cache, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  const kit = await tool(src);
  const n1 = await nodoc(['--dsc', lib1, '--dsc', kit]);
  assert.equal(n1.code, 0, explain(n1));
  const n2 = await nodoc(['--dsc', lib2, '--dsc', kit]);
  assert.equal(n2.code, 0, explain(n2));
  assert.match(jobLogOf(n2, 'kiln-abi-tool'), /this build is the binNMU 1\.0\+b1[^]*kiln: no architecture-independent package to build with these build profiles: no -A half/);
  assert.deepEqual(listed(join(nodocState, 'repo')), ['kiln-abi-tool 1.0+b1 amd64', 'libkiln-abi-dev 1.1 amd64']);

  // Another new library: the next number; with --twice, both halves are built a second
  // time and compared.
  const lib3 = await lib(src, '1.2', 3);
  // kiln plan says what the build would be.
  const planned = await runKiln(['plan', '--debian', 'bookworm', '--dsc', lib3, '--dsc', prog, '--binnmu', 'auto', '--state', state, '--cache', cache], { env: envs });
  assert.equal(planned.code, 0, explain(planned));
  assert.match(planned.stdout, /to-build +kiln-abi-app@amd64 +1\.0 +dependency-changed[^\n]*; as the binNMU 1\.0\+b2\n/);
  assert.match(planned.stdout, /to-build +kiln-abi-lib@amd64 +1\.2 +(?!.*binNMU).*\n/);
  const third2 = await build(['--dsc', lib3, '--dsc', prog, '--twice']);
  assert.equal(third2.code, 0, explain(third2));
  const thirdLog = jobLogOf(third2, 'kiln-abi-app');
  assert.match(thirdLog, /was built here 3 times \(1\.0, \+b1\), published in the repository \(\+b1\): this build is the binNMU 1\.0\+b2/);
  // (Compared, not missing: these hand-written rules leave modes to the umask, which --twice varies.)
  assert.match(thirdLog, /--twice: kiln-abi-app_1\.0\+b2_amd64\.deb: (reproducible|differs: data: 3 of 4 entries differ \(\.: mode)/);
  assert.match(thirdLog, /--twice: kiln-abi-data_1\.0_all\.deb: (reproducible|differs: data: 5 of 5 entries differ \(\.: mode)/);
  assert.deepEqual(listed(repo), ['kiln-abi-app 1.0+b2 amd64', 'kiln-abi-data 1.0 all', 'libkiln-abi-dev 1.2 amd64'], explain(third2));
});

test('--binnmu auto, two archs (arm64 under QEMU): the archs of a source take one number, a first build none', { skip, timeout: 30 * 60_000 }, async (t) => {
  if ((await hostDebianMirror({})) === undefined) {
    t.skip('the host has no Debian mirror in its apt sources');
    return;
  }
  const envs = await sharedEnv();
  await sharedEnv('bookworm-arm64', 'bookworm', 'arm64');
  await using dir = await tmpDir('kiln-debian-binnmu-archs-');
  const src = join(dir.path, 'src');
  await mkdir(src);
  // No library: a program and its data package, built against the archive alone.
  const dsc = await makeSource(src, 'kiln-mx', {
    arch: 'any all',
    buildDepends: 'make',
    control: 'Package: kiln-mx\nArchitecture: any\nMulti-Arch: same\nDescription: kiln test\n kiln test.\n\nPackage: kiln-mx-data\nArchitecture: all\nDescription: kiln test data\n kiln test.\n',
    rules: `${RULES_HEAD}build build-arch build-indep:\n\t@true\nclean:\n\trm -rf debian/a debian/b debian/files\nbinary-arch:\n\trm -rf debian/a && mkdir -p debian/a/DEBIAN debian/a/usr/lib/kiln-mx\n\techo mx > debian/a/usr/lib/kiln-mx/mx\n\tdpkg-gencontrol -pkiln-mx -Pdebian/a\n\tdpkg-deb --root-owner-group --build debian/a ..\nbinary-indep:\n\trm -rf debian/b && mkdir -p debian/b/DEBIAN debian/b/usr/share/kiln-mx\n\techo data > debian/b/usr/share/kiln-mx/data\n\tdpkg-gencontrol -pkiln-mx-data -Pdebian/b\n\tdpkg-deb --root-owner-group --build debian/b ..\nbinary: binary-arch binary-indep\n`,
    files: {},
  });
  const state = join(dir.path, 'state');
  const cache = await seededCache(dir.path);
  const build = (extra: string[]) => runKiln(['build', '--debian', 'bookworm', '--arch', 'amd64,arm64', '--dsc', dsc, '--binnmu', 'auto', ...extra, '--state', state, '--cache', cache, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  const versionsOf = (arch: string) => readFileSync(join(state, 'repo', 'dists', 'bookworm', 'main', `binary-${arch}`, 'Packages'), 'utf8').split('\n\n')
    .filter((p) => /^Package: kiln-mx$/m.test(p)).map((p) => /^Version: (.*)$/m.exec(p)?.[1]);
  const first = await build([]);
  assert.equal(first.code, 0, explain(first));
  assert.equal(first.summary?.counts.built, 2, explain(first));
  assert.deepEqual([versionsOf('amd64'), versionsOf('arm64')], [['1.0'], ['1.0']]);
  // Another build option rebuilds both: one number for both.
  const second = await build(['--nocheck']);
  assert.equal(second.code, 0, explain(second));
  assert.deepEqual([versionsOf('amd64'), versionsOf('arm64')], [['1.0+b1'], ['1.0+b1']]);
  assert.match(jobLogOf(second, 'kiln-mx'), /--binnmu auto: kiln-mx 1\.0 on amd64, arm64 was built here twice \(1\.0\), published in the repository \(1\.0\): this build is the binNMU 1\.0\+b1/);
});
