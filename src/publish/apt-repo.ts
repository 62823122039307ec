// Publish .debs, .udebs and source packages (.dsc, apt-repo-sources.ts) into a signed apt
// repository (`kiln repo publish`, and after each Debian build run): copy them into the
// pool, then make a complete new `dists` tree and swap it in at once.
//
//   REPO/pool/…                  files: kept while the live tree or a suite's previous state
//                                lists them (one generation, for rollback: apt-repo-pool.ts);
//                                the bytes at a pool path never change (apt-repo-place.ts)
//   REPO/dists -> dists.<id>     a symlink: the live tree
//   REPO/dists.<id>/SUITE/…      Release, InRelease, Release.gpg, COMPONENT/binary-ARCH/…,
//                                COMPONENT/debian-installer/binary-ARCH/… (when it has .udebs),
//                                COMPONENT/source/Sources (when the suite has sources)
//   REPO/.kiln/publish.lock      one publisher at a time
//   REPO/.kiln/previous/SUITE.json  what SUITE listed before its last change (apt-repo-previous.ts)
//   REPO/.kiln/incoming/         pool files being copied (emptied by each locked operation: a
//                                killed one's half copies go there, not into the pool)
//
// Order, so that apt never sees a half-written repository and a crash at any point leaves
// the old one intact: (0) what killed operations left is cleared (apt-repo-leftovers.ts);
// (1) read the .debs and the live tree's indexes, place each in the pool (a path free or
// holding its bytes: apt-repo-place.ts), decide (pure, in apt-repo-index.ts); (2) pool
// files written in .kiln/incoming, synced, renamed to paths no file was at; (3) the new
// tree written in `.dists.<id>.tmp` (other suites copied over, every file synced), renamed
// to `dists.<id>`; (4) a new symlink renamed over `dists` — rename(2) is atomic, so a
// reader resolves either the whole old tree or the whole new one; (5) old trees removed;
// (6) pool files neither the live tree nor a previous state lists removed.
// With Acquire-By-Hash, the previous tree's indexes are carried into the new one under
// by-hash/, so an apt that read the old InRelease just before the swap still finds them.

