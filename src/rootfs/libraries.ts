// kiln rootfs, after unpacking: does every program and library of the root find what it
// needs there? Each ELF file's interpreter (the ld.so a program starts with) must be in the
// root, and each DT_NEEDED library somewhere in it. What is not is said, grouped by library
// with the files and packages that need it, as BitBake's file-rdeps QA check does: a recipe
// that links a library without listing its package in `depends`, or a root without its C
// library, is found before it boots.

import { open } from 'node:fs/promises';
import { resolveInRoot } from '../envs/root-info.ts';
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

/** What the root's files need and it lacks, from the unpacked root and the members each package shipped. */
export async function missingLibraries(root: string, packages: readonly RootMembers[], signal?: AbortSignal): Promise<MissingLibrary[]> {
  // A library is there when a file or link of its name is anywhere in the root: in a
  // library folder (lib, usr/lib, multiarch, ld.so.conf's), in a folder of the needing
  // file's RUNPATH, or elsewhere, where the loader may still find it already loaded under
  // that soname (systemd's libraries need libsystemd-shared, which the systemd program's
  // RUNPATH brings in; OpenJDK's need libjvm). What is nowhere is what cannot be found.
  const present = new Set(packages.flatMap((p) => p.members.filter((m) => m.type !== 'dir').map((m) => posix.basename(m.path))));
  const seen = new Map<string, Promise<boolean>>();
  const exists = (abs: string): Promise<boolean> => {
    let p = seen.get(abs);
    // Links followed as the root itself sees them (envs/root-info.ts), never out of it.
    if (p === undefined) seen.set(abs, (p = resolveInRoot(root, abs).then((host) => host !== undefined)));
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
    for (const lib of dyn.needed) {
      // A name with a slash is a path (from the working directory, or $ORIGIN).
      const there = lib.includes('/') ? await exists(posix.resolve('/', lib.replaceAll('${ORIGIN}', origin).replaceAll('$ORIGIN', origin))) : present.has(lib);
      if (!there) need(lib, 'library', f.path, f.pkg);
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
    : `${m.name}, needed by ${whose}, is in no package of the root: add the package that ships it to the root, or to the ${pkgs.length === 1 ? 'depends of its recipe' : 'depends of their recipes'}`;
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
