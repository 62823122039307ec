// Publish .debs into a signed apt repository (`kiln repo publish`, and after each Debian
// build run): copy them into the pool, then make a complete new `dists` tree and swap it
// in at once.
//
//   REPO/pool/…                  files, added only (an older version's file stays)
//   REPO/dists -> dists.<id>     a symlink: the live tree
//   REPO/dists.<id>/SUITE/…      Release, InRelease, Release.gpg, COMPONENT/binary-ARCH/…
//   REPO/.kiln/publish.lock      one publisher at a time
//
// Order, so that apt never sees a half-written repository and a crash at any point leaves
// the old one intact: (1) read the .debs and the live tree's indexes, decide (pure, in
// apt-repo-index.ts); (2) pool files written under temp names, synced, renamed; (3) the new
// tree written in `.dists.<id>.tmp` (other suites copied over, every file synced), renamed
// to `dists.<id>`; (4) a new symlink renamed over `dists` — rename(2) is atomic, so a
// reader resolves either the whole old tree or the whole new one; (5) old trees removed.
// With Acquire-By-Hash, the previous tree's indexes are carried into the new one under
// by-hash/, so an apt that read the old InRelease just before the swap still finds them.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type * as openpgp from 'openpgp';
import { withLock } from '../cache/lock.ts';
import { KilnError } from '../errors.ts';
import { readDebControl } from '../debian/deb-file.ts';
import { checkRepoName, entryForDeb, mergeEntries, type IndexEntry, type MergeOutcome } from './apt-repo-index.ts';
import { signedBy } from './signing.ts';
import { poolFilesOfOtherSuites, readLiveSuite } from './apt-repo-live.ts';
import { syncDir, writeSuiteTree } from './apt-repo-tree.ts';

export interface PublishOptions {
  readonly repoDir: string;
  readonly suite: string;
  /** Default `main`. */
  readonly component?: string;
  /** Paths of .deb files. */
  readonly debs: readonly string[];
  /** kiln's signing key (`loadSigningKey(stateRoot)`). */
  readonly key: openpgp.PrivateKey;
  /** Architectures to index even without packages of their own (`all` packages appear in each). */
  readonly architectures?: readonly string[];
  /** Release Origin and Label (default `kiln`). */
  readonly origin?: string;
  readonly label?: string;
  /** Default true. */
  readonly acquireByHash?: boolean;
  /** A version already published with other content is replaced, not refused (kiln's rebuilds). */
  readonly replaceSameVersion?: boolean;
  /** Release Date and signature time (default now). */
  readonly now?: Date;
  readonly signal?: AbortSignal;
}

export interface PublishedPackage {
  readonly package: string;
  readonly version: string;
  readonly architecture: string;
  /** Pool path relative to the repository. */
  readonly filename: string;
  /** The .deb it came from. */
  readonly from: string;
  readonly outcome: MergeOutcome;
  /** The version listed before (replaced or newer). */
  readonly previous?: string;
}

export interface PublishResult {
  readonly repoDir: string;
  readonly suite: string;
  readonly component: string;
  readonly architectures: readonly string[];
  readonly packages: readonly PublishedPackage[];
  /** The live tree's directory name (`dists.<id>`). */
  readonly tree: string;
  /** How many packages the suite's component lists now. */
  readonly indexed: number;
  /**
   * .debs left out (with replaceSameVersion): their pool file is listed by another suite
   * with other bytes, and replacing it would break that suite (one pool serves them all).
   */
  readonly refused: readonly { readonly from: string; readonly filename: string; readonly suite: string }[];
}

interface ReadDeb {
  readonly path: string;
  readonly entry: IndexEntry;
}


