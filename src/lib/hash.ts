// SHA-256 helpers (node:crypto; ~1.2 GB/s here).
import { createHash, hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** One-shot crypto.hash(): about twice as fast as createHash() for the short inputs of keys. */
export function sha256(data: string | Uint8Array): string {
  return hash('sha256', data, 'hex');
}

export async function sha256File(path: string, options?: { signal?: AbortSignal }): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { signal: options?.signal })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** sha256File, and the first `n` bytes of the file (fewer when it is shorter). */
export async function sha256FileHead(path: string, n: number, options?: { signal?: AbortSignal }): Promise<{ sha256: string; head: Buffer }> {
  const h = createHash('sha256');
  let head: Buffer | undefined;
  for await (const chunk of createReadStream(path, { signal: options?.signal })) {
    const b = chunk as Buffer;
    // The first chunk is 64 KiB unless the file is shorter: it holds the head.
    head ??= Buffer.from(b.subarray(0, n));
    h.update(b);
  }
  return { sha256: h.digest('hex'), head: head ?? Buffer.alloc(0) };
}

/** One part of sha256Parts' encoding: its UTF-8 length, a colon, the part. */
export function lengthPrefixed(part: string): string {
  return `${Buffer.byteLength(part)}:${part}`;
}

/** Hash a list of parts unambiguously (length-prefixed), for input keys. */
export function sha256Parts(parts: readonly string[]): string {
  // One string, one update: measured 2-2.5x faster than an update per part, and the
  // planner hashes a key per package.
  let s = '';
  for (const p of parts) s += lengthPrefixed(p);
  return hash('sha256', s, 'hex');
}

export const SHA256_RE = /^[0-9a-f]{64}$/;
