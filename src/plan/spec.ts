// PackageSpec: what every package source (a tree of kiln recipes, Debian source
// packages) turns a package into. Plan, schedule and execute only ever see these.

import type { AltGroup, Provide } from '../debian/relation-types.ts';
import type { DebianBuildSpec } from '../debian/debian-spec.ts';

export interface SourceSpec {
  /** As written: `file:x.tar.gz`, `https://…`, `http://…`, `mirror://NAME/path`, `git+https://…`. */
  readonly url: string;
  /** Required for every non-file:, non-git url; for file: urls it is computed at scan time. */
  readonly sha256: string | undefined;
  /** A git source's commit id (40 hex digits), which stands in for its sha256. */
  readonly rev?: string;
  /** Sub-directory of $SRCDIR to extract or copy into (validated: relative, no `..`). */
  readonly dest: string;
  /** Leading path components to strip when extracting an archive. */
  readonly strip: number;
}

export interface BuildSpec {
  readonly script: string;
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly timeoutMs: number | undefined;
  readonly silentTimeoutMs: number | undefined;
  /** Kill the build when one line repeats for this long (logs/loop-watch.ts); 0: never; absent: kiln's default (30 min). */
  readonly loopTimeoutMs?: number | undefined;
  /** Output checks this recipe turns off (`skip-checks`): only "arch" so far. */
  readonly skipChecks?: readonly string[];
}

/** An option's name: it becomes part of an environment variable's name ($KILN_OPTION_NAME). */
export const OPTION_NAME_RE = /^[a-z][a-z0-9-]*$/;

/**
 * One of a recipe's options (`[options.NAME]`, poudriere's OPTIONS, BitBake's
 * PACKAGECONFIG): on or off for a run (plan/options.ts), its relations added when on.
 */
export interface OptionSpec {
  readonly name: string;
  /** On unless the run turns it off (kiln.toml [options], --option). */
  readonly default: boolean;
  readonly summary?: string;
  /** Added to the package's build-depends when the option is on. */
  readonly buildDepends: readonly AltGroup[];
  /** Added to the package's depends when the option is on. */
  readonly depends: readonly AltGroup[];
}

/**
 * One of a recipe's flavours (`[flavours.ID]`, poudriere's FLAVORS): another package built
 * from the same recipe, under its own name, with some of the recipe's options pinned.
 */
export interface FlavourSpec {
  readonly id: string;
  /** Its package name: `name` in its table, else `<recipe name>-<id>`. */
  readonly name: string;
  /** The options it pins, over the recipe's defaults and the run's settings. */
  readonly options: Readonly<Record<string, boolean>>;
}

/** The recipe hash of a package's node for `arch`: its own when the inputs differ by arch, else the one of the spec. */
export function recipeHashOf(spec: Pick<PackageSpec, 'recipeHash' | 'recipeHashByArch'>, arch: string): string {
  return spec.recipeHashByArch?.[arch] ?? spec.recipeHash;
}

