// Scan a recipe tree: one folder per package, each with recipe.toml, in the tree or one
// level down in a category folder (tree-folders.ts says which folders). Folders are read
// in parallel; each recipe is parsed and the files it references are hashed into its
// recipeHash. A bad recipe becomes an InvalidPackage with every diagnostic; the rest of
// the tree still scans. With a cache file (scan-cache.ts), recipes whose files have not
// changed since the last scan are not read again.
//
// "Every diagnostic" means the checks of the files a recipe names (script-file, file:
// sources, their checksums) and of its mirrors run even when other keys are wrong, on
// whatever of those keys parsed. A package folder may be a symlink to a directory (the
// link's name is the package name); a folder whose recipe.toml cannot be read, or a link
// that leads nowhere, is one broken package, never the end of the scan. Files a recipe
// names must stay inside its folder after symlinks are followed (local-file.ts).

import { expandFlavours } from './flavours.ts';
import { readdirSync, readlinkSync, realpathSync, statSync, type Dirent, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import { shellQuote } from '../lib/shell-quote.ts';
import type { Diagnostic, InvalidPackage, PackageSource, PackageSpec, ScanResult } from '../plan/spec.ts';
import { loadTreeConfig, treeNotFound } from '../config/load-tree-config.ts';
import { utf8OrUndefined } from '../config/read-toml-file.ts';
import type { TreeConfig } from '../config/tree-config.ts';
import type { RecipeDraft } from './parse-recipe.ts';
import { fsProblem, readLocalFile, readRegularFile } from './local-file.ts';
import { prefetchFiles } from './prefetch.ts';
import { openScanCache, stampOf, type FileStamp, type ScanCache } from './scan-cache.ts';
import { hasUnprintable } from './package-name.ts';
import { categoryFolders, duplicateNames, duplicatePackage, packageFolders, RECIPE_FILE, type Folder } from './tree-folders.ts';

export { RECIPE_FILE } from './tree-folders.ts';

// The recipe parser (smol-toml, zod, the schema) is loaded on the first scan-cache miss
// only: a no-change scan of a big tree takes every spec from the cache.
let parser: Promise<typeof import('./parse-recipe.ts')> | undefined;
const loadParser = (): Promise<typeof import('./parse-recipe.ts')> => (parser ??= import('./parse-recipe.ts'));

export interface TreeScan extends ScanResult {
  readonly config: TreeConfig;
  /**
   * The scan cache's generation when it holds exactly this scan's specs (scan-cache.ts
   * settled()): the same generation next time means the same specs.
   */
  readonly cacheGeneration?: string | undefined;
}

/** The recipe tree as a PackageSource. */
export function recipeTreeSource(treeDir: string): PackageSource & { scanTree(o?: { signal?: AbortSignal }): Promise<TreeScan> } {
  const scanTree = (o?: { signal?: AbortSignal }): Promise<TreeScan> => scanRecipeTree(treeDir, o);
  return { kind: 'recipe-tree', scan: scanTree, scanTree };
}

export interface ScanOptions {
  readonly signal?: AbortSignal;
  /** Where to keep the scan cache (see scan-cache.ts); without it every recipe is read. */
  readonly cacheFile?: string;
  /** When the scan began, for the cache's racy-file rule (tests set it; default now). */
  readonly now?: number;
}

/** The entries of the tree folder `root`; tree-not-found when it is not a directory. */
export function readTreeDir(root: string): Dirent[] {
  try {
    return readdirSync(root, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw treeNotFound(root);
    throw e;
  }
}

export async function scanRecipeTree(treeDir: string, options?: ScanOptions): Promise<TreeScan> {
  const root = resolve(treeDir);
  const entries = readTreeDir(root);
  const { config, diagnostics } = await loadTreeConfig(root);
  const folders = packageFolders(root, entries);
  const cache = options?.cacheFile === undefined ? undefined : openScanCache(options.cacheFile, { root, settings: { defaults: config.defaults, mirrors: Object.keys(config.mirrors).sort() }, ...(options.now === undefined ? {} : { now: options.now }) });
  // A scan served from its cache stats the recipes; otherwise it reads them. The packages in
  // category folders are found while the scan goes: those the cache knows are fetched too.
  const inCategories = cache?.folders().filter((rel) => rel.includes('/')) ?? [];
  const prefetch = prefetchFiles([...folders.filter((f) => f.problem === undefined).map((f) => f.rel), ...inCategories].map((rel) => join(root, rel, RECIPE_FILE)), { stat: (cache?.size ?? 0) > (folders.length + inCategories.length) / 2 });
  type Scanned = PackageSpec | InvalidPackage | undefined;
  /** A folder that cannot be a package (a link that leads nowhere): broken, saying why. */
  const brokenFolder = (f: Folder, problem: string): InvalidPackage => {
    const dir = join(root, f.rel);
    // A name or category that cannot be printed: said escaped, as unprintableFolder does.
    if (hasUnprintable(f.rel)) return unprintableFolder(dir, f);
    return { name: f.name, dir, ...(f.category === undefined ? {} : { category: f.category }), diagnostics: [{ file: dir, message: problem }] };
  };
  const scanOne = (f: Folder): Scanned | Promise<Scanned> => {
    if (f.problem !== undefined) return brokenFolder(f, f.problem);
    const dir = join(root, f.rel);
    const scanned = scanPackage(dir, f, config, { signal: options?.signal, cache });
    // (One whose category cannot be printed has set it escaped.)
    return f.category === undefined ? scanned : scanned.then((r) => (r === undefined || r.category !== undefined ? r : { ...r, category: f.category }));
  };
  let categorized = false;
  let results: (Scanned | Scanned[])[];
  try {
    results = await Promise.all(
      folders.map(async (f) => {
        const r = await scanOne(f);
        if (r !== undefined || f.problem !== undefined) return r;
        // No recipe.toml: a category folder, whose own folders are packages. One with no
        // package in it holds files (shared patches): its links that lead nowhere or to a
        // file are files of it, not broken packages.
        const inner = categoryFolders(root, f.name);
        const scanned = await Promise.all(inner.filter((c) => c.problem === undefined).map(scanOne));
        if (scanned.every((s) => s === undefined)) return scanned;
        categorized = true;
        return [...scanned, ...inner.flatMap((c) => (c.problem === undefined ? [] : [brokenFolder(c, c.problem)]))];
      }),
    );
  } finally {
    prefetch.stop();
  }
  cache?.save();
  const cacheGeneration = cache?.settled();
  const found = results.flat().filter((r): r is PackageSpec | InvalidPackage => r !== undefined);
  // Names are unique in one folder: only categories can repeat one.
  const duplicates = categorized ? duplicateNames(found) : undefined;
  const specs: PackageSpec[] = [];
  const invalid: InvalidPackage[] = [];
  for (const r of found) {
    const dup = duplicates?.get(r.name);
    if (dup !== undefined) {
      if (found[dup[0]!] === r) invalid.push(duplicatePackage(r.name, dup.map((i) => ({ ...found[i]!, rel: found[i]!.dir.slice(root.length + 1) }))));
    } else if ('diagnostics' in r) invalid.push(r);
    else specs.push(r);
  }
  // Each flavour of a recipe is a package of its own (after the cache: it keeps a spec per folder).
  const flavoured = expandFlavours(specs, invalid);
  return { specs: flavoured.specs, invalid: flavoured.invalid, diagnostics, config, ...(cacheGeneration === undefined ? {} : { cacheGeneration }) };
}

async function scanPackage(
  dir: string,
  { name: folder, rel, category }: Folder,
  config: TreeConfig,
  o: { signal: AbortSignal | undefined; cache: ScanCache | undefined },
): Promise<PackageSpec | InvalidPackage | undefined> {
  o.signal?.throwIfAborted();
  const file = join(dir, RECIPE_FILE);
  if (o.cache !== undefined) {
    let st: Stats | null | undefined = null; // null: the stat failed, the read below says why
    try {
      st = statSync(file, { throwIfNoEntry: false });
    } catch {
      // Reported by the read below.
    }
    if (st === undefined && readlinkOrUndefined(file) === undefined) return undefined; // not a package folder
    const hit = st?.isFile() === true ? o.cache.lookup(rel, st) : undefined;
    if (hit !== undefined) return hit;
  }
  // Synchronous: 10,000 small reads take ~80 ms this way against ~480 ms through the
  // thread pool (measured on the 10k benchmark tree). The stat is taken before the read:
  // an edit racing with the read then shows on the next scan.
  const read = readRegularFile(file);
  if (!read.ok && read.kind === 'missing') return undefined;
  // Before anything prints its name or path: raw, a line break in it would forge lines of output.
  if (hasUnprintable(rel)) return unprintableFolder(dir, { name: folder, rel, ...(category === undefined ? {} : { category }) });
  if (!read.ok) return { name: folder, dir, diagnostics: [{ file, message: `${read.problem}: a package's recipe.toml must be a readable file` }] };
  const text = utf8OrUndefined(read.bytes);
  if (text === undefined) {
    return { name: folder, dir, diagnostics: [{ file, message: `is not valid UTF-8: save it as UTF-8 (TOML files are UTF-8 text)` }] };
  }
  const { parseRecipe } = await loadParser();
  const outcome = parseRecipe(text, { file, folderName: folder, defaults: config.defaults });
  const refs = outcome.ok ? refsOfDraft(outcome.draft) : await refsOfText(text, outcome.diagnostics);
  const stamps = o.cache === undefined ? undefined : [stampOf(RECIPE_FILE, read.stats)];
  const checked = checkRefs(refs, { dir, file, stamps, mirrors: config.mirrors });
  if (!outcome.ok || checked.diagnostics.length > 0) {
    // The parser's and those of the files and mirrors together, in file order.
    const { keyLines, lineOfKey, inFileOrder } = await import('./toml-key-lines.ts');
    const { recipeDiagnosticLine } = await loadParser();
    const written = keyLines(text);
    const parserSaid = new Set(outcome.ok ? [] : outcome.diagnostics);
    const diagnostics = inFileOrder(outcome.ok ? checked.diagnostics : [...outcome.diagnostics, ...checked.diagnostics], (d) =>
      parserSaid.has(d) ? recipeDiagnosticLine(d) : d.key === undefined ? undefined : lineOfKey(written, d.key));
    const version = outcome.ok ? outcome.draft.version : outcome.version;
    const archs = outcome.ok ? outcome.draft.archs : outcome.archs;
    const provides = outcome.ok ? outcome.draft.provides : outcome.provides;
    return { name: folder, dir, diagnostics, ...(version === undefined ? {} : { version }), ...(archs === undefined ? {} : { archs }), ...(provides === undefined || provides.length === 0 ? {} : { provides }) };
  }
  const spec = makeSpec(outcome.draft, checked, { dir, file, recipeBytes: read.bytes });
  if (stamps !== undefined) o.cache!.store(rel, stamps, spec);
  return spec;
}

/**
 * The broken package a folder holding recipe.toml becomes when its name (or its category's)
 * holds a control character: every name and path in it escaped as a JSON string, so that
 * nothing kiln prints of it can pass for a line of its own output.
 */
export function unprintableFolder(dir: string, f: Folder): InvalidPackage {
  const shown = (s: string): string => JSON.stringify(s).slice(1, -1);
  const inCategory = f.category !== undefined && hasUnprintable(f.category);
  const name = hasUnprintable(f.name) ? JSON.stringify(f.name) : f.name;
  const where = shown(dir);
  const what = inCategory ? `the category folder ${JSON.stringify(f.category)}` : `the folder ${JSON.stringify(f.name)}`;
  const message = `${what} holds a control character (a line break, a tab, an escape…): rename it${inCategory ? '' : ' (a package folder\'s name is its package\'s: lowercase letters, digits and + . -)'}`;
  return { name, dir: where, ...(f.category === undefined ? {} : { category: shown(f.category) }), diagnostics: [{ file: where, message }] };
}

function readlinkOrUndefined(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** `path` as one shell word: as it is when nothing in it needs quoting. */
function shellWord(path: string): string {
  return /^[A-Za-z0-9._/+-]+$/.test(path) ? path : shellQuote(path);
}

/** What a recipe references outside its own text: the keys the checks below need. */
interface Refs {
  readonly scriptFile: string | undefined;
  /** `index` is the position in the recipe's sources array (for the key). */
  readonly sources: readonly { index: number; url: string; sha256: string | undefined; localPath: string | undefined }[];
}

function refsOfDraft(d: RecipeDraft): Refs {
  return { scriptFile: d.scriptFile, sources: d.sources.map((s, index) => ({ index, url: s.url, sha256: s.sha256, localPath: s.localPath })) };
}

/**
 * The references of a recipe the parser rejected, taken from the TOML: the keys that
 * parsed and that the parser found nothing wrong with (so a bad key is not told twice).
 */
async function refsOfText(text: string, diagnostics: readonly Diagnostic[]): Promise<Refs> {
  const [{ parse }, { isSafeRelativePath }] = await Promise.all([import('smol-toml'), loadParser()]);
  let doc: unknown;
  try {
    doc = parse(text);
  } catch {
    return { scriptFile: undefined, sources: [] }; // a TOML syntax error: nothing parsed
  }
  const flagged = new Set(diagnostics.map((d) => d.key));
  const table = (v: unknown): Record<string, unknown> | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
  const top = table(doc);
  const sf = table(top?.['build'])?.['script-file'];
  const scriptFile = typeof sf === 'string' && sf !== '' && isSafeRelativePath(sf) && !flagged.has('build.script-file') ? sf : undefined;
  const sources: Refs['sources'][number][] = [];
  const list = top?.['sources'];
  (Array.isArray(list) ? list : []).forEach((item, index) => {
    const src = table(item);
    const url = src?.['url'];
    if (typeof url !== 'string' || flagged.has(`sources[${index}].url`)) return;
    const sha = src?.['sha256'];
    const localPath = url.startsWith('file:') ? url.slice('file:'.length) : undefined;
    if (localPath !== undefined && (localPath === '' || !isSafeRelativePath(localPath))) return;
    sources.push({ index, url, sha256: typeof sha === 'string' && !flagged.has(`sources[${index}].sha256`) ? sha : undefined, localPath });
  });
  return { scriptFile, sources };
}

interface Checked {
  readonly diagnostics: Diagnostic[];
  /** [path relative to the package folder, sha256] of each file read. */
  readonly hashed: [string, string][];
  script: string | undefined;
  /** The sha256 of each file: source, by its index. */
  readonly sums: Map<number, string>;
}

/** Read, hash and check the files a recipe names, and its mirrors; stamps for the cache. */
function checkRefs(refs: Refs, at: { dir: string; file: string; stamps: FileStamp[] | undefined; mirrors: Readonly<Record<string, string>> }): Checked {
  const { dir, file, stamps } = at;
  const out: Checked = { diagnostics: [], hashed: [], script: undefined, sums: new Map() };
  let realDir: string | undefined;
  const read = (rel: string): ReturnType<typeof readLocalFile> => {
    try {
      realDir ??= realpathSync.native(dir);
    } catch (e) {
      return fsProblem(e, dir);
    }
    const r = readLocalFile(dir, rel, realDir);
    if (r.ok) {
      stamps?.push(stampOf(rel, r.stats));
      out.hashed.push([rel, sha256(r.bytes)]);
    }
    return r;
  };
  if (refs.scriptFile !== undefined) {
    const r = read(refs.scriptFile);
    // Not converted silently: the file is run as written elsewhere too (by hand, in an editor's terminal).
    if (r.ok && r.bytes.includes('\r\n')) out.diagnostics.push({ file, key: 'build.script-file', message: `"${refs.scriptFile}" has CRLF (Windows) line ends, which bash reads as part of each command: convert it to LF line ends (dos2unix ${shellWord(join(dir, refs.scriptFile))})` });
    else if (r.ok) out.script = r.bytes.toString('utf8');
    else out.diagnostics.push({ file, key: 'build.script-file', message: r.kind === 'missing' ? `"${refs.scriptFile}" not found in ${dir}` : `"${refs.scriptFile}" ${r.problem}` });
  }
  for (const s of refs.sources) {
    const k = `sources[${s.index}]`;
    if (s.localPath === undefined) {
      const unknown = unknownMirror(s.url, at.mirrors);
      if (unknown !== undefined) out.diagnostics.push({ file, key: `${k}.url`, message: unknown });
      continue;
    }
    const r = read(s.localPath);
    if (!r.ok) {
      out.diagnostics.push({ file, key: `${k}.url`, message: r.kind === 'missing' ? `"${s.url}": ${s.localPath} not found in ${dir}` : `"${s.url}": ${s.localPath} ${r.problem}` });
      continue;
    }
    const sum = out.hashed[out.hashed.length - 1]![1];
    out.sums.set(s.index, sum);
    if (s.sha256 !== undefined && s.sha256 !== sum) {
      out.diagnostics.push({ file, key: `${k}.sha256`, message: `${s.localPath} has sha256 ${sum}, the recipe says ${s.sha256} (set sha256 = "${sum}", or leave the line out: a file: source needs none)` });
    }
  }
  return out;
}

/** The PackageSpec of a valid draft whose references all checked out. */
function makeSpec(draft: RecipeDraft, checked: Checked, at: { dir: string; file: string; recipeBytes: Buffer }): PackageSpec {
  const hashed: [string, string][] = [[RECIPE_FILE, sha256(at.recipeBytes)], ...checked.hashed];
  hashed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const recipeHash = sha256(hashed.map(([p, h]) => `${p}\0${h}\n`).join(''));
  const sources = draft.sources.map((s, i) => ({ url: s.url, sha256: s.localPath === undefined ? s.sha256 : checked.sums.get(i), ...(s.rev === undefined ? {} : { rev: s.rev }), dest: s.dest, strip: s.strip }));
  // A git source's commit id is its content hash.
  const sourcesHash = sha256(sources.map((s) => `${s.sha256 ?? s.rev ?? ''}\n`).join(''));
  return {
    name: draft.name,
    version: draft.version,
    release: draft.release,
    summary: draft.summary,
    license: draft.license,
    archs: draft.archs,
    buildDepends: draft.buildDepends,
    depends: draft.depends,
    provides: draft.provides,
    sources,
    build: {
      script: checked.script ?? draft.script ?? '',
      cpus: draft.cpus,
      memoryBytes: draft.memoryBytes,
      timeoutMs: draft.timeoutMs,
      silentTimeoutMs: draft.silentTimeoutMs,
      ...(draft.loopTimeoutMs === undefined ? {} : { loopTimeoutMs: draft.loopTimeoutMs }),
      ...(draft.skipChecks.length === 0 ? {} : { skipChecks: draft.skipChecks }),
    },
    dir: at.dir,
    file: at.file,
    recipeHash,
    recipeFiles: Object.fromEntries(hashed.map(([p, h]) => [p, h.slice(0, 16)])),
    sourcesHash,
    env: draft.env,
    ...(draft.ignore === undefined ? {} : { ignore: draft.ignore }),
    ...(draft.restricted === undefined ? {} : { restricted: draft.restricted }),
    ...(draft.options === undefined ? {} : { options: draft.options }),
    ...(draft.flavours === undefined ? {} : { flavours: draft.flavours }),
  };
}

/**
 * Why a `mirror://NAME/...` url cannot be resolved with the tree's mirrors, or undefined.
 * `debian` is always known: it defaults to the mirror of the host's apt sources (a host
 * without one is told at fetch time, with what to configure).
 */
export function unknownMirror(url: string, mirrors: Readonly<Record<string, string>>): string | undefined {
  const name = /^(?:git\+)?mirror:\/\/([^/]+)\//.exec(url)?.[1];
  if (name === undefined || name === 'debian' || Object.hasOwn(mirrors, name)) return undefined;
  const known = ['debian', ...Object.keys(mirrors).filter((m) => m !== 'debian')];
  return `unknown mirror "${name}" in "${url}": add it under [mirrors] in the tree's kiln.toml (${name} = "https://…"); known: ${known.join(', ')}`;
}
