import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PackageIndexEntry, writePackageIndex } from './package-index.ts';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-index-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const entry = (name: string, arch: string, extra: Partial<PackageIndexEntry> = {}): PackageIndexEntry => ({
  path: `pool/${name}_${arch}.tar.zst`, sha256: 'a'.repeat(64), size: 123, provides: [], depends: ['libc6'],
  arch, release: 1, version: '1.0', name, ...extra,
});

test('writes a sorted index with a fixed shape and leaves no temp file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'repo', 'index.json');
  const now = new Date(Date.UTC(2025, 5, 1));
  await writePackageIndex(path, [entry('zlib', 'arm64'), entry('zlib', 'amd64'), entry('Curl', 'amd64'), entry('curl', 'all', { provides: ['libcurl'] })], { now });
  assert.deepEqual(readdirSync(join(dir, 'repo')), ['index.json']);
  const index = JSON.parse(readFileSync(path, 'utf8'));
  assert.equal(index.generatedAt, '2025-06-01T00:00:00.000Z');
  assert.deepEqual(index.packages.map((p: PackageIndexEntry) => `${p.name}/${p.arch}`), ['Curl/amd64', 'curl/all', 'zlib/amd64', 'zlib/arm64']);
  assert.deepEqual(Object.keys(index.packages[0]), ['name', 'version', 'release', 'arch', 'depends', 'provides', 'size', 'sha256', 'path']);
  assert.deepEqual(index.packages[1].provides, ['libcurl']);
});

test("each entry says its recipe's summary and license (pkg_summary's COMMENT and LICENSE), and its category, in a fixed place", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'index.json');
  await writePackageIndex(path, [entry('zlib', 'amd64', { category: 'libs', license: 'Zlib', summary: 'compression library', file: 'All/zlib_1.0-1_amd64.tar.zst' })]);
  const [p] = JSON.parse(readFileSync(path, 'utf8')).packages;
  assert.deepEqual(Object.keys(p), ['name', 'version', 'release', 'arch', 'summary', 'license', 'depends', 'provides', 'size', 'sha256', 'path', 'file', 'category']);
  assert.equal(p.license, 'Zlib');
  assert.equal(p.summary, 'compression library');
  assert.equal(p.category, 'libs', 'kiln rootfs \'libs/*\' reads it');
});

test('a failed write leaves no temp file behind', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'index.json');
  // Make the final rename fail: the target is a non-empty directory.
  mkdirSync(path);
  writeFileSync(join(path, 'keep'), 'x');
  await assert.rejects(writePackageIndex(path, [entry('b', 'amd64')]));
  assert.deepEqual(readdirSync(dir), ['index.json']);
  assert.deepEqual(readdirSync(path), ['keep']);
});

test('rewriting replaces the whole index', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'index.json');
  await writePackageIndex(path, [entry('a', 'amd64'), entry('b', 'amd64')]);
  await writePackageIndex(path, [entry('c', 'amd64')]);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')).packages.map((p: PackageIndexEntry) => p.name), ['c']);
  assert.deepEqual(readdirSync(dir), ['index.json']);
});
