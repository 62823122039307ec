// `kiln build --debian … --try-install` (what sbuild's --run-piuparts is run for): once a
// Debian build has made its .debs, each of them is installed into a fresh root of the same
// env (an overlay over its base, without the build's dependencies), then purged with what
// it pulled in, and the root is compared with what it was before. A package that does not
// install (a missing dependency, a failing maintainer script), does not purge, or leaves
// files behind after its purge, is a warning of the job (failing it with
// --fail-on-warnings), and its log says what apt and dpkg printed.
//
// As piuparts also does: a broken symlink the install makes, or a process the maintainer
// scripts leave running after the purge, is a warning; a policy-rc.d says no to every
// service start. What the purge's autoremove keeps of what the install pulled in is purged
// too, and paths an installed package owns are no leftovers.
//
// Then, as piuparts' upgrade test does, in a fresh root of their own, the packages whose
// name the suite has at a lower version are installed at the suite's version (apt
// preferring the suite to this run's .debs), upgraded to this build's, purged, and the root compared again: a
// maintainer script that fails on upgrade, or leaves behind what only an upgrade makes, is
// a warning too.
//
// Offline as the build is (debian-offline-apt.ts): the suite's packages cut to the closure
// of what the .debs depend on, this run's .debs (the build's and those it was staged with)
// pinned above them. -dbgsym packages are left out (they only add debug files).

import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fieldValue, readDebControl } from '../debian/deb-file.ts';
import { parseRelations } from '../debian/relation.ts';
import type { BinaryUniverse } from '../debian/lazy-index.ts';
import type { AltGroup } from '../debian/relation-types.ts';
import { compareVersions } from '../debian/version.ts';
import { shellQuote as sh } from '../lib/shell-quote.ts';
import { openFreshRoot, type CheckOptions, type FreshRoot } from './debian-fresh-root.ts';
import { NO_SERVICE_STARTS, runRepoSwitchScript } from './debian-offline-apt.ts';

/** What the check prints for kiln to read (one line each, on stdout). */
const MARK = 'kiln-try-install:';

/** Where the root is compared: everything but what apt, dpkg and the sandbox change by themselves. */
// (piuparts leaves out much the same: its ignored_files.)
// The shadow tools' backups (/etc/group- …), made when a maintainer script adds a system
// user or group, which Debian keeps after a purge. And kiln's own apt sources of this run's
// .debs, which the upgrade test puts aside and back.
const NOT_COMPARED = [
  '/proc', '/sys', '/dev', '/run', '/tmp', '/kiln', '/root', '/build', '/var/cache', '/var/lib/apt', '/var/lib/dpkg', '/var/lib/ucf', '/var/lib/systemd', '/var/log', '/var/tmp', '/usr/share/info/dir', '/usr/share/info/dir.old',
  '/etc/passwd-', '/etc/group-', '/etc/shadow-', '/etc/gshadow-', '/etc/subuid-', '/etc/subgid-',
  '/etc/apt/sources.list.d/kiln-run.list', '/etc/apt/preferences.d/kiln-run',
];

export interface TryInstallResult {
  /** `name version` of each package tried. */
  readonly tried: readonly string[];
  /** One line per problem (the warnings of the job). */
  readonly problems: readonly string[];
}

/** A package of the build whose name the suite has at a lower version: the upgrade test's. */
export interface Upgrade {
  readonly name: string;
  /** The suite's version (the highest for the arch). */
  readonly from: string;
  /** This build's. */
  readonly to: string;
}

/**
 * Which of the build's packages the upgrade test takes, and a note for each it leaves out
 * because the suite's version is not lower (pure).
 */
