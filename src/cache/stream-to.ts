// One HTTP (or file:) download into a file of the cache, hashed on the way: the bytes as the
// server stores them, a stall limit, and every failure said as a KilnError naming the url
// (a write error naming the cache and what to do). downloads.ts tries it politely (retries,
// a few connections per server) and decides what to keep.

import { createWriteStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { KilnError } from '../errors.ts';
import { KILN_VERSION } from '../lib/kiln-version.ts';
import { credentialsHint } from '../config/credentials.ts';
import { refusedIn } from '../lib/fetch-guard.ts';

export interface StreamOptions {
  readonly url: string;
  readonly resolved: string;
  readonly fetchImpl: typeof globalThis.fetch;
  readonly idleTimeoutMs: number;
  readonly signal: AbortSignal;
  /** Named in the hint of a write error. */
  readonly cacheDir: string;
}

/** A Node system error (errno code and syscall), as fs calls throw. */
export function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}

export function cacheWriteHint(e: NodeJS.ErrnoException, cacheDir: string): string {
  return e.code === 'ENOSPC' || e.code === 'EDQUOT'
    ? `free space on the file system of ${cacheDir} (\`kiln cache gc\` removes what was not used lately), then run again`
    : `check that ${cacheDir} is writable, then run again`;
}

/** Download into `file`, returning the sha256 of what was written. */
export async function streamTo(file: string, o: StreamOptions): Promise<string> {
  const idle = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(), o.idleTimeoutMs);
  };
  const signal = AbortSignal.any([o.signal, idle.signal]);
  const where = o.resolved === o.url ? o.url : `${o.url} (${o.resolved})`;
  /** The error of writing `file`, if that is what failed: it names no path (ENOSPC …, write). */
  let writeError: NodeJS.ErrnoException | undefined;
  const failed = (e: unknown): never => {
    if (o.signal.aborted) throw o.signal.reason;
    if (e instanceof KilnError) throw e;
    if (idle.signal.aborted) {
      throw new KilnError('download-failed', `download of ${where} stalled: no data for ${o.idleTimeoutMs / 1000} s`, {
        hint: 'check the network or the mirror, then run again',
        cause: e,
      });
    }
    if (writeError !== undefined) {
      const m = writeError.message.includes(file) ? writeError.message : `${writeError.message} (${file})`;
      throw new KilnError('download-failed', `download of ${where} failed: cannot write to the cache: ${m}`, {
        hint: cacheWriteHint(writeError, o.cacheDir),
        cause: writeError,
      });
    }
    const refused = refusedIn(e);
    if (refused !== undefined) throw new KilnError('download-failed', `download of ${where} refused: ${refused.message}`, { hint: refused.hint, cause: e });
    const detail = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
    throw new KilnError('download-failed', `download of ${where} failed: ${detail}`, {
      hint: 'check the url, the network or the mirror, then run again',
      cause: e,
    });
  };
  arm();
  try {
    // The bytes as the server stores them: a .tar.gz is not to be decompressed on the way
    // (fetch would undo a Content-Encoding it asked for).
    const res = await o.fetchImpl(o.resolved, { signal, redirect: 'follow', headers: { 'accept-encoding': 'identity', 'user-agent': `kiln/${KILN_VERSION}` } }).catch(failed);
    if (!res.ok || res.body === null) {
      await res.body?.cancel().catch(() => {});
      // Redirected elsewhere: the answer is that server's, and credentials stay behind on
      // a move to another host, port or scheme.
      const moved = res.url !== '' && res.url !== o.resolved && URL.parse(res.url)?.origin !== URL.parse(o.resolved)?.origin;
      const at = moved ? ` (redirected to ${res.url}, which gets no credentials meant for the first server)` : '';
      throw new KilnError('download-failed', `download of ${where} failed${at}: HTTP ${res.status} ${res.statusText}`.trimEnd(), {
        hint:
          res.status === 404 ? 'the file is not at that url; fix the url in the recipe'
          : res.status === 401 || res.status === 403 ? credentialsHint(moved ? res.url : o.resolved)
          : 'check the url or the mirror, then run again',
        // The status, for withRetries: a busy or restarting server (429, 502, 503, 504) is asked again.
        cause: Object.assign(new Error(`HTTP ${res.status}`), { code: `HTTP_${res.status}` }),
      });
    }
    const hash = createHash('sha256');
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        arm();
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
    const out = createWriteStream(file, { flags: 'wx', flush: true });
    out.once('error', (e: Error) => {
      // Not the abort that pipeline passes on to it: only a failed open or write.
      if (isSystemError(e)) writeError = e;
    });
    await pipeline(body, tap, out, { signal }).catch(failed);
    return hash.digest('hex');
  } finally {
    clearTimeout(timer);
  }
}
