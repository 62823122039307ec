// What a run scans: the recipe tree, Debian source packages (--debian SUITE SRC…, or a
// tree's debian.toml), or both mixed in one run. Debian sources build in the env
// `<suite>-{arch}` unless --env or kiln.toml names one; such envs are created on demand
// with mmdebstrap from the same mirror, trusting the same keyring (--keyring, debian.toml's).

import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createDownloads } from '../cache/downloads.ts';
import { hostDebianMirror, isDebianSuiteName } from '../config/mirrors.ts';
import type { RootMakers } from '../envs/env-types.ts';
import { emptyTreeConfig } from '../config/load-tree-config.ts';
import type { TreeConfig } from '../config/tree-config.ts';
import type { DebianScan } from '../debian/debian-scan.ts';
import type { DebianBuildMode } from '../debian/debian-spec.ts';
import type { ExtraRepository } from '../debian/extra-repo-line.ts';
import { KilnError, isKilnError } from '../errors.ts';
import { scanRecipeTree, type TreeScan } from '../recipes/scan-tree.ts';
import { scanCacheFileFor } from '../recipes/scan-cache.ts';
import { DEBIAN_FILE } from '../debian/debian-file.ts';
import { formatDiagnostic } from '../plan/spec.ts';
import { hostArch } from './host-env.ts';

// debian.toml's reader (zod) and the env store are imported where
// they are used: a run with no Debian part loads none of them.


/** `kiln build|plan --debian SUITE …` as the CLI parsed it. */
export interface DebianCliRequest {
  readonly suite: string | undefined;
  /** Source packages named on the command line (`name` or `name=version`). */
  readonly sources: readonly string[];
  readonly dscs: readonly string[];
  readonly all: boolean;
  readonly mirror: string | undefined;
  /** --keyring (absolute): what the suite's InRelease must be signed by; default debian.toml's, else Debian's archive keyring. */
  readonly keyring?: string;
  /** --no-check-valid-until: a Release past its Valid-Until is taken (a snapshot mirror). */
  readonly checkValidUntil?: false;
  readonly profiles: readonly string[];
  readonly nocheck: boolean;
  readonly mode: DebianBuildMode;
  readonly cpus: number | undefined;
  /** --binnmu N: binary packages versioned VERSION+bN; auto: the next N for each rebuild (debian/auto-binnmu.ts). */
  readonly binnmu?: number | 'auto' | undefined;
  /** Whether --tree was given (else no recipe tree is scanned). */
  readonly withTree: boolean;
  readonly skipInstallability?: boolean;
  /** --twice: build each package twice with variations (clock, build path, umask) and compare. */
  readonly twice?: boolean;
  /** --verify: compare each built .deb with the archive's binary of the same version. */
  readonly verify?: boolean;
  /** --lintian: run lintian over each built package's .changes (sbuild --run-lintian). */
  readonly lintian?: boolean;
  /** --try-install: each built .deb installed into a fresh root of the env, then purged (execute/debian-try-install.ts). */
  readonly tryInstall?: boolean;
  /** --autopkgtest: the source's tests run by autopkgtest in a fresh root (execute/debian-autopkgtest.ts). */
  readonly autopkgtest?: boolean;
  /** --cross: the archs other than this machine's are cross-built from it (debian/cross.ts). */
  readonly cross?: boolean;
  /** --out DIR: each Debian package's .changes, .buildinfo and .debs are copied there after the run. */
  readonly out?: string;
  /** --extra-repository lines: their binaries join the suite's for the build dependencies. */
  readonly extraRepositories?: readonly ExtraRepository[];
  /** --extra-repository-key files (absolute). */
  readonly extraKeys?: readonly string[];
  /** --extra-package paths (absolute; `where`: the flag as given): .deb files or folders of them. */
  readonly extraPackages?: readonly { readonly path: string; readonly where: string }[];
  /** --components: the archive components read, in the order sources are looked up (default debian.toml's, else main). */
  readonly components?: readonly string[];
  /**
   * Only options (--nocheck, --twice, …) for the tree's debian.toml: no --debian or --dsc
   * was given, so the suite, sources and archs are debian.toml's, and the command's
   * arguments stay build targets.
   */
  readonly optionsOnly?: boolean;
}

