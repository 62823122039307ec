import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ObjectStore } from '@nats-io/obj';
import { CLOCK_SKEW_MS, getFile, putFile, reusable, type StoredBlob } from './blobs.ts';
import { blobTtlMs, JOBS_MAX_AGE_MS } from './cluster.ts';
import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';

const NOW = Date.parse('2025-06-01T12:00:00Z');
const DAY = 24 * 3600 * 1000;
const TTL = 2 * DAY;
const at = (ms: number): string => new Date(ms).toISOString();
const blob = (o: Partial<StoredBlob> = {}): StoredBlob => ({ size: 100, mtime: at(NOW - 1000), deleted: false, ...o });

test('reusable: a stored blob is named as it is only while whole and put less than half the TTL ago', () => {
  const cases: [string, StoredBlob | null, number, number, boolean][] = [
    ['not stored', null, 100, TTL, false],
    ['deleted', blob({ deleted: true }), 100, TTL, false],
    ['another size (a broken put)', blob({ size: 99 }), 100, TTL, false],
    ['put a second ago', blob(), 100, TTL, true],
    ['put just under half the TTL ago', blob({ mtime: at(NOW - DAY + 1) }), 100, TTL, true],
    ['put half the TTL ago: put again (renewed)', blob({ mtime: at(NOW - DAY) }), 100, TTL, false],
    ['put 1.9 days ago, about to expire', blob({ mtime: at(NOW - 1.9 * DAY) }), 100, TTL, false],
    ['older than the TTL (the server has not removed it yet)', blob({ mtime: at(NOW - 3 * DAY) }), 100, TTL, false],
    ['a short test TTL: 1 s old of 3 s', blob(), 100, 3000, true],
    ['a short test TTL: 1.6 s old of 3 s', blob({ mtime: at(NOW - 1600) }), 100, 3000, false],
    ['a bucket without TTL: kept forever', blob({ mtime: at(NOW - 300 * DAY) }), 100, 0, true],
    ['the TTL could not be read', blob(), 100, NaN, false],
    ['put by a clock a little ahead', blob({ mtime: at(NOW + 5000) }), 100, TTL, true],
    ['put by a clock far ahead: its age is unknown', blob({ mtime: at(NOW + CLOCK_SKEW_MS + 1) }), 100, TTL, false],
    ['no mtime', blob({ mtime: '' }), 100, TTL, false],
    ['an empty file', blob({ size: 0 }), 0, TTL, true],
  ];
  for (const [what, have, size, ttl, want] of cases) assert.equal(reusable(have, size, NOW, ttl), want, what);
});

test('blobTtlMs: KILN_BLOB_TTL_MS, else twice as long as a job waits; anything but whole milliseconds the server takes is refused naming it', () => {
  assert.equal(blobTtlMs({}), 2 * JOBS_MAX_AGE_MS);
  assert.equal(JOBS_MAX_AGE_MS, 2 * DAY);
  assert.equal(blobTtlMs({ KILN_BLOB_TTL_MS: '' }), 4 * DAY);
  assert.equal(blobTtlMs({ KILN_BLOB_TTL_MS: '3000' }), 3000);
  assert.equal(blobTtlMs({ KILN_BLOB_TTL_MS: '100' }), 100);
  for (const bad of ['0', '-5', '99', '1.5', '3s', ' 3000', '1e4', 'abc', '9000000000001', '99999999999999999999']) {
    assert.throws(() => blobTtlMs({ KILN_BLOB_TTL_MS: bad }), (e: unknown) => e instanceof KilnError && e.code === 'config-invalid' && e.message.startsWith(`KILN_BLOB_TTL_MS=${JSON.stringify(bad)} `), bad);
  }
});

/** An object store holding one blob's info (as given), with the bucket's TTL; counts puts. */
function fakeStore(have: StoredBlob | null, ttlMs: number): { store: ObjectStore; puts: string[] } {
  const puts: string[] = [];
  const store = {
    info: async () => have,
    status: async () => ({ ttl: ttlMs * 1_000_000 }),
    put: async (meta: { name: string }, rs: ReadableStream<Uint8Array>) => {
      for await (const _ of rs as unknown as AsyncIterable<Uint8Array>);
      puts.push(meta.name);
    },
  };
  return { store: store as unknown as ObjectStore, puts };
}

