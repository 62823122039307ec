import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createArtifactStore } from './artifacts.ts';
import type { ArtifactMeta } from './artifact-types.ts';
import { buildManifest } from './archive.ts';
import { sha256, sha256File } from '../lib/hash.ts';
import { KilnError } from '../errors.ts';
import { registerInUse } from './in-use.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-art-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function makeDest(root: string, extraFiles = 0): Promise<string> {
  await mkdir(join(root, 'usr/bin'), { recursive: true });
  await mkdir(join(root, 'usr/lib'), { recursive: true });
  await writeFile(join(root, 'usr/bin/hello'), '#!/bin/sh\necho hello\n');
  await chmod(join(root, 'usr/bin/hello'), 0o755);
  await symlink('hello', join(root, 'usr/bin/hi'));
  await writeFile(join(root, 'usr/lib/libhello.so.1'), Buffer.alloc(4096, 7));
  await chmod(join(root, 'usr/lib/libhello.so.1'), 0o644);
  for (let i = 0; i < extraFiles; i++) await writeFile(join(root, `usr/lib/data-${i}`), `${i}\n`.repeat(2000));
  return root;
}

const info = { name: 'hello', version: '1.0', release: '1', arch: 'amd64', depends: [], provides: [], recipe: 'hello/kiln.toml' };
const KEY = 'ab'.repeat(32);

test('put then get: meta, manifest and archive round trip; stageInto unpacks', async (t) => {
  const root = await tempDir(t);
  const cacheDir = join(root, 'cache');
  const store = createArtifactStore({ cacheDir });
  const dest = await makeDest(join(root, 'dest'));
  assert.equal(await store.has(KEY), false);
  assert.equal(await store.get(KEY), undefined);

  const meta = await store.put(KEY, { destDir: dest, meta: info, sourceDateEpoch: 1_700_000_000 });
  assert.equal(store.dir(KEY), join(cacheDir, 'artifacts', 'ab', KEY));
  assert.equal(meta.key, KEY);
  assert.equal(meta.name, 'hello');
  assert.equal(meta.recipe, 'hello/kiln.toml');
  assert.equal(meta.archive, 'pkg.tar.zst');
  const archive = join(store.dir(KEY), 'pkg.tar.zst');
  assert.equal(meta.size, (await stat(archive)).size);
  assert.equal(meta.sha256, await sha256File(archive));
  assert.equal(meta.fileCount, 3);
  assert.equal(meta.installedSize, 4096 + 21);
  assert.match(meta.createdAt, /^\d{4}-\d\d-\d\dT/);
  assert.deepEqual(await store.get(KEY), meta);
  assert.equal(await store.has(KEY), true);

  const manifest = await store.manifest(KEY);
  assert.deepEqual(manifest, await buildManifest(dest));
  assert.deepEqual(manifest?.find((e) => e.path === 'usr/bin/hello'), {
    path: 'usr/bin/hello', type: 'file', mode: 0o755, size: 21, sha256: sha256('#!/bin/sh\necho hello\n'),
  });
  assert.equal(manifest?.find((e) => e.path === 'usr/bin/hi')?.target, 'hello');
  assert.equal(meta.outputHash, sha256(await readFile(join(store.dir(KEY), 'manifest.json'), 'utf8')));

  const sysroot = join(root, 'sysroot');
  await mkdir(sysroot);
  await store.stageInto(KEY, sysroot);
  assert.deepEqual(await buildManifest(sysroot), manifest);
  assert.deepEqual(await readdir(join(cacheDir, 'tmp')), []);
});

test('outputHash depends on content only, not on mtimes or key', async (t) => {
  const root = await tempDir(t);
  const store = createArtifactStore({ cacheDir: join(root, 'cache') });
  const a = await makeDest(join(root, 'a'));
  const b = await makeDest(join(root, 'b'));
  await utimes(join(b, 'usr/lib/libhello.so.1'), 12345, 12345);
  const ma = await store.put('aa'.repeat(32), { destDir: a, meta: info, sourceDateEpoch: 0 });
  const mb = await store.put('bb'.repeat(32), { destDir: b, meta: info, sourceDateEpoch: 0 });
  assert.equal(ma.outputHash, mb.outputHash);
  assert.equal(ma.sha256, mb.sha256, 'archives are byte-identical');
  await writeFile(join(b, 'usr/lib/libhello.so.1'), Buffer.alloc(4096, 8));
  const mc = await store.put('cc'.repeat(32), { destDir: b, meta: info, sourceDateEpoch: 0 });
  assert.notEqual(mc.outputHash, ma.outputHash);
});

