// kiln build --debian … --try-install, for real, in the shared bookworm amd64 env (chroot
// sandbox): each built .deb is installed into a fresh root of the env (with what it depends
// on, from the archive and from the run), purged with what it pulled in, and the root
// compared with what it was. Five local sources: one clean, one depending on it (and
// build-depending on it, so that it is there) and on an archive package, one depending on
// it without (not tried), one whose postinst leaves files that its purge does not remove,
// one whose postinst fails, a rebuild of a package the base has (not tried), one whose
// postinst makes a broken symlink, and one whose postinst leaves a process running. Slow (minutes): skipped as the other Debian tests are.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { hostDebianMirror } from '../../src/config/mirrors.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { makeSource, RULES_HEAD } from '../helpers/debian-source.ts';
import { saveCache, seededCache } from '../helpers/shared-cache.ts';
import { explain, jobLogOf, runKiln } from '../helpers/run-kiln.ts';

const skip = sharedEnvSkip();

const logOf = jobLogOf;

/** An arch-all package holding one file, with `depends` and maintainer scripts when given. */
async function source(src: string, name: string, o: { depends?: string; buildDepends?: string; postinst?: string; preinst?: string; version?: string; link?: string }): Promise<string> {
  const given = (['postinst', 'preinst'] as const).filter((k) => o[k] !== undefined);
  const scripts = given.map((k) => `\tinstall -m755 debian/${k} debian/tmp/DEBIAN/${k}\n`).join('');
  return makeSource(src, name, {
    ...(o.version === undefined ? {} : { version: o.version }),
    arch: 'all',
    buildDepends: o.buildDepends ?? 'make',
    control: `Package: ${name}\nArchitecture: all\n${o.depends === undefined ? '' : `Depends: ${o.depends}\n`}Description: kiln try-install test\n kiln test.\n`,
    rules: `${RULES_HEAD}build build-arch build-indep:\n\t@true\nclean:\n\trm -rf debian/tmp debian/files\nbinary binary-arch binary-indep:\n\trm -rf debian/tmp && mkdir -p debian/tmp/DEBIAN debian/tmp/usr/share/${name}\n\techo ${name} > debian/tmp/usr/share/${name}/data\n${o.link === undefined ? '' : `\tln -s ${o.link} debian/tmp/usr/share/${name}/link\n`}${scripts}\tdpkg-gencontrol -p${name} -Pdebian/tmp\n\tdpkg-deb --root-owner-group --build debian/tmp ..\n`,
    files: Object.fromEntries(given.map((k) => [`debian/${k}`, `#!/bin/sh\nset -e\n${o[k]}\n`])),
  });
}

