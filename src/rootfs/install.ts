// kiln rootfs, step two: install the selected packages into a fresh root. Each archive is
// checked against the index's sha256 and listed first, so that a corrupt archive or two
// packages shipping one file stop kiln before anything is unpacked; then the archives are
// unpacked in dependency order into a temporary folder beside OUT, installed.json is
// written, and the whole root (or, with tar, its reproducible tar.zst) is renamed into
// place. On any error the temporary folder goes: no half root is ever left at OUT.

import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packDir, unpackArchive } from '../cache/archive.ts';
import { listTarball } from '../envs/root-tarball.ts';
import { KilnError } from '../errors.ts';
import { sha256File } from '../lib/hash.ts';
import { whyText, type Selected } from './closure.ts';
import { findConflicts } from './conflicts.ts';
import { checkOut, placeOut, tmpBeside, type KeptDir } from './place.ts';
import { missingLibraries, type MissingLibrary } from './libraries.ts';
import { normalizeMemberPath } from '../envs/tar-scan.ts';

/** Where in the root the list of what was installed goes. */
export const INSTALLED_JSON = 'var/lib/kiln/installed.json';

export interface InstallOptions {
  /** The root directory to make, or with `tar` the .tar.zst file. */
  readonly out: string;
  readonly selected: readonly Selected[];
  readonly arch: string;
  /** Replace an existing OUT. */
  readonly force: boolean;
  readonly tar: boolean;
  /** Every member's mtime in the tar (SOURCE_DATE_EPOCH). */
  readonly sourceDateEpoch: number;
  readonly signal?: AbortSignal;
  /** Folders OUT must keep clear of (the state dir, the cache): --force would remove them. */
  readonly keep?: readonly KeptDir[];
}

export interface InstalledPackage {
  readonly name: string;
  readonly version: string;
  readonly release: number;
  readonly arch: string;
  readonly sha256: string;
  /** `named` or `needed by a, b`. */
  readonly why: string;
  /** The packages of the root that need it (empty for a named one). */
  readonly neededBy: readonly string[];
  /** Bytes of its files. */
  readonly installedSize: number;
}

export interface InstallResult {
  readonly out: string;
  readonly packages: readonly InstalledPackage[];
  /** Bytes of every file installed. */
  readonly installedSize: number;
  /** Bytes of the archives unpacked. */
  readonly archiveSize: number;
  /** With tar: bytes of OUT. */
  readonly tarSize?: number;
  /** Libraries and program loaders the root's ELF files need and it lacks (libraries.ts): warnings, the root is made. */
  readonly missing: readonly MissingLibrary[];
}

