// The scan cache: the PackageSpec of every valid recipe from the last scan, with the
// stat of each file it was made from (recipe.toml, script-file, file: sources), so that a
// no-change `kiln build` of 10,000 recipes stats 10,000 files instead of reading, parsing
// (TOML + zod) and hashing them. A spec is reused only when every one of its files still
// has the same inode, size, mtime and ctime.
//
// Why that is enough to see every edit: any write to a file moves its ctime (which no
// user can set back) and an editor that saves by rename gives it a new inode. The one
// gap is an edit within the same clock tick as the stat that was cached ("racy git"):
// entries whose files changed less than RACY_MS before the scan began are not stored,
// so they are read again next time. Stats are taken before the file is read, so an edit
// racing with the read shows up as a newer ctime on the next scan.
//
// The cache belongs to one tree and one parser: its fingerprint covers the tree's path,
// the recipe defaults of kiln.toml, and the source text of the modules that turn a
// recipe into a spec. Invalid recipes are never cached (they are few, and their
// diagnostics must stay fresh). The file is JSON (parsing 10,000 specs takes ~20 ms,
// less than v8.deserialize), written atomically and only when something changed; a
// missing, torn or foreign file is simply an empty cache.
//
// Each write gives the file a new random generation. A scan that found every spec in the
// cache and changed nothing (or wrote every spec it made) says which generation holds
// exactly its specs (`settled`): the plan memo (run/plan-memo.ts) is valid only for it.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { sha256 } from '../lib/hash.ts';
import { codeHashOf } from '../lib/code-hash.ts';
import type { PackageSpec } from '../plan/spec.ts';

/** Bump when the entry layout changes. */
const FORMAT = 'kiln-scan-cache-1';
/** Files changed this close to the scan are not trusted to show a later edit (see above). */
export const RACY_MS = 1000;

/** The modules whose code decides what a recipe becomes (relative to src/). */
export const PARSER_MODULES = [
  'recipes/scan-tree.ts',
  'recipes/scan-cache.ts',
  'recipes/tree-folders.ts',
  'recipes/local-file.ts',
  'recipes/parse-recipe.ts',
  'recipes/recipe-sources.ts',
  'recipes/toml-key-lines.ts',
  'recipes/recipe-options.ts',
  'recipes/recipe-defaults.ts',
  'recipes/recipe-schema.ts',
  'recipes/package-name.ts',
  'plan/spec.ts',
  'debian/relation.ts',
  'debian/relation-types.ts',
  'debian/version.ts',
  'debian/arch-names.ts',
  'debian/closest-name.ts',
  'debian/relation-arch-check.ts',
  'config/credentials.ts',
  'config/toml-problem.ts',
  'lib/toml-error.ts',
  'execute/output-checks.ts',
  'lib/duration.ts',
  'lib/hash.ts',
  'lib/shell-quote.ts',
];

/** [path relative to the package folder, inode, size, mtimeMs, ctimeMs]. */
export type FileStamp = readonly [string, number, number, number, number];

interface Entry {
  readonly files: readonly FileStamp[];
  readonly spec: PackageSpec;
}

interface CacheFile {
  readonly format: string;
  readonly fingerprint: string;
  /** Random, new at every write. */
  readonly generation?: string;
  readonly entries: Record<string, Entry>;
}

export interface ScanCache {
  /** The cached spec of this package folder when none of its files changed. */
  lookup(folder: string, recipeStat: Stats): PackageSpec | undefined;
  /** Keep a freshly scanned spec (dropped when one of its files is too new to trust). */
  store(folder: string, files: readonly FileStamp[], spec: PackageSpec): void;
  /** Write the cache if it changed, keeping only the folders seen in this scan. */
  save(): void;
  /**
   * After save(): the generation of the cache file when it now holds exactly the specs of
   * every folder this scan looked up or stored, none left out (a racy file) and none
   * extra; undefined otherwise, or when the file could not be read or written.
   */
  settled(): string | undefined;
  /** How many folders the cache file held for this tree and settings. */
  readonly size: number;
  /** The folders (paths in the tree) the cache file held: where the last scan found packages. */
  folders(): string[];
}

