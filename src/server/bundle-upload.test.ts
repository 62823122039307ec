// Bundle uploads through the app (no socket), as a walkthrough met them: a multi-MB body
// streamed in chunks adds no listener per chunk to the temp file's stream (no
// MaxListenersExceededWarning), a bundle over --bundle-max-extracted is refused naming
// the member where the limit was crossed (also when its data is far over the stream cap),
// and a bad id is a usage error with a hint like every other.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTarball } from '../envs/test-tarballs.ts';
import { openServerRecords } from '../records/server-records.ts';
import { createApp } from './app.ts';
import type { BundleLimits } from './bundles.ts';
import type { BuildRunner } from './queue.ts';
import { readResponse } from '../../test/helpers/read-response.ts';

function setup(t: TestContext, limits: Partial<BundleLimits> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bundle-upload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'state');
  const tokens = openServerRecords(state);
  const alice = tokens.createToken('alice').token;
  tokens.close();
  const runner: BuildRunner = (_b, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({ runId: 'r', state: 'cancelled' })));
  const kiln = createApp({ stateDir: state, runner, bundleLimits: limits, maxConcurrentBuilds: 1 });
  t.after(() => kiln.close());
  const put = async (path: string, body: Uint8Array | ReadableStream<Uint8Array>) => {
    const res = await kiln.app.request(path, { method: 'PUT', headers: { authorization: `Bearer ${alice}` }, body, ...(body instanceof ReadableStream ? { duplex: 'half' } : {}) } as RequestInit);
    return readResponse(res);
  };
  return { dir, put };
}

/** A body of `chunks` chunks of `size` bytes, sent without a Content-Length (chunked). */
function chunked(file: Buffer, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= file.length) return c.close();
      c.enqueue(new Uint8Array(file.subarray(at, at + size)));
      at += size;
    },
  });
}

test('a multi-MB chunked bundle upload, stored or refused over the limit, emits no MaxListenersExceededWarning', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const s = setup(t, { maxUploadBytes: 16 * 1024 * 1024 });
  // 12 MiB of random data (it does not compress): hundreds of full write buffers.
  const { randomBytes } = await import('node:crypto');
  const tree = join(s.dir, 'tree');
  mkdirSync(join(tree, 'hello'), { recursive: true });
  writeTarball(join(s.dir, 'mid.tar'), [
    { name: 'hello/recipe.toml', type: 'file', data: 'name = "hello"\nversion = "1.0"\nsummary = "hi"\nlicense = "MIT"\n\n[build]\nscript = "true"\n' },
    { name: 'hello/blob', type: 'file', data: randomBytes(9 * 1024 * 1024).toString('base64') },
  ]);
  const mid = readFileSync(join(s.dir, 'mid.tar'));
  assert.ok(mid.length > 11 * 1024 * 1024);
  const stored = await s.put('/api/v1/bundles/mid', chunked(mid, 64 * 1024));
  assert.equal(stored.status, 201, stored.text);
  const whole = await s.put('/api/v1/bundles/mid2', mid);
  assert.equal(whole.status, 201, whole.text);
  // Streamed over the 16 MiB limit: refused while streaming.
  const over = await s.put('/api/v1/bundles/over', chunked(Buffer.concat([mid, mid]), 64 * 1024));
  assert.equal(over.status, 413, over.text);
  // Warnings are emitted on the next tick.
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(warnings.filter((w) => w.includes('MaxListenersExceeded')), []);
});

test('a bundle over --bundle-max-extracted is a 413 naming the member where the limit was crossed, even far over the stream cap', async (t) => {
  const s = setup(t, { maxUploadBytes: 1024 * 1024, maxExtractedBytes: 1024 * 1024, maxEntries: 50 });
  const tree = join(s.dir, 'bomb');
  mkdirSync(join(tree, 'pkg'), { recursive: true });
  execFileSync('truncate', ['-s', '4K', join(tree, 'pkg', 'recipe.toml')]);
  // 40 MiB of zeros: a few KiB of zstd, and far past the listing's byte cap (1 MiB + 50 × 1.5 KiB + 1 MiB).
  execFileSync('truncate', ['-s', '40M', join(tree, 'pkg', 'zeros')]);
  const file = join(s.dir, 'bomb.tar.zst');
  execFileSync('tar', ['--create', '--zstd', `--file=${file}`, `--directory=${tree}`, 'pkg/recipe.toml', 'pkg/zeros']);
  const r = await s.put('/api/v1/bundles/bomb', readFileSync(file));
  assert.equal(r.status, 413, r.text);
  assert.equal(r.json.error.code, 'too-large');
  assert.match(r.json.error.message, /member "pkg\/zeros" \(41943040 bytes\) takes the extracted size over the limit of 1048576 bytes/);
  assert.match(r.json.error.hint, /--bundle-max-extracted/);
  // A long name (GNU 'L' record, or pax path) is named in full.
  const long = `pkg/${'d'.repeat(120)}/big`;
  const longFile = join(s.dir, 'long.tar');
  writeTarball(longFile, [{ name: 'pkg/small', type: 'file', data: 'x'.repeat(1000) }, { name: long, type: 'file', data: 'y'.repeat(1024 * 1024) }], { compression: 'gz' });
  const r2 = await s.put('/api/v1/bundles/long', readFileSync(longFile));
  assert.equal(r2.status, 413, r2.text);
  assert.match(r2.json.error.message, new RegExp(`member "${long}" \\(1048576 bytes\\) takes the extracted size over`));
});

test('a bad bundle id is a 400 usage with a hint, as every error is', async (t) => {
  const s = setup(t);
  for (const path of ['/api/v1/bundles/..%2F..%2Fevil', '/api/v1/bundles/-x']) {
    const r = await s.put(path, new Uint8Array([1, 2, 3]));
    assert.equal(r.status, 400, `${path}: ${r.text}`);
    assert.equal(r.json.error.code, 'usage');
    assert.match(r.json.error.message, /is not a bundle id/);
    assert.equal(typeof r.json.error.hint, 'string', `${path}: ${r.text}`);
    assert.match(r.json.error.hint, /letters, digits/);
  }
});
