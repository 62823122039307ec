import { createHash } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../test/helpers/hermetic-env.ts'; // a developer's KILN_ENVS must not receive this file's envs
import { spawnSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { createEnvStore, lockWaitMessage } from './env-store.ts';
import type { RootMakers } from './env-types.ts';
import type { BootstrapSpec } from './root-commands.ts';
import { tinyRoot, writeTarball } from './test-tarballs.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-envstore-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Fake {
  readonly makers: RootMakers;
  readonly specs: BootstrapSpec[];
  readonly upgraded: string[];
  failNext: 'bootstrap' | 'upgrade' | undefined;
  /** Resolve to let a pending bootstrap/upgrade finish; set while one is waiting. */
  hold: boolean;
  waiting: (() => void) | undefined;
}

/** Makers that build a tiny root in milliseconds, record what they were asked, and can fail or wait for abort. */
function fakeMakers(): Fake {
  const f: Fake = {
    specs: [], upgraded: [], failNext: undefined, hold: false, waiting: undefined,
    makers: {
      async bootstrap(spec, root, o) {
        f.specs.push(spec);
        await mkdir(join(root, 'etc'), { recursive: true });
        await mkdir(join(root, 'usr/sbin'), { recursive: true });
        await writeFile(join(root, 'etc/made'), `${spec.suite} ${spec.arch}\n`);
        await writeFile(join(root, 'big'), Buffer.alloc(64 * 1024, 1));
        o.onLine?.('I: pretending to bootstrap');
        await maybeWait(o.signal);
        if (f.failNext === 'bootstrap') {
          f.failNext = undefined;
          throw new KilnError('download-failed', 'fake mmdebstrap failed');
        }
        return ['mmdebstrap', spec.suite];
      },
      async upgrade(root, o) {
        f.upgraded.push(root);
        // apt needs these; the store must have prepared them.
        assert.ok((await lstat(join(root, 'etc/resolv.conf'))).isFile());
        assert.ok((await stat(join(root, 'usr/sbin/policy-rc.d'))).mode & 0o111);
        await writeFile(join(root, 'etc/upgraded'), `${(await readFile(join(root, 'etc/upgraded'), 'utf8').catch(() => '')) }x`);
        o.onLine?.('Reading package lists...');
        await maybeWait(o.signal);
        if (f.failNext === 'upgrade') {
          f.failNext = undefined;
          throw new KilnError('download-failed', 'fake apt failed');
        }
        return ['apt-get dist-upgrade'];
      },
      async ensureArch() {},
    },
  };
  const maybeWait = async (signal?: AbortSignal): Promise<void> => {
    if (!f.hold) return;
    await new Promise<void>((resolve, reject) => {
      f.waiting = resolve;
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  };
  return f;
}

const MIRROR = 'http://deb.example/debian';

test('create lays out env.json, versions/<vid>/{root,version.json} and leases/', async (t) => {
  const state = await tempDir(t);
  const fake = fakeMakers();
  const store = createEnvStore({ stateDir: state, makers: fake.makers });
  const lines: string[] = [];
  const e = await store.create('bookworm-amd64', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR, include: ['ccache', 'git'], onOutput: (l) => lines.push(l) });
  assert.deepEqual(fake.specs, [{ suite: 'bookworm', arch: 'amd64', mirror: MIRROR, include: ['ccache', 'git'], variant: 'buildd' }]);
  assert.deepEqual(lines, ['I: pretending to bootstrap']);
  assert.match(e.versionId, /^\d{8}T\d{6}-[0-9a-f]{8}$/);
  assert.equal(e.id, `bookworm-amd64@${e.versionId}`);
  const dir = join(state, 'envs', 'bookworm-amd64');
  assert.deepEqual((await readdir(dir)).sort(), ['env.json', 'leases', 'versions']);
  assert.equal(e.root, join(dir, 'versions', e.versionId, 'root'));
  assert.equal(await readFile(join(e.root, 'etc/made'), 'utf8'), 'bookworm amd64\n');
  const meta = JSON.parse(await readFile(join(dir, 'env.json'), 'utf8'));
  assert.equal(meta.current, e.versionId);
  assert.equal(meta.mirror, MIRROR);
  assert.deepEqual(meta.include, ['ccache', 'git']);
  const version = JSON.parse(await readFile(join(dir, 'versions', e.versionId, 'version.json'), 'utf8'));
  assert.equal(version.id, e.versionId);
  assert.deepEqual(version.madeBy, { kind: 'mmdebstrap', argv: ['mmdebstrap', 'bookworm'] });
  assert.ok(version.sizeBytes >= 64 * 1024, String(version.sizeBytes));
  assert.equal(e.sizeBytes, version.sizeBytes);
  assert.deepEqual((await store.list()).map((x) => x.name), ['bookworm-amd64']);
  assert.deepEqual(await store.get('bookworm-amd64'), e);
});

test('create --keyring: env.json records the keyring the mirror was checked with, its path and sha256', async (t) => {
  const state = await tempDir(t);
  const fake = fakeMakers();
  const store = createEnvStore({ stateDir: state, makers: fake.makers });
  const keyring = join(state, 'archive.asc');
  await writeFile(keyring, 'a key\n');
  await store.create('ports-riscv64', { suite: 'unstable', arch: 'riscv64', mirror: MIRROR, keyring });
  const meta = JSON.parse(await readFile(join(state, 'envs', 'ports-riscv64', 'env.json'), 'utf8'));
  assert.deepEqual(meta.keyring, { path: keyring, sha256: createHash('sha256').update('a key\n').digest('hex') });
  assert.equal(fake.specs[0]?.keyring, keyring);
});

test('create refuses bad names, an existing name, and missing mirrors, naming what to do', async (t) => {
  const state = await tempDir(t);
  const fake = fakeMakers();
  const apt = join(state, 'apt');
  await mkdir(apt);
  const store = createEnvStore({ stateDir: state, makers: fake.makers, aptDir: apt });
  await assert.rejects(store.create('Bad/Name', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR }), /not a valid environment name/);
  await assert.rejects(store.create('x', { suite: 'bookworm;rm', arch: 'amd64', mirror: MIRROR }), /--suite/);
  await assert.rejects(store.create('x', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR, include: ['--evil'] }), /--include/);
  await assert.rejects(store.create('x', { suite: 'bookworm', arch: 'amd64' }), (e: unknown) => e instanceof KilnError && /apt sources/.test(e.message) && /--mirror/.test(e.hint ?? ''));
  await writeFile(join(apt, 'sources.list'), 'deb http://mirror.example/debian bookworm main\n');
  await store.create('x', { suite: 'bookworm', arch: 'amd64' });
  assert.equal(fake.specs.at(-1)?.mirror, 'http://mirror.example/debian');
  await assert.rejects(store.create('x', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR }), (e: unknown) =>
    e instanceof KilnError && /already exists/.test(e.message) && /env update x/.test(e.hint ?? '') && /env destroy x/.test(e.hint ?? ''));
  await assert.rejects(store.get('nope'), (e: unknown) => e instanceof KilnError && e.code === 'env-not-found');
  // NAME-ARCH missing beside the env of another arch: no did-you-mean of that one; the arch and its suite to make it with.
  await store.create('bw-amd64', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR });
  await assert.rejects(store.get('bw-arm64'), (e: unknown) => e instanceof KilnError && e.code === 'env-not-found'
    && e.message.endsWith('(there is bw-amd64, for another arch)') && !/did you mean/.test(e.message)
    && /make one with `kiln env create bw-arm64 --suite bookworm --arch arm64`/.test(e.hint ?? ''));
  // A typo is still one.
  await assert.rejects(store.get('bw-amd46'), (e: unknown) => e instanceof KilnError && /did you mean "bw-amd64"/.test(e.message));
});

