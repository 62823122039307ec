// `kiln build --debian … --try-install` (what sbuild's --run-piuparts is run for): once a
// Debian build has made its .debs, each of them is installed into a fresh root of the same
// env (an overlay over its base, without the build's dependencies), then purged with what
// it pulled in, and the root is compared with what it was before. A package that does not
// install (a missing dependency, a failing maintainer script), does not purge, or leaves
// files behind after its purge, is a warning of the job (failing it with
// --fail-on-warnings), and its log says what apt and dpkg printed.
//
// Offline as the build is (debian-offline-apt.ts): the suite's packages cut to the closure
// of what the .debs depend on, this run's .debs (the build's and those it was staged with)
// pinned above them. -dbgsym packages are left out (they only add debug files).

import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Downloads } from '../cache/downloads.ts';
import { closure } from '../debian/binary-closure.ts';
import { fieldValue, readDebControl } from '../debian/deb-file.ts';
import type { BinaryUniverse } from '../debian/lazy-index.ts';
import { parseRelations } from '../debian/relation.ts';
import type { AltGroup } from '../debian/relation-types.ts';
import { shellQuote as sh } from '../lib/shell-quote.ts';
import type { JobLog } from '../logs/job-log.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { parseAptSimulation } from './debian-build-steps.ts';
import { fetchWanted, localPackages, offlineSourcesScript, stagedDebs, stanzasOfNames, writeCutArchive } from './debian-offline-apt.ts';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What the check prints for kiln to read (one line each, on stdout). */
const MARK = 'kiln-try-install:';

/** Where the root is compared: everything but what apt, dpkg and the sandbox change by themselves. */
// (piuparts leaves out much the same: its ignored_files.)
const NOT_COMPARED = ['/proc', '/sys', '/dev', '/run', '/tmp', '/kiln', '/root', '/build', '/var/cache', '/var/lib/apt', '/var/lib/dpkg', '/var/lib/ucf', '/var/lib/systemd', '/var/log', '/var/tmp', '/usr/share/info/dir', '/usr/share/info/dir.old'];

export interface TryInstallResult {
  /** `name version` of each package tried. */
  readonly tried: readonly string[];
  /** One line per problem (the warnings of the job). */
  readonly problems: readonly string[];
}

/** The marker lines of the check's output as problems (pure). */
export function problemsOf(output: string): { tried: string[]; problems: string[]; unresolvable: string[]; skipped: string[] } {
  const tried: string[] = [];
  const problems: string[] = [];
  const unresolvable: string[] = [];
  const skipped: string[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith(MARK)) continue;
    const [what, pkg, ...rest] = line.slice(MARK.length).trim().split(' ');
    if (what === 'tried') tried.push(`${pkg} ${rest.join(' ')}`);
    else if (what === 'unresolvable') unresolvable.push(pkg!);
    else if (what === 'installed') skipped.push(pkg!);
    else if (what === 'install-failed') problems.push(`try-install: ${pkg} does not install into a fresh root (apt-get install failed: see the log)`);
    else if (what === 'purge-failed') problems.push(`try-install: ${pkg} installs, but its purge fails (apt-get purge: see the log)`);
    else if (what === 'left') {
      const paths = rest.slice(1).filter((x) => x !== '');
      problems.push(`try-install: ${pkg} leaves ${rest[0]} path(s) behind after its purge: ${paths.join(', ')}${Number(rest[0]) > paths.length ? ', … (the log lists them all)' : ''}`);
    }
  }
  return { tried, problems, unresolvable, skipped };
}

/** The shell script (as root in the fresh root) that tries each package (`name=version`, its arguments) in turn (pure). */
export function tryScript(wsInside: string): string {
  const prune = [...NOT_COMPARED, wsInside].map((p) => `-path ${sh(p)}`).join(' -o ');
  const fast = sh('-oDpkg::Options::=--force-unsafe-io');
  return [
    'export DEBIAN_FRONTEND=noninteractive',
    // A path that goes away while find looks is no failure of the package's.
    `snapshot() { { find / -xdev \\( ${prune} \\) -prune -o -print 2> /dev/null || true; } | LC_ALL=C sort; }`,
    'snapshot > /kiln/tmp/before',
    'for p in "$@"; do',
    // A rebuild of a package the base has (dash, libc6…): installing it again tries nothing, purging it breaks the root.
    `  if dpkg-query -W -f='\${Status}' "\${p%%=*}" 2> /dev/null | grep -q ' installed$'; then echo "${MARK} installed \${p%%=*}"; continue; fi`,
    `  echo "${MARK} tried \${p%%=*} \${p#*=}"`,
    `  echo "kiln: ==> try-install: apt-get install \${p}" >&2`,
    `  if ! apt-get install -y --no-install-recommends ${fast} "$p" >&2; then echo "${MARK} install-failed \${p%%=*}"; break; fi`,
    `  echo "kiln: ==> try-install: apt-get purge --autoremove \${p%%=*}" >&2`,
    `  if ! apt-get purge -y --autoremove ${fast} "\${p%%=*}" >&2; then echo "${MARK} purge-failed \${p%%=*}"; break; fi`,
    '  snapshot > /kiln/tmp/after',
    '  LC_ALL=C comm -13 /kiln/tmp/before /kiln/tmp/after > /kiln/tmp/left',
    '  if [ -s /kiln/tmp/left ]; then',
    `    echo "${MARK} left \${p%%=*} $(wc -l < /kiln/tmp/left) $(head -n 5 /kiln/tmp/left | tr '\\n' ' ')"`,
    '    sed "s/^/kiln: left after purge: /" /kiln/tmp/left >&2',
    '    cp /kiln/tmp/after /kiln/tmp/before',
    '  fi',
    'done',
  ].join('\n');
}

