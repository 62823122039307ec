// The Debian run's up-front refusals (debian-plan.ts): Debian-only options with no Debian
// part, the host sandbox, an env of another suite; and Debian options for a debian.toml.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isKilnError } from '../errors.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { debianRequestOf, ensureDebianEnvs, envSuiteProblem, refuseSandboxForDebian, releaseNames, scanForRun, type DebianCliRequest } from './debian-plan.ts';
import { createEnvStore } from '../envs/env-store.ts';
import type { RootMakers } from '../envs/env-types.ts';

const options: DebianCliRequest = {
  suite: '', sources: [], dscs: [], all: false, mirror: undefined, profiles: [], nocheck: true, mode: 'binary', cpus: 2, withTree: false, twice: true,
};
const named: DebianCliRequest = { ...options, suite: 'bookworm', sources: ['hello'] };

test('debianRequestOf: --debian wins; Debian-only options need --debian, --dsc or a debian.toml (--twice is for recipes too)', () => {
  assert.equal(debianRequestOf(named, ['--twice'], false, () => options), named);
  assert.equal(debianRequestOf(undefined, [], false, () => options), undefined, 'no Debian options: no Debian request');
  // --twice is for recipe trees too: alone, no Debian request; with others, they alone are named.
  assert.equal(debianRequestOf(undefined, ['--twice'], false, () => options), undefined);
  assert.throws(
    () => debianRequestOf(undefined, ['--twice', '--verify'], false, () => options),
    (e: unknown) => isKilnError(e) && e.code === 'usage' && /^--verify applies to Debian builds only/.test(e.message) && /--debian SUITE/.test(e.message) && /debian\.toml/.test(e.message),
  );
  assert.throws(() => debianRequestOf(undefined, ['--nocheck', '--cpus'], false, () => options), /--nocheck, --cpus apply to Debian builds only/);
  // With a debian.toml: the options ride along, the suite and sources stay the file's.
  const r = debianRequestOf(undefined, ['--twice', '--nocheck'], true, () => options)!;
  assert.equal(r.optionsOnly, true);
  assert.equal(r.suite, undefined);
  assert.deepEqual(r.sources, []);
  assert.equal(r.withTree, true);
  assert.equal(r.twice, true);
  assert.equal(r.nocheck, true);
});

test('refuseSandboxForDebian: a Debian part never builds on the host sandbox', () => {
  refuseSandboxForDebian(undefined, 'x');
  refuseSandboxForDebian('auto', 'x');
  refuseSandboxForDebian('chroot', 'x');
  assert.throws(() => refuseSandboxForDebian('host', '--sandbox host', 0), (e: unknown) => isKilnError(e) && e.code === 'sandbox-unavailable' && /--sandbox host chooses the host sandbox/.test(e.message) && /--sandbox chroot/.test(e.hint ?? '') && !/rootless/.test(e.hint ?? ''));
  // Never a hint to a sandbox that is refused in turn.
  assert.throws(() => refuseSandboxForDebian('host', '--sandbox host', 1000), (e: unknown) => isKilnError(e) && /as root/.test(e.hint ?? '') && !/--sandbox rootless/.test(e.hint ?? ''));
  // The rootless sandbox maps one uid: Debian builds need more, as root or not.
  assert.throws(() => refuseSandboxForDebian('rootless', '--sandbox rootless', 1000), (e: unknown) => isKilnError(e) && e.code === 'sandbox-unavailable' && /maps your uid alone/.test(e.message));
  assert.throws(() => refuseSandboxForDebian('rootless', '--sandbox rootless', 0), (e: unknown) => isKilnError(e) && e.code === 'sandbox-unavailable' && /not build in the rootless sandbox yet \(--sandbox rootless chooses it\): its user namespace maps root alone/.test(e.message) && /chroot/.test(e.hint ?? ''));
});

