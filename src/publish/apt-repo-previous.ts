// What a suite listed before its last change (`kiln repo rollback` puts it back): one record
// per suite, REPO/.kiln/previous/SUITE.json, made by every change to the suite (a publish, a
// remove, a rollback: writeSuiteTree in apt-repo-tree.ts). It names the Release it is the
// predecessor of (`after`, the new Release's sha256): a record made before an older kiln
// changed the suite does not match the live Release and is not used. One generation only:
// the next change replaces it.
//
// The record is written before the swap as `.SUITE.next.json` (synced) and renamed to
// SUITE.json right after it, so a change killed before its swap leaves the record of the
// change before it (the undo of the live state) in place. Killed between the swap and the
// rename, the next locked operation of the repository (settlePending) finds the pending
// record naming the live Release and renames it; one naming a Release that never went
// live is deleted. Until then the old record does not match the live Release, and a
// rollback refuses, saying so.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { parseControlParagraphs } from '../debian/deb-file.ts';
import { entryFromParagraph, renderPackages, type IndexEntry } from './apt-repo-index.ts';
import { listedPoolFiles, type LiveSuite } from './apt-repo-live.ts';
import { sourceEntryFromParagraph } from './apt-repo-sources.ts';
import { releaseField, syncDir } from './apt-repo-tree.ts';

/** A suite's state as a rollback writes it back: what each component lists, and its Release fields. */
export interface SuiteState {
  readonly origin: string;
  readonly label: string;
  /** Real architectures (without `all`). */
  readonly architectures: readonly string[];
  readonly components: readonly string[];
  readonly acquireByHash: boolean;
  /** .debs and .udebs of each component. */
  readonly entries: ReadonlyMap<string, readonly IndexEntry[]>;
  /** Sources of each component. */
  readonly sources: ReadonlyMap<string, readonly IndexEntry[]>;
}

export interface PreviousRecord {
  readonly suite: string;
  /** sha256 of the Release (text) that replaced this state: the live one, while the record holds. */
  readonly after: string;
  readonly state: SuiteState;
}

/** On-disk shape (format 1): the indexes as Packages/Sources text, as the tree has them. */
interface RecordFile {
  readonly format: 1;
  readonly suite: string;
  readonly after: string;
  readonly origin: string;
  readonly label: string;
  readonly architectures: readonly string[];
  readonly components: readonly string[];
  readonly acquireByHash: boolean;
  readonly packages: Readonly<Record<string, string>>;
  readonly sources: Readonly<Record<string, string>>;
}

export function previousDir(repoDir: string): string {
  return join(repoDir, '.kiln', 'previous');
}

function recordPath(repoDir: string, suite: string): string {
  return join(previousDir(repoDir), `${suite}.json`);
}