test('an empty destDir gives an artifact without archive, and staging it is a no-op', async (t) => {
  const root = await tempDir(t);
  const store = createArtifactStore({ cacheDir: join(root, 'cache') });
  await mkdir(join(root, 'dest'));
  const meta = await store.put(KEY, { destDir: join(root, 'dest'), meta: info, sourceDateEpoch: 0 });
  assert.equal(meta.archive, null);
  assert.equal(meta.sha256, null);
  assert.equal(meta.size, 0);
  assert.deepEqual((await readdir(store.dir(KEY))).sort(), ['meta.json'], 'no archive, no manifest file');
  assert.deepEqual(await store.manifest(KEY), []);
  assert.equal(await store.manifest('f'.repeat(64)), undefined, 'an absent entry has no manifest');
  await mkdir(join(root, 'sysroot'));
  await store.stageInto(KEY, join(root, 'sysroot'));
  assert.deepEqual(await readdir(join(root, 'sysroot')), []);
});

test('put of a stored key returns the stored artifact unchanged', async (t) => {
  const root = await tempDir(t);
  const store = createArtifactStore({ cacheDir: join(root, 'cache') });
  const first = await store.put(KEY, { destDir: await makeDest(join(root, 'a')), meta: info, sourceDateEpoch: 0 });
  await mkdir(join(root, 'other'));
  const second = await store.put(KEY, { destDir: join(root, 'other'), meta: { ...info, version: '2' }, sourceDateEpoch: 0 });
  assert.deepEqual(second, first);
});

test('stageInto a missing key is artifact-missing naming the key', async (t) => {
  const root = await tempDir(t);
  const store = createArtifactStore({ cacheDir: join(root, 'cache') });
  await assert.rejects(store.stageInto(KEY, root), (e: unknown) => {
    assert(e instanceof KilnError);
    assert.equal(e.code, 'artifact-missing');
    assert(e.message.includes(KEY));
    return true;
  });
});

test('touch moves the last-use time forward', async (t) => {
  const root = await tempDir(t);
  const store = createArtifactStore({ cacheDir: join(root, 'cache') });
  await store.put(KEY, { destDir: await makeDest(join(root, 'a')), meta: info, sourceDateEpoch: 0 });
  const metaFile = join(store.dir(KEY), 'meta.json');
  await utimes(metaFile, 1000, 1000);
  await store.touch(KEY);
  assert((await stat(metaFile)).mtimeMs > Date.now() - 60_000);
  await store.touch('cd'.repeat(32)); // missing: no error
});

test('a failed put leaves no artifact and no temp dir', async (t) => {
  const root = await tempDir(t);
  const cacheDir = join(root, 'cache');
  const store = createArtifactStore({ cacheDir });
  const dest = await makeDest(join(root, 'dest'));
  execFileSync('mkfifo', [join(dest, 'usr/lib/fifo')]);
  await assert.rejects(store.put(KEY, { destDir: dest, meta: info, sourceDateEpoch: 0 }), { code: 'archive-failed' });
  assert.equal(await store.has(KEY), false);
  assert.deepEqual(await readdir(join(cacheDir, 'tmp')), []);
});