test('a failed or aborted create leaves nothing; a leftover of a killed create is cleaned by the next', async (t) => {
  const state = await tempDir(t);
  const fake = fakeMakers();
  const store = createEnvStore({ stateDir: state, makers: fake.makers });
  fake.failNext = 'bootstrap';
  await assert.rejects(store.create('a', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR }), /fake mmdebstrap failed/);
  assert.deepEqual(await readdir(join(state, 'envs')), ['.locks']);
  assert.deepEqual(await readdir(join(state, 'envs', '.locks')), []);

  fake.hold = true;
  const ac = new AbortController();
  const p = store.create('a', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR, signal: ac.signal });
  const deadline = Date.now() + 5000;
  while (fake.waiting === undefined && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  ac.abort(new Error('stop'));
  await assert.rejects(p, /stop/);
  assert.deepEqual(await readdir(join(state, 'envs')), ['.locks']);
  fake.hold = false;

  // What a SIGKILLed create leaves: a dir with a half-made tmp and no env.json.
  await mkdir(join(state, 'envs', 'a', 'tmp', 'x', 'root'), { recursive: true });
  assert.deepEqual(await store.list(), []);
  const e = await store.create('a', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR });
  assert.deepEqual((await readdir(join(state, 'envs', 'a'))).sort(), ['env.json', 'leases', 'versions']);
  assert.deepEqual(await readdir(join(state, 'envs', 'a', 'versions')), [e.versionId]);
});