test('--try-install: a clean package passes, one leaving files after its purge or failing its postinst is a warning (a failure with --fail-on-warnings)', { skip, timeout: 30 * 60_000 }, async (t) => {
  if ((await hostDebianMirror({})) === undefined) {
    t.skip('the host has no Debian mirror in its apt sources');
    return;
  }
  const envs = await sharedEnv();
  await using dir = await tmpDir('kiln-debian-try-');
  const src = join(dir.path, 'src');
  await mkdir(src);
  const clean = await source(src, 'kiln-try-clean', {});
  // A package of the run is there for the check when the source build-depends on it.
  const dep = await source(src, 'kiln-try-dep', { depends: 'kiln-try-clean, hello', buildDepends: 'make, kiln-try-clean' });
  const orphan = await source(src, 'kiln-try-orphan', { depends: 'kiln-try-clean' });
  const leaves = await source(src, 'kiln-try-leaves', { postinst: 'mkdir -p /var/lib/kiln-try-leaves\necho x > /var/lib/kiln-try-leaves/state' });
  const broken = await source(src, 'kiln-try-broken', { postinst: 'echo "kiln-try-broken: refusing to configure" >&2\nexit 1' });
  // A rebuild of a package the env's base has installed is not tried (installing it again
  // would try nothing, purging it would break the root).
  // Its second binary is tried: with this run's packages pinned over the suite's, apt
  // takes the base's hostname back to this build's lower version along (as a bzip2 build's
  // bzip2-doc takes the suite's binNMU libbz2-1.0 1.0.8-5+b1 back to 1.0.8-5): allowed.
  const base = await makeSource(src, 'hostname', {
    arch: 'all',
    buildDepends: 'make',
    control: 'Package: hostname\nArchitecture: all\nDescription: kiln try-install test\n kiln test.\n\nPackage: kiln-try-hostname-doc\nArchitecture: all\nDescription: kiln try-install test\n kiln test.\n',
    rules: `${RULES_HEAD}build build-arch build-indep:\n\t@true\nclean:\n\trm -rf debian/tmp debian/files\nbinary binary-arch binary-indep:\n\tfor p in hostname kiln-try-hostname-doc; do rm -rf debian/tmp && mkdir -p debian/tmp/DEBIAN debian/tmp/usr/share/$$p && echo $$p > debian/tmp/usr/share/$$p/data && dpkg-gencontrol -p$$p -Pdebian/tmp && dpkg-deb --root-owner-group --build debian/tmp .. || exit 1; done\n`,
    files: {},
  });
  // As piuparts checks: a broken symlink the install makes, a process left running after the purge.
  const links = await source(src, 'kiln-try-links', { link: '/nonexistent/kiln-target' });
  const daemon = await source(src, 'kiln-try-daemon', { postinst: 'setsid sleep 600 < /dev/null > /dev/null 2>&1 &' });
  // A system group added (kept after the purge, as Debian does): the shadow tools' backups (/etc/group-) are no leftovers.
  const group = await source(src, 'kiln-try-group', { postinst: 'getent group kiln-try-group > /dev/null || groupadd --system kiln-try-group' });
  const state = join(dir.path, 'state');
  const cache = await seededCache(dir.path);
  const dscs = [clean, dep, orphan, leaves, broken, base, links, daemon, group].flatMap((d) => ['--dsc', d]);
  const built = await runKiln(['build', '--debian', 'bookworm', ...dscs, '--try-install', '--state', state, '--cache', cache, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  saveCache(cache);
  assert.equal(built.code, 0, explain(built));
  assert.equal(built.summary?.counts.built, 9, explain(built));
  const report = JSON.parse(readFileSync(built.summary!.report, 'utf8')) as { packages: { name: string; warnings?: string[] }[] };
  const warningsOf = (name: string): string[] => report.packages.find((p) => p.name === name)?.warnings ?? [];
  assert.deepEqual(warningsOf('kiln-try-clean'), []);
  assert.match(logOf(built, 'kiln-try-clean'), /try-install: 1 package\(s\) installed into a fresh root and purged, nothing left behind/);
  // Its dependencies come from the run (kiln-try-clean) and from the archive (hello), offline.
  assert.deepEqual(warningsOf('kiln-try-dep'), []);
  const depLog = logOf(built, 'kiln-try-dep');
  assert.match(depLog, /install kiln-try-clean 1\.0 \[all\] \(from this run's packages\)/);
  assert.match(depLog, /Unpacking hello /);
  assert.deepEqual(warningsOf('kiln-try-orphan'), ['try-install: kiln-try-orphan not tried: apt cannot resolve what it depends on from the suite and this build\'s packages (see the log; a package of this run is there only when the source build-depends on it)']);
  assert.deepEqual(warningsOf('kiln-try-leaves'), ['try-install: kiln-try-leaves leaves 2 path(s) behind after its purge: /var/lib/kiln-try-leaves, /var/lib/kiln-try-leaves/state']);
  assert.match(logOf(built, 'kiln-try-leaves'), /kiln: left after purge: \/var\/lib\/kiln-try-leaves\/state/);
  assert.deepEqual(warningsOf('kiln-try-broken'), ['try-install: kiln-try-broken does not install into a fresh root (apt-get install failed: see the log)']);
  assert.match(logOf(built, 'kiln-try-broken'), /kiln-try-broken: refusing to configure/);
  assert.deepEqual(warningsOf('kiln-try-links'), ['try-install: kiln-try-links installs 1 broken symlink(s): /usr/share/kiln-try-links/link']);
  assert.match(logOf(built, 'kiln-try-links'), /kiln: broken symlink: \/usr\/share\/kiln-try-links\/link -> \/nonexistent\/kiln-target/);
  const daemonWarnings = warningsOf('kiln-try-daemon');
  assert.equal(daemonWarnings.length, 1, daemonWarnings.join('\n'));
  assert.match(daemonWarnings[0]!, /^try-install: kiln-try-daemon leaves 1 process\(es\) running after its purge: \d+ \(sleep\)$/);
  assert.match(logOf(built, 'kiln-try-daemon'), /kiln: still running after the purge: \d+ sleep 600/);
  assert.deepEqual(warningsOf('hostname'), []);
  assert.deepEqual(warningsOf('kiln-try-group'), [], logOf(built, 'kiln-try-group'));
  assert.match(logOf(built, 'hostname'), /try-install: hostname not tried: the env's base has it installed already/);
  assert.match(logOf(built, 'hostname'), /try-install: 1 package\(s\) installed into a fresh root and purged, nothing left behind/);
  assert.match(logOf(built, 'hostname'), /The following packages will be DOWNGRADED:\n\[[^\]]*\] e\s+hostname/);
  // The console says them as warnings.
  assert.ok(built.events.some((e) => e.type === 'job-finished' && e.name === 'kiln-try-leaves' && (e.warnings ?? []).length === 1), explain(built));

  // With --fail-on-warnings the package fails, and nothing is stored for it.
  const strict = await runKiln(['build', '--debian', 'bookworm', '--dsc', leaves, '--try-install', '--fail-on-warnings', '--force', 'kiln-try-leaves', '--state', state, '--cache', cache, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  assert.equal(strict.code, 1, explain(strict));
  assert.equal(strict.summary?.counts.failed, 1, explain(strict));
  const failed = JSON.parse(readFileSync(strict.summary!.report, 'utf8')) as { packages: { name: string; state: string; cause: string | null }[] };
  assert.match(failed.packages.find((p) => p.name === 'kiln-try-leaves')?.cause ?? '', /leaves 2 path\(s\) behind after its purge.*warnings fail the build: --fail-on-warnings/);
});

test('--try-install: a package the suite has at a lower version is upgraded from it, then purged; failing or leaving files on upgrade alone is a warning', { skip, timeout: 30 * 60_000 }, async (t) => {
  if ((await hostDebianMirror({})) === undefined) {
    t.skip('the host has no Debian mirror in its apt sources');
    return;
  }
  const envs = await sharedEnv();
  await using dir = await tmpDir('kiln-debian-upgrade-');
  const src = join(dir.path, 'src');
  await mkdir(src);
  // Three names bookworm has (each depending on libc6 alone there), at a version above the suite's.
  const clean = await source(src, 'hello', { version: '99' });
  // Fine on a fresh install; its preinst refuses an upgrade.
  const refuses = await source(src, 'figlet', { version: '99', preinst: 'if [ "$1" = upgrade ]; then echo "figlet: refusing to upgrade from $2" >&2; exit 1; fi' });
  // Fine on a fresh install; on an upgrade its postinst makes files its purge does not remove.
  const leaves = await source(src, 'tree', { version: '99', postinst: 'if [ "$1" = configure ] && [ -n "$2" ]; then mkdir -p /var/lib/kiln-upgraded; echo "$2" > /var/lib/kiln-upgraded/from; fi' });
  // Two binaries, the -dev pinning the library (= ${binary:Version}) as bookworm's do; the
  // suite's libfl-dev depends on flex, which the purge's autoremove keeps (gcc in the base
  // suggests it): no leftover of the package's.
  const flex = await makeSource(src, 'flex', {
    version: '99',
    arch: 'all',
    buildDepends: 'make',
    control: 'Package: libfl2\nArchitecture: all\nDescription: kiln upgrade test\n kiln test.\n\nPackage: libfl-dev\nArchitecture: all\nDepends: libfl2 (= ${binary:Version})\nDescription: kiln upgrade test\n kiln test.\n',
    rules: `${RULES_HEAD}build build-arch build-indep:\n\t@true\nclean:\n\trm -rf debian/tmp debian/files\nbinary binary-arch binary-indep:\n\tfor p in libfl2 libfl-dev; do rm -rf debian/tmp && mkdir -p debian/tmp/DEBIAN debian/tmp/usr/share/$$p && echo $$p > debian/tmp/usr/share/$$p/data && dpkg-gencontrol -p$$p -Pdebian/tmp && dpkg-deb --root-owner-group --build debian/tmp .. || exit 1; done\n`,
    files: {},
  });
  // A library the base has (libacl1, a copy of its own files) and its -dev pinning it: the
  // install test upgrades the base's libacl1 along; the upgrade test, in a root of its own,
  // still starts from the suite's versions, upgrades libacl1 along and does not purge it.
  const acl = await makeSource(src, 'acl', {
    version: '99',
    arch: 'any',
    buildDepends: 'make',
    control: 'Package: libacl1\nArchitecture: any\nDescription: kiln upgrade test\n kiln test.\n\nPackage: libacl1-dev\nArchitecture: any\nDepends: libacl1 (= ${binary:Version})\nDescription: kiln upgrade test\n kiln test.\n',
    rules: `${RULES_HEAD}M := $(shell dpkg-architecture -qDEB_HOST_MULTIARCH)\nbuild build-arch build-indep:\n\t@true\nclean:\n\trm -rf debian/tmp debian/files\nbinary binary-arch binary-indep:\n\trm -rf debian/tmp && mkdir -p debian/tmp/DEBIAN debian/tmp/usr/lib/$(M)\n\tcp -a /usr/lib/$(M)/libacl.so.1* debian/tmp/usr/lib/$(M)/\n\tdpkg-gencontrol -plibacl1 -Pdebian/tmp\n\tdpkg-deb --root-owner-group --build debian/tmp ..\n\trm -rf debian/tmp && mkdir -p debian/tmp/DEBIAN debian/tmp/usr/share/libacl1-dev\n\techo dev > debian/tmp/usr/share/libacl1-dev/data\n\tdpkg-gencontrol -plibacl1-dev -Pdebian/tmp\n\tdpkg-deb --root-owner-group --build debian/tmp ..\n`,
    files: {},
  });
  const state = join(dir.path, 'state');
  const cache = await seededCache(dir.path);
  const built = await runKiln(['build', '--debian', 'bookworm', ...[clean, refuses, leaves, flex, acl].flatMap((d) => ['--dsc', d]), '--try-install', '--state', state, '--cache', cache, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  saveCache(cache);
  assert.equal(built.code, 0, explain(built));
  assert.equal(built.summary?.counts.built, 5, explain(built));
  const report = JSON.parse(readFileSync(built.summary!.report, 'utf8')) as { packages: { name: string; warnings?: string[] }[] };
  const warningsOf = (name: string): string[] => report.packages.find((p) => p.name === name)?.warnings ?? [];
  assert.deepEqual(warningsOf('hello'), []);
  const helloLog = logOf(built, 'hello');
  assert.match(helloLog, /try-install: the upgrade from the suite's versions: hello 2\.10-[^ ]+ → 99, into a fresh root, then purged/);
  assert.match(helloLog, /Unpacking hello \(99\) over \(2\.10-[^)]+\)/);
  assert.match(helloLog, /try-install: 1 package\(s\) installed into a fresh root and purged, nothing left behind/);
  assert.match(helloLog, /try-install: 1 package\(s\) upgraded from the suite's version and purged, nothing left behind/);
  const flexLog = logOf(built, 'flex');
  assert.deepEqual(warningsOf('flex'), [], flexLog);
  assert.match(flexLog, /Unpacking libfl-dev \(99\) over \(2\.6\.4-[^)]+\)/);
  assert.match(flexLog, /try-install: apt-get purge .*flex .*\(installed along, kept by apt's autoremove\)/);
  assert.match(flexLog, /try-install: 2 package\(s\) upgraded from the suite's version and purged, nothing left behind/);
  const aclLog = logOf(built, 'acl');
  assert.deepEqual(warningsOf('acl'), [], aclLog);
  assert.match(aclLog, /try-install: libacl1 not tried: the env's base has it installed already/);
  assert.match(aclLog, /kiln: libacl1 is the base's: upgraded, not purged/);
  assert.match(aclLog, /Unpacking libacl1-dev \(99\) over \(2\.3\.[^)]+\)/);
  assert.match(aclLog, /try-install: 2 package\(s\) upgraded from the suite's version and purged, nothing left behind/);
  const figlet = warningsOf('figlet');
  assert.equal(figlet.length, 1, figlet.join('\n'));
  assert.match(figlet[0]!, /^try-install: upgrading from the suite's versions fails \(figlet 2\.2\.5-[^ ]+ → 99: apt-get install failed: see the log\)$/);
  assert.match(logOf(built, 'figlet'), /figlet: refusing to upgrade from 2\.2\.5-/);
  const tree = warningsOf('tree');
  assert.equal(tree.length, 1, tree.join('\n'));
  assert.match(tree[0]!, /^try-install: upgraded from the suite's versions \(tree [^ ]+ → 99\) and purged, they leave 2 path\(s\) behind after their purge: \/var\/lib\/kiln-upgraded, \/var\/lib\/kiln-upgraded\/from$/);
  assert.match(logOf(built, 'tree'), /kiln: left after purge: \/var\/lib\/kiln-upgraded\/from/);
});

test('--try-install of a binNMU of an archive source (bookworm\'s cron): its arch-all package keeps the suite\'s version, and the suite\'s cron, which depends on it exactly, is still upgraded from', { skip, timeout: 30 * 60_000 }, async (t) => {
  if ((await hostDebianMirror({})) === undefined) {
    t.skip('the host has no Debian mirror in its apt sources');
    return;
  }
  const envs = await sharedEnv();
  await using dir = await tmpDir('kiln-debian-upgrade-binnmu-');
  const cache = await seededCache(dir.path);
  const built = await runKiln(['build', '--debian', 'bookworm', 'cron', '--binnmu', 'auto', '--try-install', '--state', join(dir.path, 'state'), '--cache', cache, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  saveCache(cache);
  assert.equal(built.code, 0, explain(built));
  const report = JSON.parse(readFileSync(built.summary!.report, 'utf8')) as { packages: { name: string; warnings?: string[] }[] };
  const log = logOf(built, 'cron');
  assert.deepEqual(report.packages.find((p) => p.name === 'cron')?.warnings ?? [], [], log);
  // cron-daemon-common (arch all) is not binNMUed: the suite's stanza of its version gives way to this run's .deb.
  assert.match(log, /try-install: cron-daemon-common not upgraded from the suite's version: it is 3\.0pl1-\S+, this build's own version/);
  assert.match(log, /Unpacking cron \(3\.0pl1-\S+\+b\d+\) over \(3\.0pl1-[^)+]+\)/);
  assert.match(log, /try-install: 1 package\(s\) upgraded from the suite's version and purged, nothing left behind/);
});
