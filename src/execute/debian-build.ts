// One Debian source package built the way sbuild builds it, inside the job's sandbox
// (which has no network at any point):
//
//   fetch    the .dsc and its files through the downloads cache, checked against the
//            verified Sources (or a local .dsc's own checksums), into $SRCDIR
//   install  as root in the sandbox: apt sources are the suite's verified Packages (cut
//            to the closure of the build dependencies) as a local flat repository
//            (/kiln/apt/archive) plus this run's fresh .debs staged
//            in $SYSROOT (pinned above the archive); `apt-get build-dep -s` says what to
//            install; kiln fetches those .debs on the host through the downloads cache
//            (sha256 from the verified index) into the local repository's pool; then
//            `apt-get build-dep` installs them offline; --extra-package .debs the job can use
//            are staged beside this run's own (so pinned above the archive too)
//   build    as the build user: dpkg-source -x, then (a run of its own, so that a failure
//            names the step) dpkg-buildpackage -b/-B/-A in the fixed build path
//            /build/reproducible-path, DEB_BUILD_OPTIONS=parallel=N [nocheck],
//            SOURCE_DATE_EPOCH from debian/changelog (dpkg's own default), and HOME a path
//            that does not exist and cannot be made (NONEXISTENT_HOME), as on Debian's buildds
//   collect  .deb, .udeb, .buildinfo, .changes into $DESTDIR (packed as the artifact)

import { mkdir, rm, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Downloads } from '../cache/downloads.ts';
import { debianExtras } from '../debian/debian-spec.ts';
import { stagedDebName, type ExtraPackage } from '../debian/extra-package-use.ts';
import { jobExtraPackages, stageExtraPackages } from './debian-build-extra.ts';
import { shellQuote } from '../lib/shell-quote.ts';
import { aptBuildDepArgs, binnmuScript, debBuildOptions, dpkgBuildpackageFlag, HAS_INDEP_PACKAGES, parseAptSimulation } from './debian-build-steps.ts';
import { fetchWanted, localPackages, NO_SERVICE_STARTS, offlineSourcesScript, stagedDebs, stagedKey, stanzasOfNames, writeCutArchive } from './debian-offline-apt.ts';
import { crossClosure, crossExtras, crossStanzas, isCrossJob, jobOptions } from '../debian/cross.ts';
import { buildTwice, VARIANT_PATH } from './debian-twice.ts';
import { fetchSource, placeSource, readLocalDsc, type FetchedSource } from '../debian/dsc.ts';
import { closure } from '../debian/binary-closure.ts';
import { depsLayerKey, depsLayers } from '../cache/deps-layers.ts';
import { buildDependsFor } from '../debian/source-relations.ts';
import type { JobPhase } from '../events/events.ts';
import type { JobLog } from '../logs/job-log.ts';
import type { FailureReason } from '../plan/job.ts';
import type { PackageSpec } from '../plan/spec.ts';
import type { RunResult, Sandbox } from '../sandbox/sandbox.ts';
import { withCcachePath } from './ccache.ts';
import { DPKG_STATUS, installedFromStatus, PACKAGE_VERSIONS_NOTE, packageVersionLines } from '../envs/package-versions.ts';

/** The build path reproducible-builds tooling expects (sbuild uses the same). */
export const BUILD_PATH = '/build/reproducible-path';

/**
 * HOME of a Debian build: a path that does not exist and that the build user cannot make
 * (its parent is the root's `/`), as Debian's buildds have it (sbuild: /sbuild-nonexistent).
 * A package whose build writes to HOME then fails here as it fails there.
 */
export const NONEXISTENT_HOME = '/kiln-nonexistent';


const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export async function fetchDebianSource(spec: PackageSpec, o: { srcDir: string; downloads: Downloads; note: (t: string) => void; signal: AbortSignal }): Promise<string> {
  const d = spec.debian!;
  const fetched: FetchedSource = d.dscPath !== undefined
    ? await readLocalDsc(d.dscPath, { signal: o.signal })
    : await fetchSource(d.source, { mirror: d.suite.mirror, downloads: o.downloads, signal: o.signal });
  const dsc = await placeSource(fetched, o.srcDir);
  o.note(`source ${fetched.dsc.source} ${fetched.dsc.version}${d.component === undefined ? '' : ` (${d.suite.suite} ${d.component})`}: ${[fetched.dscFile, ...fetched.files].map((f) => `${f.name} (sha256 ${f.sha256.slice(0, 12)})`).join(', ')}`);
  return basename(dsc);
}