test('an update whose apt upgraded no package keeps the current version; one that changed a package makes a new one', async (t) => {
  const state = await tempDir(t);
  const fake = fakeMakers();
  const store = createEnvStore({ stateDir: state, makers: fake.makers });
  const v1 = await store.create('e', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR });
  const status = (version: string): string => `Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${version}\n\nPackage: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n`;
  await mkdir(join(v1.root, 'var/lib/dpkg'), { recursive: true });
  await writeFile(join(v1.root, 'var/lib/dpkg/status'), status('2.10-3'));
  const same = await store.update('e');
  assert.equal(same.unchanged, true);
  assert.equal(same.versionId, v1.versionId);
  assert.deepEqual(same.versions, [v1.versionId]);
  assert.deepEqual(await readdir(join(state, 'envs/e/tmp')), [], 'the copy is gone');
  // The next upgrade changes hello's version.
  const makers: RootMakers = { ...fake.makers, upgrade: async (root, o) => {
    const argv = await fake.makers.upgrade(root, o);
    await writeFile(join(root, 'var/lib/dpkg/status'), status('2.10-4'));
    return argv;
  } };
  const store2 = createEnvStore({ stateDir: state, makers });
  const moved = await store2.update('e');
  assert.equal(moved.unchanged, false);
  assert.notEqual(moved.versionId, v1.versionId);
});

