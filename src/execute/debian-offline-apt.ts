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
 * Writes `<archiveHost>/Packages`: the given stanzas (the stanzas of a closure of one
 * universe, or of two for a cross build). A rebuild of an archive package stages a .deb
 * with the archive's own name, version and arch but other bytes: apt refuses two files for
 * one version ("Hash Sum mismatch"), so the archive's stanza of each staged
 * name=version:arch is left out and the fresh .deb is the only candidate.
 */
export async function writeCutArchive(archiveHost: string, stanzas: readonly string[], staged: ReadonlySet<string>): Promise<void> {
  await mkdir(archiveHost, { recursive: true });
  const kept = stanzas.filter((st) => !staged.has(stagedKey(rawField(st, 'Package') ?? '', rawField(st, 'Version') ?? '', rawField(st, 'Architecture') ?? '')));
  await writeFile(join(archiveHost, 'Packages'), `${kept.join('\n\n')}\n`);
}

/** The stanzas of `names` in one universe. */
export function stanzasOfNames(names: Iterable<string>, universe: BinaryUniverse): string[] {
  return [...names].flatMap((n) => universe.raw(n));
}

/** How staged packages are told apart: `name=version:arch`, the epoch dropped (as in .deb file names). */
export function stagedKey(name: string, version: string, arch: string): string {
  return `${name}=${version.replace(/^\d+:/, '')}:${arch}`;
}

/** The shell line (as root in a root) that has invoke-rc.d start no service, as sbuild's chroots and piuparts do. */
export const NO_SERVICE_STARTS = "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d";

/** The shell line that pins this run's own .debs at `priority` (a number, or a shell word giving one). */
function runPinLine(priority: string): string {
  return `printf 'Package: *\\nPin: release o=kiln-run\\nPin-Priority: %s\\n' ${priority} > /etc/apt/preferences.d/kiln-run`;
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
    `  ${runPinLine('1001')}`,
    '  echo "kiln: this run\'s own packages:"; sed -n "s/^Package: //p;s/^Version: /  /p" Packages | paste - - >&2',
    'fi',
    'apt-get update -qq -o Acquire::Languages=none >&2',
  ];
}

/**
 * Shell lines defining `kiln_run_repo on|off`: apt preferring this run's own .debs (as
 * offlineSourcesScript leaves it, pinned at 1001), or preferring the suite (the run's
 * pinned at 100, below the suite's 500: taken only for what the suite lacks, such as the
 * arch-all packages of a binNMU, which keep the suite's version and so replace its stanza
 * in the cut), for the upgrade test's first half (the suite's versions). apt reads the
 * pin as it runs: no update.
 */
export function runRepoSwitchScript(): string[] {
  return [
    'kiln_run_repo() {',
    '  if [ -e /etc/apt/sources.list.d/kiln-run.list ]; then',
    `    ${runPinLine('"$(if [ "$1" = off ]; then echo 100; else echo 1001; fi)"')}`,
    '  fi',
    '}',
  ];
}

/**
 * Fetches the .debs apt's simulation asked for (`wanted`) into the cut archive's pool,
 * except this run's own (`local`, name=version). Returns the problems (empty: all there).
 */
export async function fetchWanted(o: {
  wanted: readonly { name: string; version: string; arch: string }[];
  /** This run's staged packages, by stagedKey. */
  local: ReadonlySet<string>;
  /** Where a wanted package's stanza is looked up (a cross build's: the host arch's and the build arch's). */
  universes: readonly BinaryUniverse[];
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
    if (o.local.has(stagedKey(w.name, w.version, w.arch))) {
      // Staged from this run's outputs: built by it, or found up to date in the cache.
      o.note(`install ${w.name} ${w.version} [${w.arch}] (from this run's packages)`);
      continue;
    }
    const pkg = o.universes.map((u) => u.versions(w.name).find((p) => p.version === w.version && (p.architecture === w.arch || p.architecture === 'all'))).find((p) => p !== undefined);
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

/** stagedKey of the staged packages of this run (the Packages written in $SYSROOT). */
export async function localPackages(path: string): Promise<Set<string>> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const out = new Set<string>();
  for (const stanza of text.split(/\n\s*\n/)) {
    const name = rawField(stanza, 'Package');
    const version = rawField(stanza, 'Version');
    if (name !== undefined && version !== undefined) out.add(stagedKey(name, version, rawField(stanza, 'Architecture') ?? ''));
  }
  return out;
}

/** stagedKey of the .debs staged in a folder (`name_version_arch.deb`, the epoch already dropped). */
export async function stagedDebs(dir: string): Promise<Set<string>> {
  const files = await readdir(dir).catch(() => [] as string[]);
  return new Set(files.filter((f) => f.endsWith('.deb')).map((f) => f.slice(0, -4).split('_')).filter((p) => p.length === 3).map(([n, v, a]) => stagedKey(n!, safeDecode(v!), a!)));
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
