// kiln repo rollback: a suite put back as it was before its last change (a publish, a
// build's publish, a remove, or a rollback: then it is a redo), as poudriere keeps the
// previous repository to go back to. The state comes from REPO/.kiln/previous/SUITE.json
// (apt-repo-previous.ts); its pool files are still there, with the bytes it lists, by the
// one-generation rule (apt-repo-pool.ts) and because no pool path is ever written over (a
// same-version rebuild has a path of its own: apt-repo-place.ts). Under the publish lock:
// (0) what killed operations left is cleared (apt-repo-leftovers.ts); (1) check that the
// record belongs to the live Release and that every pool file it lists is there (else
// refuse, nothing changed); (2) a new signed tree (a new Date: apt takes it as newer)
// swapped in as a publish does, recording the state it replaces (so a second rollback
// goes forward again); (3) the pool swept. Nothing in the pool is written.

import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type * as openpgp from 'openpgp';
import { withLock } from '../cache/lock.ts';
import { KilnError } from '../errors.ts';
import { checkRepoName, kindOfEntry, type IndexEntry } from './apt-repo-index.ts';
import { listedPoolFiles, poolFilesOfOtherSuites, readLiveSuite, type LiveSuite } from './apt-repo-live.ts';
import { clearLeftovers } from './apt-repo-leftovers.ts';
import { sweepPoolOrThrow } from './apt-repo-pool.ts';
import { readPrevious, releaseSha } from './apt-repo-previous.ts';
import { hashFile } from './apt-repo-sources.ts';
import { writeSuiteTree } from './apt-repo-tree.ts';

export interface RollbackOptions {
  readonly repoDir: string;
  readonly suite: string;
  readonly key: openpgp.PrivateKey;
  /** Release Date and signature time (default now). */
  readonly now?: Date;
  readonly signal?: AbortSignal;
}

/** One package whose listing a rollback changes. */
export interface RollbackChange {
  readonly component: string;
  readonly package: string;
  /** The version listed after the rollback (`removed`: the one taken out). */
  readonly version: string;
  /** `source` for a source package. */
  readonly architecture: string;
  readonly filename: string;
  /** `restored`: listed again (replacing `previous`, or not listed before); `removed`: not listed any more. */
  readonly outcome: 'restored' | 'removed';
  /** The version listed until now (`restored` over another version, or another build of it). */
  readonly previous?: string;
}

export interface RollbackResult {
  readonly repoDir: string;
  readonly suite: string;
  readonly changes: readonly RollbackChange[];
  /** The live tree's directory name (`dists.<id>`). */
  readonly tree: string;
  /** How many packages (binary and source) the suite lists now. */
  readonly indexed: number;
  readonly poolDeleted: readonly string[];
}

type Lists = ReadonlyMap<string, readonly IndexEntry[]>;

/** What going from `now` to `back` changes, per component, package, architecture and kind (pure). */
export function rollbackChanges(now: { entries: Lists; sources: Lists }, back: { entries: Lists; sources: Lists }): RollbackChange[] {
  const keyed = (lists: { entries: Lists; sources: Lists }): Map<string, { component: string; e: IndexEntry }> => {
    const out = new Map<string, { component: string; e: IndexEntry }>();
    for (const [component, list] of [...lists.entries, ...lists.sources]) {
      for (const e of list) out.set(`${component}\0${e.package}\0${e.architecture}\0${kindOfEntry(e)}`, { component, e });
    }
    return out;
  };
  const a = keyed(now);
  const b = keyed(back);
  const out: RollbackChange[] = [];
  const row = (component: string, e: IndexEntry, outcome: RollbackChange['outcome'], previous?: string): RollbackChange => ({
    component, package: e.package, version: e.version, architecture: e.architecture, filename: e.filename, outcome, ...(previous === undefined ? {} : { previous }),
  });
  for (const [k, { component, e }] of b) {
    const had = a.get(k);
    if (had === undefined) out.push(row(component, e, 'restored'));
    else if (had.e.sha256 !== e.sha256 || had.e.version !== e.version) out.push(row(component, e, 'restored', had.e.version));
  }
  for (const [k, { component, e }] of a) if (!b.has(k)) out.push(row(component, e, 'removed'));
  return out.sort((x, y) => x.package.localeCompare(y.package) || x.architecture.localeCompare(y.architecture) || x.component.localeCompare(y.component));
}