/** The flags that shape a Debian build only (--debian and --dsc themselves aside; --profiles is for recipes too). */
export const DEBIAN_ONLY_OPTIONS: readonly string[] = [
  '--mirror', '--keyring', '--no-check-valid-until', '--nocheck', '--binnmu', '--binary-arch', '--binary-indep', '--cpus', '--no-install-check', '--twice', '--verify', '--lintian', '--try-install', '--autopkgtest', '--cross', '--out', '--all',
  '--extra-repository', '--extra-repository-key', '--extra-package', '--components',
];

/**
 * The Debian-only options given on the command line, by long name; with a debian.toml in
 * the tree, --profiles too (it then shapes the Debian part as well as the recipes).
 */
export function debianOptionsGiven(command: Command, treeHasToml = false): string[] {
  return command.options
    .filter((o) => (DEBIAN_ONLY_OPTIONS.includes(o.long ?? '') || (treeHasToml && o.long === '--profiles')) && command.getOptionValueSource(o.attributeName()) === 'cli')
    .map((o) => o.long!);
}

/**
 * The Debian request of a `build`/`plan` command line: `named` (from --debian/--dsc) if
 * given; else, when Debian-only options were given (`given`, their long names), the
 * request carrying them for the tree's debian.toml, or a usage error when the tree has
 * none (the options would be silently ignored). --twice is for a recipe tree too: alone,
 * with no Debian part, it makes no Debian request (kiln build reads it itself).
 */
export function debianRequestOf(named: DebianCliRequest | undefined, given: readonly string[], treeHasToml: boolean, asOptions: () => DebianCliRequest): DebianCliRequest | undefined {
  if (!treeHasToml) given = given.filter((g) => g !== '--twice');
  if (named !== undefined || given.length === 0) return named;
  if (!treeHasToml) {
    throw new KilnError('usage', `${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} to Debian builds only, and this run has none: no --debian SUITE, no --dsc, no ${DEBIAN_FILE} in the tree`, {
      hint: 'give --debian SUITE (e.g. kiln build --debian bookworm hello), or a tree with a debian.toml (--tree DIR; docs/debian.md)',
    });
  }
  return { ...asOptions(), suite: undefined, sources: [], dscs: [], withTree: true, optionsOnly: true };
}

/**
 * Debian source packages build only in the chroot sandbox, with an env (dpkg-buildpackage
 * needs the suite's root; the rootless sandbox maps one uid): refuse the host and rootless
 * sandboxes before the run, not at job time.
 */
export function refuseSandboxForDebian(sandbox: string | undefined, from: string, uid = process.getuid?.()): void {
  // The rootless sandbox maps one uid: as root, a root-made env's files of other owners
  // (apt's lists) cannot be written; without root, dpkg cannot give a build dependency's
  // files to their users (man-db's, with debhelper) and the build dirs to the build user.
  if (sandbox === 'rootless') {
    throw new KilnError('sandbox-unavailable', `Debian source packages do not build in the rootless sandbox yet (${from} chooses it): its user namespace maps ${uid === 0 ? 'root' : 'your uid'} alone, and apt and dpkg need the files of other users (apt's lists, man-db's cache, the build user's)`, {
      hint: 'build Debian source packages as root with the chroot sandbox (drop --sandbox: auto picks chroot as root); docs/debian.md says what fails without root',
    });
  }
  if (sandbox !== 'host') return;
  throw new KilnError('sandbox-unavailable', `Debian source packages build only in an isolated sandbox with an env, but ${from} chooses the host sandbox`, {
    hint: uid === 0 ? 'drop --sandbox host (auto picks chroot as root), or give --sandbox chroot (docs/debian.md)' : 'build Debian source packages as root, with the chroot sandbox (drop --sandbox host: auto picks it as root); docs/debian.md says what fails without root',
  });
}

