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

import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fieldValue, readDebControl } from '../debian/deb-file.ts';
import { parseRelations } from '../debian/relation.ts';
import type { AltGroup } from '../debian/relation-types.ts';
import { shellQuote as sh } from '../lib/shell-quote.ts';
import { openFreshRoot, type CheckOptions } from './debian-fresh-root.ts';

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
export function problemsOf(output: string): { tried: string[]; problems: string[]; skipped: string[] } {
  const tried: string[] = [];
  const problems: string[] = [];
  const skipped: string[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith(MARK)) continue;
    const [what, pkg, ...rest] = line.slice(MARK.length).trim().split(' ');
    if (what === 'tried') tried.push(`${pkg} ${rest.join(' ')}`);
    else if (what === 'installed') skipped.push(pkg!);
    else if (what === 'install-failed') problems.push(`try-install: ${pkg} does not install into a fresh root (apt-get install failed: see the log)`);
    else if (what === 'purge-failed') problems.push(`try-install: ${pkg} installs, but its purge fails (apt-get purge: see the log)`);
    else if (what === 'left') {
      const paths = rest.slice(1).filter((x) => x !== '');
      problems.push(`try-install: ${pkg} leaves ${rest[0]} path(s) behind after its purge: ${paths.join(', ')}${Number(rest[0]) > paths.length ? ', … (the log lists them all)' : ''}`);
    }
  }
  return { tried, problems, skipped };
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

export async function tryInstall(o: CheckOptions): Promise<TryInstallResult> {
  const { log } = o;
  await using root = await openFreshRoot({ ...o, name: 'try-install' });
  const { sb } = root;
  const roots: AltGroup[] = [];
  const packages: { name: string; version: string }[] = [];
  for (const f of (await readdir(sb.host.sysroot)).filter((x) => x.endsWith('.deb'))) {
    const control = await readDebControl(join(sb.host.sysroot, f), { signal: o.signal });
    for (const field of ['Pre-Depends', 'Depends']) roots.push(...parseRelations(fieldValue(control.fields, field) ?? '').groups);
    if (root.builtFiles.includes(f)) packages.push({ name: control.package, version: control.version });
  }
  if (packages.length === 0) return { tried: [], problems: [] };
  const seen = await root.cut(roots, new Set());
  log.note(`try-install: ${packages.map((p) => `${p.name} ${p.version}`).join(', ')}, each into a fresh root of the env, then purged (apt sees ${seen} of the suite's binary packages)`);
  // What apt would install for each, all of it fetched on the host, as for a build.
  const resolved = await root.resolve('apt-get install -s --no-install-recommends', packages.map((p) => `${p.name}=${p.version}`), 'packages to try the install with');
  if ('problem' in resolved) return { tried: [], problems: [`try-install: ${resolved.problem}`] };
  // What apt cannot install from the suite and this build's packages is not tried (it would fail for that alone).
  const unresolvable = new Set(resolved.unresolvable.map((i) => packages[i]!.name));
  const unresolved = [...unresolvable].map((name) => `try-install: ${name} not tried: apt cannot resolve what it depends on from the suite and this build's packages (see the log; a package of this run is there only when the source build-depends on it)`);
  const args = packages.filter((p) => !unresolvable.has(p.name)).map((p) => `${p.name}=${p.version}`);
  if (args.length === 0) return { tried: [], problems: unresolved };
  const output: Buffer[] = [];
  const ran = await root.run(tryScript(dirname(sb.inside.src)), args, output);
  const text = Buffer.concat(output).toString();
  const { tried, problems: found, skipped } = problemsOf(text);
  for (const name of skipped) log.note(`try-install: ${name} not tried: the env's base has it installed already (a rebuild of a base package)`);
  const problems = [...unresolved, ...found, ...(ran ? [] : ['try-install: the check itself did not finish (killed, timed out, or kiln\'s side failed): see the log'])];
  const notTried = args.length - tried.length - skipped.length;
  if (notTried > 0 && problems.length > 0) problems.push(`try-install: ${notTried} package(s) not tried after that`);
  log.note(problems.length === 0 ? `try-install: ${tried.length} package(s) installed into a fresh root and purged, nothing left behind` : problems.join('\n'));
  return { tried, problems };
}