/** Puts `suite` back as it was before its last change, in a new signed tree swapped in at once. */
export async function rollbackRepo(o: RollbackOptions): Promise<RollbackResult> {
  checkRepoName('suite', o.suite);
  const { repoDir, suite, signal } = o;
  if (!existsSync(join(repoDir, 'dists'))) {
    throw new KilnError('usage', `cannot roll back suite ${suite}: ${repoDir} has no apt repository (no dists/)`, { hint: 'give --repo the directory of one, or --state the state directory' });
  }
  return withLock(join(repoDir, '.kiln'), 'publish', async () => {
    await clearLeftovers(repoDir);
    const live = await readLiveSuite(repoDir, suite);
    if (live.tree === undefined || live.release === undefined) {
      throw new KilnError('usage', `cannot roll back suite ${suite}: ${repoDir} has no suite ${suite}`, { hint: 'name a suite it has (`kiln repo list` shows them)' });
    }
    const record = await readPrevious(repoDir, suite);
    if (record === undefined) {
      throw new KilnError('usage', `cannot roll back suite ${suite} of ${repoDir}: there is no previous state to go back to (its first publish, or every change so far was made by a kiln without rollback)`, {
        hint: `nothing was changed; take a bad package out with \`kiln repo remove --suite ${suite} NAME\`, or publish the good version again`,
      });
    }
    const liveRelease = await readFile(join(live.tree, suite, 'Release'), 'utf8');
    if (releaseSha(liveRelease) !== record.after) {
      throw new KilnError('usage', `cannot roll back suite ${suite} of ${repoDir}: the recorded previous state (.kiln/previous/${suite}.json) is not that of the live Release (another tool changed the suite, or an older kiln's change was interrupted before its swap)`, {
        hint: `nothing was changed; the next publish or remove of ${suite} records a new previous state`,
      });
    }
    const back = record.state;
    await checkPoolFiles(repoDir, suite, live, back, signal);

    // 2. The tree, as the record says (the live state recorded in turn: a second rollback redoes).
    const { tree } = await writeSuiteTree({
      repoDir, suite, live, components: back.components,
      entriesOf: (c) => back.entries.get(c) ?? [],
      sourcesOf: (c) => back.sources.get(c) ?? [],
      architectures: back.architectures, exactArchitectures: true,
      key: o.key, origin: back.origin, label: back.label, acquireByHash: back.acquireByHash, now: o.now ?? new Date(),
      ...(signal === undefined ? {} : { signal }),
    });
    const poolDeleted = await sweepPoolOrThrow(repoDir, 'rollback');
    const indexed = [...back.entries.values(), ...back.sources.values()].reduce((n, l) => n + l.length, 0);
    return { repoDir, suite, changes: rollbackChanges(live, back), tree, indexed, poolDeleted };
  }, signal === undefined ? {} : { signal });
}

/**
 * Every pool file the previous state lists is there with its bytes; one missing or with
 * other bytes, or listed by another suite with other bytes, is refused before anything changes.
 */
async function checkPoolFiles(repoDir: string, suite: string, live: LiveSuite, back: { entries: Lists; sources: Lists }, signal: AbortSignal | undefined): Promise<void> {
  const liveSha = new Map(listedPoolFiles(live).map((f) => [f.filename, f.sha256]));
  const others = await poolFilesOfOtherSuites(repoDir, live.tree!, suite);
  const missing: string[] = [];
  const clashes: string[] = [];
  const seen = new Set<string>();
  for (const f of listedPoolFiles({ tree: undefined, release: undefined, ...back })) {
    if (seen.has(f.filename)) continue;
    seen.add(f.filename);
    const other = others.get(f.filename);
    if (other !== undefined && other.sha256 !== f.sha256) {
      clashes.push(`${f.filename} (suite ${other.suite})`);
      continue;
    }
    // A file a live index lists with these bytes is not hashed again: kiln never writes
    // over a pool path (apt-repo-place.ts), so the file there is the one that index was
    // made with; only a hand in the pool could change it, and hashing the whole suite's
    // pool on each rollback to catch that is not worth it. Any other file is hashed.
    if ((liveSha.get(f.filename) ?? other?.sha256) === f.sha256) continue;
    const path = join(repoDir, f.filename);
    if ((await stat(path).catch(() => undefined))?.isFile() !== true) missing.push(f.filename);
    else if ((await hashFile(path, signal)).sha256 !== f.sha256) missing.push(`${f.filename} (other content)`);
  }
  if (clashes.length > 0) {
    throw new KilnError('conflict', `cannot roll back: the previous state lists pool files that another suite now lists with other content: ${clashes.join(', ')}`, {
      hint: 'nothing was changed; one pool serves every suite, so putting them back would break that suite: remove them from it first, or publish the good versions again',
    });
  }
  if (missing.length > 0) {
    throw new KilnError('usage', `cannot roll back: ${missing.length} pool file(s) the previous state lists are missing from ${repoDir}: ${missing.join(', ')}`, {
      hint: 'nothing was changed; they were deleted or changed by hand, or by an older kiln (which kept no previous generation, or rebuilt a version in place): copy them back into the pool, or publish the good versions again',
    });
  }
}