export async function installRoot(o: InstallOptions): Promise<InstallResult> {
  const exists = await checkOut(o.out, o.force, o.keep ?? []);

  // Check and list every archive before anything is written.
  const sizes = new Map<string, number>();
  const listed: { name: string; members: Awaited<ReturnType<typeof listTarball>> }[] = [];
  for (const s of o.selected) {
    const p = s.pkg;
    if (p.sha256 === '') continue; // it installed nothing
    const label = `${p.name} ${p.version}-${p.release} (${p.arch})`;
    if (!existsSync(p.path)) {
      throw new KilnError('artifact-missing', `the archive of ${label} is gone: ${p.path}`, {
        hint: `build it again (kiln build ${p.name}) with the same --state; a cache gc may have removed it`,
      });
    }
    const sum = await sha256File(p.path, o.signal === undefined ? {} : { signal: o.signal });
    if (sum !== p.sha256) {
      throw new KilnError('artifact-corrupt', `the archive of ${label} does not match the package index: ${p.path} has sha256 ${sum}, the index says ${p.sha256}`, {
        hint: `run \`kiln cache verify --fix\` and build ${p.name} again (kiln build ${p.name})`,
      });
    }
    const members = await listTarball(p.path, o.signal === undefined ? {} : { signal: o.signal });
    sizes.set(`${p.name}@${p.arch}`, members.reduce((n, m) => n + (m.type === 'file' ? m.size : 0), 0));
    listed.push({ name: p.name, members });
  }
  // (kiln's own file under what a package ships as a link or file: writeInstalled says which, precisely.)
  const conflicts = findConflicts(listed, [INSTALLED_JSON], KILN_OWNER).filter((c) => !(c.under !== undefined && c.second === KILN_OWNER));
  const own = conflicts.find((c) => c.first === KILN_OWNER);
  if (own !== undefined) {
    throw new KilnError('file-conflict', `${own.second} ships ${INSTALLED_JSON}, which kiln rootfs writes (the list of what the root holds); nothing was installed`, {
      hint: `change ${own.second}'s recipe so that it does not install ${INSTALLED_JSON}, or leave it out of the root`,
    });
  }
  if (conflicts.length > 0) {
    const c = conflicts[0]!;
    const more = conflicts.length > 1 ? ` (and ${conflicts.length - 1} more path(s): ${conflicts.slice(1, 4).map((x) => `${x.path} of ${x.first} and ${x.second}`).join(', ')}${conflicts.length > 4 ? ', …' : ''})` : '';
    const what = c.under === undefined ? `${c.first} and ${c.second} both ship ${c.path}` : `${c.second} ships ${c.path}, under ${c.under}, which ${c.first} ships as a link or a file (unpacked after it, tar would write through it: a link out of the root writes on the host)`;
    throw new KilnError('file-conflict', `${what}${more}; nothing was installed`, {
      hint: `leave one of them out of the root, or change one of the recipes so that only one installs ${c.path}`,
    });
  }

  const packages: InstalledPackage[] = o.selected.map((s) => ({
    name: s.pkg.name, version: s.pkg.version, release: s.pkg.release, arch: s.pkg.arch, sha256: s.pkg.sha256,
    why: whyText(s.why), neededBy: s.why.kind === 'named' ? [] : s.why.by, installedSize: sizes.get(`${s.pkg.name}@${s.pkg.arch}`) ?? 0,
  }));

  const tmp = await tmpBeside(o.out);
  try {
    const root = join(tmp, 'root');
    await mkdir(root);
    for (const s of o.selected) {
      o.signal?.throwIfAborted();
      // Modes (set-user-ID bits too) and, as root, owners as packed: su, passwd, ping work.
      if (s.pkg.sha256 !== '') await unpackArchive(s.pkg.path, root, { keepModes: true, ...(o.signal === undefined ? {} : { signal: o.signal }) });
    }
    // 0755 whatever kiln's umask (or a package's `./`): the same root for every user.
    await chmod(root, 0o755);
    // What its programs and libraries need and it lacks (BitBake's file-rdeps).
    const missing = await missingLibraries(root, listed.map((l) => ({ pkg: l.name, members: l.members.map((m) => ({ path: normalizeMemberPath(m.name).replace(/^\//, ''), type: m.type, size: m.size })) })), o.signal);
    // No time in it: the same packages make the same root, and the same tarball.
    await writeInstalled(root, `${JSON.stringify({ arch: o.arch, packages }, null, 2)}\n`, listed);
    let made = root;
    let tarSize: number | undefined;
    if (o.tar) {
      made = join(tmp, 'root.tar.zst');
      await packDir(root, made, { sourceDateEpoch: o.sourceDateEpoch, ...(o.signal === undefined ? {} : { signal: o.signal }) });
      tarSize = (await lstat(made)).size;
    }
    await placeOut(made, o.out, join(tmp, 'old'), exists);
    const installedSize = packages.reduce((n, p) => n + p.installedSize, 0);
    const archiveSize = o.selected.reduce((n, s) => n + (s.pkg.sha256 === '' ? 0 : s.pkg.size), 0);
    return { out: o.out, packages, installedSize, archiveSize, ...(tarSize === undefined ? {} : { tarSize }), missing };
  } finally {
    await rm(tmp, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** The owner of kiln's own installed.json in conflict messages. */
const KILN_OWNER = 'kiln rootfs';

/**
 * Write installed.json into `root` without following anything a package shipped: var,
 * var/lib and var/lib/kiln must be real directories (made 0755 when missing, whatever the
 * umask), never links (`var -> /var` would have kiln write on the host) nor files; the
 * file itself is new (0644). Anything else is unsafe-path naming the package that ships it.
 */
export async function writeInstalled(root: string, text: string, listed: readonly { name: string; members: readonly { name: string }[] }[]): Promise<void> {
  const shipper = (path: string): string => listed.find((p) => p.members.some((m) => normalizeMemberPath(m.name) === path))?.name ?? 'a package';
  const parts = INSTALLED_JSON.split('/');
  for (let i = 1; i < parts.length; i++) {
    const rel = parts.slice(0, i).join('/');
    const at = join(root, rel);
    const st = await lstat(at).catch(() => undefined);
    if (st === undefined) {
      await mkdir(at);
      await chmod(at, 0o755);
    } else if (st.isSymbolicLink()) {
      throw new KilnError('unsafe-path', `${shipper(rel)} ships ${rel} as a link (-> ${await readlink(at)}): kiln rootfs writes ${INSTALLED_JSON} and writes through no link a package ships; nothing was installed`, {
        hint: `change the recipe so that ${rel} is a directory (a link there would have kiln write outside the root), or leave the package out`,
      });
    } else if (!st.isDirectory()) {
      throw new KilnError('file-conflict', `${shipper(rel)} ships ${rel} as a file, where kiln rootfs makes the directory of ${INSTALLED_JSON}; nothing was installed`, {
        hint: `change the recipe so that it does not install ${rel} as a file, or leave the package out`,
      });
    }
  }
  const file = join(root, INSTALLED_JSON);
  if ((await lstat(file).catch(() => undefined)) !== undefined) {
    throw new KilnError('file-conflict', `${shipper(INSTALLED_JSON)} ships ${INSTALLED_JSON}, which kiln rootfs writes; nothing was installed`, {
      hint: `change the recipe so that it does not install ${INSTALLED_JSON}, or leave the package out`,
    });
  }
  // wx: a new file, never through a link.
  await writeFile(file, text, { flag: 'wx' });
  await chmod(file, 0o644);
}
