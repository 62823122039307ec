import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compressionOf, readDecompressed } from './decompress.ts';

const opts = { stderrChars: 200, cannotRun: (cmd: string, e: Error) => new Error(`cannot run ${cmd}: ${e.message}`), failed: (cmd: string, code: number) => new Error(`${cmd} exited ${code}`) };

test('readDecompressed: an abort while the reader still reads ends with the signal\'s reason, and no rejection is left unhandled', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-decompress-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'data.zst');
  await writeFile(join(dir, 'data'), Buffer.alloc(8 * 1024 * 1024, 7));
  execFileSync('zstd', ['-q', '-f', join(dir, 'data'), '-o', file]);
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown): void => void unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));
  const controller = new AbortController();
  const reason = new Error('interrupted');
  const read = readDecompressed(file, 'zstd', async (out) => {
    let n = 0;
    for await (const chunk of out) {
      n += chunk.length;
      // The abort comes while the reader is in the middle of the stream, as a Ctrl-C does.
      if (!controller.signal.aborted) controller.abort(reason);
      await new Promise((r) => setTimeout(r, 5));
    }
    return n;
  }, { ...opts, signal: controller.signal });
  await assert.rejects(read, (e) => e === reason || (e as Error).name === 'AbortError');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(unhandled, []);
});

test('readDecompressed: a decompressor that is not installed is said so (cannotRun), not as the reader\'s empty stream', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-decompress-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'x.zst'), Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
  const path = process.env['PATH'];
  process.env['PATH'] = join(dir, 'nothing-here');
  try {
    await assert.rejects(readDecompressed(join(dir, 'x.zst'), 'zstd', async (out) => {
      for await (const _ of out) { /* nothing */ }
      throw new Error('reader: empty archive');
    }, opts), /cannot run zstd: spawn zstd ENOENT/);
  } finally {
    process.env['PATH'] = path;
  }
});

test('readDecompressed: the content of a plain and of a compressed file, the compression told by its first bytes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-decompress-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'plain'), 'hello\n');
  execFileSync('gzip', ['-k', join(dir, 'plain')]);
  const text = async (out: AsyncIterable<Buffer>) => {
    let s = '';
    for await (const c of out) s += c.toString();
    return s;
  };
  assert.equal(await readDecompressed(join(dir, 'plain'), 'none', text, opts), 'hello\n');
  assert.equal(compressionOf(Buffer.from([0x1f, 0x8b, 8])), 'gzip');
  assert.equal(await readDecompressed(join(dir, 'plain.gz'), 'gzip', text, opts), 'hello\n');
});