/**
 * An env of another suite than the run's: its apt would resolve the build dependencies
 * against the wrong release. `suites` are the names the run's Release answers to (the
 * requested name, its Suite and Codename).
 */
export function envSuiteProblem(env: { name: string; suite: string }, suites: readonly string[]): KilnError | undefined {
  if (suites.includes(env.suite)) return undefined;
  const suite = suites[0] ?? '?';
  // An env under the very name kiln would make for this suite, holding another one (made by hand, or by an older kiln).
  const ownName = env.name.startsWith(`${suite}-`);
  return new KilnError('config-invalid', `env "${env.name}" is of suite ${env.suite}, but this run builds Debian sources of ${suite}`, {
    hint: ownName
      ? `its name is the one kiln gives the ${suite} env: remove it (kiln env destroy ${env.name}) and kiln makes it afresh, or build in another with --env NAME`
      : `build in an env of ${suite}: drop --env (kiln makes ${suite}-{arch} on demand), or name one, e.g. --env "${suite}-{arch}"`,
  });
}

export interface RunScan extends TreeScan {
  /** The env template the Debian part wants (`<suite>-{arch}`), if any. */
  readonly debianEnv: string | undefined;
  readonly debian: DebianScan | undefined;
  /** --cross: every job of the run builds in the env of this arch (this machine's). */
  readonly crossFrom?: string;
}

export interface ScanForRunOptions {
  readonly treeDir: string;
  readonly stateDir: string;
  readonly cacheDir: string;
  readonly archs: readonly string[];
  readonly debian: DebianCliRequest | undefined;
  /** --sandbox (a Debian part refuses `host`; default: kiln.toml's). */
  readonly sandbox?: string | undefined;
  readonly signal?: AbortSignal;
}

