// Pack a directory into a reproducible tar.zst, describe it as a manifest, and unpack
// archives (our own, and source tarballs of any common compression).
//
// GNU tar and zstd are spawned rather than reimplemented: they are fast, stream, and GNU
// tar already keeps extraction inside the target (it refuses `..` members, strips a
// leading `/`, and will not write through a symlink it has just extracted). We turn those
// cases into an `unsafe-path` error so that a malformed archive fails loudly.
import { spawn } from 'node:child_process';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { sha256, sha256File } from '../lib/hash.ts';

export interface ManifestEntry {
  /** Relative to the packed directory, `/`-separated, no leading `./`. */
  readonly path: string;
  readonly type: 'file' | 'dir' | 'symlink';
  /** Permission bits including setuid/setgid/sticky (st_mode & 0o7777). */
  readonly mode: number;
  /** Bytes for files, 0 otherwise. */
  readonly size: number;
  readonly sha256?: string;
  readonly target?: string;
}

const HASH_CONCURRENCY = 8;

/** Every entry under `dir` (not `dir` itself), sorted by path. Empty dir → []. */
export async function buildManifest(dir: string, options: { signal?: AbortSignal } = {}): Promise<ManifestEntry[]> {
  const { signal } = options;
  const entries: ManifestEntry[] = [];
  const files: { index: number; abs: string }[] = [];
  const walk = async (rel: string): Promise<void> => {
    signal?.throwIfAborted();
    const names = (await readdir(rel === '' ? dir : join(dir, rel))).sort();
    for (const name of names) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const abs = join(dir, path);
      const st = await lstat(abs);
      const mode = st.mode & 0o7777;
      if (st.isDirectory()) {
        entries.push({ path, type: 'dir', mode, size: 0 });
        await walk(path);
      } else if (st.isSymbolicLink()) {
        entries.push({ path, type: 'symlink', mode, size: 0, target: await readlink(abs) });
      } else if (st.isFile()) {
        files.push({ index: entries.length, abs });
        entries.push({ path, type: 'file', mode, size: st.size });
      } else {
        throw new KilnError('archive-failed', `cannot package ${abs}: it is a device, fifo or socket`, {
          hint: 'a build must install only files, directories and symlinks',
        });
      }
    }
  };
  await walk('');
  // Hash files a few at a time: small files are bound by latency, not bandwidth.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const f = files[next++];
      if (f === undefined) break;
      const e = entries[f.index];
      if (e !== undefined) entries[f.index] = { ...e, sha256: await sha256File(f.abs, { signal }) };
    }
  };
  await Promise.all(Array.from({ length: HASH_CONCURRENCY }, worker));
  // The walk emits parents before children but "a/b" before "a-b/"; sort by full path.
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Canonical JSON of a manifest (fixed key order, one entry per line) and its sha256. */
export function canonicalManifest(entries: readonly ManifestEntry[]): string {
  const lines = entries.map((e) =>
    JSON.stringify({
      path: e.path,
      type: e.type,
      mode: e.mode,
      size: e.size,
      ...(e.sha256 === undefined ? {} : { sha256: e.sha256 }),
      ...(e.target === undefined ? {} : { target: e.target }),
    }),
  );
  return lines.length === 0 ? '[]\n' : `[\n${lines.join(',\n')}\n]\n`;
}

export function manifestHash(entries: readonly ManifestEntry[]): string {
  return sha256(canonicalManifest(entries));
}

export interface PackOptions {
  /** Every member's mtime, for reproducible archives. */
  readonly sourceDateEpoch: number;
  readonly signal?: AbortSignal;
  /** zstd level; default 3. */
  readonly level?: number;
}

/**
 * Pack the contents of `dir` (members relative to it) into `outFile` as tar.zst:
 * sorted, fixed mtime, owner 0:0. Returns false and writes nothing when `dir` is empty,
 * so no-op packages cost no tar process and no archive.
 */
export async function packDir(dir: string, outFile: string, options: PackOptions): Promise<boolean> {
  const top = (await readdir(dir)).sort();
  if (top.length === 0) return false;
  await runTar(
    [
      '--create', `--file=${outFile}`, `--directory=${dir}`,
      '--format=gnu', '--sort=name', `--mtime=@${Math.floor(options.sourceDateEpoch)}`,
      '--owner=0', '--group=0', '--numeric-owner',
      `--use-compress-program=zstd -T0 -q -${options.level ?? 3}`,
      // Top-level names come on stdin, NUL-separated, so no `./` member and no name is
      // ever read as an option.
      '--null', '--verbatim-files-from', '--files-from=-',
    ],
    { what: `packing ${dir} into ${outFile}`, input: top.map((n) => `${n}\0`).join(''), signal: options.signal },
  );
  return true;
}

export interface UnpackOptions {
  readonly signal?: AbortSignal;
  /** Leading path components to drop (tar --strip-components). */
  readonly strip?: number;
}

/**
 * Extract `file` into the existing directory `intoDir`. The compression (gzip, bzip2, xz,
 * zstd, lzip, none) is detected from the content. Files get the extracting user as owner.
 */
export async function unpackArchive(file: string, intoDir: string, options: UnpackOptions = {}): Promise<void> {
  const strip = options.strip ?? 0;
  if (!Number.isInteger(strip) || strip < 0) throw new Error(`unpackArchive: invalid strip ${strip}`);
  await runTar(
    [
      '--extract', `--file=${file}`, `--directory=${intoDir}`, '--no-same-owner',
      ...(strip > 0 ? [`--strip-components=${strip}`] : []),
    ],
    { what: `extracting ${file} into ${intoDir}`, signal: options.signal, file },
  );
}

interface RunOptions {
  readonly what: string;
  readonly input?: string;
  readonly signal?: AbortSignal | undefined;
  /** The archive being read, to name in unsafe-path errors. */
  readonly file?: string;
}

const STDERR_LIMIT = 8192;

/** Run GNU tar in its own process group (so zstd dies with it) and map failures to KilnErrors. */
function runTar(args: readonly string[], o: RunOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    o.signal?.throwIfAborted();
    const child = spawn('tar', args, {
      stdio: [o.input === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'],
      detached: true,
      env: { ...process.env, LC_ALL: 'C' },
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr = (stderr + s).slice(-STDERR_LIMIT);
    });
    const kill = (): void => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    };
    o.signal?.addEventListener('abort', kill, { once: true });
    child.stdin?.on('error', () => {}); // tar may exit before reading all names
    child.stdin?.end(o.input);
    child.on('error', (e) => {
      o.signal?.removeEventListener('abort', kill);
      reject(new KilnError('archive-failed', `${o.what}: cannot run tar: ${e.message}`, {
        hint: 'install GNU tar and zstd', cause: e,
      }));
    });
    child.on('close', (code, sig) => {
      o.signal?.removeEventListener('abort', kill);
      if (o.signal?.aborted) return reject(o.signal.reason);
      const unsafe = /Member name contains '\.\.'|Removing leading `\/'/.exec(stderr);
      if (unsafe !== null && o.file !== undefined) {
        return reject(new KilnError('unsafe-path', `${o.file} has members outside the extraction directory (${unsafe[0]})`, {
          hint: 'the archive is malformed or malicious; check where it came from',
        }));
      }
      if (code === 0) return resolve();
      reject(new KilnError('archive-failed', `${o.what} failed (${sig ?? `exit ${code}`}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`, {
        hint: 'check that the file is a tar archive and the disk has space',
      }));
    });
  });
}
