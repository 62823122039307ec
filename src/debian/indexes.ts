// A suite's indexes from a Debian mirror: InRelease (signature verified against the
// archive keyring, or the keyring the caller names), then Sources / Packages, each checked against the size and sha256
// that the verified Release lists, decompressed and cached content-addressed:
//
//   <cacheDir>/indexes/<sha256>          a decompressed index, named by its own sha256
//                                         (the one Release lists for the uncompressed path)
//   <cacheDir>/indexes/<sha256>          also each verified InRelease, by its sha256
//   <cacheDir>/downloads/<sha256>        the compressed index, through the downloads cache
//
// The InRelease is fetched every time (it is what says which indexes are current); an
// index whose uncompressed sha256 is already cached is not fetched again. Writes are
// atomic (tmp + rename), so concurrent kiln processes at worst decompress twice.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Key } from 'openpgp';
import { KilnError, isKilnError } from '../errors.ts';
import { createDownloads } from '../cache/downloads.ts';
import { credentialsHint, kilnFetch } from '../config/credentials.ts';
import { refusedIn } from '../lib/fetch-guard.ts';
import type { Downloads } from '../cache/downloads.ts';
import { atomicWrite, tempPathFor } from '../lib/atomic-write.ts';
import { sha256 } from '../lib/hash.ts';
import { INDEX_INVALID } from './deb822.ts';
import { suiteHint } from './closest-name.ts';
import { checkReleaseFor, readKeyring, verifyInRelease } from './inrelease.ts';
import type { Release, ReleaseFile, VerifiedRelease } from './inrelease.ts';

export const DEBIAN_ARCHIVE_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

export interface IndexesOptions {
  readonly cacheDir: string;
  /** Keyring (or keyrings: any of their keys) that must have signed InRelease. Default: Debian's archive keyring. */
  readonly keyring?: string | readonly string[];
  /** Reuse a downloads cache (same cacheDir); one is created otherwise. */
  readonly downloads?: Downloads;
  readonly fetchImpl?: typeof globalThis.fetch;
  /** Clock for the Valid-Until check (tests). */
  readonly now?: () => Date;
  /** false: an expired Release (Valid-Until passed) is taken, for a snapshot mirror frozen on purpose (--no-check-valid-until). */
  readonly checkValidUntil?: boolean;
  /** Give up on the InRelease request after this long. Default 60 s. */
  readonly timeoutMs?: number;
}

/** A verified Release of one suite on one mirror. */
export interface SuiteRelease extends VerifiedRelease {
  /** Mirror base url, without trailing slash (the directory holding dists/ and pool/). */
  readonly mirror: string;
  readonly suite: string;
  readonly url: string;
}

export interface Indexes {
  release(mirror: string, suite: string, options?: { signal?: AbortSignal }): Promise<SuiteRelease>;
  /** Path of the decompressed `COMPONENT/source/Sources`. */
  sources(release: SuiteRelease, options?: { component?: string; signal?: AbortSignal }): Promise<string>;
  /** Path of the decompressed `COMPONENT/binary-ARCH/Packages`. */
  packages(release: SuiteRelease, arch: string, options?: { component?: string; signal?: AbortSignal }): Promise<string>;
  /** Path of any index Release lists, by its uncompressed path (e.g. `main/source/Sources`). */
  index(release: SuiteRelease, name: string, options?: { signal?: AbortSignal }): Promise<string>;
}

