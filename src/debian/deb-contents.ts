// Read a .deb for comparison: its ar members, its control (fields, md5sums, the other
// control members with their data) and the metadata and sha256 of every data member.
// `dpkg-deb --ctrl-tarfile` / `--fsys-tarfile` decompress whatever compressor the package
// uses; their tar streams go through our reader (deb-tar.ts), so nothing is extracted to
// disk. Data contents are read only for the paths asked for (a second pass, typically
// only the files that differ).
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { KilnError } from '../errors.ts';
import { sha256File } from '../lib/hash.ts';
import { readArMembers } from './deb-ar.ts';
import type { ArMember } from './deb-ar.ts';
import { readTar } from './deb-tar.ts';
import type { TarEntry } from './deb-tar.ts';
import { parseDeb822 } from './deb822.ts';

export interface DebContents {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly ar: readonly ArMember[];
  /** The `control` file's fields, names lower-cased. */
  readonly fields: ReadonlyMap<string, string>;
  /** md5sums: path → md5 (empty when the package has none). */
  readonly md5sums: ReadonlyMap<string, string>;
  /** Every member of control.tar (control and md5sums included). */
  readonly controlEntries: readonly TarEntry[];
  /** Contents of the control.tar members that are files (all small). */
  readonly controlData: ReadonlyMap<string, Buffer>;
  readonly dataEntries: readonly TarEntry[];
}

export async function readDeb(path: string, options: { signal?: AbortSignal } = {}): Promise<DebContents> {
  const [st, ar] = await Promise.all([stat(path), readArMembers(path)]);
  if (!ar.some((m) => m.name.startsWith('control.tar'))) {
    throw new KilnError('deb-invalid', `${path}: has no control.tar member (members: ${ar.map((m) => m.name).join(', ')})`, { hint: 'name a .deb built by dpkg-deb' });
  }
  const sha256 = await sha256File(path, options);
  const control = await dpkgDebTar(path, '--ctrl-tarfile', () => true, options.signal);
  const data = await dpkgDebTar(path, '--fsys-tarfile', () => false, options.signal);
  const controlText = control.data.get('control');
  if (controlText === undefined) {
    throw new KilnError('deb-invalid', `${path}: control.tar has no control file`, { hint: 'the .deb is damaged; build or fetch it again' });
  }
  const paragraphs = parseDeb822(controlText.toString('utf8'), { source: `${path}: control` });
  const md5sums = new Map<string, string>();
  for (const line of (control.data.get('md5sums')?.toString('utf8') ?? '').split('\n')) {
    const m = /^([0-9a-f]{32}) [ *]?(.+)$/.exec(line);
    if (m !== null) md5sums.set(m[2]!, m[1]!);
  }
  return {
    path,
    size: st.size,
    sha256,
    ar,
    fields: paragraphs[0]?.fields ?? new Map(),
    md5sums,
    controlEntries: control.entries,
    controlData: control.data,
    dataEntries: data.entries,
  };
}

/** The contents of the named data members (regular files) of `path`. */
export async function readDataFiles(path: string, paths: ReadonlySet<string>, options: { signal?: AbortSignal } = {}): Promise<ReadonlyMap<string, Buffer>> {
  if (paths.size === 0) return new Map();
  return (await dpkgDebTar(path, '--fsys-tarfile', (p) => paths.has(p), options.signal)).data;
}

async function dpkgDebTar(path: string, flag: '--ctrl-tarfile' | '--fsys-tarfile', keep: (p: string) => boolean, signal: AbortSignal | undefined) {
  const child = spawn('dpkg-deb', [flag, path], { stdio: ['ignore', 'pipe', 'pipe'], ...(signal === undefined ? {} : { signal }) });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  });
  let contents: Awaited<ReturnType<typeof readTar>> | undefined;
  let readError: unknown;
  try {
    contents = await readTar(child.stdout as Readable, { source: `${path} (${flag === '--fsys-tarfile' ? 'data' : 'control'}.tar)`, keep });
  } catch (e) {
    readError = e;
    child.kill('SIGKILL');
  }
  const exit = await exited;
  if (signal?.aborted === true) throw signal.reason;
  if (exit.error !== undefined) {
    const missing = (exit.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new KilnError('deb-invalid', `cannot run dpkg-deb ${flag} ${path}: ${exit.error.message}`, {
      hint: missing ? 'install dpkg (dpkg-deb reads .deb files)' : 'check the file and run again',
      cause: exit.error,
    });
  }
  // A failed dpkg-deb explains itself better than the truncated tar stream it left.
  if (exit.code !== 0 && stderr.trim() !== '') throw failed(path, flag, stderr, readError);
  if (readError !== undefined) throw readError;
  if (exit.code !== 0 || contents === undefined) throw failed(path, flag, stderr, undefined);
  return contents;
}

function failed(path: string, flag: string, stderr: string, cause: unknown): KilnError {
  return new KilnError('deb-invalid', `dpkg-deb ${flag} ${path} failed: ${stderr.trim() || 'no message'}`, {
    hint: 'the .deb is damaged or uses a compressor this dpkg cannot read; build or fetch it again',
    ...(cause === undefined ? {} : { cause }),
  });
}