test('update makes a new current version from a copy; a leased old version stays until release', async (t) => {
  const state = await tempDir(t);
  const fake = fakeMakers();
  const store = createEnvStore({ stateDir: state, makers: fake.makers });
  const v1 = await store.create('e', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR });

  const lease = await store.acquire('e');
  assert.deepEqual(lease.env, { id: v1.id, name: 'e', arch: 'amd64', layers: [v1.root] });
  assert.deepEqual((await store.get('e')).leases, [{ versionId: v1.versionId, pid: process.pid }]);

  const v2 = await store.update('e');
  assert.notEqual(v2.versionId, v1.versionId);
  assert.equal(v2.previous, v1.versionId);
  assert.deepEqual(v2.removed, []);
  assert.deepEqual(v2.versions, [v1.versionId, v2.versionId].sort());
  assert.equal(fake.upgraded.length, 1);
  assert.ok(fake.upgraded[0]?.includes(join('e', 'tmp')), 'apt ran in a copy, not in place');
  assert.equal(await readFile(join(v2.root, 'etc/upgraded'), 'utf8'), 'x');
  assert.equal(await readFile(join(v2.root, 'etc/made'), 'utf8'), 'bookworm amd64\n', 'copied from v1');
  await assert.rejects(stat(join(v1.root, 'etc/upgraded')), 'the leased version is unchanged');
  // The temporary resolv.conf and policy-rc.d are gone again.
  await assert.rejects(lstat(join(v2.root, 'etc/resolv.conf')));
  await assert.rejects(lstat(join(v2.root, 'usr/sbin/policy-rc.d')));
  const version = JSON.parse(await readFile(join(state, 'envs/e/versions', v2.versionId, 'version.json'), 'utf8'));
  assert.deepEqual(version.madeBy, { kind: 'update', from: v1.versionId, argv: ['apt-get dist-upgrade'] });

  // A build started now gets v2; the old build still has v1.
  const lease2 = await store.acquire('e');
  assert.equal(lease2.env.id, `e@${v2.versionId}`);
  assert.ok((await stat(v1.root)).isDirectory());

  await lease.release();
  await lease.release(); // idempotent
  await assert.rejects(stat(join(state, 'envs/e/versions', v1.versionId)), 'v1 removed once released');
  assert.deepEqual((await store.get('e')).versions, [v2.versionId]);
  assert.deepEqual(await readdir(join(state, 'envs/e/leases')), (await readdir(join(state, 'envs/e/leases'))).filter((n) => n.startsWith(v2.versionId)));
  await lease2[Symbol.asyncDispose]();
  assert.deepEqual(await readdir(join(state, 'envs/e/leases')), []);

  // Without leases, an update removes the previous version at once.
  const v3 = await store.update('e');
  assert.deepEqual(v3.removed, [v2.versionId]);
  assert.deepEqual(v3.versions, [v3.versionId]);
  assert.equal(await readFile(join(v3.root, 'etc/upgraded'), 'utf8'), 'xx');
});

test('a failed update keeps the current version and leaves no temporary copy', async (t) => {
  const state = await tempDir(t);
  const fake = fakeMakers();
  const store = createEnvStore({ stateDir: state, makers: fake.makers });
  const v1 = await store.create('e', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR });
  fake.failNext = 'upgrade';
  await assert.rejects(store.update('e'), /fake apt failed/);
  const after = await store.get('e');
  assert.equal(after.versionId, v1.versionId);
  assert.deepEqual(after.versions, [v1.versionId]);
  assert.deepEqual(await readdir(join(state, 'envs/e/tmp')), []);
  await assert.rejects(store.update('nope'), (e: unknown) => {
    // It says where it looked, and how envs kept elsewhere are found.
    assert.ok(e instanceof KilnError);
    assert.match(e.message, /^no environment named "nope" in \/.*\/envs$/);
    assert.match(e.hint ?? '', /kiln env create nope --suite SUITE --arch ARCH.*KILN_ENVS/);
    return true;
  });
  // A typo of an env there is: the env it likely meant.
  const v2 = await store.create('bookworm-amd64', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR });
  assert.ok(v2.versionId !== undefined);
  await assert.rejects(store.update('bookworm-amd46'), /^KilnError: no environment named "bookworm-amd46" in \/.*\/envs \(did you mean "bookworm-amd64"\?\)$/);
});

test('destroy is refused while a live lease exists (naming the pid); stale leases do not count', async (t) => {
  const state = await tempDir(t);
  const store = createEnvStore({ stateDir: state, makers: fakeMakers().makers });
  const v1 = await store.create('e', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR });
  const lease = await store.acquire('e');
  await assert.rejects(store.destroy('e'), (e: unknown) =>
    e instanceof KilnError && e.code === 'env-in-use' && e.message.includes(`pids ${process.pid}`) && /kiln env destroy e/.test(e.hint ?? ''));
  await lease.release();
  // A lease left by a process that died (SIGKILLed build).
  const dead = Number(spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim());
  await writeFile(join(state, 'envs/e/leases', `${v1.versionId}.${dead}.abcd`), `${dead} ${hostname()} 1\n`);
  assert.deepEqual((await store.get('e')).leases, []);
  await store.destroy('e');
  assert.deepEqual((await readdir(join(state, 'envs'))).filter((n) => !n.startsWith('.locks')), []);
  await assert.rejects(store.destroy('e'), /no environment named "e"/);
  await assert.rejects(store.acquire('e'), /no environment named "e"/);
});

