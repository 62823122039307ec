// Steps 3 to 5 of a publish (apt-repo.ts describes them all): a complete new `dists` tree
// for one suite, written beside the live one with every file synced, signed, and swapped
// in with one rename of the `dists` symlink; then the old trees go. Shared by publishing
// (apt-repo.ts), removing (apt-repo-remove.ts) and rolling back (apt-repo-rollback.ts),
// under the publish lock; each records the suite's state before it (apt-repo-previous.ts).

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, copyFile, cp, link, lstat, mkdir, open, readdir, readFile, rename, rm, stat, symlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import type * as openpgp from 'openpgp';
import { KilnError } from '../errors.ts';
import type { Release } from '../debian/inrelease.ts';
import { debianArchOf, entriesForArch, kindOfEntry, renderPackages, renderRelease, repoArchitectures, type IndexEntry, type ReleaseIndexFile } from './apt-repo-index.ts';
import type { LiveSuite } from './apt-repo-live.ts';
import { removeOtherTrees } from './apt-repo-leftovers.ts';
import { commitPrevious, recordPrevious } from './apt-repo-previous.ts';
import { signRelease } from './signing.ts';

export interface SuiteTreeOptions {
  readonly repoDir: string;
  readonly suite: string;
  /** The live tree as read under the publish lock: its other suites are carried over. */
  readonly live: LiveSuite;
  readonly components: readonly string[];
  /** What each component of the suite lists now (.debs and .udebs). */
  readonly entriesOf: (component: string) => readonly IndexEntry[];
  /** The sources each component lists now (COMPONENT/source/Sources). */
  readonly sourcesOf: (component: string) => readonly IndexEntry[];
  /** Architectures to index even without packages of their own. */
  readonly architectures: readonly string[];
  /** Index exactly `architectures` (and those of the packages), not also the live suite's (a rollback). */
  readonly exactArchitectures?: boolean;
  readonly key: openpgp.PrivateKey;
  readonly origin: string;
  readonly label: string;
  readonly acquireByHash: boolean;
  readonly now: Date;
  readonly signal?: AbortSignal;
}

/**
 * Steps 3 to 5 (see the top): a complete new `dists` tree with the suite's indexes as
 * `entriesOf` says and every other suite as it was, signed, swapped in at once; then the
 * old trees go. Call under the publish lock.
 */
export async function writeSuiteTree(o: SuiteTreeOptions): Promise<{ tree: string; architectures: string[] }> {
  const { repoDir, suite, live, components, entriesOf, sourcesOf, signal, now, acquireByHash } = o;
  const architectures = repoArchitectures(
    [o.architectures, o.exactArchitectures === true ? [] : live.release?.architectures ?? [], ...components.map((c) => entriesOf(c).map((e) => e.architecture))],
    debianArchOf(process.arch),
  );
  const id = `${now.getTime().toString(36)}-${randomBytes(4).toString('hex')}`;
  const treeName = `dists.${id}`;
  const tmpTree = join(repoDir, `.dists.${id}.tmp`);
  try {
    await mkdir(tmpTree);
    if (live.tree !== undefined) {
      for (const e of await readdir(live.tree, { withFileTypes: true })) {
        if (e.name === suite) continue;
        await cp(join(live.tree, e.name), join(tmpTree, e.name), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
      }
    }
    const suiteDir = join(tmpTree, suite);
    const files: ReleaseIndexFile[] = [];
    /** `rel/NAME` and `rel/NAME.xz`, listed in Release (and by hash). */
    const writeIndex = async (rel: string, name: string, text: string): Promise<void> => {
      signal?.throwIfAborted();
      const dir = join(suiteDir, rel);
      await mkdir(dir, { recursive: true });
      const plain = Buffer.from(text, 'utf8');
      const xz = await xzCompress(plain, signal);
      for (const [file, data] of [[name, plain], [`${name}.xz`, xz]] as const) {
        await writeSynced(join(dir, file), data);
        const sha = sha256Of(data);
        files.push({ path: `${rel}/${file}`, size: data.length, sha256: sha });
        if (acquireByHash) {
          await mkdir(join(dir, 'by-hash', 'SHA256'), { recursive: true });
          await linkOrCopy(join(dir, file), join(dir, 'by-hash', 'SHA256', sha));
        }
      }
    };
    // Once a suite has had sources, each component keeps a Sources (empty after the last
    // source is removed), so a deb-src line pointing at it never starts to fail.
    const withSources = components.some((c) => sourcesOf(c).length > 0)
      || [...(live.release?.files.keys() ?? [])].some((p) => p.endsWith('/source/Sources'));
    // The same for .udebs: once a suite has had one, each component keeps its
    // debian-installer/binary-ARCH indexes (a `main/debian-installer` line never fails).
    const withUdebs = components.some((c) => entriesOf(c).some((e) => kindOfEntry(e) === 'udeb'))
      || [...(live.release?.files.keys() ?? [])].some((p) => p.includes('/debian-installer/'));
    for (const c of components) {
      for (const arch of [...architectures, 'all']) {
        await writeIndex(`${c}/binary-${arch}`, 'Packages', renderPackages(entriesForArch(entriesOf(c), arch, 'deb')));
        if (withUdebs) await writeIndex(`${c}/debian-installer/binary-${arch}`, 'Packages', renderPackages(entriesForArch(entriesOf(c), arch, 'udeb')));
      }
      if (withSources) await writeIndex(`${c}/source`, 'Sources', renderPackages(sourcesOf(c)));
    }
    if (acquireByHash && live.tree !== undefined && live.release?.acquireByHash === true) {
      await carryByHash(join(live.tree, suite), suiteDir, live.release);
    }
    const releaseText = renderRelease({
      origin: o.origin,
      label: o.label,
      suite,
      codename: suite,
      date: now,
      architectures,
      components,
      description: `kiln repository ${suite}`,
      acquireByHash,
      files,
    });
    const signed = await signRelease(releaseText, o.key, { date: now });
    await writeSynced(join(suiteDir, 'Release'), releaseText);
    await writeSynced(join(suiteDir, 'InRelease'), signed.inRelease);
    await writeSynced(join(suiteDir, 'Release.gpg'), signed.releaseGpg);
    await syncTree(tmpTree);
    // What the suite listed until now, kept for `kiln repo rollback`: written pending before
    // the swap, made the record right after it (a change killed before its swap leaves the
    // record of the one before in place: apt-repo-previous.ts).
    await recordPrevious(repoDir, suite, live, releaseText);

    // 4. Swap.
    signal?.throwIfAborted();
    await rename(tmpTree, join(repoDir, treeName));
    const newLink = join(repoDir, `.dists.${id}.link`);
    await symlink(treeName, newLink);
    await rename(newLink, join(repoDir, 'dists'));
    await syncDir(repoDir);
  } catch (e) {
    await rm(tmpTree, { recursive: true, force: true });
    await rm(join(repoDir, `.dists.${id}.link`), { force: true });
    throw e;
  }
  await commitPrevious(repoDir, suite);

  // 5. Old trees (and leftovers of crashed publishes) go.
  await removeOtherTrees(repoDir, treeName);

  return { tree: treeName, architectures };
}

/** The value of a field of a Release file (Origin, Label), or undefined. */
export async function releaseField(path: string, name: string): Promise<string | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const line = text.split('\n').find((l) => l.startsWith(`${name}: `));
  return line?.slice(name.length + 2);
}

