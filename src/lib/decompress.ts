// Reading a possibly compressed file as a stream, through the compressor's own program
// (zstd, xz, gzip, bzip2; cat when plain): the compression is read from the first bytes,
// the decompressor's stdout is handed to a reader, and once the reader is done the child
// is let finish (or killed when the reader threw) and its exit judged. Shared by the root
// tarball import (envs/root-tarball.ts) and build bundles (server/bundles.ts), which both
// read a tar's member list before anything is extracted; each says what to throw.

import { spawn } from 'node:child_process';

export type Compression = 'zstd' | 'xz' | 'gzip' | 'bzip2' | 'none';

export function compressionOf(magic: Uint8Array): Compression {
  const starts = (...bytes: number[]): boolean => bytes.every((b, i) => magic[i] === b);
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2';
  return 'none';
}

const DECOMPRESS: Record<Exclude<Compression, 'none'>, readonly string[]> = {
  zstd: ['zstd', '-dcq'],
  xz: ['xz', '-dc'],
  gzip: ['gzip', '-dc'],
  bzip2: ['bzip2', '-dc'],
};

export interface ReadDecompressedOptions {
  readonly signal?: AbortSignal;
  /** How much of the decompressor's stderr to keep (its end) for `failed`. */
  readonly stderrChars: number;
  /** What to throw when the decompressor cannot be run (`e` from spawn, or the abort). */
  cannotRun(cmd: string, e: Error): unknown;
  /** What to throw when it exits non-zero. */
  failed(cmd: string, code: number, stderr: string): unknown;
}

/**
 * Give the decompressed content of `file` to `read`. What `read` throws is thrown (the
 * decompressor killed first); `read` may stop before the end (a tar reader stops at the
 * end-of-archive block), the rest is drained.
 */
export async function readDecompressed<T>(
  file: string,
  compression: Compression,
  read: (out: AsyncIterable<Buffer>) => Promise<T>,
  o: ReadDecompressedOptions,
): Promise<T> {
  const [cmd, ...args] = compression === 'none' ? ['cat'] : DECOMPRESS[compression];
  const child = spawn(cmd!, [...args, '--', file], { stdio: ['ignore', 'pipe', 'pipe'], ...(o.signal === undefined ? {} : { signal: o.signal }) });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-o.stderrChars)));
  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((res, rej) => {
    child.on('error', (e) => {
      spawnError = e;
      rej(e);
    });
    child.on('close', (code) => res(code));
  });
  // An abort kills the child while `read` still runs: that rejection is judged below, not unhandled.
  exited.catch(() => undefined);
  let value: T;
  try {
    value = await read(child.stdout as AsyncIterable<Buffer>);
  } catch (e) {
    child.kill('SIGKILL');
    await exited.catch(() => undefined);
    if (o.signal?.aborted === true) throw o.signal.reason;
    // The decompressor never ran (not installed): that, not the reader's empty stream, is why.
    if (spawnError !== undefined) throw o.cannotRun(cmd!, spawnError);
    throw e;
  }
  child.stdout.resume();
  const code = await exited.catch((e: Error) => {
    throw o.signal?.aborted === true ? o.signal.reason : o.cannotRun(cmd!, e);
  });
  if (code !== 0 && code !== null) throw o.failed(cmd!, code, stderr);
  return value;
}
