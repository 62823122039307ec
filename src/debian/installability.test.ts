import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { isKilnError } from '../errors.ts';
import { checkInstallable, doseMissing, parseDoseReport, DOSE } from './installability.ts';

// The Packages and Sources the report below was made from (dose-builddebcheck 7.0.0,
// `--deb-native-arch=amd64 -e -f -s Packages Sources`), and the real run further down
// checks again.
const PACKAGES = `Package: build-essential
Version: 12.9
Architecture: amd64

Package: libc6
Version: 2.36-9
Architecture: amd64
Multi-Arch: same

Package: libfoo-dev
Version: 1.0-1
Architecture: amd64
Depends: libc6 (>= 2.36)

Package: libbar-dev
Version: 2.0-1
Architecture: amd64
Depends: libc6 (>= 3.0)

Package: debhelper
Version: 13.11
Architecture: all

Package: conf-a
Version: 1
Architecture: amd64
Conflicts: conf-b

Package: conf-b
Version: 1
Architecture: amd64
`;

const SOURCES = `Package: good
Version: 1.0-1
Architecture: any
Build-Depends: debhelper (>= 13), libfoo-dev

Package: missing
Version: 2.0-1
Architecture: any
Build-Depends: debhelper, libnope-dev (>= 3)

Package: restricted
Version: 3.0-1
Architecture: any
Build-Depends: debhelper, libnope-dev [!amd64]

Package: checky
Version: 4.0-1
Architecture: any
Build-Depends: debhelper, libcheck-dev <!nocheck>

Package: deep
Version: 5.0-1
Architecture: any
Build-Depends: libbar-dev

Package: conflict
Version: 6.0-1
Architecture: any
Build-Depends: conf-a, conf-b
`;

// Verbatim dose-builddebcheck output (successes and failures, explained).
const REPORT = `output-version: 1.2
native-architecture: amd64
host-architecture: amd64
report:
 -
  package: good
  version: 1.0-1
  architecture: any
  type: src
  status: ok
  installationset:
   -
    package: good
    version: 1.0-1
    architecture: any
    type: src
   -
    package: build-essential
    version: 12.9
    architecture: amd64
   -
    package: debhelper
    version: 13.11
    architecture: all
   -
    package: libc6
    version: 2.36-9
    architecture: amd64
   -
    package: libfoo-dev
    version: 1.0-1
    architecture: amd64
 -
  package: missing
  version: 2.0-1
  architecture: any
  type: src
  status: broken
  reasons:
   -
    missing:
     pkg:
      package: missing
      version: 2.0-1
      architecture: any
      type: src
      unsat-dependency: libnope-dev:amd64 (>= 3)
 -
  package: restricted
  version: 3.0-1
  architecture: any
  type: src
  status: ok
  installationset:
   -
    package: restricted
    version: 3.0-1
    architecture: any
    type: src
   -
    package: build-essential
    version: 12.9
    architecture: amd64
   -
    package: debhelper
    version: 13.11
    architecture: all
 -
  package: checky
  version: 4.0-1
  architecture: any
  type: src
  status: broken
  reasons:
   -
    missing:
     pkg:
      package: checky
      version: 4.0-1
      architecture: any
      type: src
      unsat-dependency: libcheck-dev:amd64
 -
  package: deep
  version: 5.0-1
  architecture: any
  type: src
  status: broken
  reasons:
   -
    missing:
     pkg:
      package: libbar-dev
      version: 2.0-1
      architecture: amd64
      unsat-dependency: libc6:amd64 (>= 3.0)
     depchains:
      -
       depchain:
        -
         package: deep
         version: 5.0-1
         architecture: any
         type: src
         depends: libbar-dev:amd64
 -
  package: conflict
  version: 6.0-1
  architecture: any
  type: src
  status: broken
  reasons:
   -
    conflict:
     pkg1:
      package: conf-a
      version: 1
      architecture: amd64
      unsat-conflict: conf-b:amd64
     pkg2:
      package: conf-b
      version: 1
      architecture: amd64
     depchain1:
      -
       depchain:
        -
         package: conflict
         version: 6.0-1
         architecture: any
         type: src
         depends: conf-a:amd64
     depchain2:
      -
       depchain:
        -
         package: conflict
         version: 6.0-1
         architecture: any
         type: src
         depends: conf-b:amd64
 
binary-packages: 13
source-packages: 6
broken-packages: 4
`;

test('parseDoseReport: broken sources with their first reason, ok ones ignored', () => {
  assert.deepEqual(parseDoseReport(REPORT), [
    { source: 'missing', version: '2.0-1', reason: 'unsat-dependency: libnope-dev:amd64 (>= 3)' },
    { source: 'checky', version: '4.0-1', reason: 'unsat-dependency: libcheck-dev:amd64' },
    // A dependency of a build dependency: dose names the deep relation that fails.
    { source: 'deep', version: '5.0-1', reason: 'unsat-dependency: libc6:amd64 (>= 3.0)' },
    { source: 'conflict', version: '6.0-1', reason: 'unsat-conflict: conf-b:amd64' },
  ]);
});