export async function tryInstall(o: {
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
  /** Each of its runs' wall-clock limit (the build's). */
  timeoutMs?: number | undefined;
}): Promise<TryInstallResult> {
  const { log } = o;
  await using sb = await o.create();
  const debsOf = async (dir: string): Promise<string[]> => (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.deb'));
  const built = await debsOf(o.builtDir);
  // Every .deb this run has here, the build's last (a rebuilt name=version wins).
  for (const f of await debsOf(o.runDebsDir)) await copyFile(join(o.runDebsDir, f), join(sb.host.sysroot, f));
  for (const f of built) await copyFile(join(o.builtDir, f), join(sb.host.sysroot, f));
  const roots: AltGroup[] = [];
  const packages: { name: string; version: string }[] = [];
  for (const f of await debsOf(sb.host.sysroot)) {
    const control = await readDebControl(join(sb.host.sysroot, f), { signal: o.signal });
    for (const field of ['Pre-Depends', 'Depends']) roots.push(...parseRelations(fieldValue(control.fields, field) ?? '').groups);
    if (built.includes(f) && !control.package.endsWith('-dbgsym')) packages.push({ name: control.package, version: control.version });
  }
  if (packages.length === 0) return { tried: [], problems: [] };
  const wsInside = dirname(sb.inside.src);
  const archiveHost = join(dirname(sb.host.src), 'apt', 'archive');
  const archiveInside = `${wsInside}/apt/archive`;
  await mkdir(archiveHost, { recursive: true });
  const names = closure(roots, [...o.universe.essential()], o.universe, o.arch);
  await writeCutArchive(archiveHost, stanzasOfNames(names, o.universe), await stagedDebs(sb.host.sysroot));
  log.note(`try-install: ${packages.map((p) => `${p.name} ${p.version}`).join(', ')}, each into a fresh root of the env, then purged (apt sees ${names.size} of the suite's binary packages)`);
  const env = { PATH, DEBIAN_FRONTEND: 'noninteractive', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', HOME: '/root' };
  const run = async (script: string, args: readonly string[], capture: Buffer[]): Promise<boolean> => {
    const r = await sb.run({
      argv: ['/bin/bash', '-e', '-c', script, 'try-install', ...args],
      cwd: '/',
      env,
      user: 'root',
      onOutput: (stream, chunk) => (stream === 'stdout' ? void capture.push(chunk) : log.write(stream, chunk)),
      ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
      signal: o.signal,
    });
    return r.exitCode === 0 && r.signal === null && r.killedFor === undefined;
  };
  // What apt would install for each, all of it fetched on the host, as for a build.
  const plan: Buffer[] = [];
  const simulate = [
    ...offlineSourcesScript(archiveInside, sb.inside.sysroot),
    `for p in "$@"; do apt-get install -s --no-install-recommends "$p" || echo "${MARK} unresolvable \${p%%=*}"; done`,
  ].join('\n');
  if (!(await run(simulate, packages.map((p) => `${p.name}=${p.version}`), plan))) return { tried: [], problems: ['try-install: could not set up apt in the fresh root (see the log)'] };
  // What apt cannot install from the suite and this build's packages is not tried (it would fail for that alone).
  const unresolvable = new Set(problemsOf(Buffer.concat(plan).toString()).unresolvable);
  const unresolved = [...unresolvable].map((name) => `try-install: ${name} not tried: apt cannot resolve what it depends on from the suite and this build's packages (see the log; a package of this run is there only when the source build-depends on it)`);
  const args = packages.filter((p) => !unresolvable.has(p.name)).map((p) => `${p.name}=${p.version}`);
  if (args.length === 0) return { tried: [], problems: unresolved };
  const wanted = [...new Map(parseAptSimulation(Buffer.concat(plan).toString()).map((w) => [`${w.name}=${w.version}:${w.arch}`, w])).values()];
  const local = await localPackages(join(sb.host.sysroot, 'Packages'));
  const fetchProblems = await fetchWanted({ wanted, local, universes: [o.universe], archiveHost, mirror: o.mirror, downloads: o.downloads, note: (t) => log.note(t), what: 'packages to try the install with', signal: o.signal });
  if (fetchProblems.length > 0) return { tried: [], problems: [`try-install: cannot fetch what the packages need: ${fetchProblems.join('; ')}`] };
  const output: Buffer[] = [];
  const ran = await run(tryScript(wsInside), args, output);
  const text = Buffer.concat(output).toString();
  const { tried, problems: found, skipped } = problemsOf(text);
  for (const name of skipped) log.note(`try-install: ${name} not tried: the env's base has it installed already (a rebuild of a base package)`);
  const problems = [...unresolved, ...found, ...(ran ? [] : ['try-install: the check itself did not finish (killed, timed out, or kiln\'s side failed): see the log'])];
  const notTried = args.length - tried.length - skipped.length;
  if (notTried > 0 && problems.length > 0) problems.push(`try-install: ${notTried} package(s) not tried after that`);
  log.note(problems.length === 0 ? `try-install: ${tried.length} package(s) installed into a fresh root and purged, nothing left behind` : problems.join('\n'));
  return { tried, problems };
}
