// kiln build --debian … --arch arm64 --cross, for real, in the shared bookworm amd64 env
// (chroot sandbox), with no emulation: hello from the archive and two local sources where
// one build-depends on the other's arm64 library, each cross-built with the amd64 env's
// cross toolchain (dpkg-buildpackage -a arm64 -B, profiles cross and nocheck). The .debs
// are arm64 and hold aarch64 programs; the second source installed the first one's fresh
// arm64 .deb; a second run is up to date. Slow (a few minutes): skipped as the other
// Debian tests are.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { hostDebianMirror } from '../../src/config/mirrors.ts';
import { elfHeader } from '../../src/lib/elf-header.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { makeSource, RULES_HEAD } from '../helpers/debian-source.ts';
import { saveCache, seededCache } from '../helpers/shared-cache.ts';
import { explain, jobLogOf, runKiln } from '../helpers/run-kiln.ts';

const skip = sharedEnvSkip();

/** The host arch's compiler, as a cross-aware debian/rules names it. */
const CC = 'CC := $(shell dpkg-architecture -qDEB_HOST_GNU_TYPE)-gcc\nMA := $(shell dpkg-architecture -qDEB_HOST_MULTIARCH)\n';

test('--cross: arm64 packages built in the amd64 env with its cross compilers, one waiting for another\'s fresh arm64 .deb, then up to date', { skip, timeout: 30 * 60_000 }, async (t) => {
  if ((await hostDebianMirror({})) === undefined) {
    t.skip('the host has no Debian mirror in its apt sources');
    return;
  }
  if (execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim() !== 'amd64') {
    t.skip('the test cross-builds from amd64');
    return;
  }
  const envs = await sharedEnv();
  await using dir = await tmpDir('kiln-debian-cross-');
  const src = join(dir.path, 'src');
  await mkdir(src);
  // A static library for the host arch, and a program linked with it.
  const lib = await makeSource(src, 'kiln-xlib', {
    arch: 'any',
    // make:native, as a cross-aware source names it (plain `make` is the host arch's make in a cross build, which dose finds conflicting).
    buildDepends: 'make:native',
    control: 'Package: libkiln-x-dev\nArchitecture: any\nMulti-Arch: same\nDescription: kiln cross test library\n kiln test.\n',
    rules: `${RULES_HEAD}${CC}build build-arch build-indep:\n\t$(CC) -c x.c -o x.o && ar rcs libkiln-x.a x.o\nclean:\n\trm -rf debian/tmp debian/files x.o libkiln-x.a\nbinary binary-arch binary-indep: build\n\trm -rf debian/tmp && mkdir -p debian/tmp/DEBIAN debian/tmp/usr/include debian/tmp/usr/lib/$(MA)\n\tinstall -m644 kiln-x.h debian/tmp/usr/include/\n\tinstall -m644 libkiln-x.a debian/tmp/usr/lib/$(MA)/\n\tdpkg-gencontrol -plibkiln-x-dev -Pdebian/tmp\n\tdpkg-deb --root-owner-group --build debian/tmp ..\n`,
    files: { 'kiln-x.h': 'const char *kiln_x(void);\n', 'x.c': 'const char *kiln_x(void) { return "cross-built"; }\n' },
  });
  const app = await makeSource(src, 'kiln-xapp', {
    arch: 'any',
    buildDepends: 'libkiln-x-dev (>= 1.0), make:native',
    control: 'Package: kiln-xapp\nArchitecture: any\nDescription: kiln cross test program\n kiln test.\n',
    rules: `${RULES_HEAD}${CC}build build-arch build-indep:\n\t$(CC) -o kiln-xapp app.c -lkiln-x\nclean:\n\trm -rf debian/tmp debian/files kiln-xapp\nbinary binary-arch binary-indep: build\n\trm -rf debian/tmp && mkdir -p debian/tmp/DEBIAN debian/tmp/usr/bin\n\tinstall -m755 kiln-xapp debian/tmp/usr/bin/\n\tdpkg-gencontrol -pkiln-xapp -Pdebian/tmp\n\tdpkg-deb --root-owner-group --build debian/tmp ..\n`,
    files: { 'app.c': '#include <stdio.h>\n#include <kiln-x.h>\nint main(void) { puts(kiln_x()); return 0; }\n' },
  });
  const state = join(dir.path, 'state');
  const out = join(dir.path, 'out');
  const cache = await seededCache(dir.path);
  const args = ['--debian', 'bookworm', 'hello', '--dsc', lib, '--dsc', app, '--arch', 'arm64', '--cross', '--state', state, '--cache', cache];

  const plan = await runKiln(['plan', ...args, '--json'], { env: envs, timeoutMs: 10 * 60_000 });
  assert.equal(plan.code, 0, explain(plan));
  const planned = JSON.parse(plan.stdout) as { packages: { id: string; state: string; waitsFor: string[]; buildMode?: string }[] };
  assert.ok(planned.packages.every((p) => p.buildMode === 'cross'), 'every job of the plan is marked a cross build');
  assert.deepEqual(planned.packages.map((p) => [p.id, p.state]).sort(), [['hello@arm64', 'to-build'], ['kiln-xapp@arm64', 'to-build'], ['kiln-xlib@arm64', 'to-build']]);
  assert.deepEqual(planned.packages.find((p) => p.id === 'kiln-xapp@arm64')?.waitsFor, ['kiln-xlib@arm64']);

  // A source with Architecture: all packages too: a cross build makes its arm64 ones only (-B),
  // and the run says so at the start, with how to have the others (planned only).
  const withDoc = await makeSource(src, 'kiln-xdoc', {
    arch: 'any all',
    buildDepends: 'make:native',
    control: 'Package: kiln-xtool\nArchitecture: any\nDescription: kiln cross test tool\n kiln test.\n\nPackage: kiln-xdoc\nArchitecture: all\nDescription: kiln cross test documentation\n kiln test.\n',
    rules: `${RULES_HEAD}build build-arch build-indep binary binary-arch binary-indep clean:\n\t@true\n`,
    files: {},
  });
  const docPlan = await runKiln(['plan', ...args, '--dsc', withDoc], { env: envs, timeoutMs: 10 * 60_000 });
  assert.equal(docPlan.code, 0, explain(docPlan));
  assert.match(docPlan.stderr, /--cross: the Architecture: all packages of kiln-xdoc are not built in this run \(a cross build makes the architecture-dependent ones only, -B\); add amd64 to the run's archs \(--arch amd64,arm64, or debian\.toml's archs\): its native build makes them/, explain(docPlan));
  assert.doesNotMatch(docPlan.stderr, /packages of [^\n]*(hello|kiln-xapp)/, 'sources without Architecture: all packages are not named');

  const built = await runKiln(['build', ...args, '--out', out, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  saveCache(cache);
  assert.equal(built.code, 0, explain(built));
  assert.equal(built.summary?.counts.built, 3, explain(built));
  for (const name of ['hello', 'kiln-xlib', 'kiln-xapp']) {
    const log = jobLogOf(built, name);
    assert.match(log, /cross-building for arm64 in the amd64 env/, name);
    assert.match(log, /dpkg-buildpackage -us -uc -B --host-arch=arm64 \(arch arm64\).*DEB_BUILD_PROFILES=cross nocheck/, name);
  }
  // The program waited for the library and installed its fresh arm64 .deb, offline.
  assert.match(jobLogOf(built, 'kiln-xapp'), /install libkiln-x-dev 1\.0 \[arm64\] \(from this run's packages\)/);
  const debs = readdirSync(out).filter((f) => f.endsWith('.deb')).sort();
  assert.ok(debs.includes('hello_2.10-3_arm64.deb') && debs.includes('kiln-xapp_1.0_arm64.deb') && debs.includes('libkiln-x-dev_1.0_arm64.deb'), debs.join(' '));
  for (const [deb, file] of [['hello_2.10-3_arm64.deb', './usr/bin/hello'], ['kiln-xapp_1.0_arm64.deb', './usr/bin/kiln-xapp']] as const) {
    assert.equal(execFileSync('dpkg-deb', ['-f', join(out, deb), 'Architecture'], { encoding: 'utf8' }).trim(), 'arm64');
    const x = join(dir.path, `x-${deb}`);
    execFileSync('dpkg-deb', ['-x', join(out, deb), x]);
    assert.equal(elfHeader(readFileSync(join(x, file)).subarray(0, 20))?.machine, 183, `${file} of ${deb} is an aarch64 program (EM_AARCH64)`);
  }

  const again = await runKiln(['build', ...args, '--json'], { env: envs, timeoutMs: 10 * 60_000 });
  assert.equal(again.code, 0, explain(again));
  assert.equal(again.summary?.counts['up-to-date'], 3, explain(again));
});
