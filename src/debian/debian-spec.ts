// What a Debian source package carries through plan and schedule to execute, beside the
// generic PackageSpec fields (name = source name, version = Debian version, provides =
// the binaries it builds, buildDepends = only the relations that wait on this run's own
// binaries; everything else is satisfied from the archive inside the sandbox).

import type { SourcePackage } from './sources-index.ts';
import type { BinaryUniverse } from './lazy-index.ts';
import type { SuiteRelease } from './indexes.ts';
import type { ExtraRepositoryUsed } from './extra-repos.ts';
import type { ExtraPackage } from './extra-package-use.ts';

/**
 * What every Debian build installs beside its build dependencies (build-essential is in
 * the env already): fakeroot, and faketime for --twice. Part of the input key.
 */
export function debianExtras(twice: boolean): string[] {
  return ['fakeroot', ...(twice ? ['faketime'] : [])];
}

/** dpkg-buildpackage's -b, -B (binary-arch) or -A (binary-indep). */
export type DebianBuildMode = 'binary' | 'binary-arch' | 'binary-indep';

export interface DebianOptions {
  /** Build profiles (DEB_BUILD_PROFILES, and relation `<…>` evaluation). */
  readonly profiles: readonly string[];
  /** Add `nocheck` to DEB_BUILD_OPTIONS (and the nocheck profile). */
  readonly nocheck: boolean;
  /** Default `binary`: -b on the first arch, -B on the others (as Debian's buildds do). */
  readonly mode: DebianBuildMode;
  /**
   * A binNMU number (sbuild's --binNMU with --make-binNMU): a binary-only changelog entry
   * makes the binary packages VERSION+bN, so a rebuild never has an archive version's
   * name with other bytes, and sorts after it. Undefined: the source's version.
   */
  readonly binnmu?: number;
  /**
   * --binnmu auto: `binnmu` is not given but chosen when the job starts (auto-binnmu.ts):
   * none for a first build of the version, else the next number. Part of the key; the
   * number chosen is not.
   */
  readonly autoBinnmu?: true;
}

/** One suite's verified indexes for the run, shared by all its packages. */
export interface DebianSuite {
  readonly suite: string;
  readonly mirror: string;
  readonly release: SuiteRelease | undefined;
  /**
   * The keyring `release` was verified with (--keyring, debian.toml's keyring), for what else
   * reads the suite (--verify, a new env's mmdebstrap); undefined: Debian's archive keyring.
   */
  readonly keyring?: string;
  /** false: its Release was taken past its Valid-Until (--no-check-valid-until), as what else reads the suite must. */
  readonly checkValidUntil?: false;
  /**
   * The archive components read, in the order sources are looked up (--components, debian.toml's
   * components; default main): `packages` holds the binaries of all of them.
   */
  readonly components?: readonly string[];
  /** The extra repositories whose binaries are in `packages` (their stanzas name them: X-Kiln-Mirror). */
  readonly extras?: readonly ExtraRepositoryUsed[];
  /**
   * --extra-package: local .debs whose stanzas are in `packages` of each arch they fit (the
   * suite's stanzas of their names left out), staged into every build root that can use
   * them (extra-package-use.ts), pinned with the run's own .debs.
   */
  readonly extraPackages?: readonly ExtraPackage[];
  /** Host path of the verified, decompressed Packages of `arch`, and its lazy view. */
  packages(arch: string): { readonly path: string; readonly universe: BinaryUniverse };
}

export interface DebianBuildSpec {
  readonly suite: DebianSuite;
  /** The source as Sources lists it (for a local .dsc: made from its fields). */
  readonly source: SourcePackage;
  /** Set for a local .dsc: its path (files beside it). */
  readonly dscPath: string | undefined;
  /**
   * The archive component the source was found in (the first of the run's that has it), for
   * the plan and the log; undefined for a local .dsc. Not part of the key: the source's files
   * and the resolved build dependencies are, and they are all a component changes.
   */
  readonly component?: string;
  readonly options: DebianOptions;
  /** The run's first arch: where arch-independent packages are built, whose index an `all` job uses. */
  readonly primaryArch: string;
  /** dpkg-buildpackage mode for each arch this source is built for. */
  readonly modeFor: Readonly<Record<string, DebianBuildMode>>;
  /** --binnmu auto chose a number for this build (auto-binnmu.ts): why, for its log. */
  readonly binnmuWhy?: string;
  /** Build a second time with varied clock, build path and umask and compare (not part of the key). */
  readonly twice: boolean;
  /** --try-install: each built .deb installed into a fresh root, then purged (execute/debian-try-install.ts); not part of the key. */
  readonly tryInstall?: boolean;
  /** --autopkgtest: the source's tests run by autopkgtest in a fresh root (execute/debian-autopkgtest.ts); not part of the key. */
  readonly autopkgtest?: boolean;
  /** --cross: the build arch (this machine's) every other arch's job is cross-built from (cross.ts); not otherwise. */
  readonly cross?: string;
  /** Per arch: the build dependencies a greedy resolver installs (`name=version`), part of the key. */
  readonly chosen: Readonly<Record<string, readonly string[]>>;
}