test('two OS processes putting one key at once end with one consistent artifact', async (t) => {
  const root = await tempDir(t);
  const cacheDir = join(root, 'cache');
  const dest = await makeDest(join(root, 'dest'), 300);
  const script = new URL('../../test/fixtures/cache/put-child.ts', import.meta.url).pathname;
  const children = [0, 1].map(() => spawn(process.execPath, [script, cacheDir, dest, KEY], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const outputs = children.map((c) => createInterface({ input: c.stdout })[Symbol.asyncIterator]());
  for (const out of outputs) assert.equal((await out.next()).value, 'ready');
  for (const c of children) c.stdin.write('go\n');
  const metas = await Promise.all(outputs.map(async (out) => JSON.parse((await out.next()).value as string) as ArtifactMeta));
  const codes = await Promise.all(children.map(async (c) => c.exitCode ?? (await once(c, 'exit'))[0]));
  assert.deepEqual(codes, [0, 0]);
  assert.deepEqual(metas[0], metas[1]);
  const store = createArtifactStore({ cacheDir });
  assert.deepEqual(await store.get(KEY), metas[0]);
  assert.equal(metas[0]?.sha256, await sha256File(join(store.dir(KEY), 'pkg.tar.zst')));
  assert.deepEqual(await readdir(join(cacheDir, 'artifacts', 'ab')), [KEY]);
  assert.deepEqual(await readdir(join(cacheDir, 'tmp')), []);
});

async function corruptWith(t: { after: (fn: () => Promise<void>) => void }, damage: (archive: string) => Promise<void>) {
  const root = await tempDir(t);
  const cacheDir = join(root, 'cache');
  const store = createArtifactStore({ cacheDir });
  const dest = await makeDest(join(root, 'dest'));
  const meta = await store.put(KEY, { destDir: dest, meta: info, sourceDateEpoch: 0 });
  const archive = join(store.dir(KEY), 'pkg.tar.zst');
  await damage(archive);
  const sysroot = join(root, 'sysroot');
  await mkdir(sysroot);
  return { root, cacheDir, store, dest, meta, archive, sysroot };
}

/** Assert an artifact-corrupt error naming the key and the archive, with the rebuild hint. */
function isCorrupt(archive: string, detail: RegExp) {
  return (e: unknown): boolean => {
    assert(e instanceof KilnError, String(e));
    assert.equal(e.code, 'artifact-corrupt');
    assert(e.message.includes(KEY), e.message);
    assert(e.message.includes(archive), e.message);
    assert.match(e.message, detail);
    assert.equal(e.hint, 'it was removed from the cache; run the build again to rebuild it');
    return true;
  };
}

test('stageInto of a truncated archive is artifact-corrupt and removes the entry; a rebuild stores it again', async (t) => {
  const c = await corruptWith(t, (archive) => truncate(archive, 20));
  await assert.rejects(c.store.stageInto(KEY, c.sysroot), isCorrupt(c.archive, /has 20 bytes where meta.json says \d+/));
  // Gone for this store, for another process's store and for the planner (it stats meta.json).
  assert.equal(await c.store.has(KEY), false);
  assert.equal(createArtifactStore({ cacheDir: c.cacheDir }).peek(KEY), undefined);
  assert.equal(existsSync(join(c.store.dir(KEY), 'meta.json')), false);
  assert.deepEqual(await readdir(join(c.cacheDir, 'tmp')), [], 'the entry moved aside is deleted');
  await assert.rejects(c.store.stageInto(KEY, c.sysroot), { code: 'artifact-missing' });

  const again = await c.store.put(KEY, { destDir: c.dest, meta: info, sourceDateEpoch: 0, knownAbsent: true });
  assert.equal(again.sha256, await sha256File(c.archive));
  const sysroot2 = join(c.root, 'sysroot2');
  await mkdir(sysroot2);
  await c.store.stageInto(KEY, sysroot2);
  assert.deepEqual(await buildManifest(sysroot2), await buildManifest(c.dest));
});

test('stageInto of an archive altered in place (same size) is artifact-corrupt, found by its sha256', async (t) => {
  const c = await corruptWith(t, async (archive) => {
    const bytes = await readFile(archive);
    bytes.fill(0, 40, bytes.length - 8);
    await writeFile(archive, bytes);
  });
  assert.equal((await stat(c.archive)).size, c.meta.size);
  await assert.rejects(c.store.stageInto(KEY, c.sysroot), isCorrupt(c.archive, /has sha256 [0-9a-f]{64} where meta.json says [0-9a-f]{64}/));
  assert.equal(await c.store.has(KEY), false);
});

test('stageInto with the archive missing is artifact-corrupt; two jobs staging it at once both say so', async (t) => {
  const c = await corruptWith(t, (archive) => rm(archive));
  const sysroot2 = join(c.root, 'sysroot2');
  await mkdir(sysroot2);
  const results = await Promise.allSettled([c.store.stageInto(KEY, c.sysroot), c.store.stageInto(KEY, sysroot2)]);
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    isCorrupt(c.archive, /is missing|was found corrupt by another job of this run/)((r as PromiseRejectedResult).reason);
  }
  assert.equal(await c.store.has(KEY), false);
});

test('a failed unpack of an intact archive keeps the entry (the fault is elsewhere)', async (t) => {
  const c = await corruptWith(t, async () => {});
  // The sysroot does not exist: tar fails, the archive is fine.
  await assert.rejects(c.store.stageInto(KEY, join(c.root, 'no-such-dir')), (e: unknown) => {
    assert(e instanceof KilnError);
    assert.equal(e.code, 'archive-failed');
    return true;
  });
  assert.equal(await c.store.has(KEY), true);
  assert.equal(c.meta.sha256, await sha256File(c.archive));
});

test('put over a corrupt entry (a forced rebuild) replaces it instead of returning it', async (t) => {
  for (const [what, damage] of [
    ['truncated', (archive: string) => truncate(archive, 20)],
    ['altered, same size', async (archive: string) => {
      const bytes = await readFile(archive);
      bytes.fill(0, 40, bytes.length - 8);
      await writeFile(archive, bytes);
    }],
    ['missing', (archive: string) => rm(archive)],
  ] as const) {
    const c = await corruptWith(t, damage);
    const replaced = await c.store.put(KEY, { destDir: c.dest, meta: info, sourceDateEpoch: 0 });
    assert.equal(replaced.size, (await stat(c.archive)).size, what);
    assert.equal(replaced.sha256, await sha256File(c.archive), what);
    assert.deepEqual(createArtifactStore({ cacheDir: c.cacheDir }).peek(KEY), replaced, what);
    await c.store.stageInto(KEY, c.sysroot);
    assert.deepEqual(await buildManifest(c.sysroot), await buildManifest(c.dest), what);
    assert.deepEqual(await readdir(join(c.cacheDir, 'tmp')), [], what);
  }
});

test('remembered: the metas this store put, and nothing it only read or has discarded', async (t) => {
  const root = await tempDir(t);
  const cacheDir = join(root, 'cache');
  const store = createArtifactStore({ cacheDir });
  assert.equal(store.remembered(KEY), undefined);
  const put = await store.put(KEY, { destDir: await makeDest(join(root, 'a')), meta: info, sourceDateEpoch: 0 });
  assert.deepEqual(store.remembered(KEY), put);
  // Another store (another kiln process) reads it from disk: gc may remove what it did not put.
  const other = createArtifactStore({ cacheDir });
  assert.deepEqual(other.peek(KEY), put);
  assert.deepEqual(await other.get(KEY), put);
  assert.equal(other.remembered(KEY), undefined);
  // A corrupt entry found at staging is forgotten with the entry.
  await truncate(join(store.dir(KEY), put.archive!), 10);
  await assert.rejects(store.stageInto(KEY, await mkdtemp(join(root, 'sysroot-'))), /artifact-corrupt|corrupt/);
  assert.equal(store.remembered(KEY), undefined);
});

test('staging an artifact this store put does not touch it; one put by another process is touched', async (t) => {
  const root = await tempDir(t);
  const cacheDir = join(root, 'cache');
  const store = createArtifactStore({ cacheDir });
  await store.put(KEY, { destDir: await makeDest(join(root, 'a')), meta: info, sourceDateEpoch: 0 });
  const metaFile = join(store.dir(KEY), 'meta.json');
  const written = (await stat(metaFile)).mtimeMs;
  await store.stageInto(KEY, await mkdtemp(join(root, 'sysroot-')));
  assert.equal((await stat(metaFile)).mtimeMs, written);
  await utimes(metaFile, 1000, 1000);
  await createArtifactStore({ cacheDir }).stageInto(KEY, await mkdtemp(join(root, 'sysroot-')));
  assert((await stat(metaFile)).mtimeMs > Date.now() - 60_000);
});

test('a forced rebuild: its warnings replace the stored ones for the same output; a clean other output replaces a warned entry; otherwise the entry stays', async (t) => {
  const root = await tempDir(t);
  const cacheDir = join(root, 'cache');
  const check = (warnings: string[]) => ({ readElf: false, needles: [], run: () => warnings });
  const store = createArtifactStore({ cacheDir });
  const dest = await makeDest(join(root, 'a'));
  const first = await store.put(KEY, { destDir: dest, meta: info, sourceDateEpoch: 0, check: check(['hierarchy: x']) });
  assert.deepEqual(first.warnings, ['hierarchy: x']);
  // The same output, checked clean (a newer kiln's checks): the entry carries no warning now, on disk too.
  const same = await store.put(KEY, { destDir: dest, meta: info, sourceDateEpoch: 0, check: check([]) });
  assert.equal(same.outputHash, first.outputHash);
  assert.equal(same.warnings, undefined);
  assert.equal(createArtifactStore({ cacheDir }).peek(KEY)?.warnings, undefined);
  // Warned again, then another output: warned again keeps the entry (one output per key)...
  await store.put(KEY, { destDir: dest, meta: info, sourceDateEpoch: 0, check: check(['hierarchy: x']) });
  const other = await makeDest(join(root, 'b'), 1);
  const kept = await store.put(KEY, { destDir: other, meta: info, sourceDateEpoch: 0, check: check(['permissions: y']) });
  assert.equal(kept.outputHash, first.outputHash);
  // ...a clean other output replaces the warned entry (--fail-on-warnings rebuilt it for that).
  const replaced = await store.put(KEY, { destDir: other, meta: info, sourceDateEpoch: 0, check: check([]) });
  assert.notEqual(replaced.outputHash, first.outputHash);
  assert.equal(replaced.warnings, undefined);
  assert.equal(createArtifactStore({ cacheDir }).peek(KEY)?.outputHash, replaced.outputHash);
  // `--force` (replace): another output replaces the entry, warned or not; the same output keeps it.
  const third = await makeDest(join(root, 'c'), 2);
  const forced = await store.put(KEY, { destDir: third, meta: info, sourceDateEpoch: 0, check: check(['permissions: y']), replace: true });
  assert.notEqual(forced.outputHash, replaced.outputHash);
  assert.deepEqual(forced.warnings, ['permissions: y']);
  assert.equal(createArtifactStore({ cacheDir }).peek(KEY)?.outputHash, forced.outputHash, 'on disk');
  assert.equal(await store.verify(KEY), undefined, 'whole');
  const again = await store.put(KEY, { destDir: third, meta: info, sourceDateEpoch: 0, check: check(['permissions: y']), replace: true });
  assert.equal(again.outputHash, forced.outputHash);
  // A live run stages the entry (its dependents' keys name its output): kept, and said why.
  const inUse = await registerInUse(cacheDir, 'other-run', [KEY]);
  const keptNotes: string[] = [];
  const fourth = await makeDest(join(root, 'd'), 3);
  const notReplaced = await store.put(KEY, { destDir: fourth, meta: info, sourceDateEpoch: 0, check: check([]), replace: true, onKept: (t) => keptNotes.push(t) });
  assert.equal(notReplaced.outputHash, forced.outputHash);
  assert.match(keptNotes.join('\n'), /^its output differs from the stored one \([0-9a-f]{16}\), which is kept: a run still going stages it; force it again once that run has ended$/);
  await inUse.release();
  // Once that run has ended, replaced; nothing left aside in the cache's tmp.
  assert.notEqual((await store.put(KEY, { destDir: fourth, meta: info, sourceDateEpoch: 0, check: check([]), replace: true })).outputHash, forced.outputHash);
  assert.deepEqual((await readdir(join(cacheDir, 'tmp'))).filter((n) => !n.startsWith('.')), []);
});
