// Debian source packages on kiln workers, for real: a nats-server with JetStream, a
// `kiln worker` with the chroot sandbox and the shared bookworm env, and two local
// sources where one build-depends on the other's binary. The coordinator sends each job's
// Packages index and local .dsc as blobs; the worker builds in its env; the artifacts come
// back checked, and the coordinator publishes them into its signed repository; with
// --autopkgtest, the worker runs a source's tests after its build.
//
// Slow (a minute or two): skipped with KILN_SKIP_SLOW=1, when not root, without mmdebstrap,
// nats-server or a Debian mirror in the host's apt sources.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, rename, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { hostDebianMirror } from '../../src/config/mirrors.ts';
import { makeChainSources, makeSource, RULES_HEAD } from '../helpers/debian-source.ts';
import { natsServer, noNats, startWorker } from '../helpers/nats.ts';
import { explain, jobLogOf, runKiln } from '../helpers/run-kiln.ts';
import { saveCache, seededCache } from '../helpers/shared-cache.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';

const noMirror = (await hostDebianMirror({})) === undefined ? 'the host has no Debian mirror in its apt sources' : false;
const skip = sharedEnvSkip() ?? (noNats || noMirror);

const logOf = jobLogOf;

test('kiln build --debian --nats --twice: a worker builds both local sources in its env (a host worker is handed none), the second against the first\'s fresh .deb; the comparison and the packages come back and are published; a second run is up to date', { skip, timeout: 20 * 60_000 }, async (t) => {
  const envs = await sharedEnv();
  await using dir = await tmpDir('kiln-nats-debian-');
  const src = join(dir.path, 'src');
  await mkdir(src);
  const { liba, app } = await makeChainSources(src);
  // The tarball a link, as uscan leaves an orig tarball: it travels as the file it names.
  await rename(join(src, 'kiln-liba_1.0.tar.xz'), join(src, 'upstream.tar.xz'));
  await symlink('upstream.tar.xz', join(src, 'kiln-liba_1.0.tar.xz'));
  const url = await natsServer(t, dir.path);
  await mkdir(join(dir.path, 'w'));
  const workerCache = await seededCache(join(dir.path, 'w'));
  // A worker of the host sandbox (recipes) on the same arch: the Debian jobs are not its.
  const hostWorker = startWorker(t, url, join(dir.path, 'host-worker'), 'host-worker');
  const worker = startWorker(t, url, join(dir.path, 'worker'), 'debian-worker', workerCache, envs, ['--sandbox', 'chroot', '--env', 'bookworm-{arch}']);
  const state = join(dir.path, 'state');
  const cache = await seededCache(dir.path);
  const args = ['build', '--debian', 'bookworm', '--dsc', liba, '--dsc', app, '--nats', url, '--state', state, '--cache', cache, '--json'];

  const built = await runKiln(args, { env: envs, timeoutMs: 15 * 60_000 });
  saveCache(workerCache);
  assert.equal(built.code, 0, `${explain(built)}\n--- worker ---\n${worker.output().slice(-4000)}`);
  assert.equal(built.summary?.counts.built, 2, explain(built));
  const log = logOf(built, 'kiln-app');
  assert.match(log, /taken by worker debian-worker/, 'the worker built it');
  assert.match(log, /install libkiln-a-dev 1\.0 \[all\] \(from this run's packages\)/, 'it installed the fresh .deb the first job sent back');
  assert.match(log, /hello from a fresh libkiln-a-dev/, 'and compiled against it');
  assert.match(worker.output(), /kiln-liba@all: built/);
  assert.match(worker.output(), /kiln-app@amd64: built/);
  assert.match(hostWorker.output(), /the jobs planned in host:/);
  // The run says which worker to start for its jobs: with the env.
  assert.ok(built.events.some((e) => e.type === 'note' && /^the jobs go to the workers of amd64 in bookworm-amd64@\S+ \(kiln worker --nats nats:\S+ --env bookworm-amd64\)$/.test((e as { text: string }).text)), explain(built));
  assert.doesNotMatch(hostWorker.output(), /taken/, 'the host worker was not handed the Debian jobs');
  const published = readFileSync(join(state, 'repo', 'dists', 'bookworm', 'main', 'binary-amd64', 'Packages'), 'utf8');
  assert.match(published, /^Package: libkiln-a-dev$/m);
  assert.match(published, /^Package: kiln-app$/m);

  const again = await runKiln(args, { env: envs, timeoutMs: 10 * 60_000 });
  assert.equal(again.code, 0, explain(again));
  assert.equal(again.summary?.counts['up-to-date'], 2, explain(again));

  // --twice: each built twice on the worker, the comparison back in this run's report.
  const twice = await runKiln([...args, '--twice'], { env: envs, timeoutMs: 15 * 60_000 });
  assert.equal(twice.code, 0, explain(twice));
  assert.match(twice.stderr + twice.stdout, /twice kiln-app_1\.0_amd64\.deb \(kiln-app@amd64\): (reproducible|differs)/, explain(twice));
  const report = JSON.parse(readFileSync(twice.summary!.report, 'utf8')) as { reproducibility?: { check: string; job: string }[] };
  assert.ok(report.reproducibility?.some((r) => r.check === 'twice' && r.job === 'kiln-app@amd64'), 'the report has the comparison');

  // --binnmu auto: the coordinator numbers the rebuild (kiln-app 1.0 is published: its
  // repository lists it), the worker builds it; kiln-liba is arch-all only, never a binNMU.
  const binnmu = await runKiln([...args, '--binnmu', 'auto'], { env: envs, timeoutMs: 15 * 60_000 });
  assert.equal(binnmu.code, 0, `${explain(binnmu)}\n--- worker ---\n${worker.output().slice(-4000)}`);
  assert.match(logOf(binnmu, 'kiln-app'), /taken by worker debian-worker[^]*--binnmu auto: kiln-app 1\.0 on amd64 was published in the repository \(1\.0\): this build is the binNMU 1\.0\+b1/);
  assert.match(logOf(binnmu, 'kiln-liba'), /binNMU: not for this build: it makes the architecture-independent packages only \(-A\), which Debian never binNMUs; they keep the version 1\.0/);
  const rebuilt = readFileSync(join(state, 'repo', 'dists', 'bookworm', 'main', 'binary-amd64', 'Packages'), 'utf8');
  assert.match(rebuilt, /^Package: kiln-app\n(?:.+\n)*?Version: 1\.0\+b1$/m);
  assert.match(rebuilt, /^Package: libkiln-a-dev\n(?:.+\n)*?Version: 1\.0$/m);

  // --autopkgtest: the worker runs the source's tests after its build, in a fresh root of its env.
  const tested = await makeSource(src, 'kiln-nats-tested', {
    arch: 'all',
    buildDepends: 'make',
    control: 'Package: kiln-nats-tested\nArchitecture: all\nDescription: kiln test\n kiln test.\n',
    rules: `${RULES_HEAD}build build-arch build-indep:\n\t@true\nclean:\n\trm -rf debian/tmp debian/files\nbinary binary-arch binary-indep:\n\trm -rf debian/tmp && mkdir -p debian/tmp/DEBIAN debian/tmp/usr/share/kiln-nats-tested\n\techo tested > debian/tmp/usr/share/kiln-nats-tested/data\n\tdpkg-gencontrol -pkiln-nats-tested -Pdebian/tmp\n\tdpkg-deb --root-owner-group --build debian/tmp ..\n`,
    files: { 'debian/tests/control': 'Test-Command: grep -q tested /usr/share/kiln-nats-tested/data\nFeatures: test-name=data\n' },
  });
  const checked = await runKiln(['build', '--debian', 'bookworm', '--dsc', tested, '--autopkgtest', '--nats', url, '--state', state, '--cache', cache, '--json'], { env: envs, timeoutMs: 15 * 60_000 });
  assert.equal(checked.code, 0, `${explain(checked)}\n--- worker ---\n${worker.output().slice(-4000)}`);
  const testedLog = logOf(checked, 'kiln-nats-tested');
  assert.match(testedLog, /taken by worker debian-worker/);
  assert.match(testedLog, /autopkgtest: data PASS\n[^]*autopkgtest: 1 passed/);
  // The results came back with the worker's result, into this run's report.
  const testedReport = JSON.parse(readFileSync(checked.summary!.report, 'utf8')) as { autopkgtest?: { job: string; test: string; result: string }[] };
  assert.deepEqual(testedReport.autopkgtest, [{ job: 'kiln-nats-tested@all', test: 'data', result: 'PASS', detail: '' }]);
});
