// kiln's signed apt repository, for real: `kiln key create` / `kiln key export`, `kiln repo
// publish` of .debs made with dpkg-deb; the host's gpgv verifies InRelease and Release.gpg
// with the exported key; apt in a fresh bookworm env (chroot sandbox, as root, no network)
// given only that key updates from the repository, installs a package (and its dependency)
// and runs it; copies of the repository with one byte of the signed Release changed are
// refused by apt-get update. Slow (needs the shared env): skipped with KILN_SKIP_SLOW=1.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createEnvStore } from '../../src/envs/env-store.ts';
import { createChrootBackend } from '../../src/sandbox/chroot/chroot-backend.ts';
import { buildTestDeb, testDebOutput } from '../../src/publish/apt-repo-test-debs.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { rootSh as sh } from '../helpers/root-sh.ts';
import { explain, runKiln } from '../helpers/run-kiln.ts';

const execFileP = promisify(execFile);
const skip = sharedEnvSkip() ?? (existsSync('/usr/bin/gpgv') ? undefined : 'gpgv is not installed on the host');
const SUITE = 'bookworm';

async function gpgv(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await execFileP('gpgv', args, { env: { ...process.env, LC_ALL: 'C' } });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, out: (err.stdout ?? '') + (err.stderr ?? '') };
  }
}

/** Point apt at one source only: this repository, trusted through the exported key alone. */
function useSource(dir: string): string {
  return [
    'set -e',
    'rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* /etc/apt/trusted.gpg /etc/apt/trusted.gpg.d/*',
    'rm -rf /var/lib/apt/lists/*',
    `echo 'deb [signed-by=/srv/keys/kiln.gpg] file:${dir} ${SUITE} main' > /etc/apt/sources.list.d/kiln.list`,
  ].join('\n');
}