export async function scanForRun(o: ScanForRunOptions, archsOf: (config: TreeConfig) => readonly string[]): Promise<RunScan> {
  const treeDir = resolve(o.treeDir);
  const tomlPath = join(treeDir, DEBIAN_FILE);
  const treeHasDebian = (o.debian === undefined || o.debian.withTree) && existsSync(tomlPath);
  const scanTree = o.debian === undefined || o.debian.withTree;
  const tree: TreeScan = scanTree
    ? await scanRecipeTree(treeDir, { ...(o.signal === undefined ? {} : { signal: o.signal }), cacheFile: scanCacheFileFor(o.stateDir, treeDir) })
    : { specs: [], invalid: [], diagnostics: [], config: emptyTreeConfig('(no tree)') };
  if (o.debian === undefined && !treeHasDebian) return { ...tree, debianEnv: undefined, debian: undefined };
  const chosen = o.sandbox ?? tree.config.sandbox;
  refuseSandboxForDebian(chosen, o.sandbox !== undefined ? `--sandbox ${chosen}` : `kiln.toml's sandbox = "${chosen}"`);
  // The suite and archs are debian.toml's unless the command line names a Debian request.
  const fromToml = o.debian === undefined || o.debian.optionsOnly === true;

  const toml = treeHasDebian ? await (await import('../debian/debian-toml.ts')).readDebianToml(tomlPath) : undefined;
  if (toml !== undefined && toml.config === undefined) {
    throw new KilnError('config-invalid', `${tomlPath} is invalid:\n${toml.diagnostics.map((d) => `  ${formatDiagnostic(d)}`).join('\n')}`, { hint: 'docs/debian.md describes debian.toml' });
  }
  const t = toml?.config;
  const suite = o.debian?.suite ?? t?.suite;
  if (suite === undefined) throw new KilnError('usage', 'no Debian suite: give --debian SUITE or suite = "…" in debian.toml', { hint: 'e.g. kiln build --debian bookworm hello' });
  const mirror = o.debian?.mirror ?? t?.mirror ?? (await hostDebianMirror({}));
  if (mirror === undefined) {
    throw new KilnError('mirror-unknown', 'no Debian mirror: the host\'s apt sources name none, and neither --mirror nor debian.toml does', { hint: 'pass --mirror URL (the directory holding dists/ and pool/)' });
  }
  const archs = t?.archs !== undefined && fromToml ? t.archs : archsOf(tree.config);
  const sources = [...(t?.sources ?? []), ...(o.debian?.sources ?? [])];
  const dscs = [...(t?.dscs ?? []), ...(o.debian?.dscs ?? []).map((p) => resolve(p))];
  if (sources.length === 0 && dscs.length === 0 && o.debian?.all !== true) {
    throw new KilnError('usage', `no Debian source packages to build from ${suite}`, { hint: 'name them: kiln build --debian bookworm hello [SRC[=VERSION]…], or --dsc FILE, or --all (plan only)' });
  }
  // debian.toml's extra repositories first, then the command line's (apt reads them all alike).
  const extraRepositories = [...(t?.extraRepositories ?? []), ...(o.debian?.extraRepositories ?? [])];
  const extraKeys = [...(t?.extraKeys ?? []), ...(o.debian?.extraKeys ?? [])];
  if (extraKeys.length > 0 && extraRepositories.length === 0) {
    const fromFlag = (o.debian?.extraKeys ?? []).length > 0;
    throw new KilnError(fromFlag ? 'usage' : 'config-invalid', `${fromFlag ? '--extra-repository-key' : `${tomlPath}: extra-repository-keys`} names a key for extra repositories, but this run has none`, { hint: 'add the repository too: --extra-repository "deb URI SUITE [COMPONENT…]" (or extra-repositories in debian.toml)' });
  }
  // debian.toml's keys are files of the tree: a missing one is said here, naming its key.
  (t?.extraKeys ?? []).forEach((k, i) => {
    if (!existsSync(k)) throw new KilnError('config-invalid', `${tomlPath}: extra-repository-keys[${i}]: ${k} does not exist`, { hint: 'put the repository\'s keyring into the tree (kiln key export -o keys/repo.asc writes kiln\'s) and name it relative to debian.toml' });
  });
  // The suite's keyring: the command line's, else debian.toml's (a file of the tree, said here naming its key).
  const keyring = o.debian?.keyring ?? t?.keyring;
  if (o.debian?.keyring === undefined && t?.keyring !== undefined && !existsSync(t.keyring)) {
    throw new KilnError('config-invalid', `${tomlPath}: keyring: ${t.keyring} does not exist`, { hint: 'put the keyring the archive is signed with into the tree (binary .gpg or ASCII-armoured .asc) and name it relative to debian.toml' });
  }
  for (const r of t?.extraRepositories ?? []) {
    if (r.signedBy !== undefined && !existsSync(r.signedBy)) throw new KilnError('config-invalid', `${r.where} "${r.line}": signed-by ${r.signedBy} does not exist`, { hint: 'put the keyring into the tree and name it relative to debian.toml' });
  }
  // --extra-package and debian.toml's extra-packages, read now: a bad one is said before anything is fetched.
  const extraInputs = [
    ...(t?.extraPackages ?? []).map((path, i) => ({ path, where: `${tomlPath}: extra-packages[${i}]`, code: 'config-invalid' as const })),
    ...(o.debian?.extraPackages ?? []).map((x) => ({ ...x, code: 'usage' as const })),
  ];
  const extraPackages = extraInputs.length === 0 ? [] : await (await import('../debian/extra-packages.ts')).collectExtraPackages(extraInputs, o.signal === undefined ? {} : { signal: o.signal });
  // The components: the command line's, else debian.toml's, else main (debian/components.ts).
  const components = o.debian?.components ?? t?.components;
  const downloads = createDownloads({ cacheDir: o.cacheDir, mirrors: {} });
  // Loaded only for Debian runs (it brings OpenPGP and the index code).
  const { scanDebian } = await import('../debian/debian-scan.ts');
  const binnmu = o.debian?.binnmu ?? t?.binnmu;
  if (binnmu !== undefined && o.debian?.mode === 'binary-indep') {
    throw new KilnError('usage', '--binnmu and --binary-indep exclude each other: a binNMU rebuilds the architecture-dependent packages only', { hint: 'drop one of them' });
  }
  // --cross: the build arch is this machine's (a job for it, and arch-independent ones, build natively).
  const cross = o.debian?.cross === true || t?.cross === true ? hostArch() : undefined;
  const debian = await scanDebian({
    suite,
    mirror,
    archs,
    sources,
    dscs,
    all: o.debian?.all === true,
    ...(components === undefined ? {} : { components }),
    options: {
      profiles: [...new Set([...(t?.profiles ?? []), ...(o.debian?.profiles ?? [])])],
      nocheck: o.debian?.nocheck === true || t?.nocheck === true,
      // A binNMU rebuilds the architecture-dependent packages only (-B), as Debian's do;
      // an automatic one builds the rest too, under the source's version (auto-binnmu.ts).
      mode: typeof binnmu === 'number' ? 'binary-arch' : (o.debian?.mode ?? 'binary'),
      ...(binnmu === undefined ? {} : binnmu === 'auto' ? { autoBinnmu: true as const } : { binnmu }),
    },
    cpus: o.debian?.cpus ?? t?.cpus ?? 1,
    memoryBytes: t?.memoryBytes ?? 4 * 1024 ** 3,
    timeoutMs: t?.timeoutMs,
    ...(t?.loopTimeoutMs === undefined ? {} : { loopTimeoutMs: t.loopTimeoutMs }),
    ...(o.debian?.skipInstallability === true ? { skipInstallability: true } : {}),
    ...(o.debian?.twice === true ? { twice: true } : {}),
    ...(o.debian?.tryInstall === true || t?.tryInstall === true ? { tryInstall: true } : {}),
    ...(o.debian?.autopkgtest === true || t?.autopkgtest === true ? { autopkgtest: true } : {}),
    ...(cross === undefined ? {} : { cross }),
    origin: {
      suite: o.debian?.suite === undefined ? { code: 'config-invalid', where: `${tomlPath}: suite` } : { code: 'usage', where: '--debian' },
      archs: t?.archs !== undefined && fromToml ? { code: 'config-invalid', where: `${tomlPath}: archs` } : { code: 'usage', where: '--arch' },
      keyring: o.debian?.keyring === undefined && t?.keyring !== undefined ? { code: 'config-invalid', where: `${tomlPath}: keyring` } : { code: 'usage', where: '--keyring' },
      cross: o.debian?.cross === true ? { code: 'usage', where: '--cross' } : { code: 'config-invalid', where: `${tomlPath}: cross` },
      components: o.debian?.components === undefined && t?.components !== undefined ? { code: 'config-invalid', where: `${tomlPath}: components` } : { code: 'usage', where: '--components' },
    },
    ...(keyring === undefined ? {} : { keyring }),
    ...(o.debian?.checkValidUntil === false || t?.checkValidUntil === false ? { checkValidUntil: false as const } : {}),
    ...(extraRepositories.length === 0 ? {} : { extraRepositories }),
    ...(extraKeys.length === 0 ? {} : { extraKeys }),
    ...(extraPackages.length === 0 ? {} : { extraPackages }),
    cacheDir: o.cacheDir,
    downloads,
    ...(o.signal === undefined ? {} : { signal: o.signal }),
  });
  const names = new Set(tree.specs.map((s) => s.name));
  for (const s of debian.specs) {
    if (names.has(s.name)) throw new KilnError('config-invalid', `${s.name} is both a recipe in ${treeDir} and a Debian source package of this run`, { hint: 'rename the recipe or drop one of them' });
  }
  return {
    ...tree,
    specs: [...tree.specs, ...debian.specs],
    invalid: [...tree.invalid, ...debian.invalid],
    diagnostics: [...tree.diagnostics, ...debian.diagnostics],
    config: { ...tree.config, archs: tree.config.archs ?? archs },
    debianEnv: `${suite}-{arch}`,
    debian,
    ...(cross === undefined ? {} : { crossFrom: cross }),
  };
}