export function upgradesOf(packages: readonly { name: string; version: string }[], universe: Pick<BinaryUniverse, 'versions'>, arch: string): { upgrades: Upgrade[]; notes: string[] } {
  const upgrades: Upgrade[] = [];
  const notes: string[] = [];
  for (const p of packages) {
    const suite = universe.versions(p.name).find((b) => b.architecture === arch || b.architecture === 'all');
    if (suite === undefined) continue;
    const order = compareVersions(suite.version, p.version);
    if (order < 0) upgrades.push({ name: p.name, from: suite.version, to: p.version });
    else notes.push(`try-install: ${p.name} not upgraded from the suite's version: it is ${suite.version}, ${order === 0 ? 'this build\'s own version' : `higher than this build's ${p.version}`}`);
  }
  return { upgrades, notes };
}

/** The marker lines of the check's output as problems, and as notes for the log (pure). */
export function problemsOf(output: string, upgrades: readonly Upgrade[] = []): { tried: string[]; upgraded: string[]; problems: string[]; skipped: string[]; notes: string[] } {
  const tried: string[] = [];
  const upgraded: string[] = [];
  const problems: string[] = [];
  const skipped: string[] = [];
  const notes: string[] = [];
  const fromTo = (names: readonly string[]): string => names.map((n) => {
    const u = upgrades.find((x) => x.name === n);
    return u === undefined ? n : `${n} ${u.from} → ${u.to}`;
  }).join(', ');
  for (const line of output.split('\n')) {
    if (!line.startsWith(MARK)) continue;
    const [what, pkg, ...rest] = line.slice(MARK.length).trim().split(' ');
    const names = [pkg!, ...rest].filter((x) => x !== '');
    if (what === 'tried') tried.push(`${pkg} ${rest.join(' ')}`);
    else if (what === 'installed') skipped.push(pkg!);
    else if (what === 'install-failed') problems.push(`try-install: ${pkg} does not install into a fresh root (apt-get install failed: see the log)`);
    else if (what === 'purge-failed') problems.push(`try-install: ${pkg} installs, but its purge fails (apt-get purge: see the log)`);
    else if (what === 'left') problems.push(`try-install: ${pkg} leaves ${leftPaths(rest, 'its')}`);
    else if (what === 'old-failed') notes.push(`try-install: the upgrade from the suite's versions not tried (${fromTo(names)}): the suite's versions do not install into a fresh root (see the log)`);
    else if (what === 'upgraded') upgraded.push(fromTo([pkg!]));
    else if (what === 'upgrade-failed') problems.push(`try-install: upgrading from the suite's versions fails (${fromTo(names)}: apt-get install failed: see the log)`);
    else if (what === 'upgrade-purge-failed') problems.push(`try-install: upgraded from the suite's versions (${fromTo(names)}), but their purge fails (apt-get purge: see the log)`);
    else if (what === 'upgrade-left') problems.push(`try-install: upgraded from the suite's versions (${fromTo(rest.slice(0, Number(pkg)))}) and purged, they leave ${leftPaths(rest.slice(Number(pkg)), 'their')}`);
    else if (what === 'links') problems.push(`try-install: ${pkg} installs ${counted(rest, 'broken symlink(s)', 'the log says where they point')}`);
    else if (what === 'procs') problems.push(`try-install: ${pkg} leaves ${counted(rest, 'process(es) running after its purge', 'the log has their command lines')}`);
    else if (what === 'upgrade-links') problems.push(`try-install: upgraded from the suite's versions (${fromTo(rest.slice(0, Number(pkg)))}), they have ${counted(rest.slice(Number(pkg)), 'broken symlink(s)', 'the log says where they point')}`);
    else if (what === 'upgrade-procs') problems.push(`try-install: upgraded from the suite's versions (${fromTo(rest.slice(0, Number(pkg)))}) and purged, they leave ${counted(rest.slice(Number(pkg)), 'process(es) running', 'the log has their command lines')}`);
  }
  return { tried, upgraded, problems, skipped, notes };
}

/** `N WHAT: A, B` from a marker's `N A B …` (`, … (MORE)` when it gives fewer than N). */
function counted(rest: readonly string[], what: string, more: string): string {
  const items = rest.slice(1).filter((x) => x !== '').map((x) => x.replace(/^(\d+):(.*)$/, '$1 ($2)'));
  return `${rest[0]} ${what}: ${items.join(', ')}${Number(rest[0]) > items.length ? `, … (${more})` : ''}`;
}

/** `N path(s) behind after its purge: A, B, …` from a `left` marker's `N A B …` (its first five paths). */
function leftPaths(rest: readonly string[], whose: 'its' | 'their'): string {
  const paths = rest.slice(1).filter((x) => x !== '');
  return `${rest[0]} path(s) behind after ${whose} purge: ${paths.join(', ')}${Number(rest[0]) > paths.length ? ', … (the log lists them all)' : ''}`;
}

const FAST = sh('-oDpkg::Options::=--force-unsafe-io');
const APT = `apt-get -y --no-install-recommends ${FAST}`;

/** The shell lines both checks start with (pure): apt's switch, the root's snapshot, and what it has installed. */
function prelude(wsInside: string): string[] {
  const prune = [...NOT_COMPARED, wsInside].map((p) => `-path ${sh(p)}`).join(' -o ');
  return [
    'export DEBIAN_FRONTEND=noninteractive',
    ...runRepoSwitchScript(),
    // A path that goes away while find looks is no failure of the package's.
    `snapshot() { { find / -xdev \\( ${prune} \\) -prune -o -print 2> /dev/null || true; } | LC_ALL=C sort; }`,
    'installed() { dpkg-query -W -f=\'${Status}\' "$1" 2> /dev/null | grep -q \' installed$\'; }',
    "packages() { dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' | awk '$1 ~ /^.i/ { print $2 }' | LC_ALL=C sort -u; }",
    // What the purge left installed that the root did not have: apt's autoremove keeps a
    // package that one of the base's suggests (gcc suggests flex), and it is no leftover of
    // the package's. Purged as well, as piuparts removes what the test installed.
    'purge_extras() {',
    '  packages > /kiln/tmp/pkgs-now',
    '  LC_ALL=C comm -13 /kiln/tmp/pkgs-before /kiln/tmp/pkgs-now > /kiln/tmp/extras',
    '  if [ -s /kiln/tmp/extras ]; then',
    '    echo "kiln: ==> try-install: apt-get purge $(tr \'\\n\' \' \' < /kiln/tmp/extras)(installed along, kept by apt\'s autoremove)" >&2',
    `    xargs ${APT} purge < /kiln/tmp/extras >&2`,
    '  fi',
    '}',
    // Broken symlinks (`PATH -> TARGET`), as piuparts looks for them after an install.
    `links() { { find / -xdev \\( ${prune} \\) -prune -o -xtype l -printf '%p -> %l\\n' 2> /dev/null || true; } | LC_ALL=C sort; }`,
    // The processes of the root (its own PID namespace): the glob in this shell, no fork.
    'procs() { local d; for d in /proc/[0-9]*; do echo "${d#/proc/}"; done > /kiln/tmp/procs-unsorted; LC_ALL=C sort /kiln/tmp/procs-unsorted; }',
    // As piuparts: no service starts (invoke-rc.d asks policy-rc.d first). Made before the snapshot: not compared.
    NO_SERVICE_STARTS,
    'snapshot > /kiln/tmp/before',
    'packages > /kiln/tmp/pkgs-before',
    'links > /kiln/tmp/links-before',
    'procs > /kiln/tmp/procs-before',
  ];
}

/**
 * The shell lines that look for broken symlinks the install made (pure): a marker line
 * (`MARKER WORDS… N first-five-paths`), and each with its target a line of the log.
 */
function brokenLinks(marker: string): string[] {
  return [
    'links > /kiln/tmp/links-now',
    'LC_ALL=C comm -13 /kiln/tmp/links-before /kiln/tmp/links-now > /kiln/tmp/links-new',
    'if [ -s /kiln/tmp/links-new ]; then',
    `  echo "${MARK} ${marker} $(wc -l < /kiln/tmp/links-new) $(head -n 5 /kiln/tmp/links-new | sed 's/ -> .*//' | tr '\\n' ' ')"`,
    '  sed "s/^/kiln: broken symlink: /" /kiln/tmp/links-new >&2',
    'fi',
  ];
}

/**
 * The shell lines that look for processes left running after the purge (pure): a marker
 * line (`MARKER WORDS… N PID:COMM…`), each a line of the log with its command line; then
 * they are killed, so that the next check starts clean.
 */
function leftRunning(marker: string): string[] {
  return [
    'procs > /kiln/tmp/procs-now',
    'LC_ALL=C comm -13 /kiln/tmp/procs-before /kiln/tmp/procs-now | grep -vx "$$" > /kiln/tmp/procs-new || true',
    'running=()',
    'while read -r pid; do',
    '  c=; read -r c 2> /dev/null < "/proc/$pid/comm" || continue',
    '  running+=("$pid:${c// /_}")',
    '  echo "kiln: still running after the purge: $pid $(tr \'\\0\' \' \' < "/proc/$pid/cmdline" 2> /dev/null)" >&2',
    'done < /kiln/tmp/procs-new',
    'if [ ${#running[@]} -gt 0 ]; then',
    `  echo "${MARK} ${marker} \${#running[@]} \${running[*]}"`,
    '  kill -KILL "${running[@]%%:*}" 2> /dev/null || true',
    'fi',
  ];
}

/**
 * The shell lines that compare the root with `before` (pure): the new paths no installed
 * package owns (a base package the check upgraded may own new ones) are a marker line
 * (`MARKER WORDS… N first-five`), and every one a line of the log.
 */
function compare(marker: string): string[] {
  return [
    'snapshot > /kiln/tmp/after',
    'cat /var/lib/dpkg/info/*.list 2> /dev/null | LC_ALL=C sort -u > /kiln/tmp/owned',
    'LC_ALL=C comm -13 /kiln/tmp/before /kiln/tmp/after | LC_ALL=C comm -23 - /kiln/tmp/owned > /kiln/tmp/left',
    'if [ -s /kiln/tmp/left ]; then',
    `  echo "${MARK} ${marker} $(wc -l < /kiln/tmp/left) $(head -n 5 /kiln/tmp/left | tr '\\n' ' ')"`,
    '  sed "s/^/kiln: left after purge: /" /kiln/tmp/left >&2',
    'fi',
    'cp /kiln/tmp/after /kiln/tmp/before',
  ];
}

const indent = (lines: string[], by: string): string[] => lines.map((l) => by + l);

/** The shell script (as root in the fresh root) that tries each package (`name=version`, its arguments) in turn (pure). */
export function tryScript(wsInside: string): string {
  return [
    ...prelude(wsInside),
    'for p in "$@"; do',
    // A rebuild of a package the base has (dash, libc6…): installing it again tries nothing, purging it breaks the root.
    `  if installed "\${p%%=*}"; then echo "${MARK} installed \${p%%=*}"; continue; fi`,
    `  echo "${MARK} tried \${p%%=*} \${p#*=}"`,
    `  echo "kiln: ==> try-install: apt-get install \${p}" >&2`,
    // This run's packages are pinned over the suite's (1001, as for a build): a base package
    // the suite has a binNMU of (libbz2-1.0 1.0.8-5+b1 of a bzip2 1.0.8-5 build) is taken
    // back to this build's version along, a downgrade apt does only when allowed.
    `  if ! ${APT} --allow-downgrades install "$p" >&2; then echo "${MARK} install-failed \${p%%=*}"; break; fi`,
    ...indent(brokenLinks('links ${p%%=*}'), '  '),
    `  echo "kiln: ==> try-install: apt-get purge --autoremove \${p%%=*}" >&2`,
    `  if ! ${APT} purge --autoremove "\${p%%=*}" >&2 || ! purge_extras; then echo "${MARK} purge-failed \${p%%=*}"; break; fi`,
    ...indent(leftRunning('procs ${p%%=*}'), '  '),
    ...indent(compare('left ${p%%=*}'), '  '),
    'done',
  ].join('\n');
}

/**
 * The shell script (as root in a fresh root of its own) of the upgrade test (pure): the
 * names of its arguments (`name=version`) installed with apt preferring the suite, then
 * upgraded to those versions with this run's .debs, then purged, and the root compared. A
 * name the base has installed (libattr1 of an attr build) is upgraded too, not purged.
 */
export function upgradeScript(wsInside: string): string {
  return [
    ...prelude(wsInside),
    'names=(); purged=()',
    'for a in "$@"; do',
    '  names+=("${a%%=*}")',
    '  if installed "${a%%=*}"; then echo "kiln: ${a%%=*} is the base\'s: upgraded, not purged" >&2; else purged+=("${a%%=*}"); fi',
    'done',
    'kiln_run_repo off',
    'echo "kiln: ==> try-install: apt-get install ${names[*]} (the suite\'s versions)" >&2',
    `if ! ${APT} install "\${names[@]}" >&2; then echo "${MARK} old-failed \${names[*]}"; exit 0; fi`,
    'kiln_run_repo on',
    'echo "kiln: ==> try-install: apt-get install $* (an upgrade to this build\'s)" >&2',
    `for n in "\${names[@]}"; do echo "${MARK} upgraded $n"; done`,
    `if ! ${APT} install "$@" >&2; then echo "${MARK} upgrade-failed \${names[*]}"; exit 0; fi`,
    ...brokenLinks('upgrade-links ${#names[@]} ${names[*]}'),
    'if [ ${#purged[@]} -gt 0 ]; then',
    '  echo "kiln: ==> try-install: apt-get purge --autoremove ${purged[*]}" >&2',
    `  if ! ${APT} purge --autoremove "\${purged[@]}" >&2 || ! purge_extras; then echo "${MARK} upgrade-purge-failed \${names[*]}"; exit 0; fi`,
    'fi',
    ...leftRunning('upgrade-procs ${#names[@]} ${names[*]}'),
    ...compare('upgrade-left ${#names[@]} ${names[*]}'),
  ].join('\n');
}

export async function tryInstall(o: CheckOptions): Promise<TryInstallResult> {
  const { log } = o;
  const installs = await tryInstalls(o);
  const result = { tried: installs.tried, problems: installs.problems };
  if (installs.upgrades.length === 0) return result;
  if (installs.broke) {
    log.note(`try-install: the upgrade from the suite's versions not tried (${installs.upgrades.map((u) => `${u.name} ${u.from} → ${u.to}`).join(', ')}): the install test above failed`);
    return result;
  }
  const upgrade = await tryUpgrade(o, installs.upgrades, installs.roots);
  return { tried: [...installs.tried, ...upgrade.tried], problems: [...installs.problems, ...upgrade.problems] };
}

/** The install test: each of the build's packages installed into a fresh root, purged, and the root compared; the upgrades to try after it. */
async function tryInstalls(o: CheckOptions): Promise<TryInstallResult & { upgrades: Upgrade[]; roots: AltGroup[]; broke: boolean }> {
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
  const none = { tried: [], problems: [], upgrades: [], roots, broke: false };
  if (packages.length === 0) return none;
  const seen = await root.cut(roots, new Set());
  log.note(`try-install: ${packages.map((p) => `${p.name} ${p.version}`).join(', ')}, each into a fresh root of the env, then purged (apt sees ${seen} of the suite's binary packages)`);
  // What apt would install for each, all of it fetched on the host, as for a build.
  const resolved = await root.resolve('apt-get install -s --no-install-recommends', packages.map((p) => `${p.name}=${p.version}`), 'packages to try the install with');
  if ('problem' in resolved) return { ...none, problems: [`try-install: ${resolved.problem}`] };
  // What apt cannot install from the suite and this build's packages is not tried (it would fail for that alone).
  const unresolvable = new Set(resolved.unresolvable.map((i) => packages[i]!.name));
  const unresolved = [...unresolvable].map((name) => `try-install: ${name} not tried: apt cannot resolve what it depends on from the suite and this build's packages (see the log; a package of this run is there only when the source build-depends on it)`);
  const resolvable = packages.filter((p) => !unresolvable.has(p.name));
  const chosen = upgradesOf(resolvable, o.universe, o.arch);
  for (const n of chosen.notes) log.note(n);
  const args = resolvable.map((p) => `${p.name}=${p.version}`);
  if (args.length === 0) return { ...none, problems: unresolved };
  const output: Buffer[] = [];
  const ran = await root.run(tryScript(dirname(sb.inside.src)), args, output);
  const { tried, problems: found, skipped } = problemsOf(Buffer.concat(output).toString());
  for (const name of skipped) log.note(`try-install: ${name} not tried: the env's base has it installed already (a rebuild of a base package)`);
  const problems = [...unresolved, ...found, ...(ran ? [] : ['try-install: the check itself did not finish (killed, timed out, or kiln\'s side failed): see the log'])];
  const notTried = args.length - tried.length - skipped.length;
  if (notTried > 0 && problems.length > 0) problems.push(`try-install: ${notTried} package(s) not tried after that`);
  log.note(problems.length === 0 ? `try-install: ${tried.length} package(s) installed into a fresh root and purged, nothing left behind` : problems.join('\n'));
  return { tried, problems, upgrades: chosen.upgrades, roots, broke: !ran || notTried > 0 || found.some((p) => / does not install | its purge fails /.test(p)) };
}

/** The upgrade test, in a fresh root of its own: the suite's versions, then this build's, then the purge. */
async function tryUpgrade(o: CheckOptions, chosen: readonly Upgrade[], roots: readonly AltGroup[]): Promise<TryInstallResult> {
  const { log } = o;
  await using root = await openFreshRoot({ ...o, name: 'try-upgrade' });
  // The suite's versions of the upgrade test's packages are in apt's cut too.
  await root.cut([...roots, ...chosen.map((u) => [{ name: u.name }])], new Set());
  // This build's versions and what they need (fetched for the install test's root, fetched again for this one).
  const resolved = await root.resolve('apt-get install -s --no-install-recommends', chosen.map((u) => `${u.name}=${u.to}`), 'packages to try the upgrade to');
  if ('problem' in resolved) return { tried: [], problems: [`try-install: ${resolved.problem}`] };
  const upgrades = await suiteVersionsFetched(root, chosen.filter((_, i) => !resolved.unresolvable.includes(i)), log);
  if (upgrades.length === 0) return { tried: [], problems: [] };
  log.note(`try-install: the upgrade from the suite's versions: ${upgrades.map((u) => `${u.name} ${u.from} → ${u.to}`).join(', ')}, into a fresh root, then purged`);
  const output: Buffer[] = [];
  const ran = await root.run(upgradeScript(dirname(root.sb.inside.src)), upgrades.map((u) => `${u.name}=${u.to}`), output);
  const { upgraded, problems: found, notes } = problemsOf(Buffer.concat(output).toString(), upgrades);
  for (const n of notes) log.note(n);
  const problems = [...found, ...(ran ? [] : ['try-install: the upgrade check itself did not finish (killed, timed out, or kiln\'s side failed): see the log'])];
  if (problems.length > 0) log.note(problems.join('\n'));
  else if (upgraded.length > 0) log.note(`try-install: ${upgraded.length} package(s) upgraded from the suite's version and purged, nothing left behind`);
  return { tried: upgraded.map((u) => `${u} (upgrade)`), problems };
}

/**
 * The upgrade test's packages whose suite's versions apt can install (the suite preferred, what
 * they need fetched on the host); a note for the others, which are left out: the suite's
 * own problem, not the build's.
 */
async function suiteVersionsFetched(root: FreshRoot, upgrades: readonly Upgrade[], log: CheckOptions['log']): Promise<Upgrade[]> {
  if (upgrades.length === 0) return [];
  const resolved = await root.resolve('apt-get install -s --no-install-recommends', upgrades.map((u) => u.name), 'packages of the suite to try the upgrade from', { suiteOnly: true });
  if ('problem' in resolved) {
    log.note(`try-install: the upgrade from the suite's versions not tried: ${resolved.problem}`);
    return [];
  }
  const left = new Set(resolved.unresolvable);
  for (const i of left) log.note(`try-install: ${upgrades[i]!.name} not upgraded from the suite's ${upgrades[i]!.from}: apt cannot resolve what that version depends on from the suite (see the log)`);
  return upgrades.filter((_, i) => !left.has(i));
}