export async function publishRepo(options: PublishOptions): Promise<PublishResult> {
  const component = options.component ?? 'main';
  checkRepoName('suite', options.suite);
  checkRepoName('component', component);
  if (options.debs.length === 0) throw new KilnError('usage', 'no .deb files to publish', { hint: 'name .deb files or directories holding them' });
  const repoDir = options.repoDir;
  await mkdir(repoDir, { recursive: true });
  return withLock(join(repoDir, '.kiln'), 'publish', () => publishLocked(repoDir, component, options), {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
}

async function publishLocked(repoDir: string, component: string, options: PublishOptions): Promise<PublishResult> {
  const { suite, signal } = options;
  const now = options.now ?? new Date();
  const acquireByHash = options.acquireByHash ?? true;

  // 1. Read and decide.
  const debs: ReadDeb[] = [];
  for (const path of options.debs) {
    signal?.throwIfAborted();
    const control = await readDebControl(path, signal === undefined ? {} : { signal });
    const facts = await hashFile(path, signal);
    debs.push({ path, entry: entryForDeb(control, facts, component) });
  }
  const live = await readLiveSuite(repoDir, suite);
  // One pool serves every suite: a rebuild of a version another suite lists with other
  // bytes would break that suite's index (apt: hash sum mismatch). Left out, and said.
  const refused: { from: string; filename: string; suite: string }[] = [];
  if (options.replaceSameVersion === true && live.tree !== undefined) {
    const elsewhere = await poolFilesOfOtherSuites(repoDir, live.tree, suite);
    for (let i = debs.length - 1; i >= 0; i--) {
      const other = elsewhere.get(debs[i]!.entry.filename);
      if (other !== undefined && other.sha256 !== debs[i]!.entry.sha256) {
        refused.unshift({ from: debs[i]!.path, filename: debs[i]!.entry.filename, suite: other.suite });
        debs.splice(i, 1);
      }
    }
  }
  const merged = mergeEntries(live.entries.get(component) ?? [], debs.map((d) => d.entry), { replaceSameVersion: options.replaceSameVersion === true });
  const packages: PublishedPackage[] = merged.outcomes.map((o, i) => ({
    package: o.entry.package,
    version: o.entry.version,
    architecture: o.entry.architecture,
    filename: o.entry.filename,
    from: debs[i]!.path,
    outcome: o.outcome,
    ...(o.previous === undefined ? {} : { previous: o.previous }),
  }));

  // 2. Pool: check every target first (nothing is written if one conflicts), then copy.
  const toCopy: ReadDeb[] = [];
  for (const [i, o] of merged.outcomes.entries()) {
    if (o.outcome === 'older') continue;
    const d = debs[i]!;
    const target = join(repoDir, d.entry.filename);
    const existing = await stat(target).catch(() => undefined);
    if (existing === undefined) {
      if (!toCopy.some((c) => c.entry.filename === d.entry.filename)) toCopy.push(d);
      continue;
    }
    const have = (await hashFile(target, signal)).sha256;
    if (have !== d.entry.sha256 && options.replaceSameVersion === true) {
      // Replaced by rename: a client mid-download keeps the old file's inode.
      if (!toCopy.some((c) => c.entry.filename === d.entry.filename)) toCopy.push(d);
      continue;
    }
    if (have !== d.entry.sha256) {
      throw new KilnError('conflict', `${target} already exists with other content (sha256 ${have.slice(0, 12)}…) than ${d.path} (${d.entry.sha256.slice(0, 12)}…)`, {
        hint: 'a published file must not change: give the rebuild a new version, or publish into a fresh repository',
      });
    }
  }
  for (const d of toCopy) {
    signal?.throwIfAborted();
    await copyIntoPool(d.path, join(repoDir, d.entry.filename));
  }

  // Nothing new and nothing else to say: the live tree stays as it is, not signed again
  // (apt then has nothing to fetch, and the Release keeps its Date).
  const origin = options.origin ?? 'kiln';
  const label = options.label ?? 'kiln';
  const same = live.tree !== undefined && live.release !== undefined && merged.outcomes.every((o) => o.outcome === 'unchanged' || o.outcome === 'older')
    && (options.architectures ?? []).every((a) => a === 'all' || live.release!.architectures.includes(a))
    && live.release.components.includes(component) && live.release.acquireByHash === acquireByHash
    && (await releaseSays(join(live.tree, suite, 'Release'), { Origin: origin, Label: label }))
    // A new key (kiln key create --force) signs the repository again, changes or not.
    && (await signedBy(await readFile(join(live.tree, suite, 'InRelease'), 'utf8').catch(() => ''), options.key));
  if (same) {
    const arches = live.release?.architectures ?? [];
    return { repoDir, suite, component, architectures: arches, packages, tree: basename(live.tree!), indexed: merged.entries.length, refused };
  }

  // 3.-5. The new tree, swapped in.
  const components = [...new Set([...(live.release?.components ?? []), component])].sort();
  const { tree: treeName, architectures } = await writeSuiteTree({
    repoDir, suite, live, components,
    entriesOf: (c) => (c === component ? merged.entries : (live.entries.get(c) ?? [])),
    architectures: options.architectures ?? [],
    key: options.key, origin, label, acquireByHash, now,
    ...(signal === undefined ? {} : { signal }),
  });
  return { repoDir, suite, component, architectures, packages, tree: treeName, indexed: merged.entries.length, refused };
}

/** Whether a Release file has these exact field values. */
async function releaseSays(path: string, fields: Readonly<Record<string, string>>): Promise<boolean> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return Object.entries(fields).every(([name, value]) => text.split('\n').includes(`${name}: ${value}`));
}

async function hashFile(path: string, signal: AbortSignal | undefined): Promise<{ size: number; sha256: string; md5: string }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let size = 0;
  try {
    for await (const chunk of createReadStream(path, signal === undefined ? {} : { signal })) {
      const b = chunk as Buffer;
      sha.update(b);
      md5.update(b);
      size += b.length;
    }
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw new KilnError('cancelled', `publishing was cancelled while reading ${path}`, { cause: e });
    throw new KilnError('deb-invalid', `cannot read ${path}: ${(e as Error).message}`, { hint: 'check that the file is there and readable, and that nothing changes it while it is published', cause: e });
  }
  return { size, sha256: sha.digest('hex'), md5: md5.digest('hex') };
}

async function copyIntoPool(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  const tmp = join(dirname(to), `.${basename(to)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await copyFile(from, tmp);
    const fh = await open(tmp, 'r+');
    try {
      await fh.chmod(0o644);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, to);
    await syncDir(dirname(to));
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
