import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../../test/helpers/hermetic-env.ts'; // a developer's KILN_ENVS must not receive this file's envs
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gcCache } from '../../cache/gc.ts';
import { takeLock } from '../../cache/lock.ts';
import { KilnError } from '../../errors.ts';
import { createEnvStore } from '../../envs/env-store.ts';
import type { RootMakers } from '../../envs/env-types.ts';
import { leasesLockName } from '../../envs/leases.ts';
import { classifyLayer, holdKeptLayers } from './kept-holds.ts';

const V1 = '20261122T001500-ab12cd34';
const L1 = '20261123T001500-00000001';
const L2 = '20261124T001500-00000002';
const HASH = '0123456789abcdef';
const KEY = 'a'.repeat(64);
const MIRROR = 'http://deb.example/debian';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-kept-holds-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Makers that make a tiny root at once (no mmdebstrap, no apt). */
const makers: RootMakers = {
  async bootstrap(spec, root) {
    await mkdir(join(root, 'etc'), { recursive: true });
    await mkdir(join(root, 'usr/sbin'), { recursive: true });
    await writeFile(join(root, 'etc/made'), `${spec.suite}\n`);
    return ['mmdebstrap'];
  },
  async upgrade() {
    return ['apt-get dist-upgrade'];
  },
  async ensureArch() {},
};

const gone = (re: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof KilnError, String(e));
  assert.match(e.message, re);
  assert.match(e.hint ?? '', /--keep-failed/);
  return true;
};

test('classifyLayer: env versions, instance layers and deps layers by their paths; anything else is other', () => {
  const rows: [string, ReturnType<typeof classifyLayer>][] = [
    [`/s/envs/bookworm-amd64/versions/${V1}/root`, { kind: 'version', path: `/s/envs/bookworm-amd64/versions/${V1}/root`, envsDir: '/s/envs', env: 'bookworm-amd64', versionId: V1 }],
    [`/e/x/versions/${V1}/instances/${HASH}/layers/${L1}/root`, { kind: 'instance', path: `/e/x/versions/${V1}/instances/${HASH}/layers/${L1}/root`, envsDir: '/e', env: 'x', versionId: V1, specHash: HASH, layerId: L1 }],
    [`/c/deps-layers/${KEY}/root`, { kind: 'deps', path: `/c/deps-layers/${KEY}/root`, cacheDir: '/c', key: KEY }],
    [`/s/envs/x/versions/not-a-version/root`, { kind: 'other', path: '/s/envs/x/versions/not-a-version/root' }],
    [`/s/envs/.x/versions/${V1}/root`, { kind: 'other', path: `/s/envs/.x/versions/${V1}/root` }],
    [`/c/deps-layers/${KEY}/root/usr`, { kind: 'other', path: `/c/deps-layers/${KEY}/root/usr` }],
    ['/somewhere/root', { kind: 'other', path: '/somewhere/root' }],
  ];
  for (const [path, want] of rows) assert.deepEqual(classifyLayer(path), want, path);
});

test('a held env version survives `env update` and gc until release; once removed, holding it names the env and version', async (t) => {
  const state = await tempDir(t);
  const store = createEnvStore({ stateDir: state, makers });
  const v1 = await store.create('e', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR });
  const hold = await holdKeptLayers([v1.root], { jobId: 'broken@amd64' });
  const v2 = await store.update('e');
  assert.deepEqual(v2.removed, [], 'the held version stays at the update');
  assert.deepEqual(await store.gcVersions('e'), []);
  assert.ok(existsSync(v1.root));
  assert.deepEqual((await store.get('e')).leases, [{ versionId: v1.versionId, pid: process.pid }]);
  await assert.rejects(store.destroy('e'), (e: unknown) => e instanceof KilnError && e.code === 'env-in-use');

  await hold.release();
  await hold.release(); // idempotent
  assert.deepEqual(await store.gcVersions('e'), [v1.versionId]);
  assert.ok(!existsSync(v1.root));
  await assert.rejects(holdKeptLayers([v1.root], { jobId: 'broken@amd64' }), gone(new RegExp(`version ${v1.versionId} of env "e" that job broken@amd64 built in was removed`)));
  assert.deepEqual(await readdir(join(state, 'envs/e/leases')), [], 'a failed hold leaves no lease');

  await store.destroy('e');
  await assert.rejects(holdKeptLayers([v2.root], { jobId: 'broken@amd64', again: 'do it --keep-failed' }), gone(/env "e" that job broken@amd64 built in is gone/));
  assert.ok(!existsSync(join(state, 'envs/e')), 'holding a destroyed env makes nothing of it again');
});