test('parseDoseReport: an empty report, a report with no broken package, a broken one without reasons', () => {
  assert.deepEqual(parseDoseReport(''), []);
  const ok = 'output-version: 1.2\nnative-architecture: amd64\nreport:\n -\n  package: a\n  version: 1\n  architecture: any\n  type: src\n  status: ok\n \nbinary-packages: 1\nsource-packages: 1\nbroken-packages: 0\n';
  assert.deepEqual(parseDoseReport(ok), []);
  const bare = 'report:\n -\n  package: b\n  version: 1:2.0-1\n  status: broken\nbroken-packages: 1\n';
  assert.deepEqual(parseDoseReport(bare), [{ source: 'b', version: '1:2.0-1', reason: 'not installable (dose gave no reason)' }]);
});

const dose = existsSync(DOSE) ? false : 'dose-builddebcheck is not installed';

test('checkInstallable runs dose-builddebcheck: missing build-dep broken, arch restriction and profiles applied', { skip: dose }, async () => {
  assert.equal(doseMissing(), undefined);
  const show = (xs: readonly { source: string; reason: string }[]) => xs.map((x) => `${x.source}: ${x.reason}`).sort();
  assert.deepEqual(show(await checkInstallable({ packages: PACKAGES, sources: SOURCES, arch: 'amd64' })), [
    'checky: unsat-dependency: libcheck-dev:amd64',
    'conflict: unsat-conflict: conf-b:amd64',
    'deep: unsat-dependency: libc6:amd64 (>= 3.0)',
    'missing: unsat-dependency: libnope-dev:amd64 (>= 3)',
  ]);
  // With the nocheck profile, <!nocheck> relations drop out: checky becomes installable.
  assert.deepEqual(show(await checkInstallable({ packages: PACKAGES, sources: SOURCES, arch: 'amd64', profiles: ['nocheck'] })), [
    'conflict: unsat-conflict: conf-b:amd64',
    'deep: unsat-dependency: libc6:amd64 (>= 3.0)',
    'missing: unsat-dependency: libnope-dev:amd64 (>= 3)',
  ]);
  // Everything is installable once the missing pieces exist.
  const more = `${PACKAGES}\nPackage: libnope-dev\nVersion: 3.1\nArchitecture: all\n\nPackage: libcheck-dev\nVersion: 1\nArchitecture: amd64\n`;
  const some = SOURCES.split('\n\n').filter((s) => /^Package: (good|missing|restricted|checky)$/m.test(s)).join('\n\n');
  assert.deepEqual(await checkInstallable({ packages: more, sources: some, arch: 'amd64' }), []);
  // On another arch the Packages for amd64 satisfy nothing arch-specific: restricted now needs libnope-dev.
  const arm = await checkInstallable({ packages: PACKAGES.replaceAll('amd64', 'arm64'), sources: SOURCES, arch: 'arm64' });
  assert.ok(show(arm).includes('restricted: unsat-dependency: libnope-dev:arm64'), show(arm).join('\n'));
  assert.ok(!show(arm).some((l) => l.startsWith('good:')));
});

test('checkInstallable: a malformed index is a tool-failed error, not "everything installable"', { skip: dose }, async () => {
  await assert.rejects(
    checkInstallable({ packages: PACKAGES, sources: 'Package: s\nVersion: 1\nArchitecture: any\nBuild-Depends: foo (>= \n', arch: 'amd64' }),
    (e: unknown) => isKilnError(e) && e.code === 'tool-failed' && /exit 64/.test(e.message),
  );
});

test('checkInstallable honours an abort signal', { skip: dose }, async () => {
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(checkInstallable({ packages: PACKAGES, sources: SOURCES, arch: 'amd64', signal: ac.signal }));
});

test('checkInstallable drops Build-Depends-Indep for a -B build and Build-Depends-Arch for a -A build, as buildds do', { skip: dose }, async () => {
  const sources = [
    'Package: docsy\nVersion: 1\nArchitecture: any all\nBuild-Depends: libfoo-dev\nBuild-Depends-Indep: libdocs-nope\n',
    'Package: archy\nVersion: 1\nArchitecture: any all\nBuild-Depends-Arch: libarch-nope\n',
  ].join('\n');
  const names = (xs: readonly { source: string }[]) => xs.map((x) => x.source).sort();
  assert.deepEqual(names(await checkInstallable({ packages: PACKAGES, sources, arch: 'amd64' })), ['archy', 'docsy']);
  assert.deepEqual(names(await checkInstallable({ packages: PACKAGES, sources, arch: 'amd64', drop: 'indep' })), ['archy']);
  assert.deepEqual(names(await checkInstallable({ packages: PACKAGES, sources, arch: 'amd64', drop: 'arch' })), ['docsy']);
});
