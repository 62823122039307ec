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

/**
 * sha256File, and the first `n` bytes of the file (fewer when it is shorter); with
 * `needles`, also whether the file holds any of them (`found`), across chunk boundaries.
 */
export async function sha256FileHead(path: string, n: number, options?: { signal?: AbortSignal; needles?: readonly Buffer[] }): Promise<{ sha256: string; head: Buffer; found: boolean }> {
  const h = createHash('sha256');
  let head: Buffer | undefined;
  const needles = options?.needles ?? [];
  const overlap = Math.max(0, ...needles.map((x) => x.length - 1));
  let found = false;
  let tail = Buffer.alloc(0);
  for await (const chunk of createReadStream(path, { signal: options?.signal })) {
    const b = chunk as Buffer;
    // The first chunk is 64 KiB unless the file is shorter: it holds the head.
    head ??= Buffer.from(b.subarray(0, n));
    h.update(b);
    if (!found && needles.length > 0) {
      // The end of the last chunk before this one: a needle cut in two is found whole.
      const hay = tail.length === 0 ? b : Buffer.concat([tail, b.subarray(0, overlap)]);
      found = needles.some((x) => b.includes(x) || (hay !== b && hay.includes(x)));
      tail = Buffer.from(b.subarray(Math.max(0, b.length - overlap)));
    }
  }
  return { sha256: h.digest('hex'), head: head ?? Buffer.alloc(0), found };
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
