// Reading a repository's live tree (`REPO/dists -> dists.<id>`) as apt-repo.ts published it:
// what a suite lists, and which pool files the other suites list (one pool serves them all).

import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { parseControlParagraphs } from '../debian/deb-file.ts';
import { parseRelease, type Release } from '../debian/inrelease.ts';
import { entryFromParagraph, kindOfEntry, type IndexEntry } from './apt-repo-index.ts';
import { sourceEntryFromParagraph, sourcePoolFiles } from './apt-repo-sources.ts';

export interface LiveSuite {
  /** Host path of the live tree (`REPO/dists.<id>`), if any. */
  readonly tree: string | undefined;
  readonly release: Release | undefined;
  /** Entries of each component of the suite: .debs and .udebs (told apart by their Filename). */
  readonly entries: ReadonlyMap<string, readonly IndexEntry[]>;
  /** Source entries (architecture `source`) of each component, from COMPONENT/source/Sources. */
  readonly sources: ReadonlyMap<string, readonly IndexEntry[]>;
}

/** Every pool file a suite lists (binaries, and each source's .dsc and files), with its sha256. */
export function listedPoolFiles(live: LiveSuite): { filename: string; sha256: string }[] {
  const out: { filename: string; sha256: string }[] = [];
  for (const list of live.entries.values()) for (const x of list) out.push({ filename: x.filename, sha256: x.sha256 });
  for (const list of live.sources.values()) for (const x of list) out.push(...sourcePoolFiles(x.fields, x.filename));
  return out;
}

/** Pool file → its sha256 and suite, as the other suites of the live tree list them. */
export async function poolFilesOfOtherSuites(repoDir: string, tree: string, suite: string): Promise<Map<string, { sha256: string; suite: string }>> {
  const out = new Map<string, { sha256: string; suite: string }>();
  for (const e of await readdir(tree, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name === suite) continue;
    const other = await readLiveSuite(repoDir, e.name);
    for (const x of listedPoolFiles(other)) if (!out.has(x.filename)) out.set(x.filename, { sha256: x.sha256, suite: e.name });
  }
  return out;
}

/** The live tree and what it lists for `suite`. A `dists` that kiln did not make is refused. */
export async function readLiveSuite(repoDir: string, suite: string): Promise<LiveSuite> {
  const distsPath = join(repoDir, 'dists');
  const st = await lstat(distsPath).catch(() => undefined);
  if (st === undefined) return { tree: undefined, release: undefined, entries: new Map(), sources: new Map() };
  if (!st.isSymbolicLink()) {
    throw new KilnError('conflict', `${distsPath} is not kiln's (a symlink to dists.<id>); kiln publishes by swapping that symlink`, {
      hint: 'publish into a new --repo directory, or move the existing dists away',
    });
  }
  const target = await readlink(distsPath);
  if (!/^dists\.[A-Za-z0-9-]+$/.test(target)) {
    throw new KilnError('conflict', `${distsPath} points at ${target}, not at a kiln tree (dists.<id>)`, { hint: 'publish into a new --repo directory' });
  }
  const tree = join(repoDir, target);
  const releasePath = join(tree, suite, 'Release');
  let text: string;
  try {
    text = await readFile(releasePath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { tree, release: undefined, entries: new Map(), sources: new Map() };
    throw e;
  }
  const release = parseRelease(text, releasePath);
  const entries = new Map<string, IndexEntry[]>();
  const sources = new Map<string, IndexEntry[]>();
  for (const c of release.components) {
    const path = join(tree, suite, c, 'source', 'Sources');
    const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return '';
      throw e;
    });
    sources.set(c, parseControlParagraphs(text, path).map((p) => sourceEntryFromParagraph(p, path)));
  }
  for (const c of release.components) {
    const list: IndexEntry[] = [];
    // An `all` package is listed under every binary-ARCH and binary-all: read once.
    // The .udebs (debian-installer/binary-ARCH) join the same list: their pool file names
    // (.udeb) keep them apart (apt-repo-index.ts).
    const seen = new Set<string>();
    const dirs = [...new Set([...release.architectures, 'all'])].flatMap((arch) => [`binary-${arch}`, `debian-installer/binary-${arch}`]);
    for (const dir of dirs) {
      const path = join(tree, suite, c, dir, 'Packages');
      const packagesText = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return '';
        throw e;
      });
      for (const p of parseControlParagraphs(packagesText, path)) {
        const e = entryFromParagraph(p, path);
        if ((kindOfEntry(e) === 'udeb') !== dir.startsWith('debian-installer/')) {
          throw new KilnError('index-invalid', `${path}: lists ${e.filename}, a .${kindOfEntry(e)}, which belongs in ${kindOfEntry(e) === 'udeb' ? 'debian-installer/binary-ARCH' : 'binary-ARCH'}`, {
            hint: 'the repository index was edited or damaged; publish into a fresh --repo directory',
          });
        }
        if (seen.has(e.filename)) continue;
        seen.add(e.filename);
        list.push(e);
      }
    }
    entries.set(c, list);
  }
  return { tree, release, entries, sources };
}
