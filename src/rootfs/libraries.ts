// kiln rootfs, after unpacking: does every program and library of the root find what it
// needs there? Each ELF file's interpreter (the ld.so a program starts with) must be in the
// root, and each DT_NEEDED library in a library folder of the root (lib, usr/lib, their
// multiarch and 32/64 folders, the folders etc/ld.so.conf names) or in the file's own
// RUNPATH. What is not is said, grouped by library with the files and packages that need
// it, as BitBake's file-rdeps QA check does: a recipe that links a library without listing
// its package in `depends`, or a root without its C library, is found before it boots.

import { lstat, open, readdir, readFile, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { readElfDynamic } from '../lib/elf-dynamic.ts';

export interface MissingLibrary {
  /** The library's name (DT_NEEDED), or the interpreter's path. */
  readonly name: string;
  readonly kind: 'library' | 'interpreter';
  /** The files (relative to the root) that need it, with their package. */
  readonly neededBy: readonly { readonly file: string; readonly pkg: string }[];
}

/** A package's members as its archive lists them (normalized, relative paths). */
export interface RootMembers {
  readonly pkg: string;
  readonly members: readonly { readonly path: string; readonly type: string; readonly size: number }[];
}

/** Files read at once. */
const AT_ONCE = 16;
/** Smaller than an ELF header: not read. */
const ELF_MIN = 52;

const LIB_DIRS = ['lib', 'lib32', 'lib64', 'libx32', 'usr/lib', 'usr/lib32', 'usr/lib64', 'usr/libx32', 'usr/local/lib'];
/** `lib/x86_64-linux-gnu`, `usr/lib/riscv64-linux-gnu`: multiarch folders, whatever the triplet. */
const MULTIARCH_DIR = /^(usr\/)?lib\/[a-z0-9_]+-linux-[a-z0-9_]+$/;

/** The library folders of a root (pure): the usual ones, the multiarch ones its files are in, and ld.so.conf's. */
export function libraryDirs(paths: Iterable<string>, ldSoConf: readonly string[]): Set<string> {
  const dirs = new Set(LIB_DIRS);
  for (const p of paths) {
    const d = posix.dirname(p);
    if (MULTIARCH_DIR.test(d)) dirs.add(d);
  }
  for (const d of ldSoConf) dirs.add(posix.normalize(d).replace(/^\/+|\/+$/g, ''));
  return dirs;
}

/** The folders ld.so.conf text names (pure): absolute paths, one a line, comments and `include` lines aside. */
export function ldSoConfDirs(text: string): string[] {
  return text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l.startsWith('/'));
}

/** What the root's files need and it lacks, from the unpacked root and the members each package shipped. */
export async function missingLibraries(root: string, packages: readonly RootMembers[], signal?: AbortSignal): Promise<MissingLibrary[]> {
  const all = packages.flatMap((p) => p.members.filter((m) => m.type !== 'dir').map((m) => m.path));
  const conf: string[] = [];
  for (const f of ['etc/ld.so.conf', ...(await readdir(join(root, 'etc/ld.so.conf.d')).catch(() => [] as string[])).filter((n) => n.endsWith('.conf')).map((n) => `etc/ld.so.conf.d/${n}`)]) {
    // A file of the root, not a link a package ships (it could point at this machine's).
    if ((await lstat(join(root, f)).catch(() => undefined))?.isFile() === true) conf.push(await readFile(join(root, f), 'utf8').catch(() => ''));
  }
  const dirs = libraryDirs(all, conf.flatMap(ldSoConfDirs));
  const provided = new Set(all.filter((p) => dirs.has(posix.dirname(p))).map((p) => posix.basename(p)));
  // Anywhere else in the root, a library may still be found: glibc takes a name already
  // loaded under that soname (systemd's libsystemd-core needs libsystemd-shared, which the
  // systemd program's RUNPATH brings in; OpenJDK's libraries need libjvm). Not said then.
  const elsewhere = new Set(all.map((p) => posix.basename(p)));
  const seen = new Map<string, Promise<boolean>>();
  const exists = (abs: string): Promise<boolean> => {
    let p = seen.get(abs);
    if (p === undefined) seen.set(abs, (p = existsInRoot(root, abs)));
    return p;
  };
  const missing = new Map<string, { kind: MissingLibrary['kind']; neededBy: { file: string; pkg: string }[] }>();
  const need = (name: string, kind: MissingLibrary['kind'], file: string, pkg: string): void => {
    const m = missing.get(name) ?? { kind, neededBy: [] };
    m.neededBy.push({ file, pkg });
    missing.set(name, m);
  };
  const files = packages.flatMap((p) => p.members.filter((m) => m.type === 'file' && m.size >= ELF_MIN).map((m) => ({ pkg: p.pkg, path: m.path })));
  const found = await mapAtOnce(files, AT_ONCE, async (f) => {
    signal?.throwIfAborted();
    return elfOf(join(root, f.path));
  });
  for (const [i, f] of files.entries()) {
    const dyn = found[i];
    if (dyn === undefined) continue;
    if (dyn.interpreter !== undefined && !(await exists(dyn.interpreter))) need(dyn.interpreter, 'interpreter', f.path, f.pkg);
    const origin = `/${posix.dirname(f.path)}`;
    const expand = (s: string): string => s.replaceAll('${ORIGIN}', origin).replaceAll('$ORIGIN', origin);
    for (const lib of dyn.needed) {
      if (lib.includes('/') ? await exists(posix.resolve('/', expand(lib))) : provided.has(lib) || elsewhere.has(lib)) continue;
      if (!(await someAsync(dyn.runpath, (r) => exists(posix.join(expand(r), lib))))) need(lib, 'library', f.path, f.pkg);
    }
  }
  return [...missing].map(([name, m]) => ({ name, ...m })).sort((a, b) => (a.kind === b.kind ? (a.name < b.name ? -1 : 1) : a.kind === 'interpreter' ? -1 : 1));
}

