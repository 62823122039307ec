// Pack a directory into a reproducible tar.zst, describe it as a manifest, and unpack
// archives (our own, and source tarballs of any common compression).
//
// GNU tar and zstd are spawned rather than reimplemented: they are fast, stream, and GNU
// tar already keeps extraction inside the target (it refuses `..` members, strips a
// leading `/`, and will not write through a symlink it has just extracted). We turn those
// cases into an `unsafe-path` error so that a malformed archive fails loudly.
//
// One exception: packing a small output (a few files, short names, no hard links) costs
// two processes for microseconds of work, so packDir writes such an archive itself, in
// the exact GNU tar format the spawned `tar --format=gnu --sort=name` writes (same
// headers, order, padding; archive.test.ts compares the two byte for byte), compressed
// with node:zlib's zstd (a valid zstd frame with a checksum, like the CLI's; the
// compressed bytes may differ, the tar inside does not). Anything else goes to GNU tar.
import { spawn } from 'node:child_process';
import { spawnWithUmask022 } from '../lib/spawn-umask.ts';
import { lstatSync, readlinkSync } from 'node:fs';
import { lstat, readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { constants as zlibConstants, zstdCompress } from 'node:zlib';
import { promisify } from 'node:util';
import { KilnError } from '../errors.ts';
import type { Compression } from '../lib/decompress.ts';
import { smallTar } from './small-tar.ts';
import { dieWithKiln } from '../lib/die-with-kiln.ts';
import { sha256, sha256File, sha256FileHead } from '../lib/hash.ts';
import { elfHeader, type ElfHeader } from '../lib/elf-header.ts';

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

/**
 * Every entry under `dir` (not `dir` itself), sorted by path. Empty dir → []. `elf`, when
 * given, receives the header of every ELF file (path → machine and class), read along
 * with its hash.
 */
export async function buildManifest(
  dir: string,
  options: {
    signal?: AbortSignal;
    elf?: Map<string, ElfHeader>;
    /** With `holding`: the paths of the files that hold any of these bytes are pushed there (the buildpaths check). */
    needles?: readonly Buffer[];
    holding?: string[];
  } = {},
): Promise<ManifestEntry[]> {
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
      if (e === undefined) continue;
      if (options.elf === undefined && options.holding === undefined) {
        entries[f.index] = { ...e, sha256: await sha256File(f.abs, { signal }) };
      } else {
        const { sha256: sum, head, found } = await sha256FileHead(f.abs, 20, { signal, ...(options.holding === undefined ? {} : { needles: options.needles ?? [] }) });
        entries[f.index] = { ...e, sha256: sum };
        const header = options.elf === undefined ? undefined : elfHeader(head);
        if (header !== undefined) options.elf!.set(e.path, header);
        if (found) options.holding!.push(e.path);
      }
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
  /** Pack small outputs in-process (default true); false always spawns GNU tar + zstd. */
  readonly inProcess?: boolean;
}

/**
 * Pack the contents of `dir` (members relative to it) into `outFile` as tar.zst:
 * sorted, fixed mtime, owner 0:0. Returns false and writes nothing when `dir` is empty,
 * so no-op packages cost no tar process and no archive.
 */
export async function packDir(dir: string, outFile: string, options: PackOptions): Promise<boolean> {
  const top = (await readdir(dir)).sort();
  if (top.length === 0) return false;
  if (options.inProcess !== false) {
    const tarBytes = await smallTar(dir, top, Math.floor(options.sourceDateEpoch), options.signal);
    if (tarBytes !== undefined) {
      const level = options.level ?? 3;
      const compressed = await zstdCompressAsync(tarBytes, {
        params: { [zlibConstants.ZSTD_c_compressionLevel]: level, [zlibConstants.ZSTD_c_checksumFlag]: 1 },
      });
      options.signal?.throwIfAborted();
      await writeFile(outFile, compressed, { flag: 'wx' });
      return true;
    }
  }
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

const zstdCompressAsync = promisify(zstdCompress);

export interface UnpackOptions {
  readonly signal?: AbortSignal;
  /**
   * The compression the caller read the archive with (its magic: decompress.ts), given to
   * tar so that it reads what was checked: left to itself, tar takes a file that is both a
   * valid tar header and a gzip stream as the tar (a bundle's members were checked in the
   * gzip stream's).
   */
  readonly compression?: Compression;
  /** Leading path components to drop (tar --strip-components). */
  readonly strip?: number;
  /**
   * Keep the archive's modes, set-user-ID and set-group-ID bits included, and (as root) its
   * numeric owners: for a root filesystem (kiln rootfs), made in a 0700 folder. Builds never
   * ask for it (see below).
   */
  readonly keepModes?: boolean;
  /**
   * The archive as its user knows it (a recipe source's url), when `file` is a cache's copy
   * named by its checksum: its suffix picks what tar cannot tell from the content (a raw
   * LZMA stream has no magic number: `.tar.lzma` gets --lzma), and a failure to extract
   * names it instead of the cache's file.
   */
  readonly name?: string;
}

/** The decompression flag GNU tar needs for an archive named `name`, when its content does not say (pure). */
export function compressionFlagFor(name: string): string[] {
  // tar knows LZMA by its magic only for the default settings (`]\0\0\x80\0`: an 8 MiB
  // dictionary); `lzma -9` and others have none it recognises.
  return /\.tar\.lzma$/.test(name.replace(/[?#].*$/, '')) ? ['--lzma'] : [];
}

/**
 * Extract `file` into the existing directory `intoDir`. The compression (gzip, bzip2, xz,
 * zstd, lzip, none) is detected from the content, LZMA from `options.name` (see there). Files get the extracting user as owner,
 * and modes under its umask without set-user-ID or set-group-ID bits: kiln extracts as
 * root on the host, where a root-owned setuid file from a source tarball, a bundle or a
 * build's output would be anyone's way to root while it lies in a workspace.
 */
export async function unpackArchive(file: string, intoDir: string, options: UnpackOptions = {}): Promise<void> {
  const strip = options.strip ?? 0;
  if (!Number.isInteger(strip) || strip < 0) throw new Error(`unpackArchive: invalid strip ${strip}`);
  await runTar(
    [
      '--extract', `--file=${file}`, `--directory=${intoDir}`,
      ...(options.keepModes !== true
        ? ['--no-same-owner', '--no-same-permissions']
        : ['--same-permissions', ...(process.getuid?.() === 0 ? ['--same-owner', '--numeric-owner'] : ['--no-same-owner'])]),
      ...(strip > 0 ? [`--strip-components=${strip}`] : []),
      ...(options.compression === undefined ? compressionFlagFor(options.name ?? file) : options.compression === 'none' ? [] : [`--${options.compression}`]),
    ],
    // A named archive goes to a folder the caller chose (a workspace's temporary one): the name says enough.
    { what: options.name === undefined ? `extracting ${file} into ${intoDir}` : `extracting ${options.name}`, signal: options.signal, file, into: intoDir },
  );
}

/**
 * The member paths tar could not write because a path component was not a directory
 * (pure: from tar's stderr). GNU tar extracts a symlink whose target is absolute or climbs
 * with `..` as a plain placeholder file until the end, so a later member written through
 * that link fails this way; the links are in place once tar exits.
 */
export function notADirectoryMembers(stderr: string): string[] {
  return [...stderr.matchAll(/^tar: (.+): Cannot (?:open|mkdir): Not a directory$/gm)].map((m) => m[1]!);
}

/** The first member of `members` that goes through a link in `into` (after tar ran): the member and the link. */
function writtenThroughLink(into: string, members: readonly string[]): { member: string; link: string; target: string } | undefined {
  for (const member of members) {
    const parts = member.split('/').filter((p) => p !== '' && p !== '.');
    for (let i = 1; i < parts.length; i++) {
      const link = parts.slice(0, i).join('/');
      try {
        if (lstatSync(join(into, link)).isSymbolicLink()) return { member, link, target: readlinkSync(join(into, link)) };
      } catch {
        break; // not there: no link on this path
      }
    }
  }
  return undefined;
}

interface RunOptions {
  readonly what: string;
  readonly input?: string;
  readonly signal?: AbortSignal | undefined;
  /** The archive being read, to name in unsafe-path errors. */
  readonly file?: string;
  /** The directory it is extracted into, to tell a write through the archive's own link. */
  readonly into?: string;
}

const STDERR_LIMIT = 8192;

/** What to do about a failed tar, from what tar said (pure). */
export function archiveFailedHint(stderr: string): string {
  if (/No space left on device/.test(stderr)) return 'free space on that disk (`kiln cache gc` removes what was not used lately), then run again';
  // A path that is a link in one archive and a directory or file in another (two staged
  // packages, two sources), or in what the directory already held.
  if (/Cannot open: (File exists|Not a directory)|Cannot mkdir: (File exists|Not a directory)/.test(stderr)) {
    return 'one path is two different things: a link or a file in one place, a directory in another (two staged packages or two sources, an archive and what the directory already held, or one archive with both); the path is in the message';
  }
  return 'check that the file is a tar archive and the disk has space';
}


/** Run GNU tar in its own process group (so zstd dies with it) and map failures to KilnErrors. */
function runTar(args: readonly string[], o: RunOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    o.signal?.throwIfAborted();
    // setpriv's parent-death signal: a kiln killed while packing or unpacking takes its tar
    // along (tar is in a group of its own, so nothing else would end it).
    const [cmd, ...argv] = dieWithKiln(['tar', ...args]);
    // Unpacking under umask 022: what is unpacked for a build has the same modes whoever runs
    // kiln. (Packing keeps kiln's own umask for the archive file it writes.)
    const child = (o.into !== undefined ? spawnWithUmask022 : spawn)(cmd!, argv, {
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
      // `/' of a member name, or `../../' (or `top/../../') of a hard link's target: any
      // prefix tar strips is a name aimed outside.
      const unsafe = /Member name contains '\.\.'|Removing leading `[^']*'/.exec(stderr);
      if (unsafe !== null && o.file !== undefined) {
        // Said as a member: `x/../../y` climbs out; a name tar strips a leading `/` of is absolute.
        const climbing = /^tar: (.+): Member name contains '\.\.'$/m.exec(stderr)?.[1];
        const which = climbing !== undefined ? `member ${climbing} climbs out with ..` : unsafe[0].startsWith('Removing') ? `a member's name or link target is absolute (tar: ${unsafe[0]})` : unsafe[0];
        return reject(new KilnError('unsafe-path', `${o.file} has members outside the extraction directory (${which})`, {
          hint: 'the archive is malformed or malicious; check where it came from',
        }));
      }
      if (code === 0) return resolve();
      // A member written through a link the archive itself brought (`up -> ..`, then
      // `up/x`): tar refused it; that is a hostile archive, not two sources disagreeing.
      const through = o.file === undefined || o.into === undefined ? undefined : writtenThroughLink(o.into, notADirectoryMembers(stderr));
      if (through !== undefined) {
        return reject(new KilnError('unsafe-path', `${o.file} has members outside the extraction directory (member ${through.member} is written through its link ${through.link} -> ${through.target})`, {
          hint: 'the archive is malformed or malicious; check where it came from',
        }));
      }
      if (code === 127 && /failed to execute tar/.test(stderr)) {
        return reject(new KilnError('archive-failed', `${o.what}: cannot run tar: ${stderr.trim()}`, { hint: 'install GNU tar and zstd' }));
      }
      reject(new KilnError('archive-failed', `${o.what} failed (${sig ?? `exit ${code}`}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`, {
        hint: archiveFailedHint(stderr),
      }));
    });
  });
}