export function createIndexes(options: IndexesOptions): Indexes {
  const dir = join(options.cacheDir, 'indexes');
  const keyringPaths = typeof options.keyring === 'string' ? [options.keyring] : (options.keyring ?? [DEBIAN_ARCHIVE_KEYRING]);
  const fetchImpl = options.fetchImpl ?? kilnFetch;
  const downloads = options.downloads ?? createDownloads({ cacheDir: options.cacheDir, mirrors: {}, fetchImpl });
  const now = options.now ?? (() => new Date());
  let keys: Promise<Key[]> | undefined;

  async function release(mirror: string, suite: string, o: { signal?: AbortSignal } = {}): Promise<SuiteRelease> {
    const base = mirror.replace(/\/+$/, '');
    if (!/^[A-Za-z0-9._-]+$/.test(suite)) throw new KilnError('usage', `invalid suite name ${JSON.stringify(suite)}`, { hint: 'name a suite such as bookworm or trixie' });
    const url = `${base}/dists/${suite}/InRelease`;
    // No InRelease there: the mirror has no such suite (a typo, or an archived release).
    const noSuite = (): KilnError =>
      new KilnError('usage', `the mirror ${base} has no suite "${suite}" (${url}: HTTP 404)`, {
        hint: `${suiteHint(suite)} (a mirror url is the directory that holds dists/)`,
      });
    const body = await fetchText(url, fetchImpl, options.timeoutMs ?? 60_000, o.signal, noSuite);
    keys ??= Promise.all(keyringPaths.map(readKeyring)).then((k) => k.flat());
    // Signatures are checked at the real time; `now` only moves the Valid-Until check.
    const verified = await verifyInRelease(body, await keys, { source: url }).catch((e: unknown) => {
      // A refused signature names the keyring it was checked against (the user's --keyring, or Debian's).
      throw isKilnError(e) && e.code === 'signature-invalid'
        ? new KilnError(e.code, `${e.message} (checked against the keyring ${keyringPaths.join(', ')})`, { ...(e.hint === undefined ? {} : { hint: e.hint }), cause: e })
        : e;
    });
    checkReleaseFor(verified.release, suite, { source: url, now: now(), ...(options.checkValidUntil === false ? { checkValidUntil: false } : {}) });
    await mkdir(dir, { recursive: true });
    const sum = sha256(body);
    const file = join(dir, sum);
    if (!(await touch(file))) await atomicWrite(file, body);
    return { ...verified, mirror: base, suite, url };
  }

  async function index(rel: SuiteRelease, name: string, o: { signal?: AbortSignal } = {}): Promise<string> {
    const plain = rel.release.files.get(name);
    if (plain !== undefined) {
      const hit = join(dir, plain.sha256);
      if (await touch(hit)) return hit;
    }
    const compressed = pickCompressed(rel.release, name);
    if (compressed === undefined) {
      throw new KilnError('source-not-found', `${rel.url} lists no ${name}.xz or ${name}.gz`, {
        hint: `check the component and architecture: this Release has components ${rel.release.components.join(' ') || '(none)'} and architectures ${rel.release.architectures.join(' ') || '(none)'}`,
      });
    }
    const packed = await fetchListed(rel, compressed, o.signal);
    await mkdir(dir, { recursive: true });
    const tmp = tempPathFor(join(dir, 'index'));
    try {
      const actual = await decompress(packed, tmp, compressed.path.endsWith('.xz') ? 'xz' : 'gz', `${rel.mirror}/dists/${rel.suite}/${compressed.path}`, o.signal);
      if (plain !== undefined && (actual.sha256 !== plain.sha256 || actual.size !== plain.size)) {
        throw new KilnError('checksum-mismatch', `${rel.mirror}/dists/${rel.suite}/${compressed.path} decompresses to a ${name} that does not match ${rel.url}: expected sha256 ${plain.sha256} (${plain.size} bytes), got ${actual.sha256} (${actual.size} bytes)`, {
          hint: 'the mirror may be mid-update or tampered with: try again later or use another mirror',
        });
      }
      const final = join(dir, actual.sha256);
      await rename(tmp, final);
      return final;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Fetch a file Release lists, through the downloads cache, by-hash first when offered. */
  async function fetchListed(rel: SuiteRelease, f: ReleaseFile, signal: AbortSignal | undefined): Promise<string> {
    const plainUrl = `${rel.mirror}/dists/${rel.suite}/${f.path}`;
    const slash = f.path.lastIndexOf('/');
    const byHash = `${rel.mirror}/dists/${rel.suite}/${f.path.slice(0, slash + 1)}by-hash/SHA256/${f.sha256}`;
    const urls = rel.release.acquireByHash ? [byHash, plainUrl] : [plainUrl];
    let lastError: unknown;
    for (const url of urls) {
      try {
        const path = await downloads.fetch(url, f.sha256, signal === undefined ? {} : { signal });
        const size = (await stat(path)).size;
        if (size !== f.size) {
          throw new KilnError('checksum-mismatch', `${url}: ${rel.url} lists ${f.size} bytes for ${f.path}, got ${size}`, {
            hint: 'the mirror may be mid-update or tampered with: try again later or use another mirror',
          });
        }
        return path;
      } catch (e) {
        if (isKilnError(e) && e.code === 'checksum-mismatch' && !e.message.startsWith(url)) {
          throw new KilnError('checksum-mismatch', `${url} does not match ${rel.url} (${f.path}): ${e.message}`, {
            hint: 'the mirror may be mid-update or tampered with: try again later or use another mirror',
            cause: e,
          });
        }
        // A by-hash miss (old mirror, or a file pruned already) falls back to the plain path.
        if (!isKilnError(e) || e.code !== 'download-failed') throw e;
        lastError = e;
      }
    }
    throw lastError;
  }

  return {
    release,
    index,
    sources: (rel, o = {}) => index(rel, `${o.component ?? 'main'}/source/Sources`, o),
    packages: (rel, arch, o = {}) => index(rel, `${o.component ?? 'main'}/binary-${arch}/Packages`, o),
  };
}

/** Read a cached index as text. */
export function readIndex(path: string): Promise<string> {
  return readFile(path, 'utf8');
}

function pickCompressed(release: Release, name: string): ReleaseFile | undefined {
  return release.files.get(`${name}.xz`) ?? release.files.get(`${name}.gz`);
}

async function touch(file: string): Promise<boolean> {
  try {
    const now = new Date();
    await utimes(file, now, now); // marks it used, for gc
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

async function fetchText(url: string, fetchImpl: typeof globalThis.fetch, timeoutMs: number, signal: AbortSignal | undefined, notFound?: () => KilnError): Promise<string> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const s = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
  try {
    const res = await fetchImpl(url, { signal: s, redirect: 'follow' });
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      if (res.status === 404 && notFound !== undefined) throw notFound();
      throw new KilnError('download-failed', `download of ${url} failed: HTTP ${res.status} ${res.statusText}`.trimEnd(), {
        hint:
          res.status === 404 ? 'check the suite name and the mirror url (the directory that holds dists/)'
          : res.status === 401 || res.status === 403 ? credentialsHint(url)
          : 'check the mirror, then run again',
      });
    }
    return await res.text();
  } catch (e) {
    if (signal?.aborted === true) throw signal.reason;
    if (isKilnError(e)) throw e;
    const refused = refusedIn(e);
    if (refused !== undefined) throw new KilnError('download-failed', `download of ${url} refused: ${refused.message}`, { hint: refused.hint, cause: e });
    const detail = timeout.aborted ? `no answer in ${timeoutMs / 1000} s` : e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
    throw new KilnError('download-failed', `download of ${url} failed: ${detail}`, { hint: 'check the network or the mirror, then run again', cause: e });
  }
}

/** Decompress `from` into `to`, returning the sha256 and size of the output. */
async function decompress(from: string, to: string, kind: 'xz' | 'gz', what: string, signal: AbortSignal | undefined): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  const out = createWriteStream(to, { flags: 'wx', flush: true });
  const opts = signal === undefined ? {} : { signal };
  try {
    if (kind === 'gz') {
      await pipeline(createReadStream(from), createGunzip(), tap, out, opts);
    } else {
      // xz is part of every Debian base system; node has no built-in xz decoder.
      const child = spawn('xz', ['-dc', from], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      const exited = new Promise<number | null>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (code) => resolve(code));
      });
      await Promise.all([pipeline(child.stdout as Readable, tap, out, opts), exited.then((code) => {
        if (code !== 0) throw new Error(`xz exited with ${code}: ${stderr.trim()}`);
      })]);
    }
  } catch (e) {
    if (signal?.aborted === true) throw signal.reason;
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new KilnError(INDEX_INVALID, `cannot decompress ${what}: ${(e as Error).message}`, {
      hint: missing ? 'install xz-utils (apt-get install xz-utils)' : 'the cached file may be damaged: remove it from the cache and run again',
      cause: e,
    });
  }
  return { sha256: hash.digest('hex'), size };
}
