// Import a root filesystem tarball (.tar, .tar.zst, .tar.xz, .tar.gz, .tar.bz2; the
// compression is read from the content): first read its member list and refuse it whole
// if any member could land outside the target (tar-scan.ts), then let GNU tar extract it
// as root keeping numeric owners, permissions and file capabilities, the way AOINB's
// load-baseos unpacks a base OS. GNU tar's own guards (no `..`, leading `/` stripped, no
// writing through a symlink it extracted) stay on as a second line.

import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { KilnError } from '../errors.ts';
import { ENV_ERRORS } from './env-errors.ts';
import { checkMembers, readTarMembers, type TarMember } from './tar-scan.ts';

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

export async function detectCompression(file: string): Promise<Compression> {
  const fh = await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new KilnError(ENV_ERRORS.notFound, `cannot read ${file}: ${e.code ?? e.message}`, { hint: 'give the path of a root tarball (.tar, .tar.zst, .tar.xz, .tar.gz)' });
  });
  try {
    const magic = Buffer.alloc(8);
    await fh.read(magic, 0, 8, 0);
    return compressionOf(magic);
  } finally {
    await fh.close();
  }
}

/** The members of `file`, decompressed on the fly. */
export async function listTarball(file: string, options: { signal?: AbortSignal } = {}): Promise<TarMember[]> {
  const compression = await detectCompression(file);
  const argv = compression === 'none' ? ['cat', '--', file] : [...DECOMPRESS[compression], '--', file];
  const [cmd, ...args] = argv;
  const child = spawn(cmd ?? 'cat', args, { stdio: ['ignore', 'pipe', 'pipe'], signal: options.signal });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
  const exited = new Promise<number | null>((res, rej) => {
    child.on('error', rej);
    child.on('close', (code) => res(code));
  });
  let members: TarMember[];
  try {
    members = await readTarMembers(child.stdout, file);
  } catch (e) {
    child.kill('SIGKILL');
    await exited.catch(() => undefined);
    throw e;
  }
  // The reader stops at the end-of-archive block; let the decompressor finish or go.
  child.stdout.resume();
  const code = await exited.catch((e: Error) => {
    if (options.signal?.aborted) throw options.signal.reason;
    throw new KilnError(ENV_ERRORS.unavailable, `cannot run ${cmd} to read ${file}: ${e.message}`, { hint: `install ${cmd}` });
  });
  if (code !== 0 && code !== null) {
    throw new KilnError(ENV_ERRORS.archive, `${cmd} failed on ${file} (exit ${code}): ${stderr.trim()}`, { hint: 'check that the file is complete and not corrupt' });
  }
  return members;
}

/** Refuse `file` unless every member stays inside the root; then extract it into the existing empty `intoDir`. */
export async function extractRootTarball(file: string, intoDir: string, options: { signal?: AbortSignal } = {}): Promise<{ members: number }> {
  const members = await listTarball(file, options);
  checkMembers(members, file);
  const compression = await detectCompression(file);
  const args = [
    '--extract', `--file=${file}`, `--directory=${intoDir}`,
    ...(compression === 'none' ? [] : [`--${compression}`]),
    // We are root: keep owners by number (the root's own passwd is not ours), modes
    // including setuid, and file capabilities (ping and friends).
    '--numeric-owner', '--same-owner', '--same-permissions',
    '--xattrs', '--xattrs-include=security.capability',
    '--warning=no-unknown-keyword',
  ];
  await new Promise<void>((resolve, reject) => {
    options.signal?.throwIfAborted();
    const child = spawn('tar', args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: { ...process.env, LC_ALL: 'C' } });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-8000)));
    const kill = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    };
    options.signal?.addEventListener('abort', kill, { once: true });
    child.on('error', (e) => reject(new KilnError(ENV_ERRORS.unavailable, `cannot run tar: ${e.message}`, { hint: 'install GNU tar' })));
    child.on('close', (code) => {
      options.signal?.removeEventListener('abort', kill);
      if (options.signal?.aborted) return reject(options.signal.reason);
      if (code === 0) return resolve();
      reject(new KilnError(ENV_ERRORS.archive, `extracting ${file} into ${intoDir} failed (exit ${code}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`, {
        hint: 'check that the file is a complete root tarball and the disk has space',
      }));
    });
  });
  return { members: members.length };
}
