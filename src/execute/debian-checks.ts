// What runs after a Debian build has made its .debs, each in a fresh root of the env of its
// own: --try-install (debian-try-install.ts, what sbuild's --run-piuparts checks) and
// --autopkgtest (debian-autopkgtest.ts, sbuild's --run-autopkgtest). What they find are
// warnings of the job. Neither runs for a cross build (the packages are another arch's) nor
// for a -B or -A build of a source that has both halves (its packages often depend on the
// other half's, which this build lacks: the full build of the run is checked instead).

import type { Downloads } from '../cache/downloads.ts';
import type { DebianBuildMode, DebianBuildSpec } from '../debian/debian-spec.ts';
import type { BinaryUniverse } from '../debian/lazy-index.ts';
import type { AltGroup } from '../debian/relation-types.ts';
import type { JobLog } from '../logs/job-log.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';

/** Why the checks are not done for this build (pure); undefined when they are. */
export function checksSkipped(o: { what: string; mode: DebianBuildMode; flag: string; buildArch: string; crossFrom: string | undefined; architecture: readonly string[]; modes: readonly DebianBuildMode[] }): string | undefined {
  if (o.crossFrom !== undefined) return `${o.what}: not done: a cross build's ${o.buildArch} packages cannot be installed and run in the ${o.crossFrom} env`;
  // foo → foo-common (= ${source:Version}): a -B or -A build of a source with both halves lacks the other's.
  const otherHalf = o.mode === 'binary' ? false : o.mode === 'binary-indep' ? o.architecture.some((w) => w !== 'all') : o.architecture.includes('all');
  if (!otherHalf) return undefined;
  const full = o.modes.includes('binary');
  return `${o.what}: not done: a ${o.mode} build (${o.flag}) lacks the packages of its other half, which its own may depend on (${full ? 'the full build, on the run\'s first arch (the build arch with --cross), is checked' : 'and no build of this run builds both halves (--binary-arch, --binary-indep, --binnmu), so none of its packages is checked'})`;
}

export async function afterBuildChecks(o: {
  d: DebianBuildSpec;
  mode: DebianBuildMode;
  /** dpkg-buildpackage's flag (-b, -B, -A), for notes. */
  flag: string;
  buildArch: string;
  crossFrom: string | undefined;
  universe: BinaryUniverse;
  log: JobLog;
  signal: AbortSignal;
  freshSandbox: (suffix: string) => Promise<Sandbox>;
  builtDir: string;
  runDebsDir: string;
  sourceDir: string;
  dscName: string;
  buildDepends: readonly AltGroup[];
  downloads: Downloads;
  timeoutMs: number | undefined;
}): Promise<string[]> {
  const { d, log } = o;
  const warnings: string[] = [];
  const asked = [...(d.tryInstall === true ? ['try-install'] : []), ...(d.autopkgtest === true ? ['autopkgtest'] : [])];
  const skipped = checksSkipped({ what: asked.join(' and '), mode: o.mode, flag: o.flag, buildArch: o.buildArch, crossFrom: o.crossFrom, architecture: d.source.architecture, modes: Object.values(d.modeFor) });
  if (skipped !== undefined) {
    log.note(skipped);
    return warnings;
  }
  const common = { universe: o.universe, arch: o.buildArch, mirror: d.suite.mirror, downloads: o.downloads, log, signal: o.signal, timeoutMs: o.timeoutMs };
  if (d.tryInstall === true) {
    // Each .deb into a fresh root of the env, then purged (debian-try-install.ts).
    const tried = await (await import('./debian-try-install.ts')).tryInstall({ ...common, create: () => o.freshSandbox('.try'), builtDir: o.builtDir, runDebsDir: o.runDebsDir })
      .catch((e: unknown) => ({ tried: [], problems: [`try-install: not done: ${(e as Error).message}`] }));
    warnings.push(...tried.problems);
  }
  if (d.autopkgtest === true && !o.signal.aborted) {
    const { runAutopkgtest, testsuiteOf } = await import('./debian-autopkgtest.ts');
    const suite = await testsuiteOf(`${o.sourceDir}/${o.dscName}`);
    if ('none' in suite) log.note(`autopkgtest: not run: ${suite.none}`);
    else {
      const tested = await runAutopkgtest({ ...common, create: () => o.freshSandbox('.test'), autodep8: suite.autodep8, sourceDir: o.sourceDir, dscName: o.dscName, builtDir: o.builtDir, runDebsDir: o.runDebsDir, buildDepends: o.buildDepends })
        .catch((e: unknown) => ({ problems: [`autopkgtest: not done: ${(e as Error).message}`] }));
      warnings.push(...tested.problems);
    }
  }
  return warnings;
}
