// A fresh root of the env for a check after a Debian build (--try-install,
// --autopkgtest): a sandbox over the env alone, with this run's .debs (the build's last)
// in its $SYSROOT, apt pointed at a cut of the suite and at those .debs, offline; what apt
// would install fetched on the host through the downloads cache first, as for a build.

import { copyFile, mkdir } from 'node:fs/promises';
import { regularFilesIn } from '../cache/output-folder.ts';
import { dirname, join } from 'node:path';
import type { Downloads } from '../cache/downloads.ts';
import { closure } from '../debian/binary-closure.ts';
import type { BinaryUniverse } from '../debian/lazy-index.ts';
import type { AltGroup } from '../debian/relation-types.ts';
import type { JobLog } from '../logs/job-log.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { parseAptSimulation } from './debian-build-steps.ts';
import { fetchWanted, localPackages, offlineSourcesScript, runRepoSwitchScript, stagedDebs, stanzasOfNames, writeCutArchive } from './debian-offline-apt.ts';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What the simulation prints for kiln (on stdout): `MARK unresolvable I` for the I-th argument apt cannot resolve. */
const UNRESOLVABLE = 'kiln-fresh-root: unresolvable';

export interface FreshRoot extends AsyncDisposable {
  readonly sb: Sandbox;
  /** The build's .deb files (not -dbgsym), copied into $SYSROOT. */
  readonly builtFiles: readonly string[];
  /** Runs a bash script as root in the root, its arguments given; stdout into `capture`, stderr to the log (and to `watch`). True when it exited 0. */
  run(script: string, args: readonly string[], capture: Buffer[], watch?: (stderr: Buffer) => void): Promise<boolean>;
  /** Writes apt's cut of the suite: the closure of `roots`, without the archive's versions of `leaveOut`. Returns its size. */
  cut(roots: readonly AltGroup[], leaveOut: ReadonlySet<string>): Promise<number>;
  /**
   * Points apt at the cut and this run's .debs, simulates `command "$arg"` (apt-get install
   * -s, apt-get satisfy -s) for each argument, and fetches what it would install. The
   * indexes of the arguments apt cannot resolve; or the problem that stopped it. With
   * `suiteOnly`, apt prefers the suite's cut to this run's .debs, and is left so (`kiln_run_repo on` of
   * runRepoSwitchScript brings the run's .debs back).
   */
  resolve(command: string, args: readonly string[], what: string, o?: { suiteOnly?: boolean }): Promise<{ unresolvable: number[]; simulated: string } | { problem: string }>;
}

/** What a check after a Debian build is given (openFreshRoot's options, its name aside). */
export interface CheckOptions {
  /** A fresh sandbox over the env alone (no build dependencies). */
  create: () => Promise<Sandbox>;
  /** Host folder holding the build's .debs. */
  builtDir: string;
  /** Host folder holding the .debs the build was staged with (this run's other packages). */
  runDebsDir: string;
  universe: BinaryUniverse;
  arch: string;
  mirror: string;
  downloads: Downloads;
  log: JobLog;
  signal: AbortSignal;
  /** Each run's wall-clock limit (the build's). */
  timeoutMs?: number | undefined;
}

export async function openFreshRoot(o: CheckOptions & {
  /** argv[0] of its scripts, for the log (`try-install`). */
  name: string;
}): Promise<FreshRoot> {
  const sb = await o.create();
  try {
    // Folders the build could write: their regular files only, never through a link it left.
    const debsOf = async (dir: string): Promise<string[]> => (await regularFilesIn(dir)).filter((f) => f.endsWith('.deb'));
    const builtFiles = (await debsOf(o.builtDir)).filter((f) => !f.split('_')[0]!.endsWith('-dbgsym'));
    // Every .deb this run has here, the build's last (a rebuilt name=version wins).
    for (const f of await debsOf(o.runDebsDir)) await copyFile(join(o.runDebsDir, f), join(sb.host.sysroot, f));
    for (const f of builtFiles) await copyFile(join(o.builtDir, f), join(sb.host.sysroot, f));
    const archiveHost = join(dirname(sb.host.src), 'apt', 'archive');
    const archiveInside = `${dirname(sb.inside.src)}/apt/archive`;
    await mkdir(archiveHost, { recursive: true });
    const staged = await stagedDebs(sb.host.sysroot);
    const env = { PATH, DEBIAN_FRONTEND: 'noninteractive', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', HOME: '/root' };
    const run = async (script: string, args: readonly string[], capture: Buffer[], watch?: (stderr: Buffer) => void): Promise<boolean> => {
      const r = await sb.run({
        argv: ['/bin/bash', '-e', '-c', script, o.name, ...args],
        cwd: '/',
        env,
        user: 'root',
        onOutput: (stream, chunk) => {
          if (stream === 'stdout') return void capture.push(chunk);
          watch?.(chunk);
          return o.log.write(stream, chunk);
        },
        ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
        signal: o.signal,
      });
      return r.exitCode === 0 && r.signal === null && r.killedFor === undefined;
    };
    return {
      sb,
      builtFiles,
      run,
      async cut(roots, leaveOut) {
        const names = closure(roots, [...o.universe.essential()], o.universe, o.arch);
        await writeCutArchive(archiveHost, stanzasOfNames([...names].filter((n) => !leaveOut.has(n)), o.universe), staged);
        return names.size;
      },
      async resolve(command, args, what, ro = {}) {
        const plan: Buffer[] = [];
        const simulate = [
          ...offlineSourcesScript(archiveInside, sb.inside.sysroot),
          ...(ro.suiteOnly === true ? [...runRepoSwitchScript(), 'kiln_run_repo off'] : []),
          'i=0',
          `for a in "$@"; do ${command} "$a" || echo "${UNRESOLVABLE} $i"; i=$((i + 1)); done`,
        ].join('\n');
        if (!(await run(simulate, args, plan))) return { problem: 'could not set up apt in the fresh root (see the log)' };
        const simulated = Buffer.concat(plan).toString();
        const wanted = [...new Map(parseAptSimulation(simulated).map((w) => [`${w.name}=${w.version}:${w.arch}`, w])).values()];
        const local = await localPackages(join(sb.host.sysroot, 'Packages'));
        const problems = await fetchWanted({ wanted, local, universes: [o.universe], archiveHost, mirror: o.mirror, downloads: o.downloads, note: (t) => o.log.note(t), what, signal: o.signal });
        if (problems.length > 0) return { problem: `cannot fetch ${what}: ${problems.join('; ')}` };
        return { unresolvable: unresolvableOf(simulated), simulated };
      },
      [Symbol.asyncDispose]: () => sb[Symbol.asyncDispose](),
    };
  } catch (e) {
    await sb[Symbol.asyncDispose]();
    throw e;
  }
}

/** The indexes of the arguments the simulation could not resolve (pure). */
export function unresolvableOf(output: string): number[] {
  return output.split('\n').filter((l) => l.startsWith(`${UNRESOLVABLE} `)).map((l) => Number(l.slice(UNRESOLVABLE.length + 1)));
}

/** stagedDebs' names: the packages of this run in the root's $SYSROOT. */
export async function runPackageNames(sb: Sandbox): Promise<Set<string>> {
  return new Set([...(await stagedDebs(sb.host.sysroot))].map((k) => k.slice(0, k.indexOf('='))));
}