/** f over xs, at most `n` at a time, results in order. */
async function mapAtOnce<T, R>(xs: readonly T[], n: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(xs.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, xs.length) }, async () => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await f(xs[i]!);
    }
  }));
  return out;
}

/** The warning line of a missing library or interpreter (pure). */
export function missingText(m: MissingLibrary): string {
  const pkgs = [...new Set(m.neededBy.map((n) => n.pkg))];
  const files = m.neededBy.slice(0, 3).map((n) => n.file).join(', ') + (m.neededBy.length > 3 ? ', …' : '');
  const whose = `${m.neededBy.length} file(s) of ${pkgs.join(', ')} (${files})`;
  return m.kind === 'interpreter'
    ? `the program loader ${m.name}, which ${whose} start with, is in no package of the root: those programs cannot start there; add the package of the C library (its ld.so)`
    : `${m.name}, needed by ${whose}, is in no library folder of the root: add the package that ships it to the root, or to the ${pkgs.length === 1 ? 'depends of its recipe' : 'depends of their recipes'}`;
}

async function elfOf(path: string): ReturnType<typeof readElfDynamic> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (fh === undefined) return undefined;
  const at = async (offset: number, length: number): Promise<Buffer> => {
    const b = Buffer.alloc(length);
    const { bytesRead } = await fh.read(b, 0, length, offset);
    return b.subarray(0, bytesRead);
  };
  try {
    // The header and program headers are near the start: one read for them, mostly.
    const head = await at(0, 4096);
    return await readElfDynamic(async (offset, length) => (offset + length <= head.length ? head.subarray(offset, offset + length) : at(offset, length)));
  } catch {
    return undefined; // a file too damaged to read is not this check's to judge
  } finally {
    await fh.close();
  }
}

/**
 * Whether `abs` (a path as seen inside the root) exists there: links are followed inside
 * the root (an absolute target from its top), never out of it, at most 40 of them.
 */
export async function existsInRoot(root: string, abs: string): Promise<boolean> {
  let todo = abs.split('/').filter((p) => p !== '' && p !== '.');
  let at: string[] = [];
  for (let links = 0; todo.length > 0;) {
    const part = todo.shift()!;
    if (part === '..') {
      at.pop();
      continue;
    }
    const st = await lstat(join(root, ...at, part)).catch(() => undefined);
    if (st === undefined) return false;
    if (!st.isSymbolicLink()) {
      at.push(part);
      continue;
    }
    if (++links > 40) return false;
    const target = await readlink(join(root, ...at, part));
    const parts = target.split('/').filter((p) => p !== '' && p !== '.');
    if (target.startsWith('/')) at = [];
    todo = [...parts, ...todo];
  }
  return true;
}

async function someAsync<T>(xs: readonly T[], f: (x: T) => Promise<boolean>): Promise<boolean> {
  for (const x of xs) if (await f(x)) return true;
  return false;
}
