// kiln fetch: every source a build of the targets would download, into the downloads
// cache, and nothing built (poudriere's `bulk -F`, BitBake's `--runall=fetch`): fetch
// before going offline, or check a tree's urls and checksums in minutes instead of at the
// end of a long build. Sources are fetched `jobs` at a time, each once (by sha256), and
// verified as a build's are. A git source goes into the cache's mirror of its repository,
// fetched only when the mirror lacks its commit (cache/git-mirror.ts).
//
// --makesum (poudriere's `make makesum`): a source of a target's recipe that has no sha256
// yet is fetched first, and its sha256 written into the recipe (recipes/write-sha256.ts).
// That trusts the server: the user is told to compare it with upstream's own checksum.

import { specsWithOptions } from './run-options.ts';
import type { OptionSetting } from '../plan/options.ts';
import { realpathSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { chmod, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { createDownloads, type Downloads } from '../cache/downloads.ts';
import { resolveMirrors } from '../config/mirrors.ts';
import { KilnError } from '../errors.ts';
import { buildGraph } from '../plan/graph.ts';
import { packagePattern } from '../plan/glob.ts';
import { RECIPE_FILE, scanRecipeTree } from '../recipes/scan-tree.ts';
import { configInvalid } from '../config/load-tree-config.ts';
import { withSha256 } from '../recipes/write-sha256.ts';
import { readRegularFile } from '../recipes/local-file.ts';
import { allBuildArchOf, hostArch } from './host-env.ts';

export interface FetchTreeRequest {
  readonly treeDir: string;
  readonly cacheDir: string;
  /** Package names or globs; empty: the whole tree. Their build dependencies' sources too. */
  readonly targets: readonly string[];
  readonly archs: readonly string[] | undefined;
  readonly makesum: boolean;
  /** --option: the recipes' options, over kiln.toml's [options], as kiln build takes them. */
  readonly options?: readonly OptionSetting[];
  /** What to say before fetching (an option no package has). */
  readonly note?: (text: string) => void;
  /** Downloads at once. */
  readonly jobs: number;
  readonly signal: AbortSignal;
  readonly say: (e: FetchEvent) => void;
  /** For tests: the downloads store (default: the cache's, with the tree's mirrors). */
  readonly downloads?: Downloads;
}

export type FetchEvent =
  | { readonly type: 'makesum'; readonly file: string; readonly key: string; readonly url: string; readonly sha256: string; readonly bytes: number; readonly written: boolean }
  | { readonly type: 'makesum-failed'; readonly file: string; readonly key: string; readonly url: string; readonly message: string }
  // A git source has its commit id (rev) where another has its sha256.
  /** `via`: this url was not asked: another url of the same file fetched it in this run. */
  | { readonly type: 'source'; readonly url: string; readonly sha256?: string; readonly rev?: string; readonly packages: readonly string[]; readonly state: 'fetched' | 'cached'; readonly ms: number; readonly via?: string }
  | { readonly type: 'source-failed'; readonly url: string; readonly sha256?: string; readonly rev?: string; readonly packages: readonly string[]; readonly message: string; readonly hint: string | undefined }
  | { readonly type: 'broken'; readonly name: string; readonly why: string };

export interface FetchSummary {
  readonly sources: number;
  readonly fetched: number;
  readonly cached: number;
  readonly failed: number;
  /** Packages whose recipe cannot be read: their sources are unknown. */
  readonly broken: number;
  /** sha256 lines written by --makesum. */
  readonly written: number;
}

export async function fetchTree(req: FetchTreeRequest): Promise<FetchSummary> {
  let scan = await scanRecipeTree(req.treeDir, { signal: req.signal });
  // As plan and build: an invalid kiln.toml stops it, every problem said (its mirrors, archs
  // and options would be missing, and the recipes blamed for it).
  if (scan.diagnostics.length > 0) {
    throw configInvalid(scan.diagnostics);
  }
  const mirrors = await resolveMirrors(scan.config.mirrors, {});
  const downloads = req.downloads ?? createDownloads({ cacheDir: req.cacheDir, mirrors });
  let written = 0;
  if (req.makesum) {
    written = await makesum(req, downloads, [...scan.specs.map((s) => ({ name: s.name, dir: s.dir, category: s.category })), ...scan.invalid]);
    if (written > 0) scan = await scanRecipeTree(req.treeDir, { signal: req.signal });
  }
  // As a build with these options would: what an option that is on needs is fetched too.
  const specs = specsWithOptions(scan, req.options, req.note);
  const archs = req.archs ?? scan.config.archs ?? [hostArch()];
  // The `all` packages' build dependencies as a build of this tree takes them: in the env
  // of the run's first arch when kiln.toml names an env, else this machine's arch.
  const allArch = allBuildArchOf({ sandbox: scan.config.sandbox ?? 'auto', envTemplate: scan.config.env, archs, hostArch: hostArch() });
  const graph = buildGraph({ specs, invalid: scan.invalid, archs, hostArch: hostArch(), allArch, targets: req.targets });
  // One download per sha256 (per url and commit for a git source), whoever needs it; each
  // url of it is tried and reported for its own packages, one after another (the first
  // that gets the file leaves the others a cached copy, as their builds would find it).
  const wanted = new Map<string, Map<string, { rev: string | undefined; packages: Set<string> }>>();
  const broken = new Set<string>();
  for (const node of graph.nodes) {
    if (node.spec === undefined) {
      if (!broken.has(node.name)) req.say({ type: 'broken', name: node.name, why: node.broken ?? 'its recipe cannot be read' });
      broken.add(node.name);
      continue;
    }
    for (const s of node.spec.sources) {
      const id = s.rev !== undefined ? `git\0${s.url}\0${s.rev}` : s.url.startsWith('file:') ? undefined : s.sha256;
      if (id === undefined) continue;
      let urls = wanted.get(id);
      if (urls === undefined) wanted.set(id, (urls = new Map()));
      let w = urls.get(s.url);
      if (w === undefined) urls.set(s.url, (w = { rev: s.rev, packages: new Set<string>() }));
      w.packages.add(node.name);
    }
  }
  let fetched = 0;
  let cached = 0;
  let failed = 0;
  const queue = [...wanted.entries()];
  /** sha256 → the url that fetched it in this run. */
  const fetchedBy = new Map<string, string>();
  /** One url of a source: fetched (or found cached) for its packages, or failed for them. */
  const one = async (id: string, url: string, rev: string | undefined, packages: ReadonlySet<string>): Promise<void> => {
    const names = [...packages].sort();
    const pin = rev === undefined ? { sha256: id } : { rev };
    const t0 = performance.now();
    try {
      let had: boolean;
      if (rev !== undefined) had = !(await downloads.git(url, rev, { signal: req.signal })).fetched;
      else {
        had = await downloads.has(id);
        await downloads.fetch(url, id, { signal: req.signal });
      }
      if (had) cached++;
      else fetched++;
      if (!had && rev === undefined) fetchedBy.set(id, url);
      const via = had ? fetchedBy.get(id) : undefined;
      req.say({ type: 'source', url, ...pin, packages: names, state: had ? 'cached' : 'fetched', ms: Math.round(performance.now() - t0), ...(via === undefined ? {} : { via }) });
    } catch (e) {
      if (req.signal.aborted) return;
      failed++;
      req.say({ type: 'source-failed', url, ...pin, packages: names, message: e instanceof Error ? e.message : String(e), hint: e instanceof KilnError ? e.hint : undefined });
    }
  };
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const [id, urls] = next;
      for (const [url, { rev, packages }] of urls) {
        if (req.signal.aborted) return;
        await one(id, url, rev, packages);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(req.jobs, queue.length)) }, worker));
  req.signal.throwIfAborted();
  return { sources: [...wanted.values()].reduce((n, urls) => n + urls.size, 0), fetched, cached, failed, broken: broken.size, written };
}

