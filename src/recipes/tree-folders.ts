// Where a recipe tree's packages are: one folder per package holding recipe.toml, either
// right in the tree or one level down in a category folder (`devel/libfoo/recipe.toml`,
// as ports trees, pkgsrc and BitBake layers group them). A folder of the tree without a
// recipe.toml is a category; deeper folders are never looked at. A package's name is its
// folder's name wherever it is, so names are unique across categories: a name in two
// folders is one broken package naming both (duplicateNames, duplicatePackage).

import { existsSync, readdirSync, readlinkSync, statSync, type Dirent, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { Diagnostic } from '../plan/spec.ts';
import type { Provide } from '../debian/relation-types.ts';
import { fsProblem } from './local-file.ts';
import { PACKAGE_NAME_RE } from './package-name.ts';

export const RECIPE_FILE = 'recipe.toml';

/** A folder that may be a package; `problem` when it cannot be one. */
export interface Folder {
  /** The folder's name: the package's name. */
  readonly name: string;
  /** Its path in the tree: `name`, or `category/name`. */
  readonly rel: string;
  /** The category folder it is in, if any. */
  readonly category?: string;
  readonly problem?: string;
}


/**
 * The package folders among the entries of the tree (or of one of its categories), sorted:
 * directories and symlinks to directories (hidden ones excepted). A symlink that is
 * dangling or leads to a file is reported when its name could be a package's (a README.md
 * or kiln.toml link is not).
 */
export function packageFolders(dir: string, entries: readonly Dirent[], category?: string): Folder[] {
  const out: Folder[] = [];
  for (const e of entries) {
    const f = folderOf(dir, e, category);
    if (f !== undefined) out.push(f);
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The entry `e` of `dir` as a folder that may be a package (see packageFolders), or undefined. */
function folderOf(dir: string, e: Dirent, category: string | undefined): Folder | undefined {
  if (e.name.startsWith('.')) return undefined;
  let problem: string | undefined;
  if (e.isSymbolicLink()) {
    const p = linkProblem(join(dir, e.name), e.name);
    if (p === null) return undefined;
    problem = p;
  } else if (!e.isDirectory()) return undefined;
  const at = category === undefined ? { name: e.name, rel: e.name } : { name: e.name, rel: `${category}/${e.name}`, category };
  return problem === undefined ? at : { ...at, problem };
}

/** The package folders of the category folder `category` of the tree at `root`; none when it cannot be listed. */
export function categoryFolders(root: string, category: string): Folder[] {
  const dir = join(root, category);
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return []; // gone, or not a folder one can list: nothing in it is read either
  }
  return packageFolders(dir, entries, category);
}

/**
 * The tree's package folders that hold a recipe.toml, categories included, in no set order
 * and one at a time: a caller that needs one stops there, after a stat or two.
 */
export function* treePackageFolders(root: string, entries: readonly Dirent[]): Generator<Folder> {
  for (const e of entries) {
    const f = folderOf(root, e, undefined);
    if (f === undefined || f.problem !== undefined) continue;
    if (existsSync(join(root, f.rel, RECIPE_FILE))) yield f;
    else for (const c of categoryFolders(root, f.name)) if (c.problem === undefined && existsSync(join(root, c.rel, RECIPE_FILE))) yield c;
  }
}

/**
 * For a symlinked folder: undefined when it leads to a directory, the problem when its name
 * could be a package's but it leads nowhere or to a file, null when it is not one at all.
 */
function linkProblem(path: string, name: string): string | undefined | null {
  let st: Stats | undefined;
  let error: unknown;
  try {
    st = statSync(path, { throwIfNoEntry: false });
  } catch (e) {
    error = e;
  }
  if (st?.isDirectory() === true) return undefined;
  if (!PACKAGE_NAME_RE.test(name) || name === 'kiln.toml') return null;
  let target = '?';
  try {
    target = readlinkSync(path);
  } catch {
    // Gone since the listing: the message still says what it was.
  }
  const fix = 'a package folder must be a directory, or a symlink to one, holding recipe.toml';
  if (error !== undefined) return `is a symlink to "${target}" that ${fsProblem(error, path).problem}: ${fix}`;
  if (st === undefined) return `is a symlink to "${target}", which does not exist: ${fix}`;
  return `is a symlink to "${target}", which is not a directory: ${fix}`;
}

/**
 * Package names found in several folders (categories make it possible), each with the
 * positions in `found` of its folders, in order. Pure.
 */
export function duplicateNames(found: readonly { readonly name: string }[]): Map<string, number[]> {
  const byName = new Map<string, number[]>();
  found.forEach((f, i) => {
    const list = byName.get(f.name);
    if (list === undefined) byName.set(f.name, [i]);
    else list.push(i);
  });
  for (const [name, at] of byName) if (at.length < 2) byName.delete(name);
  return byName;
}

/**
 * The one broken package a repeated name becomes, whatever its recipes say: a diagnostic
 * naming every folder, then each folder's own problems. Its category: none (it has several).
 * What the recipes that parsed provide stays known (what needs it then hears "which is
 * broken", not "not in the tree"), and the first one's version is shown.
 */
export function duplicatePackage(
  name: string,
  folders: readonly { readonly dir: string; readonly rel: string; readonly diagnostics?: readonly Diagnostic[]; readonly version?: string; readonly provides?: readonly Provide[] }[],
): { name: string; dir: string; diagnostics: Diagnostic[]; duplicate: true; version?: string; provides?: Provide[] } {
  const first = folders[0]!;
  const message = `the package name "${name}" is in ${folders.length} folders: ${folders.map((f) => f.rel).join(', ')}: a name must be unique in the tree, across categories; rename or remove all but one`;
  const version = folders.find((f) => f.version !== undefined)?.version;
  const provides = folders.flatMap((f) => f.provides ?? []);
  return {
    name, dir: first.dir, diagnostics: [{ file: first.dir, message }, ...folders.flatMap((f) => f.diagnostics ?? [])], duplicate: true,
    ...(version === undefined ? {} : { version }),
    ...(provides.length === 0 ? {} : { provides }),
  };
}