import { existsSync } from 'node:fs';
import { readFile, rm, rmdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type * as openpgp from 'openpgp';
import { withLock } from '../cache/lock.ts';
import { KilnError } from '../errors.ts';
import { checkDebContents, readDebControl } from '../debian/deb-file.ts';
import { checkReleaseText, checkRepoName, entryForDeb, mergeEntries, packageKindOf, type IndexEntry, type MergeOutcome } from './apt-repo-index.ts';
import { signedBy } from './signing.ts';
import { readLiveSuite } from './apt-repo-live.ts';
import { clearLeftovers } from './apt-repo-leftovers.ts';
import { copyIntoPool, placeInPool, type ReadDeb } from './apt-repo-place.ts';
import { hashFile, readDscForRepo } from './apt-repo-sources.ts';
import { mkdirReadable, releaseField, writeSuiteTree } from './apt-repo-tree.ts';
import { sweepPool } from './apt-repo-pool.ts';

export interface PublishOptions {
  readonly repoDir: string;
  readonly suite: string;
  /** Default `main`. */
  readonly component?: string;
  /**
   * Paths of .deb and .udeb files. A .udeb (its name, or `Package-Type: udeb`) goes into
   * the pool as NAME_VERSION_ARCH.udeb and is listed in debian-installer/binary-ARCH only.
   */
  readonly debs: readonly string[];
  /** Paths of .dsc files (source packages), each with the files it lists beside it. */
  readonly dscs?: readonly string[];
  /** kiln's signing key (`loadSigningKey(stateRoot)`). */
  readonly key: openpgp.PrivateKey;
  /** Architectures to index even without packages of their own (`all` packages appear in each). */
  readonly architectures?: readonly string[];
  /** Release Origin and Label (default: the suite's own, else `kiln`). */
  readonly origin?: string;
  readonly label?: string;
  /** Default true. */
  readonly acquireByHash?: boolean;
  /**
   * A version already published with other content is replaced, not refused (kiln's
   * rebuilds): the rebuild goes to a pool path of its own (apt-repo-place.ts), the old
   * file stays as it is for whoever still lists it.
   */
  readonly replaceSameVersion?: boolean;
  /** Release Date and signature time (default now). */
  readonly now?: Date;
  readonly signal?: AbortSignal;
}

export interface PublishedPackage {
  readonly package: string;
  readonly version: string;
  /** `source` for a source package. */
  readonly architecture: string;
  /** Pool path relative to the repository (a source's: its .dsc); a same-version rebuild's is under a `+SHA` folder (apt-repo-place.ts). */
  readonly filename: string;
  /** The .deb (or .dsc) it came from. */
  readonly from: string;
  readonly outcome: MergeOutcome;
  /** The version listed before (replaced or newer). */
  readonly previous?: string;
  /** A source left out because its binaries were (older than those listed): not a version going backwards of its own. */
  readonly heldBack?: true;
}

export interface PublishResult {
  readonly repoDir: string;
  readonly suite: string;
  readonly component: string;
  readonly architectures: readonly string[];
  readonly packages: readonly PublishedPackage[];
  /** The live tree's directory name (`dists.<id>`). */
  readonly tree: string;
  /** How many packages (binary and source) the suite's component lists now. */
  readonly indexed: number;
  /**
   * Always empty: .debs left out because another suite listed their pool path with other
   * bytes. A same-version rebuild now goes to a path of its own and touches no other
   * suite's file (apt-repo-place.ts), so none is left out. Kept for callers that print it.
   */
  readonly refused: readonly { readonly from: string; readonly filename: string; readonly suite: string }[];
  /** Nothing changed: the live tree was left as it was, not signed again. */
  readonly unchanged?: boolean;
  /**
   * Pool files deleted after the swap: neither the live tree nor a suite's previous state
   * lists them any more (a version replaced two changes ago; apt-repo-pool.ts).
   */
  readonly poolDeleted?: readonly string[];
  /** Why no pool file was deleted after the swap, and what to do (a damaged previous-state record, a linked pool; apt-repo-pool.ts). */
  readonly poolNotSwept?: { readonly why: string; readonly hint: string };
}


export async function publishRepo(options: PublishOptions): Promise<PublishResult> {
  const component = options.component ?? 'main';
  checkRepoName('suite', options.suite);
  checkRepoName('component', component);
  if (options.origin !== undefined) checkReleaseText('origin', options.origin);
  if (options.label !== undefined) checkReleaseText('label', options.label);
  if (options.debs.length === 0 && (options.dscs ?? []).length === 0) {
    throw new KilnError('usage', 'no .deb, .udeb or .dsc files to publish', { hint: 'name .deb, .udeb or .dsc files, or directories holding them' });
  }
  const repoDir = options.repoDir;
  // What a refused first publish made (the folder, or kiln's .kiln in a folder that was
  // there) goes again: an error leaves the place as it found it.
  const made = !existsSync(repoDir) ? repoDir : !existsSync(join(repoDir, '.kiln')) ? join(repoDir, '.kiln') : undefined;
  await mkdirReadable(repoDir);
  try {
    return await withLock(join(repoDir, '.kiln'), 'publish', async () => {
      try {
        return await publishLocked(repoDir, component, options);
      } catch (e) {
        // Under the lock: a new repository no tree was swapped into holds nothing but what
        // this publish copied into its pool.
        if (made === repoDir && !existsSync(join(repoDir, 'dists'))) await rm(join(repoDir, 'pool'), { recursive: true, force: true });
        throw e;
      }
    }, {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  } catch (e) {
    // Emptied folders only (rmdir): another publisher's lock or copies keep theirs.
    for (const d of made === undefined ? [] : [join(repoDir, '.kiln', 'incoming'), join(repoDir, '.kiln'), ...(made === repoDir ? [repoDir] : [])]) await rmdir(d).catch(() => undefined);
    throw e;
  }
}

async function publishLocked(repoDir: string, component: string, options: PublishOptions): Promise<PublishResult> {
  const { suite, signal } = options;
  const now = options.now ?? new Date();
  const acquireByHash = options.acquireByHash ?? true;
  // 0. What a killed publish, remove or rollback left (it held the lock, so none runs now).
  await clearLeftovers(repoDir);
  const incoming = join(repoDir, '.kiln', 'incoming');
  const replace = options.replaceSameVersion === true;

  // 1. Read, place in the pool and decide (a .dsc whose files are missing or differ stops it
  // all here). A rebuild of a version with other bytes than its pool path holds (this
  // suite's or another's: one pool serves them all) goes to a path of its own.
  const claimed = new Map<string, string>();
  const debs: ReadDeb[] = [];
  for (const path of options.debs) {
    signal?.throwIfAborted();
    const control = await readDebControl(path, signal === undefined ? {} : { signal });
    const entry = entryForDeb(control, await hashFile(path, signal), component, packageKindOf(path, control.fields));
    debs.push(await placeInPool(repoDir, { path, entry, files: [{ from: path, filename: entry.filename, sha256: entry.sha256 }] }, replace, claimed, signal));
  }
  const dscs: ReadDeb[] = [];
  for (const path of options.dscs ?? []) {
    signal?.throwIfAborted();
    dscs.push(await placeInPool(repoDir, await readDscForRepo(path, component, signal), replace, claimed, signal));
  }
  const live = await readLiveSuite(repoDir, suite);
  const refused: { from: string; filename: string; suite: string }[] = [];
  const how = { replaceSameVersion: replace, suite };
  const merged = mergeEntries(live.entries.get(component) ?? [], debs.map((d) => d.entry), how);
  // A source whose binaries were left out (older than those listed) is left out too: it
  // would replace the source the listed binaries come from (apt-get source then finds none).
  const heldBack = sourcesOfOlder(merged.outcomes);
  const keptDscs = dscs.filter((d) => !heldBack.has(sourceKey(d.entry.package, d.entry.version)));
  const mergedKept = mergeEntries(live.sources.get(component) ?? [], keptDscs.map((d) => d.entry), how);
  let kept = 0;
  const mergedSources = {
    entries: mergedKept.entries,
    outcomes: dscs.map((d) => {
      const listed = heldBack.get(sourceKey(d.entry.package, d.entry.version));
      return listed === undefined ? mergedKept.outcomes[kept++]! : { entry: d.entry, outcome: 'older' as const, previous: listed, heldBack: true as const };
    }),
  };
  const read = [...debs, ...dscs];
  const outcomes = [...merged.outcomes, ...mergedSources.outcomes];
  const packages: PublishedPackage[] = outcomes.map((o, i) => ({
    package: o.entry.package,
    version: o.entry.version,
    architecture: o.entry.architecture,
    filename: o.entry.filename,
    from: read[i]!.path,
    outcome: o.outcome,
    ...(o.previous === undefined ? {} : { previous: o.previous }),
    ...('heldBack' in o ? { heldBack: true as const } : {}),
  }));

  // 2. Pool: check every target first (nothing is written if one conflicts), then copy to
  // the paths no file is at (placeInPool said what each holds; a path is never written over).
  const toCopy: { from: string; filename: string; sha256: string }[] = [];
  for (const [i, o] of outcomes.entries()) {
    // Older: not listed; unchanged: its file is where the index names it already (placeInPool
    // may have found a free canonical path for it, after a sweep: nothing goes there).
    if (o.outcome === 'older' || o.outcome === 'unchanged') continue;
    for (const f of read[i]!.files) {
      // Another file of this publish at the same path (placeInPool gives two contents two paths).
      const have = f.have ?? toCopy.find((c) => c.filename === f.filename)?.sha256;
      if (have === f.sha256) continue;
      if (have === undefined) {
        toCopy.push(f);
        continue;
      }
      throw new KilnError('conflict', `${join(repoDir, f.filename)} already exists with other content (sha256 ${have.slice(0, 12)}…) than ${f.from} (${f.sha256.slice(0, 12)}…)`, {
        hint: `a published file must not change: give the rebuild a new version, take the package out first with \`kiln repo remove --suite ${suite} NAME=VERSION\` (with the same --repo or --state), or publish into a fresh repository`,
      });
    }
  }
  // What goes into the pool now is read whole first (a truncated .deb still has readable
  // control fields); one already there with the same sha256 was read when it came.
  for (const f of toCopy) {
    if (!/\.u?deb$/.test(f.filename)) continue;
    signal?.throwIfAborted();
    await checkDebContents(f.from, signal === undefined ? {} : { signal });
  }
  for (const f of toCopy) {
    signal?.throwIfAborted();
    await copyIntoPool(repoDir, f.from, join(repoDir, f.filename), incoming);
  }
  const indexed = merged.entries.length + mergedSources.entries.length;

  // Nothing new and nothing else to say: the live tree stays as it is, not signed again
  // (apt then has nothing to fetch, and the Release keeps its Date).
  // Not given: the suite's own (apt refuses a repository whose Origin or Label changes), else kiln.
  const liveRelease = live.tree === undefined ? undefined : join(live.tree, suite, 'Release');
  const origin = options.origin ?? (liveRelease === undefined ? undefined : await releaseField(liveRelease, 'Origin')) ?? 'kiln';
  const label = options.label ?? (liveRelease === undefined ? undefined : await releaseField(liveRelease, 'Label')) ?? 'kiln';
  const same = live.tree !== undefined && live.release !== undefined && outcomes.every((o) => o.outcome === 'unchanged' || o.outcome === 'older')
    && (options.architectures ?? []).every((a) => a === 'all' || live.release!.architectures.includes(a))
    && live.release.components.includes(component) && live.release.acquireByHash === acquireByHash
    && (await releaseSays(join(live.tree, suite, 'Release'), { Origin: origin, Label: label }))
    // A new key (kiln key create --force) signs the repository again, changes or not.
    && (await signedBy(await readFile(join(live.tree, suite, 'InRelease'), 'utf8').catch(() => ''), options.key));
  if (same) {
    // As a new tree says them: without `all` (Release lists it for the binary-all indexes).
    const arches = (live.release?.architectures ?? []).filter((a) => a !== 'all');
    return { repoDir, suite, component, architectures: arches, packages, tree: basename(live.tree!), indexed, refused, unchanged: true };
  }

  // 3.-5. The new tree, swapped in.
  const components = [...new Set([...(live.release?.components ?? []), component])].sort();
  const { tree: treeName, architectures } = await writeSuiteTree({
    repoDir, suite, live, components,
    entriesOf: (c) => (c === component ? merged.entries : (live.entries.get(c) ?? [])),
    sourcesOf: (c) => (c === component ? mergedSources.entries : (live.sources.get(c) ?? [])),
    architectures: options.architectures ?? [],
    key: options.key, origin, label, acquireByHash, now,
    ...(signal === undefined ? {} : { signal }),
  });
  // 6. Pool files neither the new tree nor a previous state lists go (a linked pool is left as it is).
  // The new tree is live: a sweep that fails (a file it may not delete) is said, the
  // publish is not undone nor called failed.
  const swept = await sweepPool(repoDir).catch((e: unknown) => ({
    deleted: [] as string[],
    skipped: { kind: 'failed' as const, why: `the pool could not be swept (${e instanceof Error ? e.message : String(e)})`, hint: 'the next publish, remove or rollback sweeps it again' },
  }));
  // (A linked pool is not kiln's to sweep, and is said by `kiln repo remove`, not by each publish.)
  const notSwept = swept.skipped !== undefined && swept.skipped.kind !== 'linked-pool' ? { poolNotSwept: { why: swept.skipped.why, hint: swept.skipped.hint } } : {};
  return { repoDir, suite, component, architectures, packages, tree: treeName, indexed, refused, poolDeleted: [...swept.deleted], ...notSwept };
}

/** Whether a Release file has these exact field values. */
async function releaseSays(path: string, fields: Readonly<Record<string, string>>): Promise<boolean> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return Object.entries(fields).every(([name, value]) => text.split('\n').includes(`${name}: ${value}`));
}

const sourceKey = (name: string, version: string): string => `${name}\0${version}`;

/**
 * The sources (name and version) of binaries a merge left out as older, each with the
 * version listed instead: a binary's source is its Source field (`name` or `name (version)`),
 * else its own name and version.
 */
function sourcesOfOlder(outcomes: readonly { readonly entry: IndexEntry; readonly outcome: MergeOutcome; readonly previous?: string }[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const o of outcomes) {
    if (o.outcome !== 'older') continue;
    const field = o.entry.fields.find((f) => f.name === 'Source')?.value.trim();
    const m = field === undefined ? undefined : /^(\S+)(?:\s+\(([^)]+)\))?$/.exec(field);
    const name = m?.[1] ?? o.entry.package;
    const version = m?.[2] ?? o.entry.version;
    out.set(sourceKey(name, version), o.previous ?? version);
  }
  return out;
}