test('putFile: a fresh blob is named as it is; a stale, missing or broken one is put again', async () => {
  await using dir = await tmpDir();
  const file = join(dir.path, 'f');
  await writeFile(file, 'x'.repeat(100));
  const name = `sha256-${sha256('x'.repeat(100))}`;
  const now = Date.now();
  const cases: [string, StoredBlob | null, number, number][] = [
    ['fresh', blob({ mtime: at(now - 1000) }), 3000, 0],
    ['past half the TTL', blob({ mtime: at(now - 2000) }), 3000, 1],
    ['missing', null, 3000, 1],
    ['another size', blob({ size: 7, mtime: at(now) }), 3000, 1],
    ['no TTL', blob({ mtime: at(now - 300 * DAY) }), 0, 0],
  ];
  for (const [what, have, ttl, puts] of cases) {
    const fake = fakeStore(have, ttl);
    assert.equal(await putFile(fake.store, file), name, what);
    assert.deepEqual(fake.puts, puts === 0 ? [] : [name], what);
  }
});

test('putFile: a put that takes nothing for its stall time is given up (its worker would wait for ever), whether it stops reading or never ends after the last chunk', async () => {
  await using dir = await tmpDir();
  const file = join(dir.path, 'f');
  await writeFile(file, 'y'.repeat(200_000));
  const stuck = (how: 'no-read' | 'no-end'): ObjectStore => ({
    info: async () => null,
    status: async () => ({ ttl: 0 }),
    put: async (_meta: { name: string }, rs: ReadableStream<Uint8Array>) => {
      if (how === 'no-end') for await (const _ of rs as unknown as AsyncIterable<Uint8Array>);
      else await (rs as ReadableStream<Uint8Array>).getReader().read();
      await new Promise(() => undefined);
    },
  }) as unknown as ObjectStore;
  for (const how of ['no-read', 'no-end'] as const) {
    const started = Date.now();
    await assert.rejects(putFile(stuck(how), file, { stallMs: 200 }), (e: unknown) => e instanceof KilnError && e.code === 'server-unreachable' && /took nothing of blob sha256-\w+ for 0\.2 s/.test(e.message), how);
    assert.ok(Date.now() - started < 5_000, how);
  }
  // A put that keeps going is not given up, however long it takes in all.
  const slow = fakeStore(null, 0);
  const put = slow.store.put.bind(slow.store);
  (slow.store as unknown as { put: typeof put }).put = async (meta, rs) => {
    await new Promise((r) => setTimeout(r, 150));
    return put(meta, rs);
  };
  assert.match(await putFile(slow.store, file, { stallMs: 400 }), /^sha256-/);
});

/** get() answers as `reads` says, one entry per call: the data, or a read that never ends. */
function readingStore(reads: ('stall' | Uint8Array)[]): { store: ObjectStore; gets: () => number; cancelled: () => number } {
  let gets = 0;
  let cancelled = 0;
  const store = {
    get: async () => {
      const r = reads[gets++];
      if (r === undefined) return null;
      const data = new ReadableStream<Uint8Array>(
        r === 'stall'
          ? { cancel: () => void cancelled++ }
          : {
              start(c) {
                c.enqueue(r);
                c.close();
              },
            },
      );
      return { info: {}, data, error: r === 'stall' ? new Promise(() => undefined) : Promise.resolve(null) };
    },
  };
  return { store: store as unknown as ObjectStore, gets: () => gets, cancelled: () => cancelled };
}

test('getFile: a read that stalls (its chunks purged by a put of the same blob) is given up and read again', async () => {
  await using dir = await tmpDir();
  const bytes = new TextEncoder().encode('the artifact');
  const name = `sha256-${sha256('the artifact')}`;
  const once = readingStore(['stall', bytes]);
  await getFile(once.store, name, join(dir.path, 'a'), { stallMs: 200 });
  assert.equal(await readFile(join(dir.path, 'a'), 'utf8'), 'the artifact');
  assert.equal(once.gets(), 2);
  assert.equal(once.cancelled(), 1, 'the stalled read is stopped');
  // Twice: the job's failure says why.
  const twice = readingStore(['stall', 'stall', bytes]);
  await assert.rejects(getFile(twice.store, name, join(dir.path, 'b'), { stallMs: 200 }), (e: unknown) => e instanceof KilnError && e.code === 'download-failed' && /nothing came in 0\.2 s/.test(e.message));
  assert.equal(twice.gets(), 2);
  // Not there: said at once, not read again.
  const gone = readingStore([]);
  await assert.rejects(getFile(gone.store, name, join(dir.path, 'c')), (e: unknown) => e instanceof KilnError && e.code === 'download-failed' && /is not in the cluster's object store/.test(e.message));
  assert.equal(gone.gets(), 1);
});
