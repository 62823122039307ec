// The cache: content-addressed downloads and per-input-key artifacts, shared by every kiln
// process on the machine. Layout of the cache root (`cacheDir`):
//
//   downloads/<sha256>           a verified source file, named by its content hash
//   git/<sha256 of url>.git      a bare mirror of a git source's repository (git-mirror.ts)
//   artifacts/<key[0..2]>/<key>/ one built package per input key:
//                                  meta.json (ArtifactMeta; its mtime = last use, for gc)
//                                  manifest.json (every file: path, type, mode, size, sha256/target)
//                                  pkg.tar.zst (absent when the package installed nothing)
//   tmp/                         in-progress writes; on the same filesystem as the rest so a
//                                finished file or directory is renamed into place atomically
//   locks/<name>.lock            cross-process locks (see lock.ts)
//
// Readers therefore see a download or an artifact whole or not at all. Each entry is
// written once: a process that loses a race discards its copy and uses the winner's.
//
// This file: fetch a url into downloads/, at most once per sha256 across all processes
// (one shared promise per sha256 in a process, withLock across processes), streaming to
// tmp/ while hashing (stream-to.ts), verifying the checksum before anything becomes visible. Two urls
// for one sha256 (two recipes, one tarball) share the first one's download; when that one
// fails, a caller with another url tries its own: one url's 404 is not the other's.
import { mkdir, rename, rm, stat, utimes } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { SHA256_RE, sha256File } from '../lib/hash.ts';
import { withLock } from './lock.ts';
import { kilnFetch } from '../config/credentials.ts';
import { perKeyLimit, PER_SERVER, serverOf, withRetries } from './fetch-politely.ts';
import { cacheWriteHint, isSystemError, streamTo, type StreamOptions } from './stream-to.ts';

export interface DownloadsOptions {
  readonly cacheDir: string;
  /** Mirror name → base URL, for `mirror://NAME/path` urls. */
  readonly mirrors: Readonly<Record<string, string>>;
  readonly fetchImpl?: typeof globalThis.fetch;
  /** Give up when no data arrives for this long (connect, headers, or between chunks). Default 60 s. */
  readonly idleTimeoutMs?: number;
  /** Pauses before another try of a download whose connection failed (default fetch-politely.ts's RETRY_PAUSES_MS). */
  readonly retryPausesMs?: readonly number[];
}

export interface Downloads {
  /** Path of the verified file in the cache, downloading it first if needed. */
  fetch(url: string, sha256: string, options?: { signal?: AbortSignal }): Promise<string>;
  path(sha256: string): string;
  has(sha256: string): Promise<boolean>;
  /** What is wrong with the cached file (it hashes to something else), or undefined; `fix` removes a bad one. */
  verify(sha256: string, options?: { fix?: boolean }): Promise<string | undefined>;
  /**
   * Fetch a url whose sha256 is not known yet (kiln fetch --makesum): the file is kept
   * under what it hashes to. Trust on first use: nothing checks it against anything.
   */
  learn(url: string, options?: { signal?: AbortSignal }): Promise<{ sha256: string; path: string }>;
  /**
   * A git source (`git+https://…`, `git+file:///…`, `git+mirror://NAME/…`): the cache's
   * bare mirror of the repository, holding commit `rev` (git-mirror.ts); `fetched`: git
   * had to go to the repository for it.
   */
  git(url: string, rev: string, options?: { signal?: AbortSignal }): Promise<{ mirror: string; fetched: boolean }>;
}

/**
 * For a file a mirror's own index listed (a Debian source's .dsc and tarballs, a build
 * dependency's .deb): a 404 is the mirror's fault, not a recipe's, so the hint says so.
 * Anything else passes through unchanged.
 */
export function listedButMissing(e: unknown): unknown {
  if (!(e instanceof KilnError) || e.code !== 'download-failed' || !/: HTTP 404\b/.test(e.message)) return e;
  return new KilnError('download-failed', e.message, {
    hint: "the mirror's index lists this file but the mirror does not have it (a partial or still-syncing mirror?): run again later, or pass --mirror (or set mirror in debian.toml) with a complete one",
    cause: e,
  });
}

/**
 * `mirror://NAME/path` → `<mirrors[NAME]>/path`; http(s) urls and absolute file:/// urls
 * (a local Debian mirror or repository; a recipe's own file: sources never come here)
 * unchanged.
 */
