import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stageSources } from './publish-sources.ts';
import type { DebianBuildSpec } from '../debian/debian-spec.ts';

const spec = (pkg: string, version: string, files: { name: string; sha256: string }[], dscPath?: string): DebianBuildSpec =>
  ({ source: { package: pkg, version, files: files.map((f) => ({ ...f, size: 1 })) }, dscPath } as unknown as DebianBuildSpec);

test('stageSources: a source from the cache laid out by name, once per name and version; a local .dsc as it is; missing or odd files said, not published', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-stage-src-'));
  try {
    const cache = join(dir, 'cache');
    await writeFile(join(dir, 'c1'), 'dsc text');
    await writeFile(join(dir, 'c2'), 'tarball');
    const store = new Map([['a'.repeat(64), join(dir, 'c1')], ['b'.repeat(64), join(dir, 'c2')]]);
    const files = { path: (h: string) => store.get(h) ?? join(cache, h), has: async (h: string) => store.has(h) };
    const notes: string[] = [];
    const hello = spec('hello', '2.10-3', [{ name: 'hello_2.10-3.dsc', sha256: 'a'.repeat(64) }, { name: 'hello_2.10.orig.tar.gz', sha256: 'b'.repeat(64) }]);
    const dscs = await stageSources([
      hello,
      hello, // its other arch: one source
      spec('local', '1', [], '/somewhere/local_1.dsc'),
      spec('gone', '1', [{ name: 'gone_1.dsc', sha256: 'c'.repeat(64) }]),
      spec('odd', '1', [{ name: '../odd_1.dsc', sha256: 'a'.repeat(64) }]),
      // One name twice, with two cache files: never staged (a copy over the first link would write into the cache).
      spec('twice', '1', [{ name: 'twice_1.dsc', sha256: 'a'.repeat(64) }, { name: 'twice_1.dsc', sha256: 'b'.repeat(64) }]),
    ], join(dir, 'out'), files, (t) => notes.push(t));
    assert.deepEqual(dscs, [join(dir, 'out', 'hello_2.10-3', 'hello_2.10-3.dsc'), '/somewhere/local_1.dsc']);
    assert.equal(await readFile(join(dir, 'out', 'hello_2.10-3', 'hello_2.10.orig.tar.gz'), 'utf8'), 'tarball');
    assert.deepEqual(notes, [
      'the source gone 1 is not published: gone_1.dsc no longer in the downloads cache (kiln cache gc?); the next build of it fetches them again',
      'the source odd 1 is not published: its Sources entry lists the file "../odd_1.dsc", not a plain file name',
      'the source twice 1 is not published: its Sources entry lists twice_1.dsc twice',
    ]);
    assert.equal(await readFile(join(dir, 'c1'), 'utf8'), 'dsc text', 'the cache files are as they were');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