test('apt in a fresh bookworm env installs from kiln\'s signed repository and refuses a tampered one', { skip, timeout: 20 * 60_000 }, async () => {
  const { KILN_ENVS } = await sharedEnv();
  await using dir = await tmpDir('kiln-aptrepo-it-');
  const state = join(dir.path, 'state');
  const debs = join(dir.path, 'debs');
  const keys = join(dir.path, 'keys');
  const repo = join(dir.path, 'repo');
  await mkdir(debs);
  await mkdir(keys);

  // The key, made and exported through the CLI as a user would.
  const created = await runKiln(['key', 'create', '--email', 'builds@example.org', '--state', state]);
  assert.equal(created.code, 0, explain(created));
  const fpr = /signing key ([0-9A-F]{40})/.exec(created.stdout)?.[1];
  assert.ok(fpr !== undefined, created.stdout);
  const again = await runKiln(['key', 'create', '--state', state]);
  assert.equal(again.code, 2, explain(again));
  assert.match(again.stderr, /\[key-exists\]/);
  const exported = await runKiln(['key', 'export', '--binary', '-o', join(keys, 'kiln.gpg'), '--state', state]);
  assert.equal(exported.code, 0, explain(exported));
  const armored = await runKiln(['key', 'export', '--state', state]);
  assert.match(armored.stdout, /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
  assert.doesNotMatch(armored.stdout, /PRIVATE/);

  // Two packages: kiln-greet (amd64) depends on kiln-hello (all).
  await buildTestDeb(debs, { package: 'kiln-hello', version: '1.0-1', architecture: 'all' });
  await buildTestDeb(debs, { package: 'kiln-greet', version: '2.0-1', architecture: 'amd64', depends: 'kiln-hello (>= 1.0)' });
  const published = await runKiln(['repo', 'publish', '--repo', repo, '--suite', SUITE, debs, '--state', state]);
  assert.equal(published.code, 0, explain(published));
  assert.match(published.stdout, /kiln-greet 2\.0-1 amd64: added/);
  // A second run of the build publishes a newer kiln-hello: the repository accumulates.
  await rm(debs, { recursive: true });
  await mkdir(debs);
  const hello2 = await buildTestDeb(debs, { package: 'kiln-hello', version: '1.1-1', architecture: 'all' });
  const republished = await runKiln(['repo', 'publish', '--repo', repo, '--suite', SUITE, hello2, '--state', state]);
  assert.equal(republished.code, 0, explain(republished));
  assert.match(republished.stdout, /kiln-hello 1\.1-1 all: replaced 1\.0-1/);
  assert.match(republished.stdout, /2 package\(s\) listed/);

  // The host's gpgv accepts both signatures with the exported key.
  const suiteDir = join(repo, 'dists', SUITE);
  const inRel = await gpgv('--keyring', join(keys, 'kiln.gpg'), join(suiteDir, 'InRelease'));
  assert.equal(inRel.code, 0, inRel.out);
  assert.match(inRel.out, /Good signature from "kiln repository signing key <builds@example.org>"/);
  assert.match(inRel.out, new RegExp(fpr!));
  const detached = await gpgv('--keyring', join(keys, 'kiln.gpg'), join(suiteDir, 'Release.gpg'), join(suiteDir, 'Release'));
  assert.equal(detached.code, 0, detached.out);

  // Tampered copies: one byte of the signed Release text changed, in InRelease; and with
  // InRelease gone, in Release (apt then reads Release + Release.gpg).
  const flip = (text: string): string => text.replace('Label: kiln', 'Label: kilm');
  const badIn = join(dir.path, 'bad-inrelease');
  const badRel = join(dir.path, 'bad-release');
  for (const copy of [badIn, badRel]) await cp(repo, copy, { recursive: true, verbatimSymlinks: true });
  const tree = (root: string): Promise<string> => readlink(join(root, 'dists')).then((t) => join(root, t, SUITE));
  const inPath = join(await tree(badIn), 'InRelease');
  const inText = await readFile(inPath, 'utf8');
  assert.notEqual(flip(inText), inText);
  await writeFile(inPath, flip(inText));
  const relTree = await tree(badRel);
  await rm(join(relTree, 'InRelease'));
  await writeFile(join(relTree, 'Release'), flip(await readFile(join(relTree, 'Release'), 'utf8')));
  assert.notEqual((await gpgv('--keyring', join(keys, 'kiln.gpg'), inPath)).code, 0);

  // apt, in a fresh env from the shared store.
  process.env['KILN_ENVS'] = KILN_ENVS;
  const store = createEnvStore({ stateDir: state });
  await using lease = await store.acquire('bookworm-amd64');
  const backend = createChrootBackend({ stateDir: state });
  await using sb = await backend.create({
    env: lease.env,
    jobId: 'apt-repo-test',
    workDir: join(dir.path, 'work'),
    limits: { cpus: 1, memoryBytes: 1 << 30 },
    readOnlyBinds: [
      { host: repo, inside: '/srv/repo' },
      { host: badIn, inside: '/srv/bad-inrelease' },
      { host: badRel, inside: '/srv/bad-release' },
      { host: keys, inside: '/srv/keys' },
    ],
  });

  const good = await sh(sb, `${useSource('/srv/repo')}
apt-get update
apt-get install -y --no-install-recommends kiln-greet
echo "RUN: $(kiln-greet)"
echo "RUN: $(kiln-hello)"
dpkg-query -W -f='INSTALLED: \${Package} \${Version}\\n' kiln-greet kiln-hello`);
  assert.equal(good.code, 0, good.out);
  assert.doesNotMatch(good.out, /^W: /m, 'apt-get update gives no warning');
  assert.match(good.out, new RegExp(`^RUN: ${testDebOutput({ package: 'kiln-greet', version: '2.0-1' })}$`, 'm'));
  assert.match(good.out, new RegExp(`^RUN: ${testDebOutput({ package: 'kiln-hello', version: '1.1-1' })}$`, 'm'), 'the newest kiln-hello was installed');
  assert.match(good.out, /^INSTALLED: kiln-greet 2\.0-1$/m);
  assert.match(good.out, /^INSTALLED: kiln-hello 1\.1-1$/m);

  for (const bad of ['/srv/bad-inrelease', '/srv/bad-release']) {
    const r = await sh(sb, `${useSource(bad)}\napt-get update`);
    assert.notEqual(r.code, 0, `apt-get update accepted ${bad}:\n${r.out}`);
    // The key is known, so the refusal must be a bad signature, not a missing key.
    assert.match(r.out, /The following signatures were invalid: BADSIG [0-9A-F]{16}/, r.out);
    assert.match(r.out, /^E: The repository 'file:\/srv\/bad-[a-z]+ bookworm (In)?Release' is not signed/m, r.out);
  }
});
