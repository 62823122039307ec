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

/** The program: kiln-abi-app (any, built against the header) and kiln-abi-data (all). */
function app(src: string): Promise<string> {
  const arch = `\trm -rf debian/app && mkdir -p debian/app/DEBIAN debian/app/usr/bin\n\tinstall -m755 kiln-abi-app debian/app/usr/bin/\n\tdpkg-gencontrol -pkiln-abi-app -Pdebian/app\n\tdpkg-deb --root-owner-group --build debian/app ..\n`;
  const indep = `\trm -rf debian/data && mkdir -p debian/data/DEBIAN debian/data/usr/share/kiln-abi\n\techo data > debian/data/usr/share/kiln-abi/data\n\tdpkg-gencontrol -pkiln-abi-data -Pdebian/data\n\tdpkg-deb --root-owner-group --build debian/data ..\n`;
  return makeSource(src, 'kiln-abi-app', {
    arch: 'any all',
    buildDepends: 'libkiln-abi-dev, make',
    control: 'Package: kiln-abi-app\nArchitecture: any\nDepends: kiln-abi-data (= ${source:Version})\nDescription: kiln test program\n kiln test.\n\n'
      + 'Package: kiln-abi-data\nArchitecture: all\nDescription: kiln test data\n kiln test.\n',
    rules: `${RULES_HEAD}build build-arch:\n\tcc -o kiln-abi-app app.c\nbuild-indep:\n\t@true\nclean:\n\trm -rf debian/app debian/data debian/files kiln-abi-app\nbinary-arch: build-arch\n${arch}binary-indep:\n${indep}binary: binary-arch binary-indep\n`,
    files: { 'app.c': '#include <stdio.h>\n#include <kiln-abi.h>\nint main(void) { printf("abi %d\\n", KILN_ABI); return 0; }\n' },
  });
}

/** A tool built against the library, with a documentation package only built without the nodoc profile. */
function tool(src: string): Promise<string> {
  const arch = `\trm -rf debian/tool && mkdir -p debian/tool/DEBIAN debian/tool/usr/bin\n\tinstall -m755 kiln-abi-tool debian/tool/usr/bin/\n\tdpkg-gencontrol -pkiln-abi-tool -Pdebian/tool\n\tdpkg-deb --root-owner-group --build debian/tool ..\n`;
  const indep = `\tcase " $$DEB_BUILD_PROFILES " in *" nodoc "*) ;; *) rm -rf debian/doc && mkdir -p debian/doc/DEBIAN debian/doc/usr/share/doc/kiln-abi-tool-doc && echo doc > debian/doc/usr/share/doc/kiln-abi-tool-doc/README && dpkg-gencontrol -pkiln-abi-tool-doc -Pdebian/doc && dpkg-deb --root-owner-group --build debian/doc .. ;; esac\n`;
  return makeSource(src, 'kiln-abi-tool', {
    arch: 'any all',
    buildDepends: 'libkiln-abi-dev, make',
    control: 'Package: kiln-abi-tool\nArchitecture: any\nDescription: kiln test tool\n kiln test.\n\n'
      + 'Package: kiln-abi-tool-doc\nArchitecture: all\nBuild-Profiles: <!nodoc>\nDescription: kiln test documentation\n kiln test.\n',
    rules: `${RULES_HEAD}build build-arch:\n\tcc -o kiln-abi-tool tool.c\nbuild-indep:\n\t@true\nclean:\n\trm -rf debian/tool debian/doc debian/files kiln-abi-tool\nbinary-arch: build-arch\n${arch}binary-indep:\n${indep}binary: binary-arch binary-indep\n`,
    files: { 'tool.c': '#include <stdio.h>\n#include <kiln-abi.h>\nint main(void) { printf("abi %d\\n", KILN_ABI); return 0; }\n' },
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
