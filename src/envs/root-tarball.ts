// Import a root filesystem tarball (.tar, .tar.zst, .tar.xz, .tar.gz, .tar.bz2; the
// compression is read from the content): first read its member list and refuse it whole
// if any member could land outside the target (tar-scan.ts), then let GNU tar extract it
// as root keeping numeric owners, permissions and file capabilities, the way AOINB's
// load-baseos unpacks a base OS. GNU tar's own guards (no `..`, leading `/` stripped, no
// writing through a symlink it extracted) stay on as a second line.

import { dieWithKiln } from '../lib/die-with-kiln.ts';
import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { KilnError } from '../errors.ts';
import { compressionOf, readDecompressed, type Compression } from '../lib/decompress.ts';
import { ENV_ERRORS } from './env-errors.ts';
import { extractedTreeProblem } from './extracted-tree.ts';
import { checkMembers, readTarMembers, unsafe, type TarMember } from './tar-scan.ts';

export { compressionOf, type Compression } from '../lib/decompress.ts';

export async function detectCompression(file: string): Promise<Compression> {
  const fh = await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    // The file is what is missing, not an env (env-not-found means no env of that name), as env-making.ts says it.
    throw new KilnError('path-unusable', `cannot read ${file}: ${e.code ?? e.message}`, { hint: 'give the path of a root tarball (.tar, .tar.zst, .tar.xz, .tar.gz)' });
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
  return readDecompressed(file, await detectCompression(file), (out) => readTarMembers(out, file), {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    stderrChars: 4000,
    cannotRun: (cmd, e) => (options.signal?.aborted ? options.signal.reason : new KilnError(ENV_ERRORS.unavailable, `cannot run ${cmd} to read ${file}: ${e.message}`, { hint: `install ${cmd}` })),
    failed: (cmd, code, stderr) => new KilnError(ENV_ERRORS.archive, `${cmd} failed on ${file} (exit ${code}): ${stderr.trim()}`, { hint: 'check that the file is complete and not corrupt' }),
  });
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
  await runTar(args, options.signal, (code, stderr) => new KilnError(ENV_ERRORS.archive, `extracting ${file} into ${intoDir} failed (exit ${code}): ${stderr}`, {
    hint: 'check that the file is a complete root tarball and the disk has space',
  }));
  // What tar made, whatever it read (extracted-tree.ts): absolute links are the root's own.
  const problem = extractedTreeProblem(intoDir, { absolute: 'root', devicesUnder: 'dev' });
  if (problem !== undefined) throw unsafe(file, problem);
  return { members: members.length };
}

/**
 * GNU tar with `args`, in a process group of its own (killed whole on abort); a non-zero
 * exit is `failed(code, the last lines of its stderr)`.
 */
export function runTar(args: readonly string[], signal: AbortSignal | undefined, failed: (code: number | null, stderr: string) => KilnError): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    signal?.throwIfAborted();
    const [bin, ...rest] = dieWithKiln(['tar', ...args]);
    const child = spawn(bin!, rest, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: { ...process.env, LC_ALL: 'C' } });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-8000)));
    const kill = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    };
    signal?.addEventListener('abort', kill, { once: true });
    child.on('error', (e) => reject(new KilnError(ENV_ERRORS.unavailable, `cannot run tar: ${e.message}`, { hint: 'install GNU tar (and zstd, xz or gzip for a compressed file)' })));
    child.on('close', (code) => {
      signal?.removeEventListener('abort', kill);
      if (signal?.aborted) return reject(signal.reason);
      if (code === 0) return resolve();
      reject(failed(code, stderr.trim().split('\n').slice(-5).join(' | ')));
    });
  });
}