export function stampOf(rel: string, st: Stats): FileStamp {
  return [rel, st.ino, st.size, st.mtimeMs, st.ctimeMs];
}

export function sameStamp(a: FileStamp, st: Stats): boolean {
  return a[1] === st.ino && a[2] === st.size && a[3] === st.mtimeMs && a[4] === st.ctimeMs;
}

/** Whether a stamp is old enough, at scan start `since`, to reveal any later edit. */
export function settledStamp(s: FileStamp, since: number): boolean {
  return Math.max(s[3], s[4]) < since - RACY_MS;
}

/**
 * Open the cache at `file` for the tree at `root` scanned with `settings` (what of
 * kiln.toml decides what a recipe becomes: its defaults, its mirror names); never throws.
 */
export function openScanCache(file: string, context: { root: string; settings: unknown; now?: number }): ScanCache {
  const since = context.now ?? Date.now();
  const fingerprint = fingerprintOf(context.root, context.settings);
  const read = fingerprint === undefined ? undefined : readCacheFile(file, fingerprint);
  const old = read?.entries ?? {};
  const fresh: Record<string, Entry> = {};
  let changed = false;
  /** A spec was made and not kept (a racy file): the file cannot hold this scan's specs. */
  let dropped = false;
  let generation: string | undefined;

  return {
    size: Object.keys(old).length,
    folders: () => Object.keys(old),
    lookup(folder, recipeStat) {
      const e = old[folder];
      if (e === undefined) return undefined;
      const [recipe, ...others] = e.files;
      if (recipe === undefined || !sameStamp(recipe, recipeStat)) return undefined;
      for (const f of others) {
        const st = statSync(join(e.spec.dir, f[0]), { throwIfNoEntry: false });
        if (st === undefined || !sameStamp(f, st)) return undefined;
      }
      fresh[folder] = e;
      return e.spec;
    },
    store(folder, files, spec) {
      changed = true;
      if (files.every((f) => settledStamp(f, since))) fresh[folder] = { files, spec };
      else dropped = true;
    },
    save() {
      if (fingerprint === undefined) return;
      // Folders gone from the tree also count as a change.
      if (!changed && Object.keys(old).length === Object.keys(fresh).length) {
        generation = read?.generation;
        return;
      }
      const written = randomBytes(8).toString('hex');
      const data: CacheFile = { format: FORMAT, fingerprint, generation: written, entries: fresh };
      const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
      try {
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(tmp, JSON.stringify(data));
        renameSync(tmp, file);
        generation = written;
      } catch {
        // A cache that cannot be written only costs the next scan its speed.
        rmSync(tmp, { force: true });
      }
    },
    settled: () => (dropped ? undefined : generation),
  };
}

function readCacheFile(file: string, fingerprint: string): { entries: Record<string, Entry>; generation: string | undefined } | undefined {
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as Partial<CacheFile>;
    if (data.format !== FORMAT || data.fingerprint !== fingerprint || data.entries === null || typeof data.entries !== 'object') return undefined;
    return { entries: data.entries, generation: typeof data.generation === 'string' ? data.generation : undefined };
  } catch {
    return undefined;
  }
}

/** The parser's code, hashed as this process loads it (a daemon upgraded on disk keeps running its old code). */
const codeHash = codeHashOf(PARSER_MODULES);

/** undefined when the parser's sources cannot be read (then nothing is cached). */
function fingerprintOf(root: string, settings: unknown): string | undefined {
  if (codeHash === undefined) return undefined;
  return sha256(`${FORMAT}\0${codeHash}\0${root}\0${JSON.stringify(settings)}`);
}

/** `<state>/scan-cache/<tree>.json`: one scan cache per tree built with this state dir. */
export function scanCacheFileFor(stateDir: string, treeDir: string): string {
  return join(stateDir, 'scan-cache', `${sha256(treeDir).slice(0, 16)}.json`);
}