test('import reads suite and arch from the root, refuses a hostile tarball, and keeps nothing of it', async (t) => {
  const state = await tempDir(t);
  const work = await tempDir(t);
  const store = createEnvStore({ stateDir: state, makers: fakeMakers().makers });
  const good = join(work, 'root.tar.gz');
  writeTarball(good, tinyRoot({ codename: 'trixie', arch: 'riscv64' }), { compression: 'gz' });
  const lines: string[] = [];
  const e = await store.importTarball('imported', good, { onOutput: (l) => lines.push(l) });
  assert.equal(e.suite, 'trixie');
  assert.equal(e.arch, 'riscv64');
  assert.equal(e.mirror, undefined);
  assert.equal(await readFile(join(e.root, 'usr/lib/os-release'), 'utf8').then((s) => s.includes('trixie')), true);
  const version = JSON.parse(await readFile(join(state, 'envs/imported/versions', e.versionId, 'version.json'), 'utf8'));
  assert.equal(version.madeBy.kind, 'import');
  assert.match(version.madeBy.sha256, /^[0-9a-f]{64}$/);
  assert.ok(lines.some((l) => /extracted \d+ members/.test(l)));

  const given = await store.importTarball('given', good, { suite: 'sid', arch: 'arm64' });
  assert.deepEqual([given.suite, given.arch], ['sid', 'arm64']);

  const evil = join(work, 'evil.tar');
  writeTarball(evil, [...tinyRoot(), { name: 'etc/cron.d', type: 'symlink', target: '/etc/cron.d' }, { name: 'etc/cron.d/x', type: 'file', data: 'pwned' }]);
  await assert.rejects(store.importTarball('evil', evil), (err: unknown) => err instanceof KilnError && err.code === 'unsafe-path');
  await assert.rejects(stat(join(state, 'envs/evil')));

  const bare = join(work, 'bare.tar');
  writeTarball(bare, [{ name: 'etc/', type: 'dir' }]);
  await assert.rejects(store.importTarball('bare', bare), (err: unknown) => err instanceof KilnError && /--suite/.test(err.hint ?? ''));
  await assert.rejects(stat(join(state, 'envs/bare')));
  await assert.rejects(store.importTarball('missing', join(work, 'nope.tar')), /cannot read/);
  // A missing file or a directory is about the path, not "no env of that name" (env-not-found).
  await assert.rejects(store.importTarball('missing', join(work, 'nope.tar')), (err: unknown) => {
    assert.ok(err instanceof KilnError);
    assert.equal(err.code, 'path-unusable');
    assert.equal(err.message, `cannot read the root tarball ${join(work, 'nope.tar')}: no such file (ENOENT)`);
    assert.match(err.hint ?? '', /root tarball/);
    return true;
  });
  await assert.rejects(store.importTarball('dir', work), (err: unknown) => err instanceof KilnError && err.code === 'path-unusable' && err.message.endsWith(`${work}: is a directory (EISDIR)`));
  await assert.rejects(stat(join(state, 'envs/missing')));
});