/** `after` is `before` with `sources[i].sha256 = sha256` added and nothing else changed, as TOML reads them. */
function onlySha256Added(parse: (text: string) => Record<string, unknown>, before: string, after: string, i: number, sha256: string): boolean {
  try {
    const was = parse(before);
    const now = parse(after) as { sources?: Array<Record<string, unknown>> };
    const source = now.sources?.[i];
    if (source === undefined || source['sha256'] !== sha256) return false;
    delete source['sha256'];
    return isDeepStrictEqual(was, now);
  } catch {
    return false;
  }
}

/** --makesum over the targets' own recipes (not their dependencies'): the number of sha256 lines written. */
async function makesum(req: FetchTreeRequest, downloads: Downloads, packages: readonly { name: string; dir: string; category?: string | undefined }[]): Promise<number> {
  // As build's targets: a name or glob, or `category/glob` for a category folder's packages.
  const patterns = req.targets.map(packagePattern);
  // Every target names a package, before anything is fetched or written (a typo edits nothing).
  req.targets.forEach((t, i) => {
    if (packages.some((p) => patterns[i]!(p))) return;
    throw new KilnError('target-not-found', `--makesum: "${t}" names no package of ${req.treeDir}`, { hint: 'name package folders of the tree (or globs such as "lib*"); `kiln plan` lists them' });
  });
  const chosen = packages.filter((p) => patterns.length === 0 || patterns.some((matches) => matches(p)));
  const { parse } = await import('smol-toml');
  /** The recipe's real file (a recipe.toml may be a link), its text and sources; undefined when it is no readable TOML file (the plan says why). */
  const read = (file: string): { real: string; text: string; mode: number; sources: unknown[] } | undefined => {
    try {
      const real = realpathSync(file);
      // Not a plain read: a FIFO or device must not block kiln (local-file.ts).
      const r = readRegularFile(real);
      if (!r.ok) return undefined;
      const text = r.bytes.toString('utf8');
      const doc = parse(text) as { sources?: unknown };
      return { real, text, mode: r.stats.mode & 0o7777, sources: Array.isArray(doc.sources) ? doc.sources : [] };
    } catch {
      return undefined;
    }
  };
  let written = 0;
  for (const p of chosen.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const file = join(p.dir, RECIPE_FILE);
    const shown = relative(process.cwd(), file) || file;
    const before = read(file);
    if (before === undefined) continue;
    const learned: { i: number; url: string; sha256: string; bytes: number }[] = [];
    for (let i = 0; i < before.sources.length; i++) {
      const s = before.sources[i] as { url?: unknown; sha256?: unknown } | null;
      // A git source is pinned by its rev, not a sha256: --makesum leaves it alone.
      if (s === null || typeof s !== 'object' || typeof s.url !== 'string' || s.sha256 !== undefined || s.url.startsWith('file:') || s.url.startsWith('git+')) continue;
      try {
        const got = await downloads.learn(s.url, { signal: req.signal });
        learned.push({ i, url: s.url, sha256: got.sha256, bytes: (await stat(got.path)).size });
      } catch (e) {
        req.signal.throwIfAborted();
        req.say({ type: 'makesum-failed', file: shown, key: `sources[${i}].sha256`, url: s.url, message: e instanceof Error ? e.message : String(e) });
      }
    }
    if (learned.length === 0) continue;
    // Read again: the downloads took a while, and an edit made meanwhile must not be lost.
    const now = read(file);
    let text = now?.text;
    const done = new Set<number>();
    for (const l of learned) {
      const s = now?.sources[l.i] as { url?: unknown; sha256?: unknown } | undefined;
      if (text === undefined || s?.url !== l.url || s.sha256 !== undefined) continue;
      const next = withSha256(text, l.i, now!.sources.length, l.sha256);
      // The line went where the recipe reads it, and nowhere else (a script holding
      // `[[sources]]` lines of its own would take it): else printed, not written.
      if (next === undefined || !onlySha256Added(parse, text, next, l.i, l.sha256)) continue;
      text = next;
      done.add(l.i);
    }
    if (done.size > 0) {
      // Whole or not at all, onto the real file (a link stays a link), with its mode; nothing left aside.
      const aside = `${now!.real}.kiln-makesum-${process.pid}`;
      try {
        await writeFile(aside, text!, { mode: now!.mode });
        await chmod(aside, now!.mode);
        await rename(aside, now!.real);
      } finally {
        await rm(aside, { force: true });
      }
      written += done.size;
    }
    for (const l of learned) req.say({ type: 'makesum', file: shown, key: `sources[${l.i}].sha256`, url: l.url, sha256: l.sha256, bytes: l.bytes, written: done.has(l.i) });
  }
  return written;
}
