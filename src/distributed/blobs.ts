// Content-addressed files in the cluster's object store (cluster.ts): a file is stored
// under `sha256-<hex>` of its bytes, once, and checked against that name when it comes
// back, so a corrupted or substituted blob is never used.

import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { ObjectStore } from '@nats-io/obj';
import { KilnError } from '../errors.ts';
import { sha256File } from '../lib/hash.ts';

const NAME_RE = /^sha256-[0-9a-f]{64}$/;

/** Stores the file (unless a blob of that content is there already); returns its name. */
export async function putFile(blobs: ObjectStore, path: string): Promise<string> {
  const name = `sha256-${await sha256File(path)}`;
  const size = (await stat(path)).size;
  const have = await blobs.info(name).catch(() => null);
  if (have !== null && !have.deleted && have.size === size) return name;
  await blobs.put({ name }, Readable.toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array>);
  return name;
}

/** Writes the blob `name` to `dest` (aside, then renamed), after checking its sha256. */
export async function getFile(blobs: ObjectStore, name: string, dest: string): Promise<void> {
  if (!NAME_RE.test(name)) throw new KilnError('checksum-mismatch', `blob name ${JSON.stringify(name)} is not sha256-<hex>`, { hint: 'a broken or foreign message: kiln names blobs by their content' });
  const got = await blobs.get(name);
  if (got === null) throw new KilnError('download-failed', `blob ${name} is not in the cluster's object store`, { hint: 'it was removed (or never stored): the job is built again when asked' });
  const aside = `${dest}.part-${process.pid}`;
  try {
    await pipeline(Readable.fromWeb(got.data as unknown as WebReadableStream<Uint8Array>), createWriteStream(aside));
    const error = await got.error;
    if (error !== null && error !== undefined) throw error;
    const actual = `sha256-${await sha256File(aside)}`;
    if (actual !== name) throw new KilnError('checksum-mismatch', `blob ${name} came back as ${actual}`, { hint: 'the object store holds a corrupted copy: remove it (it is stored again when needed)' });
    await rename(aside, dest);
  } finally {
    await rm(aside, { force: true });
  }
}