export interface PackageSpec {
  readonly name: string;
  readonly version: string;
  readonly release: number;
  readonly summary: string;
  readonly license: string;
  /** `any`, `all`, or Debian arch names. */
  readonly archs: readonly string[];
  readonly buildDepends: readonly AltGroup[];
  readonly depends: readonly AltGroup[];
  readonly provides: readonly Provide[];
  readonly sources: readonly SourceSpec[];
  readonly build: BuildSpec;
  /** Absolute path of the package's folder. */
  readonly dir: string;
  /** The category folder of the tree the package's folder is in (recipes/tree-folders.ts), if any. */
  readonly category?: string;
  /** Absolute path of the recipe file (for diagnostics). */
  readonly file: string;
  /**
   * sha256 over the recipe and every file it references (script-file, file: sources),
   * as `path\0sha256\n` lines sorted by path. Part of the input key.
   */
  readonly recipeHash: string;
  /** The files recipeHash covers, path → the start of its sha256 (why a rebuild is due names the one that changed: input-parts.ts). */
  readonly recipeFiles?: Readonly<Record<string, string>>;
  /** Per arch, when the inputs differ by arch (a Debian source: each arch's mode and resolution); else recipeHash. */
  readonly recipeHashByArch?: Readonly<Record<string, string>>;
  /** sha256 over the sorted checksums of every source. Part of the input key. */
  readonly sourcesHash: string;
  /** Environment name requested by the recipe or tree (isolation issue), if any. */
  readonly env: string | undefined;
  /** Set for a Debian source package: built with dpkg-buildpackage instead of build.script. */
  readonly debian?: DebianBuildSpec;
  /**
   * Why the package is not built (recipe key `ignore`, poudriere's IGNORE): it is broken
   * with this reason, and so is what needs it, but neither fails the run.
   */
  readonly ignore?: string;
  /**
   * Why the package may not be redistributed (recipe key `restricted`, pkgsrc's RESTRICTED):
   * it is built and staged for its dependents, its artifact kept in the cache, but it is left
   * out of the package index and packages/All, and `kiln serve` does not hand it out.
   */
  readonly restricted?: string;
  /** The options the recipe declares, by name (absent: none). */
  readonly options?: readonly OptionSpec[];
  /**
   * Each declared option on or off in this run, by name: set when the plan applies the
   * run's settings (plan/options.ts applyOptions), which also adds the relations of the
   * options that are on and makes the values part of recipeHash.
   */
  readonly optionValues?: Readonly<Record<string, boolean>>;
  /** The flavours the recipe declares (on the recipe's own package; absent: none). */
  readonly flavours?: readonly FlavourSpec[];
  /** Set on the package of a flavour (recipes/flavours.ts): which flavour of which recipe's package it is, and what it pins. */
  readonly flavour?: { readonly id: string; readonly of: string; readonly options: Readonly<Record<string, boolean>> };
}

/** A problem found while reading input, located by file and key. */
export interface Diagnostic {
  readonly file: string;
  /** Dotted key path (`build.cpus`, `sources[1].url`), absent for whole-file problems. */
  readonly key?: string;
  readonly message: string;
}

/**
 * `FILE: KEY: MESSAGE` (`FILE: MESSAGE` for a whole-file problem) on one line, as every
 * listing shows one: a line break in the message (a quoted value) is written `\n`.
 */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}: ${d.key === undefined ? '' : `${d.key}: `}${d.message.replaceAll('\r', '\\r').replaceAll('\n', '\\n')}`;
}

/** A package whose recipe could not be read: it is planned as `broken`. */
export interface InvalidPackage {
  readonly name: string;
  /** The recipe's version when it parsed and is valid (shown instead of "?"). */
  readonly version?: string;
  /** The recipe's archs when they parsed and are valid (else: one node per target arch). */
  readonly archs?: readonly string[];
  /** The recipe's provides when they parsed and are valid: what needs one hears "which is broken". */
  readonly provides?: readonly Provide[];
  readonly dir: string;
  /** The category folder of the tree the package's folder is in, if any. */
  readonly category?: string;
  readonly diagnostics: readonly Diagnostic[];
  /** A Debian source package (its problems are headed "not buildable", not "invalid recipe"). */
  readonly debian?: true;
  /** A name found in several package folders (recipes/tree-folders.ts duplicatePackage): headed "name in several folders". */
  readonly duplicate?: true;
}

export interface ScanResult {
  readonly specs: readonly PackageSpec[];
  readonly invalid: readonly InvalidPackage[];
  /** Problems not tied to one package (kiln.toml, duplicate names). */
  readonly diagnostics: readonly Diagnostic[];
}

/** A source of packages: a recipe tree now, Debian suites later. */
export interface PackageSource {
  readonly kind: string;
  scan(options: { signal?: AbortSignal }): Promise<ScanResult>;
}
