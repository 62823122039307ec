// apt inside a sandbox with no network, as a Debian build installs its build dependencies
// (debian-build.ts) and the install check installs what a build made
// (debian-try-install.ts): the suite's verified Packages cut to a closure, as a flat
// local repository; this run's own .debs in a second one, pinned above it; the .debs apt
// asks for fetched on the host through the downloads cache into the first one's pool.

import { constants as fsConstants } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { listedButMissing, type Downloads } from '../cache/downloads.ts';
import { rawField, type BinaryUniverse } from '../debian/lazy-index.ts';
import type { BinaryPackage } from '../debian/sources-index.ts';
import { shellQuote as sh } from '../lib/shell-quote.ts';
import { runRepoScript, safePoolPath } from './debian-build-steps.ts';

/**
 * Writes `<archiveHost>/Packages`: the stanzas of `names`. A rebuild of an archive package
 * stages a .deb with the archive's own name and version but other bytes: apt refuses two
 * files for one version ("Hash Sum mismatch"), so the archive's stanza of each staged
 * name=version is left out and the fresh .deb is the only candidate.
 */
export async function writeCutArchive(archiveHost: string, names: Iterable<string>, universe: BinaryUniverse, staged: ReadonlySet<string>): Promise<void> {
  await mkdir(archiveHost, { recursive: true });
  const stanzas = [...names].flatMap((n) => universe.raw(n).filter((st) => !staged.has(`${n}=${(rawField(st, 'Version') ?? '').replace(/^\d+:/, '')}`)));
  await writeFile(join(archiveHost, 'Packages'), `${stanzas.join('\n\n')}\n`);
}

/** Shell lines (as root in the sandbox) that point apt at the cut archive and this run's own .debs, then update. */
export function offlineSourcesScript(archiveInside: string, runDebsInside: string): string[] {
  return [
    'rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* /etc/apt/preferences.d/kiln-run',
    'rm -rf /var/lib/apt/lists/*',
    `echo ${sh(`deb [trusted=yes] file:${archiveInside} ./`)} > /etc/apt/sources.list.d/kiln-archive.list`,
    `if compgen -G ${sh(runDebsInside)}'/*.deb' > /dev/null; then`,
    ...runRepoScript(runDebsInside).map((line) => `  ${line}`),
    `  echo ${sh(`deb [trusted=yes] file:${runDebsInside} ./`)} > /etc/apt/sources.list.d/kiln-run.list`,
    `  printf 'Package: *\\nPin: release o=kiln-run\\nPin-Priority: 1001\\n' > /etc/apt/preferences.d/kiln-run`,
    '  echo "kiln: this run\'s own packages:"; sed -n "s/^Package: //p;s/^Version: /  /p" Packages | paste - - >&2',
    'fi',
    'apt-get update -qq -o Acquire::Languages=none >&2',
  ];
}

/**
 * Fetches the .debs apt's simulation asked for (`wanted`) into the cut archive's pool,
 * except this run's own (`local`, name=version). Returns the problems (empty: all there).
 */
export async function fetchWanted(o: {
  wanted: readonly { name: string; version: string; arch: string }[];
  local: ReadonlySet<string>;
  universe: BinaryUniverse;
  archiveHost: string;
  mirror: string;
  downloads: Downloads;
  note: (text: string) => void;
  /** What the packages are for, in notes ("build dependencies"). */
  what: string;
  signal: AbortSignal;
}): Promise<string[]> {
  const fetchList: { pkg: BinaryPackage; dest: string }[] = [];
  const problems: string[] = [];
  for (const w of o.wanted) {
    if (o.local.has(`${w.name}=${w.version}`)) {
      // Staged from this run's outputs: built by it, or found up to date in the cache.
      o.note(`install ${w.name} ${w.version} [${w.arch}] (from this run's packages)`);
      continue;
    }
    const pkg = o.universe.versions(w.name).find((p) => p.version === w.version && (p.architecture === w.arch || p.architecture === 'all'));
    if (pkg !== undefined && !safePoolPath(pkg.filename)) {
      problems.push(`${w.name} ${w.version}: the index gives it the file name ${JSON.stringify(pkg.filename)}, which is not a plain relative path inside the repository`);
      continue;
    }
    if (pkg === undefined) {
      problems.push(`${w.name} ${w.version} (${w.arch}) is not in the verified Packages index`);
      continue;
    }
    if (pkg.mirror !== undefined) o.note(`install ${w.name} ${w.version} [${w.arch}] (from the extra repository ${pkg.mirror})`);
    fetchList.push({ pkg, dest: join(o.archiveHost, pkg.filename) });
  }
  o.note(`fetching ${fetchList.length} ${o.what} through the downloads cache`);
  const settled = await Promise.allSettled(fetchList.map(async ({ pkg, dest }) => {
    const url = `${pkg.mirror ?? o.mirror}/${pkg.filename}`;
    const path = await o.downloads.fetch(url, pkg.sha256, { signal: o.signal }).catch((e: unknown) => {
      throw listedButMissing(e);
    });
    await mkdir(dirname(dest), { recursive: true });
    // A copy, not a hard link: maintainer scripts run as root next to this directory and
    // must not be able to change the shared cache entry.
    await copyFile(path, dest, fsConstants.COPYFILE_FICLONE);
  }));
  settled.forEach((s, i) => {
    if (s.status === 'rejected') problems.push(`${fetchList[i]!.pkg.filename}: ${s.reason instanceof Error ? s.reason.message : String(s.reason)}`);
  });
  return problems;
}

/** `name=version` of the staged packages of this run (the Packages written in $SYSROOT). */
export async function localPackages(path: string): Promise<Set<string>> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const out = new Set<string>();
  let name: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('Package: ')) name = line.slice(9).trim();
    else if (line.startsWith('Version: ') && name !== undefined) out.add(`${name}=${line.slice(9).trim()}`);
  }
  return out;
}

/** `name=version` (epoch dropped, as in .deb file names) of the .debs staged in a folder. */
export async function stagedDebs(dir: string): Promise<Set<string>> {
  const files = await readdir(dir).catch(() => [] as string[]);
  return new Set(files.filter((f) => f.endsWith('.deb')).map((f) => f.split('_')).filter((p) => p.length === 3).map(([n, v]) => `${n}=${safeDecode(v!)}`));
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