test('a damaged env.json is reported with its path and what to do; destroy still removes it', async (t) => {
  const state = await tempDir(t);
  const store = createEnvStore({ stateDir: state, makers: fakeMakers().makers });
  await store.create('e', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR });
  await store.create('f', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR });
  await writeFile(join(state, 'envs/e/env.json'), '{"name": "e"');
  await assert.rejects(store.list(), (e: unknown) =>
    e instanceof KilnError && e.code === 'config-invalid' && e.message.includes(join(state, 'envs/e/env.json')) && /kiln env destroy e`/.test(e.hint ?? ''));
  // Asked to, the list goes on without it, and tells it.
  const damaged: string[] = [];
  assert.deepEqual((await store.list({ onDamaged: (name) => damaged.push(name) })).map((x) => x.name), ['f']);
  assert.deepEqual(damaged, ['e']);
  await store.destroy('e');
  await store.destroy('f');
  assert.deepEqual(await store.list(), []);
});

test('acquire checks the env can run on this machine and drops its lease when it cannot', async (t) => {
  const state = await tempDir(t);
  const fake = fakeMakers();
  const store = createEnvStore({
    stateDir: state,
    makers: { ...fake.makers, ensureArch: async (arch) => {
      if (arch === 'riscv64') throw new KilnError('sandbox-unavailable', 'no qemu', { hint: 'apt-get install qemu-user-static binfmt-support' });
    } },
  });
  await store.importTarball('rv', await (async () => {
    const f = join(state, 'rv.tar');
    writeTarball(f, tinyRoot({ arch: 'riscv64' }));
    return f;
  })());
  await assert.rejects(store.acquire('rv'), /no qemu/);
  assert.deepEqual(await readdir(join(state, 'envs/rv/leases')), []);
});

test('acquire passes kiln\'s notes of making a foreign env runnable (a binfmt handler registered) to the caller, not into the void', async (t) => {
  const state = await tempDir(t);
  const fake = fakeMakers();
  const store = createEnvStore({
    stateDir: state,
    makers: { ...fake.makers, ensureArch: async (_arch, o) => o.onOutput?.('registering binfmt qemu-riscv64 with the fix-binary flag') },
  });
  const f = join(state, 'rv.tar');
  writeTarball(f, tinyRoot({ arch: 'riscv64' }));
  await store.importTarball('rv', f);
  const notes: string[] = [];
  const lease = await store.acquire('rv', { onNote: (n) => notes.push(n) });
  await lease.release();
  assert.deepEqual(notes, ['registering binfmt qemu-riscv64 with the fix-binary flag']);
});

test('export then import on another store: the same version id (so the same keys), suite, arch and files; the metadata member is not left in the root', async (t) => {
  const a = await tempDir(t);
  const b = await tempDir(t);
  const work = await tempDir(t);
  const plain = join(work, 'root.tar.gz');
  writeTarball(plain, tinyRoot({ codename: 'trixie', arch: 'riscv64' }), { compression: 'gz' });
  const there = createEnvStore({ stateDir: a, makers: fakeMakers().makers });
  const made = await there.importTarball('trixie-riscv64', plain);
  const file = join(work, 'trixie-riscv64.tar.zst');
  const exported = await there.exportTarball('trixie-riscv64', file);
  assert.equal(exported.file, file);
  assert.equal(exported.versionId, made.versionId);
  // A plain root tarball any tar reads, with kiln's member at its top.
  const listed = spawnSync('tar', ['--zstd', '-tf', file], { encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  assert.ok(listed.stdout.split('\n').includes('.kiln-env.json'), listed.stdout);
  assert.ok(listed.stdout.split('\n').some((l) => l.endsWith('usr/lib/os-release')), listed.stdout);

  const here = createEnvStore({ stateDir: b, makers: fakeMakers().makers });
  const lines: string[] = [];
  const imported = await here.importTarball('trixie-riscv64', file, { onOutput: (l) => lines.push(l) });
  assert.equal(imported.id, made.id, 'the same env id: builds in it have the same keys');
  assert.deepEqual([imported.suite, imported.arch], ['trixie', 'riscv64']);
  assert.ok(lines.some((l) => /its version id is kept/.test(l)), lines.join('\n'));
  await assert.rejects(stat(join(imported.root, '.kiln-env.json')), 'the metadata is not part of the root');
  const files = async (root: string): Promise<string[]> => (await readdir(root, { recursive: true })).sort();
  assert.deepEqual(await files(imported.root), await files(made.root));

  // Again over an env of that name: what to do to roll a newer version out (not env update).
  await assert.rejects(here.importTarball('trixie-riscv64', file), (e: unknown) => e instanceof KilnError && e.code === 'env-exists' && /kiln env destroy trixie-riscv64`, then import again/.test(e.hint ?? '') && /other keys/.test(e.hint ?? ''));
  // Under another name: imported, with a note that its keys will differ.
  const other: string[] = [];
  await here.importTarball('renamed', file, { onOutput: (l) => other.push(l) });
  assert.ok(other.some((l) => /exported as "trixie-riscv64"/.test(l)), other.join('\n'));
  // A plain tarball still gets a version of its own.
  const fresh = await here.importTarball('plain', plain);
  assert.notEqual(fresh.versionId, made.versionId);
  // What an export cannot be: a name that does not say its packing; --arch against the export.
  await assert.rejects(there.exportTarball('trixie-riscv64', join(work, 'x.zip')), (e: unknown) => e instanceof KilnError && e.code === 'usage' && /\.tar\.zst/.test(e.message));
  await assert.rejects(here.importTarball('again', file, { arch: 'amd64' }), (e: unknown) => e instanceof KilnError && e.code === 'usage' && /riscv64 root: --suite\/--arch say otherwise/.test(e.message));
  await assert.rejects(stat(join(b, 'envs/again')));
  // A damaged metadata member is named, not taken as a version id.
  const bad = join(work, 'bad.tar');
  writeTarball(bad, [...tinyRoot(), { name: '.kiln-env.json', type: 'file', data: '{"kind":"kiln-env-export","v":1,"name":"x","versionId":"../../etc"}' }]);
  await assert.rejects(here.importTarball('bad', bad), (e: unknown) => e instanceof KilnError && e.code === 'usage' && /\.kiln-env\.json is not what kiln env export writes/.test(e.message));
  await assert.rejects(stat(join(b, 'envs/bad')));
  // A member that is a link (to a host file) is not followed.
  const linked = join(work, 'linked.tar');
  writeTarball(linked, [...tinyRoot(), { name: '.kiln-env.json', type: 'symlink', target: '/etc/passwd' }]);
  await assert.rejects(here.importTarball('linked', linked), (e: unknown) => e instanceof KilnError && e.code === 'usage' && /is not a small regular file/.test(e.message));
});

