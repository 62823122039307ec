// Content-addressed files in the cluster's object store (cluster.ts): a file is stored
// under `sha256-<hex>` of its bytes, once, and checked against that name when it comes
// back, so a corrupted or substituted blob is never used.
//
// Blobs expire: the bucket's TTL (cluster.ts, 4 days) removes each one that long after its
// last put. A blob past half of it is put again instead of named as it is (which renews it),
// so a name handed out by putFile stays readable for at least half the TTL.

import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { ObjectStore } from '@nats-io/obj';
import { KilnError } from '../errors.ts';
import { sha256File } from '../lib/hash.ts';

const NAME_RE = /^sha256-[0-9a-f]{64}$/;
/** How far another machine's clock may be ahead of this one's before its mtimes are not trusted. */
export const CLOCK_SKEW_MS = 60_000;
/** A read that brings nothing for this long is given up (then tried once more). */
const STALL_MS = 60_000;

/** What putFile looks at in a stored blob's ObjectInfo. */
export interface StoredBlob {
  readonly size: number;
  /** When it was last put (ISO 8601, by the clock of the machine that put it). */
  readonly mtime: string;
  readonly deleted: boolean;
}

/**
 * Whether the stored blob `have` can be named as it is for a file of `size` bytes, at `nowMs`,
 * in a bucket whose blobs live `ttlMs` (0: forever): it is there, whole, and put less than half
 * the TTL ago. An older one is put again, so whoever is handed the name has half the TTL to
 * read it. An mtime that is not a date, or further ahead than CLOCK_SKEW_MS (a machine whose
 * clock runs ahead), says nothing about its age: put again too (which sets it by this clock).
 */
export function reusable(have: StoredBlob | null, size: number, nowMs: number, ttlMs: number): boolean {
  if (have === null || have.deleted || have.size !== size) return false;
  if (ttlMs === 0) return true;
  const age = nowMs - Date.parse(have.mtime);
  // NaN (no date, no TTL known) fails both comparisons.
  return age >= -CLOCK_SKEW_MS && age < ttlMs / 2;
}

/** Stores the file (unless a fresh blob of that content is there already); returns its name. */
export async function putFile(blobs: ObjectStore, path: string, o: { stallMs?: number } = {}): Promise<string> {
  const name = `sha256-${await sha256File(path)}`;
  const size = (await stat(path)).size;
  // The bucket's TTL as it is now (the last process that opened it set it); unknown: put again.
  const [have, status] = await Promise.all([blobs.info(name).catch(() => null), blobs.status().catch(() => null)]);
  if (reusable(have, size, Date.now(), status === null ? NaN : status.ttl / 1_000_000)) return name;
  // The same name again: its new chunks are stored, then its meta, then the old chunks purged.
  await putWatched(blobs, name, path, o.stallMs ?? STALL_MS);
  return name;
}

/**
 * blobs.put of a file, given up when it takes nothing for `stallMs` (no chunk read, or
 * nothing done after the last one): a put that waits for ever (a server that came back
 * changed under it) would hold its worker's slot for ever.
 */
async function putWatched(blobs: ObjectStore, name: string, path: string, stallMs: number): Promise<void> {
  let last = Date.now();
  const progress = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      last = Date.now();
      cb(null, chunk);
    },
    flush(cb) {
      last = Date.now();
      cb();
    },
  });
  const file = createReadStream(path);
  file.on('error', (e) => progress.destroy(e));
  const put = blobs.put({ name }, Readable.toWeb(file.pipe(progress)) as unknown as ReadableStream<Uint8Array>);
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_resolve, reject) => {
    timer = setInterval(() => {
      if (Date.now() - last <= stallMs) return;
      file.destroy();
      reject(new KilnError('server-unreachable', `the cluster's object store took nothing of blob ${name} for ${stallMs / 1000} s`, { hint: 'is the NATS server up, with its JetStream store? The job is given back, and tried again' }));
    }, Math.max(10, Math.min(5_000, stallMs / 4)));
  });
  try {
    await Promise.race([put, stalled]);
  } finally {
    clearInterval(timer);
    // A put given up may still settle later: nobody waits for it.
    void put.catch(() => undefined);
  }
}

/** Writes the blob `name` to `dest` (aside, then renamed), after checking its sha256. */
export async function getFile(blobs: ObjectStore, name: string, dest: string, o: { stallMs?: number } = {}): Promise<void> {
  if (!NAME_RE.test(name)) throw new KilnError('index-invalid', `blob name ${JSON.stringify(name)} is not sha256-<hex>`, { hint: 'a broken or foreign message: kiln names blobs by their content' });
  const stallMs = o.stallMs ?? STALL_MS;
  try {
    return await getOnce(blobs, name, dest, stallMs);
  } catch (e) {
    // Not there, or not what it says: reading again changes nothing. Anything else (a read
    // that stalls or breaks) may be a reader of a blob put again meanwhile, whose old chunks
    // were purged under it (or before it began): the second read finds the new ones.
    if (e instanceof KilnError) throw e;
  }
  try {
    return await getOnce(blobs, name, dest, stallMs);
  } catch (e) {
    if (e instanceof KilnError) throw e;
    throw new KilnError('download-failed', `blob ${name} could not be read from the cluster's object store: ${(e as Error).message}`, {
      hint: 'is the NATS server up and reachable? The job is given back, and tried again',
      cause: e,
    });
  }
}

class Stalled extends Error {}

async function getOnce(blobs: ObjectStore, name: string, dest: string, stallMs: number): Promise<void> {
  const got = await blobs.get(name);
  if (got === null) throw new KilnError('download-failed', `blob ${name} is not in the cluster's object store`, { hint: 'it expired (kept 4 days after its last put, docs/operations.md), was removed, or was never stored: the job is built again when asked' });
  // Awaited below once the data is in; a read given up before must not leave it unhandled.
  void Promise.resolve(got.error).catch(() => undefined);
  // Unique per read: two reads of one blob in one process must not share it.
  const aside = `${dest}.part-${process.pid}-${randomBytes(6).toString('hex')}`;
  let timer: NodeJS.Timeout | undefined;
  // The object store's reader never ends if the chunks it waits for are gone.
  const watch = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      arm();
      done(null, chunk);
    },
  });
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => watch.destroy(new Stalled(`nothing came in ${stallMs / 1000} s`)), stallMs);
  };
  try {
    arm();
    await pipeline(Readable.fromWeb(got.data as unknown as WebReadableStream<Uint8Array>), watch, createWriteStream(aside));
    const error = await got.error;
    if (error !== null && error !== undefined) throw error;
    const actual = `sha256-${await sha256File(aside)}`;
    if (actual !== name) throw new KilnError('checksum-mismatch', `blob ${name} came back as ${actual}`, { hint: 'the object store holds a corrupted copy: remove it (it is stored again when needed)' });
    await rename(aside, dest);
  } finally {
    clearTimeout(timer);
    await rm(aside, { force: true });
  }
}