test('envSuiteProblem: an env of another suite is refused with a hint; the Release\'s other names match', () => {
  const names = ['bookworm', ...releaseNames({ suite: 'stable', codename: 'bookworm' })];
  assert.equal(envSuiteProblem({ name: 'bookworm-amd64', suite: 'bookworm' }, names), undefined);
  assert.equal(envSuiteProblem({ name: 'stable-amd64', suite: 'stable' }, names), undefined, 'an env made with the alias');
  const e = envSuiteProblem({ name: 'trixie-amd64', suite: 'trixie' }, names);
  assert.equal(e?.code, 'config-invalid');
  assert.equal(e?.message, 'env "trixie-amd64" is of suite trixie, but this run builds Debian sources of bookworm');
  assert.match(e?.hint ?? '', /--env "bookworm-\{arch\}"/);
  assert.deepEqual(releaseNames({}), []);
});

test('scanForRun: --sandbox host or kiln.toml sandbox = "host" is refused before any index is fetched', async () => {
  await using dir = await tmpDir();
  // A mirror nothing listens on: reaching it would fail with download-failed instead.
  const base = { treeDir: dir.path, stateDir: join(dir.path, 'state'), cacheDir: join(dir.path, 'cache'), archs: ['amd64'] };
  const req: DebianCliRequest = { ...named, mirror: 'http://127.0.0.1:9/debian' };
  await assert.rejects(scanForRun({ ...base, debian: req, sandbox: 'host' }, () => ['amd64']), (e: unknown) => isKilnError(e) && e.code === 'sandbox-unavailable' && /--sandbox host/.test(e.message));
  await writeFile(join(dir.path, 'kiln.toml'), 'sandbox = "host"\n');
  await mkdir(join(dir.path, 'state'));
  await assert.rejects(
    scanForRun({ ...base, debian: { ...req, withTree: true } }, () => ['amd64']),
    (e: unknown) => isKilnError(e) && e.code === 'sandbox-unavailable' && /kiln\.toml's sandbox = "host"/.test(e.message),
  );
  await assert.rejects(scanForRun({ ...base, debian: req, sandbox: 'chroot' }, () => ['amd64']), (e: unknown) => isKilnError(e) && e.code === 'download-failed');
});

test('ensureDebianEnvs: a build that finds another kiln making its env waits, says so, and then uses that env', async () => {
  await using dir = await tmpDir();
  let open: () => void = () => {};
  const gate = new Promise<void>((r) => (open = r));
  let started: () => void = () => {};
  const making = new Promise<void>((r) => (started = r));
  const makers = (wait: boolean): Partial<RootMakers> => ({
    async bootstrap(_spec, root) {
      await mkdir(join(root, 'etc'), { recursive: true });
      await writeFile(join(root, 'etc', 'made'), 'x');
      if (wait) {
        started();
        await gate;
      }
      return ['mmdebstrap'];
    },
    async ensureArch() {},
  });
  // The other kiln: its create holds the env's lock until the gate opens.
  const other = createEnvStore({ stateDir: dir.path, makers: makers(true) }).create('bookworm-amd64', { suite: 'bookworm', arch: 'amd64', mirror: 'http://deb.example/debian' });
  await making;
  const notes: string[] = [];
  const ensuring = ensureDebianEnvs({ stateDir: dir.path, template: 'bookworm-{arch}', suite: 'bookworm', mirror: 'http://deb.example/debian', archs: ['amd64'], note: (t) => notes.push(t), makers: makers(false) });
  const deadline = Date.now() + 10_000;
  while (!notes.some((n) => /is being made, updated/.test(n)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  open();
  await other;
  await ensuring;
  assert.deepEqual(notes.map((n) => n.replace(/pid \d+ on \S+, for \d+s/, 'pid P on H, for Ns')), [
    'creating env bookworm-amd64 (bookworm amd64, mmdebstrap buildd) for the Debian build; this takes a minute or two',
    'environment "bookworm-amd64" is being made, updated, imported, exported or destroyed by another kiln process (pid P on H, for Ns): waiting for it to finish (Ctrl-C stops waiting)',
    'env bookworm-amd64 was made meanwhile by another kiln: the build uses it',
  ]);
});