export function resolveUrl(url: string, mirrors: Readonly<Record<string, string>>): string {
  const m = /^mirror:\/\/([^/]+)\/(.*)$/.exec(url);
  if (m !== null) {
    const [, name = '', rest = ''] = m;
    const base = Object.hasOwn(mirrors, name) ? mirrors[name] : undefined;
    if (base === undefined) {
      const known = Object.keys(mirrors);
      throw new KilnError('mirror-unknown', `unknown mirror "${name}" in ${url}`, {
        hint: `add it under [mirrors] in kiln.toml, e.g. ${name} = "https://…"` +
          (known.length > 0 ? ` (configured: ${known.join(', ')})` : ''),
      });
    }
    return `${base.replace(/\/+$/, '')}/${rest}`;
  }
  if (/^https?:\/\//.test(url) || /^file:\/\/\//.test(url)) return url;
  throw new KilnError('download-failed', `cannot download ${url}: only http://, https://, file:/// and mirror:// urls are fetched`, {
    hint: 'use one of those schemes (file: sources are read from the recipe folder)',
  });
}

/** A file as a verified hash remembers it: another inode, size or mtime is hashed again. */
const idOf = (st: Stats): string => `${st.ino}:${st.size}:${st.mtimeMs}`;

export function createDownloads(options: DownloadsOptions): Downloads {
  const { cacheDir, mirrors } = options;
  const fetchImpl = options.fetchImpl ?? kilnFetch;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  // A few connections per server at once, and another try after a failed connection (fetch-politely.ts).
  const perServer = perKeyLimit(PER_SERVER);
  // Each try starts from an empty file: what a connection cut off midway wrote goes first.
  const politely = (file: string, o: StreamOptions): Promise<string> =>
    withRetries(() => perServer(serverOf(o.resolved), () => rm(file, { force: true }).then(() => streamTo(file, o))), { signal: o.signal, ...(options.retryPausesMs === undefined ? {} : { pauses: options.retryPausesMs }) });
  const dir = join(cacheDir, 'downloads');
  const tmpDir = join(cacheDir, 'tmp');
  const lockDir = join(cacheDir, 'locks');
  const inflight = new Map<string, Shared>();
  /** sha256 → the inode, size and mtime of the file that hashed to it in this store. */
  const verified = new Map<string, string>();

  const path = (sha256: string): string => {
    if (!SHA256_RE.test(sha256)) throw new Error(`downloads: not a sha256: ${JSON.stringify(sha256)}`);
    return join(dir, sha256);
  };

  /**
   * Is the cached file there and whole? It is hashed at its first use by this store (one
   * run): a file damaged on disk (a flipped bit, a truncation) is not handed out; the
   * caller fetches it again and replaces it (reliability case 13). 'damaged' carries what
   * it hashes to now.
   */
  async function hit(file: string, sha256: string, signal?: AbortSignal): Promise<true | false | { damaged: string }> {
    let st: Stats;
    try {
      st = await stat(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
    // Hashed once per store (one run): the .debs of a Debian build are used by many jobs.
    if (verified.get(sha256) !== idOf(st)) {
      const actual = await sha256File(file, signal === undefined ? {} : { signal });
      if (actual !== sha256) return { damaged: actual };
    }
    // Mark it used for gc (atime is unreliable under relatime/noatime); what it looks like
    // after that is what the next use compares with (the mark moves its mtime).
    const now = new Date();
    await utimes(file, now, now).catch(() => {});
    const after = await stat(file).catch(() => undefined);
    verified.set(sha256, after === undefined ? idOf(st) : idOf(after));
    return true;
  }

  async function download(url: string, sha256: string, signal: AbortSignal): Promise<string> {
    try {
      return await downloadInto(url, sha256, signal);
    } catch (e) {
      // A file-system error of the cache (ENOSPC from a write names no path): say where.
      if (isSystemError(e) && !signal.aborted) {
        throw new KilnError('download-failed', `download of ${url} failed: cannot write to the cache ${cacheDir}: ${e.message}`, {
          hint: cacheWriteHint(e, cacheDir),
          cause: e,
        });
      }
      throw e;
    }
  }

  async function downloadInto(url: string, sha256: string, signal: AbortSignal): Promise<string> {
    const final = path(sha256);
    if ((await hit(final, sha256, signal)) === true) return final;
    const resolved = resolveUrl(url, mirrors);
    await Promise.all([mkdir(dir, { recursive: true }), mkdir(tmpDir, { recursive: true })]);
    return withLock(lockDir, `dl-${sha256}`, async () => {
      // Another process may have finished (or repaired) it while we waited for the lock.
      const found = await hit(final, sha256, signal);
      if (found === true) return final;
      const tmp = join(tmpDir, `dl-${sha256.slice(0, 16)}-${process.pid}-${randomBytes(4).toString('hex')}`);
      try {
        // A damaged copy stays in place until the good one replaces it (rename): a reader
        // that already has its path sees a whole file either way.
        const actual = await politely(tmp, { url, resolved, fetchImpl, idleTimeoutMs, signal, cacheDir }).catch((e: unknown) => {
          if (found === false || !(e instanceof KilnError)) throw e;
          throw new KilnError(e.code, `the cached copy of ${url} is damaged (${final} has sha256 ${found.damaged}, not ${sha256}), and fetching it again failed: ${e.message}`, {
            ...(e.hint === undefined ? {} : { hint: e.hint }),
            cause: e,
          });
        });
        if (actual !== sha256) {
          throw new KilnError('checksum-mismatch', `checksum mismatch for ${url}: expected sha256 ${sha256}, got ${actual}`, {
            hint: 'if the new file is the right one, update the sha256 in the recipe; otherwise the server or mirror is serving a different file',
          });
        }
        await rename(tmp, final);
        return final;
      } finally {
        await rm(tmp, { force: true });
      }
    }, { signal });
  }

  return {
    path,
    has: async (sha256) => {
      try {
        await stat(path(sha256));
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw e;
      }
    },
    fetch,
    async git(url, rev, o = {}) {
      const resolved = resolveUrl(url.replace(/^git\+/, ''), mirrors);
      const { ensureGitMirror } = await import('./git-mirror.ts');
      return ensureGitMirror({ cacheDir, url, resolved, rev, signal: o.signal ?? new AbortController().signal });
    },
    async learn(url, o = {}) {
      const resolved = resolveUrl(url, mirrors);
      await Promise.all([mkdir(dir, { recursive: true }), mkdir(tmpDir, { recursive: true })]);
      const tmp = join(tmpDir, `learn-${process.pid}-${randomBytes(6).toString('hex')}`);
      try {
        const signal = o.signal ?? new AbortController().signal;
        const sha256 = await politely(tmp, { url, resolved, fetchImpl, idleTimeoutMs, signal, cacheDir });
        const final = path(sha256);
        // Another process may have put the same file meanwhile: its copy is as good.
        await withLock(lockDir, `dl-${sha256}`, async () => {
          if ((await hit(final, sha256, signal)) !== true) await rename(tmp, final);
        }, { signal });
        return { sha256, path: final };
      } finally {
        await rm(tmp, { force: true });
      }
    },
    async verify(sha256, o = {}) {
      const file = path(sha256);
      const actual = await sha256File(file).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return sha256;
        throw e;
      });
      if (actual === sha256) return undefined;
      if (o.fix === true) await rm(file, { force: true });
      return `has sha256 ${actual}`;
    },
  };

  function fetch(url: string, sha256: string, opts: { signal?: AbortSignal } = {}): Promise<string> {
    if (!SHA256_RE.test(sha256)) return Promise.reject(new Error(`downloads: not a sha256: ${JSON.stringify(sha256)} (for ${url})`));
    let shared = inflight.get(sha256);
    // An entry whose every waiter gave up is being aborted: start afresh.
    if (shared === undefined || shared.controller.signal.aborted) {
      const controller = new AbortController();
      const created: Shared = {
        url,
        controller,
        waiters: 0,
        promise: download(url, sha256, controller.signal).finally(() => {
          if (inflight.get(sha256) === created) inflight.delete(sha256);
        }),
      };
      shared = created;
      inflight.set(sha256, shared);
    }
    const joined = join_(shared, opts.signal);
    if (shared.url === url) return joined;
    // Another url for the same content: its success is ours too (the file is checked by
    // hash), its failure is not. The failed entry has left the map by the time its
    // waiters hear of it, so this starts (or joins) a download of our own url.
    return joined.catch((e: unknown) => {
      if (opts.signal?.aborted === true) throw e;
      return fetch(url, sha256, opts);
    });
  }
}

/** One download shared by every caller in this process asking for the same sha256. */
interface Shared {
  /** The url being fetched (the first caller's). */
  readonly url: string;
  readonly controller: AbortController;
  readonly promise: Promise<string>;
  waiters: number;
}

/**
 * Wait for a shared download. A caller that aborts stops waiting at once; the download
 * itself is aborted only when every waiter has given up.
 */
function join_(shared: Shared, signal: AbortSignal | undefined): Promise<string> {
  shared.waiters++;
  if (signal === undefined) return shared.promise;
  return new Promise<string>((resolve, reject) => {
    const onAbort = (): void => {
      if (--shared.waiters === 0) shared.controller.abort(signal.reason);
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    shared.promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
