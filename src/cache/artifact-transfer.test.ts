import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createArtifactStore } from './artifacts.ts';
import { entryFiles, importEntry } from './artifact-transfer.ts';
import { KilnError } from '../errors.ts';

const info = { name: 'hello', version: '1.0', release: 1, arch: 'amd64', depends: [], provides: [] };
const KEY = 'cd'.repeat(32);

/** A temp folder with an entry for KEY stored in its cache `a` (usr/bin/hello), and that entry's files. */
async function storedEntry(t: TestContext) {
  const root = await mkdtemp(join(tmpdir(), 'kiln-transfer-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dest = join(root, 'dest');
  await mkdir(join(dest, 'usr/bin'), { recursive: true });
  await writeFile(join(dest, 'usr/bin/hello'), 'echo hello\n');
  const here = createArtifactStore({ cacheDir: join(root, 'a') });
  const put = await here.put(KEY, { destDir: dest, meta: info, sourceDateEpoch: 0 });
  return { root, put, files: (await entryFiles(here, KEY))! };
}

test('an entry travels as files and is stored whole elsewhere; a tampered archive, manifest or meta is refused and nothing is stored', async (t) => {
  const { root, put, files } = await storedEntry(t);
  assert.equal(files.meta.outputHash, put.outputHash);
  assert.notEqual(files.archivePath, null);

  // Tampered copies, each refused with nothing stored.
  const there = createArtifactStore({ cacheDir: join(root, 'b') });
  const badArchive = join(root, 'bad.tar.zst');
  const bytes = await readFile(files.archivePath!);
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
  await writeFile(badArchive, bytes);
  const refused = (e: unknown): boolean => e instanceof KilnError && e.code === 'checksum-mismatch' && /nothing was stored/.test(e.message);
  await assert.rejects(importEntry(there, join(root, 'b'), KEY, { ...files, archivePath: badArchive }, 'worker w1'), refused);
  await assert.rejects(importEntry(there, join(root, 'b'), KEY, { ...files, manifestText: '[]' }, 'worker w1'), refused);
  await assert.rejects(importEntry(there, join(root, 'b'), 'ef'.repeat(32), files, 'worker w1'), refused);
  await assert.rejects(importEntry(there, join(root, 'b'), KEY, { ...files, archivePath: null }, 'worker w1'), refused);
  // An archive name that is a path: never written there.
  const escape = join(root, 'OUTSIDE');
  const evilMeta = JSON.stringify({ ...JSON.parse(files.metaText), archive: `../../../../../../../..${escape}` });
  await assert.rejects(importEntry(there, join(root, 'b'), KEY, { ...files, metaText: evilMeta }, 'worker w1'), refused);
  await assert.rejects(import('node:fs/promises').then((f) => f.stat(escape)), { code: 'ENOENT' });
  assert.equal(await there.get(KEY), undefined);

  // The real files: stored, and staged as the original.
  const stored = await importEntry(there, join(root, 'b'), KEY, files, 'worker w1');
  assert.equal(stored.outputHash, put.outputHash);
  const sysroot = join(root, 'sysroot');
  await mkdir(sysroot);
  await there.stageInto(KEY, sysroot);
  assert.equal(await readFile(join(sysroot, 'usr/bin/hello'), 'utf8'), 'echo hello\n');
  // Again: the stored one is kept.
  assert.deepEqual(await importEntry(there, join(root, 'b'), KEY, files, 'worker w2'), stored);
});

test('an entry whose manifest came re-formatted (same entries) is stored with the canonical text: cache verify finds it whole', async (t) => {
  const { root, files } = await storedEntry(t);
  const pretty = JSON.stringify(JSON.parse(files.manifestText!), null, 4);
  assert.notEqual(pretty, files.manifestText);
  const there = createArtifactStore({ cacheDir: join(root, 'b') });
  await importEntry(there, join(root, 'b'), KEY, { ...files, manifestText: pretty }, 'a substituter');
  assert.equal(await there.verify(KEY), undefined);
  assert.equal(await readFile(join(there.dir(KEY), 'manifest.json'), 'utf8'), files.manifestText);
});

test('an import for a --force\'d job (replace): another output replaces the stored entry, the same output keeps it; without replace the stored one is kept', async (t) => {
  const { root, files } = await storedEntry(t);
  // The same key here, stored with another output (an earlier build of a job whose output is not reproducible).
  const dest = join(root, 'other');
  await mkdir(join(dest, 'usr/bin'), { recursive: true });
  await writeFile(join(dest, 'usr/bin/hello'), 'echo hello, again\n');
  const here = createArtifactStore({ cacheDir: join(root, 'b') });
  const old = await here.put(KEY, { destDir: dest, meta: info, sourceDateEpoch: 0 });
  assert.notEqual(old.outputHash, files.meta.outputHash);
  assert.equal((await importEntry(here, join(root, 'b'), KEY, files, 'worker w1')).outputHash, old.outputHash, 'kept');
  const replaced = await importEntry(here, join(root, 'b'), KEY, files, 'worker w1', { replace: true });
  assert.equal(replaced.outputHash, files.meta.outputHash);
  assert.equal(createArtifactStore({ cacheDir: join(root, 'b') }).peek(KEY)?.outputHash, files.meta.outputHash, 'on disk');
  assert.equal(await here.verify(KEY), undefined, 'whole');
  assert.equal((await importEntry(here, join(root, 'b'), KEY, files, 'worker w2', { replace: true })).outputHash, files.meta.outputHash);
  // Put back the other output: with a live run staging the entry, an import keeps it and says why.
  const { registerInUse } = await import('./in-use.ts');
  const other = await importEntry(createArtifactStore({ cacheDir: join(root, 'c') }), join(root, 'c'), KEY, files, 'x');
  assert.equal(other.outputHash, files.meta.outputHash);
  const inUse = await registerInUse(join(root, 'b'), 'a-live-run', [KEY]);
  await rm(here.dir(KEY), { recursive: true });
  const again = await here.put(KEY, { destDir: dest, meta: info, sourceDateEpoch: 0 });
  const notes: string[] = [];
  assert.equal((await importEntry(here, join(root, 'b'), KEY, files, 'worker w3', { replace: true, onKept: (t) => notes.push(t) })).outputHash, again.outputHash, 'kept');
  assert.match(notes.join(''), /which is kept: a run still going stages it/);
  await inUse.release();
});