export function releaseSha(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function pendingPath(repoDir: string, suite: string): string {
  return join(previousDir(repoDir), `.${suite}.next.json`);
}

/**
 * Before a change to `suite` goes live: writes what the live tree lists for it (the state
 * a rollback goes back to), for the Release text `newRelease` that replaces it, as the
 * pending record; commitPrevious makes it the record once the change is live. A suite
 * the live tree does not have yet gets no record (nothing to go back to).
 */
export async function recordPrevious(repoDir: string, suite: string, live: LiveSuite, newRelease: string): Promise<void> {
  const dir = previousDir(repoDir);
  await rm(pendingPath(repoDir, suite), { force: true });
  if (live.tree === undefined || live.release === undefined) return;
  const releasePath = join(live.tree, suite, 'Release');
  const file: RecordFile = {
    format: 1,
    suite,
    after: releaseSha(newRelease),
    origin: (await releaseField(releasePath, 'Origin')) ?? 'kiln',
    label: (await releaseField(releasePath, 'Label')) ?? 'kiln',
    architectures: live.release.architectures.filter((a) => a !== 'all'),
    components: live.release.components,
    acquireByHash: live.release.acquireByHash,
    packages: Object.fromEntries([...live.entries].map(([c, list]) => [c, renderPackages(list)])),
    sources: Object.fromEntries([...live.sources].map(([c, list]) => [c, renderPackages(list)])),
  };
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${suite}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(`${JSON.stringify(file, null, 1)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, pendingPath(repoDir, suite));
    await syncDir(dir);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Right after the swap: the pending record (recordPrevious) becomes the suite's record;
 * without one (a suite that is new in the live tree) an old record of the suite goes.
 */
export async function commitPrevious(repoDir: string, suite: string): Promise<void> {
  const dir = previousDir(repoDir);
  try {
    await rename(pendingPath(repoDir, suite), recordPath(repoDir, suite));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await rm(recordPath(repoDir, suite), { force: true });
  }
  await syncDir(dir).catch(() => undefined);
}

/**
 * At the start of a locked operation: what a killed one left of the records. A pending
 * record that names the live Release of its suite (killed between the swap and
 * commitPrevious) becomes the record; any other pending or half-written one goes.
 */
export async function settlePending(repoDir: string): Promise<void> {
  const dir = previousDir(repoDir);
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const n of names) {
    if (n.endsWith('.tmp') && n.startsWith('.')) {
      await rm(join(dir, n), { force: true });
      continue;
    }
    const m = /^\.(.+)\.next\.json$/.exec(n);
    if (m === null) continue;
    const suite = m[1]!;
    const after = await readFile(join(dir, n), 'utf8').then((t) => (JSON.parse(t) as { after?: unknown }).after).catch(() => undefined);
    const live = await readFile(join(repoDir, 'dists', suite, 'Release'), 'utf8').catch(() => undefined);
    if (typeof after === 'string' && live !== undefined && releaseSha(live) === after) await rename(join(dir, n), recordPath(repoDir, suite));
    else await rm(join(dir, n), { force: true });
  }
  if (names.length > 0) await syncDir(dir).catch(() => undefined);
}

/** The record of `suite`, or undefined when there is none. A damaged one is an error naming the file. */
export async function readPrevious(repoDir: string, suite: string): Promise<PreviousRecord | undefined> {
  const path = recordPath(repoDir, suite);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const damaged = (why: string): KilnError => new KilnError('index-invalid', `${path}: ${why}`, {
    hint: 'the record of the suite\'s previous state was edited or damaged; delete it (the suite then has no previous state to roll back to) and publish again',
  });
  let f: RecordFile;
  try {
    f = JSON.parse(text) as RecordFile;
  } catch {
    throw damaged('not JSON');
  }
  if (f === null || typeof f !== 'object' || f.format !== 1 || typeof f.after !== 'string' || !Array.isArray(f.components) || !Array.isArray(f.architectures)
    || typeof f.packages !== 'object' || typeof f.sources !== 'object' || typeof f.origin !== 'string' || typeof f.label !== 'string') {
    throw damaged('not a record kiln wrote (format 1)');
  }
  const entries = new Map<string, IndexEntry[]>();
  const sources = new Map<string, IndexEntry[]>();
  for (const [c, t] of Object.entries(f.packages)) entries.set(c, parseControlParagraphs(t, `${path} (${c} packages)`).map((p) => entryFromParagraph(p, path)));
  for (const [c, t] of Object.entries(f.sources)) sources.set(c, parseControlParagraphs(t, `${path} (${c} sources)`).map((p) => sourceEntryFromParagraph(p, path)));
  return {
    suite,
    after: f.after,
    state: { origin: f.origin, label: f.label, architectures: f.architectures, components: f.components, acquireByHash: f.acquireByHash === true, entries, sources },
  };
}

/** Every pool file (with its sha256) that some suite's previous state lists: kept one generation. */
export async function poolFilesOfPrevious(repoDir: string): Promise<{ filename: string; sha256: string }[]> {
  const names = await readdir(previousDir(repoDir)).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    throw e;
  });
  const out: { filename: string; sha256: string }[] = [];
  for (const n of names) {
    if (n.startsWith('.') || !n.endsWith('.json')) continue;
    const r = await readPrevious(repoDir, n.slice(0, -'.json'.length));
    if (r !== undefined) out.push(...listedPoolFiles({ tree: undefined, release: undefined, entries: r.state.entries, sources: r.state.sources }));
  }
  return out;
}