/** Link the previous tree's indexes into the new tree's by-hash dirs (those not there already). */
async function carryByHash(oldSuiteDir: string, newSuiteDir: string, release: Release): Promise<void> {
  for (const f of release.files.values()) {
    const from = join(oldSuiteDir, dirname(f.path), 'by-hash', 'SHA256', f.sha256);
    const to = join(newSuiteDir, dirname(f.path), 'by-hash', 'SHA256', f.sha256);
    if (await stat(from).catch(() => undefined) === undefined) continue;
    if (await stat(to).catch(() => undefined) !== undefined) continue;
    await mkdir(dirname(to), { recursive: true });
    await linkOrCopy(from, to);
  }
}

function sha256Of(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function writeSynced(path: string, data: string | Uint8Array): Promise<void> {
  const fh = await open(path, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
    await copyFile(from, to);
  }
}

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Every folder of a freshly written tree synced (its files were synced as written), and
 * the tree readable by all (folders at least 0755, files at least 0644) whatever kiln's
 * umask: apt reads the repository as its unprivileged _apt user, and a web server as its
 * own (a hardened root's umask 077 would leave them 0600 and 0700). Bits are added, never
 * taken: a repository a group shares (2775, umask 002) keeps its group write and setgid.
 */
async function syncTree(root: string): Promise<void> {
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    const path = join(e.parentPath, e.name);
    if (e.isDirectory()) {
      await readableByAll(path, 0o755);
      await syncDir(path);
    } else if (e.isFile()) await readableByAll(path, 0o644);
  }
  await readableByAll(root, 0o755);
  await syncDir(root);
}

/** Adds `bits` to the mode of `path` (a folder or a file, not a link) when it lacks some. */
async function readableByAll(path: string, bits: number): Promise<void> {
  const mode = (await lstat(path)).mode & 0o7777;
  if ((mode & bits) !== bits) await chmod(path, mode | bits);
}

/** mkdir -p, the folders it made readable by all (0755 added) whatever the umask (see syncTree). */
export async function mkdirReadable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  // From the first folder it made down to `dir`, never above it.
  const rel = relative(first, dir);
  if (rel.startsWith('..') || isAbsolute(rel)) return readableByAll(dir, 0o755);
  let d = first;
  await readableByAll(d, 0o755);
  for (const part of rel.split(sep).filter((x) => x !== '')) {
    d = join(d, part);
    await readableByAll(d, 0o755);
  }
}

/** xz -6, single-threaded (deterministic output), through the host's xz. */
function xzCompress(data: Uint8Array, signal: AbortSignal | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('xz', ['-6', '-T1', '-c'], { stdio: ['pipe', 'pipe', 'pipe'], ...(signal === undefined ? {} : { signal }) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'ENOENT'
        ? new KilnError('tool-missing', 'cannot compress Packages: xz is not installed', { hint: 'install xz-utils', cause: e })
        : e.name === 'AbortError' ? new KilnError('cancelled', 'publishing was cancelled', { cause: e }) : e);
    });
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new KilnError('archive-failed', `xz failed (${code}): ${Buffer.concat(err).toString('utf8').trim()}`, { hint: 'check that xz works here (`xz --version`) and that the machine has free memory, then publish again' }));
    });
    child.stdin.on('error', () => {}); // reported through 'close'
    child.stdin.end(data);
  });
}