test('a held instance layer survives the gc of a refresh until release', async (t) => {
  const state = await tempDir(t);
  const store = createEnvStore({ stateDir: state, makers });
  const v = await store.create('e', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR });
  const inst = join(state, 'envs/e/versions', v.versionId, 'instances', HASH);
  for (const l of [L1, L2]) {
    await mkdir(join(inst, 'layers', l, 'root'), { recursive: true });
    await writeFile(join(inst, 'layers', l, 'layer.json'), JSON.stringify({ id: l, specHash: HASH, name: 'i', contentHash: l, createdAt: '', sizeBytes: 0, durationMs: 0, packages: [] }));
  }
  await writeFile(join(inst, 'current'), `${L2}\n`); // L1 was refreshed away
  const old = join(inst, 'layers', L1, 'root');
  const hold = await holdKeptLayers([v.root, old], { jobId: 'broken@amd64' });
  await store.update('e', { instancesOnly: true });
  assert.ok(existsSync(old), 'the held layer stays');
  await hold[Symbol.asyncDispose]();
  await store.update('e', { instancesOnly: true });
  assert.ok(!existsSync(old), 'gone once released');
  assert.ok(existsSync(join(inst, 'layers', L2, 'root')), 'the current layer stays');
  await assert.rejects(holdKeptLayers([v.root, old], { jobId: 'broken@amd64' }), gone(new RegExp(`instance layer ${L1} .* of env "e" that job broken@amd64 built in was removed`)));
  assert.deepEqual(await readdir(join(state, 'envs/e/leases')), [], 'the version lease taken before is dropped again');
});

test('a held deps layer is in use for `kiln cache gc` until release', async (t) => {
  const cache = await tempDir(t);
  const layer = join(cache, 'deps-layers', KEY, 'root');
  await mkdir(layer, { recursive: true });
  const old = new Date(Date.now() - 30 * 86_400_000);
  await utimes(join(cache, 'deps-layers', KEY), old, old);
  const hold = await holdKeptLayers([layer], { jobId: 'broken@amd64' });
  await sleep(5);
  const during = await gcCache(cache, { keep: new Set() });
  assert.deepEqual(during.removed.filter((r) => r.kind === 'deps-layer'), []);
  assert.ok(existsSync(layer));
  await hold.release();
  assert.deepEqual(await readdir(join(cache, 'in-use')), []);
  const after = await gcCache(cache, { keep: new Set() });
  assert.deepEqual(after.removed.filter((r) => r.kind === 'deps-layer').map((r) => r.path), [join(cache, 'deps-layers', KEY)]);
  await assert.rejects(holdKeptLayers([layer], { jobId: 'broken@amd64' }), gone(/build dependencies aaaaaaaaaaaaaaaa that job broken@amd64 built over is gone .*kiln cache gc/));
  assert.deepEqual(await readdir(join(cache, 'in-use')), [], 'a failed hold leaves no in-use entry');
});

test('the leases are taken under the lock the env store judges them under', async (t) => {
  const state = await tempDir(t);
  const store = createEnvStore({ stateDir: state, makers });
  await store.create('e', { suite: 'bookworm', arch: 'amd64', mirror: MIRROR });
  const lock = await takeLock(join(state, 'envs/.locks'), leasesLockName('e'));
  let done = false;
  const gc = store.gcVersions('e').then(() => (done = true));
  await sleep(300);
  assert.equal(done, false, 'gc waits for the lock kept-holds takes');
  await lock.release();
  await gc;
});