export interface DebianRunContext {
  readonly sandbox: Sandbox;
  readonly spec: PackageSpec;
  readonly arch: string;
  readonly dscName: string;
  readonly downloads: Downloads;
  readonly log: JobLog;
  readonly phase: (p: JobPhase) => void;
  readonly signal: AbortSignal;
  /** The cached layer of installed build dependencies (findDepsLayer): used when found, made when not. */
  readonly depsLayer?: FoundDepsLayer;
  /** --try-install, --autopkgtest: a fresh sandbox over the env alone (no build dependencies), its name's suffix given. */
  readonly freshSandbox?: (suffix: string) => Promise<Sandbox>;
  /** --ccache: the variables of the compiler cache (ccache.ts), given the build's base directory. */
  readonly ccache?: (basedir: string) => Record<string, string>;
}

export interface FoundDepsLayer {
  readonly key: string;
  /** Host path of the layer's root when it exists (then mounted over the env). */
  readonly root: string | undefined;
  /** Capture a new layer for this key with `fill(dir)`. */
  readonly save: (fill: (dir: string) => Promise<void>) => Promise<string>;
}

/** The cached-install layer key of one Debian job, and the layer if it exists. */
export async function findDepsLayer(o: { cacheDir: string; spec: PackageSpec; arch: string; envId: string; staged: Readonly<Record<string, string>> }): Promise<FoundDepsLayer> {
  const d = o.spec.debian!;
  const key = depsLayerKey({
    envId: o.envId,
    arch: o.arch,
    mode: d.modeFor[o.arch] ?? 'binary',
    profiles: jobOptions(d.options, isCrossJob(d.cross, o.arch)).profiles,
    nocheck: d.options.nocheck,
    extras: debianExtras(d.twice),
    chosen: d.chosen[o.arch] ?? [],
    // --extra-package: the .debs apt may install, by content (a changed one is another layer).
    staged: { ...o.staged, ...Object.fromEntries(jobExtraPackages(d, o.arch).map((p) => [`extra-package:${stagedDebName(p)}`, p.sha256])) },
  });
  const layers = depsLayers(o.cacheDir);
  return { key, root: await layers.find(key), save: (fill) => layers.add(key, fill) };
}


export type DebianRunOutcome =
  | { readonly kind: 'failed'; readonly reason: FailureReason; readonly message: string; readonly result?: RunResult }
  /** `warnings`: what --try-install and --autopkgtest found (debian-checks.ts). */
  | { readonly kind: 'ran'; readonly result: RunResult; readonly warnings?: readonly string[] };

const sh = shellQuote;

