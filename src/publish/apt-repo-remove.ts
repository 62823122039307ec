// kiln repo list / kiln repo remove: what a suite of kiln's apt repository lists (binary
// packages, and source packages as architecture `source`), and taking packages out of it
// (reprepro's list and remove). A removal writes a new tree and
// swaps it in as a publish does (apt-repo.ts), under the same lock; then the pool files
// that neither the live tree nor a suite's previous state lists go (apt-repo-pool.ts: kept
// one generation, for `kiln repo rollback`; reprepro deletes unreferenced files at once).

import { join } from 'node:path';
import type * as openpgp from 'openpgp';
import { withLock } from '../cache/lock.ts';
import { KilnError } from '../errors.ts';
import { checkRepoName, type IndexEntry } from './apt-repo-index.ts';
import { readLiveSuite, type LiveSuite } from './apt-repo-live.ts';
import { clearLeftovers } from './apt-repo-leftovers.ts';
import { sweepPoolOrThrow } from './apt-repo-pool.ts';
import { releaseField, writeSuiteTree } from './apt-repo-tree.ts';

/** One listed package of a suite. */
export interface ListedPackage extends Pick<IndexEntry, 'package' | 'version' | 'architecture' | 'filename'> {
  readonly component: string;
}

/** What `suite` lists, by component, package and architecture; empty for a suite it does not have. */
export async function listRepo(repoDir: string, suite: string): Promise<ListedPackage[]> {
  checkRepoName('suite', suite);
  const live = await readLiveSuite(repoDir, suite);
  return listedOf(live.entries, live.sources);
}

function listedOf(...maps: ReadonlyMap<string, readonly IndexEntry[]>[]): ListedPackage[] {
  const out: ListedPackage[] = [];
  const seen = new Set<string>();
  for (const [component, list] of maps.flatMap((m) => [...m])) {
    for (const e of list) {
      // An `all` package is listed under every binary-ARCH: once here.
      const id = `${component} ${e.filename}`;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push({ component, package: e.package, version: e.version, architecture: e.architecture, filename: e.filename });
    }
  }
  return out.sort((a, b) => a.package.localeCompare(b.package) || a.architecture.localeCompare(b.architecture) || a.component.localeCompare(b.component));
}

/**
 * `NAME`, `NAME=VERSION` or `NAME:ARCH` (both: `NAME:ARCH=VERSION`): which listed packages
 * a removal names (pure). A source is listed with ARCH `source`: `NAME:source` names it
 * alone, a bare `NAME` every architecture of NAME and the source named NAME.
 */
export function matchesSpec(spec: string, p: Pick<IndexEntry, 'package' | 'version' | 'architecture'>): boolean {
  const eq = spec.indexOf('=');
  const version = eq === -1 ? undefined : spec.slice(eq + 1);
  const nameArch = eq === -1 ? spec : spec.slice(0, eq);
  const colon = nameArch.indexOf(':');
  const name = colon === -1 ? nameArch : nameArch.slice(0, colon);
  const arch = colon === -1 ? undefined : nameArch.slice(colon + 1);
  return p.package === name && (version === undefined || p.version === version) && (arch === undefined || p.architecture === arch);
}

export interface RemoveOptions {
  readonly repoDir: string;
  readonly suite: string;
  /** Package names, each `NAME`, `NAME=VERSION` or `NAME:ARCH` (`NAME:source`: the source package). */
  readonly specs: readonly string[];
  readonly key: openpgp.PrivateKey;
  readonly origin?: string;
  readonly label?: string;
  readonly now?: Date;
  readonly signal?: AbortSignal;
}

export interface RemoveResult {
  readonly removed: readonly ListedPackage[];
  /** How many packages the suite lists now. */
  readonly indexed: number;
  /** Pool files deleted because neither a suite nor a suite's previous state lists them (relative to the repository). */
  readonly poolDeleted: readonly string[];
}

/**
 * Takes the named packages out of `suite` (every component), in a new signed tree swapped
 * in at once. A spec that names nothing listed is refused, and nothing changes.
 */
export async function removeFromRepo(o: RemoveOptions): Promise<RemoveResult> {
  checkRepoName('suite', o.suite);
  if (o.specs.length === 0) throw new KilnError('usage', 'no package to remove', { hint: 'name packages: NAME, NAME=VERSION or NAME:ARCH, NAME:source for a source package (`kiln repo list --suite SUITE` lists them)' });
  return withLock(join(o.repoDir, '.kiln'), 'publish', async () => {
    await clearLeftovers(o.repoDir);
    const live = await readLiveSuite(o.repoDir, o.suite);
    if (live.tree === undefined || live.release === undefined) {
      throw new KilnError('usage', `${o.repoDir} has no suite ${o.suite}`, { hint: 'name a suite it has (ls REPO/dists), or give --repo' });
    }
    const listed = listedOf(live.entries, live.sources);
    const unknown = o.specs.filter((s) => !listed.some((p) => matchesSpec(s, p)));
    if (unknown.length > 0) {
      const names = [...new Set(listed.map((p) => p.package))];
      throw new KilnError('usage', `suite ${o.suite} of ${o.repoDir} lists no ${unknown.map((s) => `"${s}"`).join(', ')}: nothing was removed`, {
        hint: `it lists ${names.length} package(s)${names.length === 0 ? '' : `, e.g. ${names.slice(0, 5).join(', ')}`}; \`kiln repo list --suite ${o.suite}\` shows them with their versions`,
      });
    }
    const gone = (e: Pick<IndexEntry, 'package' | 'version' | 'architecture'>): boolean => o.specs.some((s) => matchesSpec(s, e));
    const keep = (m: LiveSuite['entries']): Map<string, IndexEntry[]> => new Map([...m].map(([c, list]) => [c, list.filter((e) => !gone(e))]));
    const kept = keep(live.entries);
    const keptSources = keep(live.sources);
    await writeSuiteTree({
      repoDir: o.repoDir, suite: o.suite, live, components: live.release.components,
      entriesOf: (c) => kept.get(c) ?? [],
      sourcesOf: (c) => keptSources.get(c) ?? [],
      architectures: live.release.architectures.filter((a) => a !== 'all'),
      // The suite keeps its Origin and Label (apt refuses a Release whose Origin changed).
      key: o.key,
      origin: o.origin ?? (await releaseField(join(live.tree, o.suite, 'Release'), 'Origin')) ?? 'kiln',
      label: o.label ?? (await releaseField(join(live.tree, o.suite, 'Release'), 'Label')) ?? 'kiln',
      acquireByHash: live.release.acquireByHash, now: o.now ?? new Date(),
      ...(o.signal === undefined ? {} : { signal: o.signal }),
    });
    const poolDeleted = await sweepPoolOrThrow(o.repoDir, 'removal');
    return { removed: listed.filter(gone), indexed: listedOf(kept, keptSources).length, poolDeleted };
  }, o.signal === undefined ? {} : { signal: o.signal });
}