test('lockWaitMessage: names the holder, its host and how long it has held the lock', () => {
  const now = 1_700_000_000_000;
  const rows: [string, RegExp][] = [
    [`4242 buildhost ${now - 5_000} abcdef 123\n`, /^environment "a" is being made, updated, imported, exported or destroyed by another kiln process \(pid 4242 on buildhost, for 5s\): waiting for it to finish \(Ctrl-C stops waiting\)$/],
    [`7 h ${now - 135_000} t -\n`, /pid 7 on h, for 2m15s\)/],
    [`7 h ${now + 3_000} t -\n`, /for 0s\)/],
    ['garbage', /^environment "a" is locked by another kiln process: waiting for it to finish$/],
  ];
  for (const [holder, want] of rows) assert.match(lockWaitMessage('a', holder, now), want, holder);
});

test('a create, update or destroy waiting for another one on the same env says so once, then goes on', async (t) => {
  const state = await tempDir(t);
  const fake = fakeMakers();
  const said: string[] = [];
  const store = createEnvStore({ stateDir: state, makers: fake.makers, onLockWait: (m) => said.push(m) });
  fake.hold = true;
  const creating = store.create('a', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR });
  const deadline = Date.now() + 5000;
  while (fake.waiting === undefined && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  assert.ok(fake.waiting !== undefined, 'the create is under way');
  const destroying = store.destroy('a');
  while (said.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(said.length, 1);
  assert.match(said[0]!, new RegExp(`^environment "a" is being made, .* \\(pid ${process.pid} on ${hostname()}, for \\d+s\\): waiting for it to finish`));
  fake.hold = false;
  fake.waiting();
  await creating;
  await destroying;
  assert.equal(said.length, 1, 'told once per wait');
  assert.deepEqual(await store.list(), []);
});