export async function runDebianBuild(c: DebianRunContext): Promise<DebianRunOutcome> {
  const d = c.spec.debian!;
  const { sandbox, log, signal } = c;
  const mode = d.modeFor[c.arch] ?? 'binary';
  // The Debian arch the packages are built for (dpkg's host arch).
  const buildArch = c.arch === 'all' ? d.primaryArch : c.arch;
  // --cross: built in the env of d.cross, with its cross toolchain (debian/cross.ts).
  const crossFrom = isCrossJob(d.cross, c.arch) ? d.cross : undefined;
  const options = jobOptions(d.options, crossFrom !== undefined);
  const { path: packagesPath, universe } = d.suite.packages(buildArch);
  const native = crossFrom === undefined ? undefined : d.suite.packages(crossFrom).universe;
  const ws = dirname(sandbox.host.src);
  const wsInside = dirname(sandbox.inside.src);
  const archiveHost = join(ws, 'apt', 'archive');
  const archiveInside = `${wsInside}/apt/archive`;
  const dsc = `${sandbox.inside.src}/${c.dscName}`;
  const aptEnv = { PATH, DEBIAN_FRONTEND: 'noninteractive', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', HOME: '/root' };
  const out = (stream: 'stdout' | 'stderr', chunk: Buffer) => log.write(stream, chunk);
  const runAs = (user: 'root' | 'build', script: string, extra: { env?: Record<string, string>; capture?: Buffer[] } = {}) =>
    sandbox.run({
      argv: ['/bin/bash', '-e', '-o', 'pipefail', '-c', script],
      cwd: '/',
      env: extra.env ?? aptEnv,
      user,
      onOutput: (stream, chunk) => {
        if (extra.capture !== undefined && stream === 'stdout') extra.capture.push(chunk);
        else return out(stream, chunk);
      },
      ...(c.spec.build.timeoutMs === undefined ? {} : { timeoutMs: c.spec.build.timeoutMs }),
      signal,
    });
  const failedRun = (what: string, r: RunResult, reason: FailureReason): DebianRunOutcome => ({
    kind: 'failed',
    reason: r.killedFor === 'out-of-memory' || r.killedFor === 'pids-limit' ? r.killedFor : r.killedFor === 'timeout' ? 'timeout' : r.killedFor === 'cancelled' ? 'internal' : reason,
    message: `${what} ${r.signal !== null ? `was killed by ${r.signal}` : `exited with status ${r.exitCode}`}`,
    result: r,
  });

  // ---- install -------------------------------------------------------------------------
  c.phase('install');
  // Before the install, and with a cached layer too: --try-install and --autopkgtest read this run's .debs from here.
  const staging = await stageExtraPackages(d, c.arch, sandbox.host.sysroot, (t) => log.note(t));
  if ('problem' in staging) return { kind: 'failed', reason: 'stage-failed', message: staging.problem };
  const extraStaged: ReadonlyMap<string, ExtraPackage> = staging;
  if (c.depsLayer?.root !== undefined) {
    log.note(`build dependencies: already installed in the cached layer ${c.depsLayer.key.slice(0, 16)} (the same resolution was installed before; ${c.depsLayer.root})`);
  } else {
    const failed = await installBuildDeps();
    if (failed !== undefined) return failed;
    if (c.depsLayer !== undefined && sandbox.captureRoot !== undefined) {
      const t0 = Date.now();
      const saved = await c.depsLayer.save((dir) => sandbox.captureRoot!(dir)).catch((e: unknown) => e as Error);
      if (saved instanceof Error) log.note(`could not keep the installed build dependencies as a layer: ${saved.message}`);
      else log.note(`kept the installed build dependencies as layer ${c.depsLayer.key.slice(0, 16)} in ${Date.now() - t0} ms, for later builds with the same resolution`);
    }
  }
  // What the build ran with, whichever way it was installed (sbuild's "Package versions"):
  // what a bug report of a failed build needs, which writes no .buildinfo.
  // Read inside (the root is only mounted there), listed as a recipe build's env is (package-versions.ts).
  const status: Buffer[] = [];
  const versions = await runAs('root', `cat ${DPKG_STATUS}`, { capture: status });
  log.note(versions.exitCode === 0 && versions.signal === null
    ? `${PACKAGE_VERSIONS_NOTE}\n${packageVersionLines(installedFromStatus(Buffer.concat(status).toString()))}`
    : `${PACKAGE_VERSIONS_NOTE} (reading ${DPKG_STATUS} ${versions.signal === null ? `exited with status ${versions.exitCode}` : `was killed by ${versions.signal}`}: no list)`);

  async function installBuildDeps(): Promise<DebianRunOutcome | undefined> {
    await mkdir(archiveHost, { recursive: true });
    // apt gets only the binaries that can take part (binary-closure.ts): the same answer
    // as the whole index, without parsing 60,000 stanzas per build.
    const roots = buildDependsFor(d.source, buildArch, mode, options);
    const extras = debianExtras(d.twice);
    let stanzas: string[];
    if (native === undefined) {
      const names = closure(roots, [...universe.essential(), 'build-essential', ...extras], universe, buildArch);
      stanzas = stanzasOfNames(names, universe);
      log.note(`apt sees ${names.size} of the suite's binary packages (the closure of the build dependencies; index ${basename(packagesPath).slice(0, 16)})`);
    } else {
      const both = crossClosure({ roots, extras, build: { arch: crossFrom!, universe: native }, host: { arch: buildArch, universe } });
      stanzas = crossStanzas(both, native, universe);
      log.note(`cross-building for ${buildArch} in the ${crossFrom} env: apt sees ${both.host.size} of the suite's ${buildArch} binary packages and ${both.build.size} of its ${crossFrom} ones (the closures of the build dependencies and the cross toolchain)`);
    }
    // Without the archive's stanza of a name=version:arch this run staged (debian-offline-apt.ts).
    await writeCutArchive(archiveHost, stanzas, await stagedDebs(sandbox.host.sysroot));
    for (const x of d.suite.extras ?? []) {
      log.note(`with the extra repository ${x.uri} ${x.suite} ${x.components.join(' ')}${x.notAutomatic ? ' (NotAutomatic: only for what the suite lacks)' : ''}: ${x.added[buildArch] ?? 0} of its binaries for ${buildArch} are in the index`);
    }
    const depArgs = aptBuildDepArgs(options, mode, crossFrom === undefined ? undefined : buildArch).map(sh).join(' ');
    // A cross build: the host arch known to dpkg, and the extras as relations (the cross toolchain, the host libc).
    const extrasCmd = (flags: string) => crossFrom === undefined
      ? `apt-get install ${flags} --no-install-recommends ${extras.join(' ')}`
      : `apt-get satisfy ${flags} -a ${sh(buildArch)} --no-install-recommends ${sh(crossExtras(buildArch, extras).join(', '))}`;
    const setup = [
      ...(crossFrom === undefined ? [] : [`dpkg --add-architecture ${sh(buildArch)}`]),
      ...offlineSourcesScript(archiveInside, sandbox.inside.sysroot),
      `apt-get build-dep -s ${depArgs} ${sh(dsc)}`,
      extrasCmd('-s'),
    ].join('\n');
    const plan: Buffer[] = [];
    log.note('resolving build dependencies (apt-get build-dep -s, offline)');
    let r = await runAs('root', setup, { capture: plan });
    if (r.exitCode !== 0 || r.signal !== null) {
      await log.write('stdout', Buffer.concat(plan));
      return failedRun('resolving the build dependencies (apt-get build-dep -s)', r, 'install-failed');
    }
    // Two simulations (build-dep, then the extras) may name a package twice.
    const wanted = [...new Map(parseAptSimulation(Buffer.concat(plan).toString()).map((w) => [`${w.name}=${w.version}:${w.arch}`, w])).values()];
    const local = await localPackages(join(sandbox.host.sysroot, 'Packages'));
    // The extra packages apt chose are said as such (fetchWanted would call them this run's).
    const fromExtra = (w: { name: string; version: string; arch: string }) => extraStaged.get(stagedKey(w.name, w.version, w.arch)) ?? extraStaged.get(stagedKey(w.name, w.version, 'all'));
    for (const w of wanted) {
      const p = fromExtra(w);
      if (p !== undefined) log.note(`install ${w.name} ${w.version} [${w.arch}] (from the extra package ${p.path})`);
    }
    const problems = await fetchWanted({ wanted: wanted.filter((w) => fromExtra(w) === undefined), local, universes: native === undefined ? [universe] : [universe, native], archiveHost, mirror: d.suite.mirror, downloads: c.downloads, note: (t) => log.note(t), what: 'build dependencies', signal });
    if (problems.length > 0) {
      if (signal.aborted) return { kind: 'failed', reason: 'internal', message: 'cancelled' };
      return { kind: 'failed', reason: 'fetch-failed', message: `cannot fetch ${problems.length} build dependencies:\n  ${problems.join('\n  ')}` };
    }
    log.note(`installing ${wanted.length} packages: ${wanted.map((w) => `${w.name}=${w.version}`).join(' ')}`);
    // The sandbox is thrown away after the build: dpkg need not fsync every file
    // (--force-unsafe-io), and man-db need not rebuild its index for the build's man pages.
    const fast = sh('-oDpkg::Options::=--force-unsafe-io');
    const install = [
      'rm -f /var/lib/man-db/auto-update',
      // As sbuild's chroots: a build dependency's postinst starts no service (invoke-rc.d asks policy-rc.d).
      NO_SERVICE_STARTS,
      `apt-get build-dep -y ${fast} ${depArgs} ${sh(dsc)}`,
      extrasCmd(`-y ${fast}`),
      `mkdir -p ${sh(BUILD_PATH)} ${sh(VARIANT_PATH)}`,
      `chown 64000:64000 ${sh(BUILD_PATH)} ${sh(VARIANT_PATH)}`,
      // What got installed, for the log (as sbuild prints it).
      "dpkg-query -W -f='${binary:Package} ${Version}\\n' > /kiln/tmp/installed.txt",
    ].join('\n');
    r = await runAs('root', install);
    if (r.exitCode !== 0 || r.signal !== null) return failedRun('installing the build dependencies (apt-get build-dep)', r, 'install-failed');
    await rm(archiveHost, { recursive: true, force: true });
    return undefined;
  }

  // ---- build ----------------------------------------------------------------------------
  c.phase('build');
  if (d.binnmuWhy !== undefined) log.note(d.binnmuWhy);
  else if ((d.options.binnmu !== undefined || d.options.autoBinnmu === true) && mode === 'binary-indep') {
    log.note(`binNMU: not for this build: it makes the architecture-independent packages only (-A), which Debian never binNMUs; they keep the version ${c.spec.version}`);
  }
  const env: Record<string, string> = {
    PATH,
    HOME: NONEXISTENT_HOME,
    TMPDIR: '/tmp',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    USER: 'kiln',
    LOGNAME: 'kiln',
    SHELL: '/bin/sh',
    // The nocheck and nodoc profiles come with their DEB_BUILD_OPTIONS, as Debian's build profile spec asks.
    DEB_BUILD_OPTIONS: debBuildOptions(c.spec.build.cpus, options.nocheck, options.profiles),
    ...(options.profiles.length > 0 || options.nocheck ? { DEB_BUILD_PROFILES: [...new Set([...options.profiles, ...(options.nocheck ? ['nocheck'] : [])])].join(' ') } : {}),
    // As sbuild's ccache hook: the masquerade directory first, the cache bind-mounted in.
    ...(c.ccache === undefined ? {} : { ...c.ccache(BUILD_PATH), PATH: withCcachePath(PATH) }),
  };
  // Debian binNMUs architecture-dependent packages only: an `all` build keeps its version.
  const binnmuLines = d.options.binnmu === undefined || mode === 'binary-indep' ? [] : binnmuScript(d.options.binnmu, buildArch, d.suite.suite);
  // A binNMU of a whole build (--binnmu auto on the first arch): -B with the binNMU entry,
  // then -A without it, so the architecture-independent packages keep the source's version.
  const split = binnmuLines.length > 0 && mode === 'binary';
  // In the unpacked source, before dpkg-buildpackage: the binNMU entry (and for a split
  // build, the changelog without it kept aside, for the -A half).
  const prepare = [...(split ? ['cp debian/changelog ../.kiln-changelog'] : []), ...binnmuLines];
  // A cross build names its host arch (dpkg-buildpackage -a).
  const flag = `${dpkgBuildpackageFlag(split ? 'binary-arch' : mode)}${crossFrom === undefined ? '' : ` --host-arch=${buildArch}`}`;
  const unpack = [
    'umask 022',
    // Said in the log when it does not hold (a root whose / the build user may write).
    'if [ -e "$HOME" ] || { mkdir "$HOME" 2> /dev/null && rmdir "$HOME"; }; then echo "kiln: warning: HOME=$HOME exists or the build user can make it: a build that writes to HOME passes here and fails on Debian\'s buildds" >&2; fi',
    `cd ${sh(BUILD_PATH)}`,
    `dpkg-source --no-check -x ${sh(dsc)}`,
    'cd "$(find . -mindepth 1 -maxdepth 1 -type d | head -n1)"',
    ...prepare,
  ].join('\n');
  // The unpack and the build share the wall-clock limit.
  const unpackStart = Date.now();
  const unpacked = await runAs('build', unpack, { env });
  if (unpacked.exitCode !== 0 || unpacked.signal !== null) {
    return failedRun(`unpacking the source (dpkg-source -x${binnmuLines.length > 0 ? ', binNMU changelog entry' : ''})`, unpacked, unpacked.signal !== null ? 'signal' : 'exit-status');
  }
  // Its own run: a failure here is dpkg-buildpackage's (execute-job.ts says so).
  const build = [
    'umask 022',
    `cd ${sh(BUILD_PATH)}`,
    'cd "$(find . -mindepth 1 -maxdepth 1 -type d | head -n1)"',
    `echo "kiln: dpkg-buildpackage -us -uc ${flag} (arch ${buildArch}) in $PWD, DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS\${DEB_BUILD_PROFILES:+, DEB_BUILD_PROFILES=$DEB_BUILD_PROFILES}" >&2`,
    // The .changes names the suite built for, as sbuild -d does, not the changelog's (often unstable).
    `dpkg-buildpackage -us -uc ${flag} ${sh(`--changes-option=-DDistribution=${d.suite.suite}`)}`,
  ].join('\n');
  // A dpkg-buildpackage run as the build user, within what is left of the wall-clock limit.
  const buildStep = (script: string) => sandbox.run({
    argv: ['/bin/bash', '-e', '-c', script, `${c.spec.name}/build`],
    cwd: '/',
    env,
    onOutput: out,
    ...(c.spec.build.timeoutMs === undefined ? {} : { timeoutMs: Math.max(1, c.spec.build.timeoutMs - (Date.now() - unpackStart)) }),
    ...(c.spec.build.silentTimeoutMs === undefined ? {} : { silentTimeoutMs: c.spec.build.silentTimeoutMs }),
    signal,
  });
  const built = await buildStep(build);
  if (built.killedFor !== undefined || built.exitCode !== 0 || built.signal !== null) return { kind: 'ran', result: built };
  if (split) {
    log.note(`binNMU of a whole build: the architecture-independent packages are built apart (dpkg-buildpackage -A), without the binNMU entry, so they keep the version ${c.spec.version}`);
    const indep = [
      'umask 022',
      `cd ${sh(BUILD_PATH)}`,
      'cd "$(find . -mindepth 1 -maxdepth 1 -type d | head -n1)"',
      'cp ../.kiln-changelog debian/changelog',
      // The build profiles may leave no `all` package (foo-doc <!nodoc>): then no -A half.
      `if ! ${HAS_INDEP_PACKAGES}; then echo "kiln: no architecture-independent package to build with these build profiles: no -A half" >&2; exit 0; fi`,
      `echo "kiln: dpkg-buildpackage -us -uc -A (arch ${buildArch}) in $PWD, without the binNMU entry" >&2`,
      `dpkg-buildpackage -us -uc -A ${sh(`--changes-option=-DDistribution=${d.suite.suite}`)}`,
    ].join('\n');
    const result = await buildStep(indep);
    if (result.killedFor !== undefined || result.exitCode !== 0 || result.signal !== null) return { kind: 'ran', result };
  }

  // ---- collect --------------------------------------------------------------------------
  c.phase('collect');
  const collect = [
    'shopt -s nullglob',
    `cd ${sh(BUILD_PATH)}`,
    'files=(*.deb *.udeb *.buildinfo *.changes)',
    '[ ${#files[@]} -gt 0 ] || { echo "kiln: dpkg-buildpackage produced no .deb" >&2; exit 1; }',
    `cp -p "\${files[@]}" ${sh(sandbox.inside.dest)}/`,
    'for f in "${files[@]}"; do echo "kiln: collected $f ($(stat -c %s "$f") bytes)" >&2; done',
    // What each binary package holds, as sbuild's log shows it (dpkg-deb --info, --contents).
    'for f in *.deb *.udeb; do echo "kiln: ==> $f" >&2; dpkg-deb --info "$f" >&2; dpkg-deb --contents "$f" >&2; done',
  ].join('\n');
  const collected = await runAs('build', collect, { env: { PATH, LANG: 'C.UTF-8' } });
  if (collected.exitCode !== 0 || collected.signal !== null) return failedRun('collecting the outputs', collected, 'pack-failed');
  if (d.twice) await buildTwice({ c, env, flag, dsc, log, prepare, indepApart: split });
  // Mark the layer used at the end too: `kiln cache gc --older-than` keeps what long builds mount.
  if (c.depsLayer?.root !== undefined) await utimes(dirname(c.depsLayer.root), new Date(), new Date()).catch(() => undefined);
  if ((d.tryInstall !== true && d.autopkgtest !== true) || c.freshSandbox === undefined) return { kind: 'ran', result: built };
  const warnings = await (await import('./debian-checks.ts')).afterBuildChecks({
    d, mode, flag, buildArch, crossFrom, universe, log, signal,
    freshSandbox: c.freshSandbox, builtDir: sandbox.host.dest, runDebsDir: sandbox.host.sysroot, sourceDir: sandbox.host.src, dscName: c.dscName,
    // autopkgtest's @builddeps@: every Build-Depends field, no build profile active (as in the testbed).
    buildDepends: buildDependsFor(d.source, buildArch, 'binary', { profiles: [], nocheck: false, mode: 'binary' }), downloads: c.downloads, timeoutMs: c.spec.build.timeoutMs,
  });
  // Cancelled meanwhile: what the checks say then is not the package's.
  if (signal.aborted) return { kind: 'failed', reason: 'internal', message: 'cancelled' };
  return { kind: 'ran', result: built, ...(warnings.length === 0 ? {} : { warnings }) };
}