/** --cross with --nats: a worker builds each job in an env of the job's own arch, so it would not cross-build. */
export function crossWithNats(fromEnv: boolean, what = '--cross'): KilnError {
  return new KilnError('usage', `${what} with --nats${fromEnv ? ' ($KILN_NATS)' : ''}: not supported yet (the workers build each job in an env of its own arch)`, {
    hint: 'cross-build here without --nats (unset KILN_NATS), or through the workers without --cross (natively, under QEMU where needed)',
  });
}

/** The names a Release answers to (its Suite and Codename), for matching an env's suite. */
export function releaseNames(release: { readonly suite?: string | undefined; readonly codename?: string | undefined }): string[] {
  return [release.suite, release.codename].filter((n): n is string => n !== undefined);
}

/** Create the envs a Debian run needs when they do not exist yet (mmdebstrap buildd). */
export async function ensureDebianEnvs(o: { stateDir: string; template: string; suite: string; mirror: string; keyring?: string | undefined; checkValidUntil?: false | undefined; archs: readonly string[]; note: (t: string) => void; signal?: AbortSignal; suiteNames?: readonly string[]; makers?: Partial<RootMakers> }): Promise<void> {
  const { createEnvStore } = await import('../envs/env-store.ts');
  // Another kiln making the same env (two builds started at once) is waited for, and said.
  const store = createEnvStore({ stateDir: o.stateDir, onLockWait: (m) => o.note(m), ...(o.makers === undefined ? {} : { makers: o.makers }) });
  const suites = [o.suite, ...(o.suiteNames ?? [])];
  for (const arch of o.archs) {
    const name = o.template.replaceAll('{arch}', arch);
    try {
      const env = await store.get(name);
      const problem = envSuiteProblem(env, suites);
      if (problem !== undefined) throw problem;
    } catch (e) {
      if (!isKilnError(e) || e.code !== 'env-not-found') throw e;
      // Made on demand only under the name kiln gives it: another name (--env, kiln.toml's
      // env) that does not exist is a typo or an env still to make, as a missing sbuild chroot is.
      if (name !== `${o.suite}-${arch}`) {
        // A name of kiln's form for another suite (trixie-amd64 for a bookworm run): creating it for this suite would mislabel it.
        const named = name.endsWith(`-${arch}`) ? name.slice(0, -arch.length - 1) : undefined;
        if (named !== undefined && !suites.includes(named) && isDebianSuiteName(named)) {
          throw new KilnError('env-not-found', `env "${name}" does not exist, and its name says ${named}, but this run builds Debian sources of ${o.suite} for ${arch}`, {
            hint: `leave out --env (and kiln.toml's env), and kiln makes ${o.suite}-${arch} itself, or give --env "${o.suite}-{arch}"; to build ${named}, use --debian ${named}`,
          });
        }
        // The run's own reading of the suite, for the env to read it alike.
        const alike = `${o.keyring === undefined ? '' : ` --keyring ${o.keyring}`}${o.checkValidUntil === false ? ' --no-check-valid-until' : ''}`;
        throw new KilnError('env-not-found', `env "${name}" does not exist (this run builds Debian sources of ${o.suite} for ${arch})`, {
          hint: `create it: kiln env create ${name} --suite ${o.suite} --arch ${arch}${alike}; or leave out --env (and kiln.toml's env), and kiln makes ${o.suite}-{arch} itself; kiln env list shows the envs there are`,
        });
      }
      o.note(`creating env ${name} (${o.suite} ${arch}, mmdebstrap buildd) for the Debian build; this takes a minute or two`);
      try {
        await store.create(name, { suite: o.suite, arch, mirror: o.mirror, ...(o.keyring === undefined ? {} : { keyring: o.keyring }), ...(o.checkValidUntil === false ? { checkValidUntil: false as const } : {}), ...(o.signal === undefined ? {} : { signal: o.signal }) });
      } catch (made) {
        // Made meanwhile by the other kiln this one waited for: used, once it is of this suite.
        if (!isKilnError(made) || made.code !== 'env-exists') throw made;
        const problem = envSuiteProblem(await store.get(name), suites);
        if (problem !== undefined) throw problem;
        o.note(`env ${name} was made meanwhile by another kiln: the build uses it`);
      }
    }
  }
}
