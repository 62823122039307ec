// Which packages a build root holds, from dpkg's status database: what a build's log lists
// (as sbuild's "Package versions"), so that an artifact says which toolchain built it even
// after `kiln env update` removed the env version it was built in. One format for every
// build: a Debian build lists its build root after installing its build dependencies (the
// status file read inside the sandbox, debian-build.ts); a recipe build in an env lists the
// env's, read on the host from the env's layers, once per env version a process builds in
// (execute-job.ts; nothing for the host sandbox, which has no env). Also what `kiln env update` compares (env-making.ts).

import { resolveInRoot } from './root-info.ts';
import { readFile } from 'node:fs/promises';

export interface InstalledPackage {
  readonly name: string;
  readonly version: string;
  readonly arch: string;
}

/** The note a build's log gives before the list. */
export const PACKAGE_VERSIONS_NOTE = 'package versions in the build root:';

/** Where dpkg keeps its status database, inside a root. */
export const DPKG_STATUS = '/var/lib/dpkg/status';

/** The installed packages of a dpkg status file (Status `… ok installed`), sorted by name then arch. */
export function installedFromStatus(status: string): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const stanza of status.split(/\n[ \t]*\n/)) {
    let name: string | undefined;
    let version: string | undefined;
    let arch: string | undefined;
    let installed = false;
    for (const line of stanza.split('\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0 || line[0] === ' ' || line[0] === '\t') continue;
      const key = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      if (key === 'Package') name = value;
      else if (key === 'Version') version = value;
      else if (key === 'Architecture') arch = value;
      else if (key === 'Status') installed = / ok installed$/.test(value);
    }
    if (installed && name !== undefined && version !== undefined) out.push({ name, version, arch: arch ?? '' });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0));
}

/** The list as a build's log shows it: `name version arch`, one a line, no trailing newline. */
export function packageVersionLines(packages: readonly InstalledPackage[]): string {
  return packages.map((p) => `${p.name} ${p.version} ${p.arch}`).join('\n');
}

/**
 * The package list of an env (its layers, base root first), from the topmost layer that has
 * a dpkg status file, as the overlay shows it; undefined when none has one (a root not made
 * by dpkg). Read on the host, nothing started. A file there that cannot be read throws.
 */
export async function envPackageVersions(layers: readonly string[]): Promise<string | undefined> {
  for (const layer of [...layers].reverse()) {
    const file = await resolveInRoot(layer, DPKG_STATUS);
    if (file === undefined) continue;
    const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (text !== undefined) return packageVersionLines(installedFromStatus(text));
  }
  return undefined;
}

/**
 * The note a recipe build's log gives of its env's packages (the header, then the list),
 * read from the env's layers the first time a version is asked for and kept (an env
 * version never changes: its id names its content), so a job costs only the writing of the
 * text, in a run of thousands, and in a worker or daemon that makes an executor per job. The
 * last `keep` versions are kept; a failed read is not.
 */
export function envPackageNotes(keep = 16): (env: { readonly id: string; readonly layers: readonly string[] }) => Promise<string> {
  const read = new Map<string, Promise<string>>();
  return (env) => {
    const key = `${env.id}\0${env.layers.join('\0')}`;
    let note = read.get(key);
    if (note === undefined) {
      note = envPackageVersions(env.layers).then(
        (list) => (list === undefined ? `${PACKAGE_VERSIONS_NOTE} (env ${env.id} has no ${DPKG_STATUS}: no list)` : `${PACKAGE_VERSIONS_NOTE}\n${list}`),
        (e: unknown) => {
          read.delete(key);
          return `${PACKAGE_VERSIONS_NOTE} (cannot read ${DPKG_STATUS} of env ${env.id}: ${e instanceof Error ? e.message : String(e)})`;
        },
      );
      read.set(key, note);
      if (read.size > keep) read.delete(read.keys().next().value!);
    }
    return note;
  };
}

/** The process's: what execute-job.ts asks. */
export const envPackageNote = envPackageNotes();
