// Options shared by several verbs, parsed once at the edge with clear errors.

import { parseOptionArg, type OptionSetting } from '../plan/options.ts';
import type { Command } from 'commander';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { KilnError } from '../errors.ts';
import { parseDuration, parseSize } from '../lib/duration.ts';
import { closestArch, isDebianArch } from '../debian/arch-names.ts';
import { parseComponentList } from '../debian/components.ts';
import { stateLayout, type StateLayout } from '../run/state-layout.ts';
import { refuseUserinfo } from '../config/credentials.ts';
import { humanBytes } from '../lib/human-bytes.ts';
import { parseExtraRepository, type ExtraRepository } from '../debian/extra-repo-line.ts';
import { hideUserinfo } from '../distributed/nats-url.ts';

export interface StateOptions {
  readonly state?: string;
  readonly cache?: string;
}

/** ` --state DIR --cache DIR` as given on the command line (nothing for the defaults): for a command a hint tells the user to run. */
export function stateFlags(opts: StateOptions): string {
  const q = (p: string): string => (/^[\w./@%+,:=-]+$/.test(p) ? p : `'${p.replaceAll("'", "'\\''")}'`);
  return `${opts.state === undefined ? '' : ` --state ${q(opts.state)}`}${opts.cache === undefined ? '' : ` --cache ${q(opts.cache)}`}`;
}

export function addStateOptions(cmd: Command): Command {
  return cmd
    .option('--state <dir>', 'state directory: records, logs, reports, caches (default: $KILN_STATE, else .kiln)')
    .option('--cache <dir>', 'cache directory, may be shared by several state dirs (default: $KILN_CACHE, else STATE/cache)');
}

export function layoutFrom(opts: StateOptions): StateLayout {
  return stateLayout({ ...(opts.state === undefined ? {} : { state: opts.state }), ...(opts.cache === undefined ? {} : { cache: opts.cache }) });
}

export function parseJobs(text: string): number {
  return parsePositive('--jobs')(text);
}

/** A parser of a whole number >= 1 for the option named. */
export function parsePositive(option: string): (text: string) => number {
  return parseWhole(option, 1, 4);
}

/** A parser of a whole number from `least` to `most` for the option named (e.g. a priority, 0 to 100). */
export function parseRange(option: string, least: number, most: number, example = least): (text: string) => number {
  return parseWhole(option, least, example, most);
}

/** A parser of a whole number >= 0 for the option named. */
export function parseCount(option: string): (text: string) => number {
  return parseWhole(option, 0, 2);
}

/** `--option [PKG:]NAME=on|off`, repeatable: the settings in the order given (a later one wins). */
export function collectOption(text: string, prev: OptionSetting[] = []): OptionSetting[] {
  try {
    return [...prev, parseOptionArg(text)];
  } catch (e) {
    throw new KilnError('usage', (e as Error).message, { hint: 'the options a package has are its recipe\'s [options] (`kiln plan --json` lists them with their values)' });
  }
}

/** The largest count any option takes: far above any real use, and safe in SQLite and in JS. */
export const MAX_WHOLE = 1_000_000;

function parseWhole(option: string, least: number, example: number, most = MAX_WHOLE): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < least) {
      const range = most === MAX_WHOLE ? `of at least ${least}` : `from ${least} to ${most}`;
      throw new KilnError('usage', `${option}: expected a whole number ${range}, got "${text}"`, { hint: `give digits, e.g. ${option} ${example}` });
    }
    if (n > most) {
      throw new KilnError('usage', `${option}: ${text} is too large (at most ${most})`, { hint: `give a number from ${least} to ${most}, e.g. ${option} ${example}` });
    }
    return n;
  };
}

/**
 * Makes commander refuse `flags` (long names, e.g. '--older-than') given more than once on
 * `cmd`: it would keep the last silently, so `--older-than 1d --older-than 90d` removes
 * less than the first said. Call after the options are added.
 */
export function refuseRepeats(cmd: Command, ...flags: string[]): Command {
  for (const flag of flags) {
    let seen = 0;
    cmd.on(`option:${flag.replace(/^--/, '')}`, () => {
      seen += 1;
      if (seen > 1) throw new KilnError('usage', `${flag} is given more than once`, { hint: `give ${flag} once` });
    });
  }
  return cmd;
}

/** `--arch a,b`: Debian arch names (dpkg-architecture -L), each once, in the order given. */
/** --arch given more than once: the lists add up, as --option and --force do (commander passes the earlier value). */
export function collectArchList(text: string, prev?: string[]): string[] {
  return [...new Set([...(prev ?? []), ...parseArchList(text)])];
}

/** --components given more than once: the lists add up, as --arch's do (components.ts parses each). */
export function collectComponentList(text: string, prev?: string[]): string[] {
  return [...new Set([...(prev ?? []), ...parseComponentList(text)])];
}

export function parseArchList(text: string): string[] {
  // A trailing comma is fine (a list made by a loop); `amd64,,arm64` or `,amd64` lost a
  // name on the way (a shell variable that was empty?).
  const items = text.trim().replace(/,$/, '').split(',').map((a) => a.trim());
  if (items.includes('') && items.some((a) => a !== '')) {
    throw new KilnError('usage', `--arch: "${text}" has an empty item`, { hint: `remove the extra comma: ${[...new Set(items.filter((a) => a !== ''))].join(',')}; ${ARCH_HINT}` });
  }
  const archs = [...new Set(items.filter((a) => a !== ''))];
  for (const a of archs) {
    if (!isDebianArch(a)) {
      const near = closestArch(a);
      throw new KilnError('usage', `--arch: "${a}" is not a Debian architecture name (e.g. amd64,riscv64)`, { hint: near === undefined ? ARCH_HINT : `did you mean "${near}"? ${ARCH_HINT}` });
    }
  }
  if (archs.length === 0) throw new KilnError('usage', '--arch: give at least one architecture, e.g. --arch amd64', { hint: ARCH_HINT });
  return archs;
}

const ARCH_HINT = 'Debian architecture names, lowercase, comma-separated: amd64, arm64, armhf, i386, riscv64, ppc64el, s390x… (e.g. --arch amd64,riscv64)';

export { humanBytes } from '../lib/human-bytes.ts';

export function formatMs(ms: number): string {
  // Rounded to the unit shown first, so that 59.96 s is 1m00s, not 60.0s, and 5m59.6s 6m00s, not 5m60s.
  if (ms < 999.5) return `${Math.round(ms)}ms`;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)}s`;
  const total = Math.round(ms / 1000);
  const m = Math.floor(total / 60);
  if (m < 60) return `${m}m${String(total % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Options of `kiln build` and `kiln plan` for Debian source packages. */
export interface DebianOptionsCli {
  readonly debian?: string;
  readonly mirror?: string;
  readonly dsc?: string[];
  readonly profiles?: string;
  readonly nocheck?: boolean;
  readonly binnmu?: number | 'auto';
  readonly binaryArch?: boolean;
  readonly binaryIndep?: boolean;
  readonly cpus?: number;
  readonly all?: boolean;
  readonly installCheck?: boolean;
  readonly twice?: boolean;
  readonly verify?: boolean;
  readonly lintian?: boolean;
  readonly tryInstall?: boolean;
  readonly autopkgtest?: boolean;
  readonly cross?: boolean;
  readonly out?: string;
  readonly extraRepository?: string[];
  readonly extraRepositoryKey?: string[];
  /** --extra-package PATH, repeated: .deb files or folders of them (read at plan time: debian/extra-packages.ts). */
  readonly extraPackage?: string[];
  /** --components, accumulated (collectComponentList). */
  readonly components?: string[];
  readonly keyring?: string;
  /** --no-check-valid-until: false. */
  readonly checkValidUntil?: boolean;
}

export function addDebianOptions(cmd: Command, options: { all: boolean }): Command {
  cmd
    .option('--debian <suite>', 'build Debian source packages of SUITE: the arguments are source names (NAME or NAME=VERSION)')
    .option('--mirror <url>', 'Debian mirror base URL (default: the one the host\'s apt sources use)')
    .option('--keyring <file>', 'the keyring the suite\'s InRelease must be signed with, binary (.gpg) or ASCII-armoured (.asc), for a Debian derivative or debian-ports (default: Debian\'s archive keyring)')
    .option('--no-check-valid-until', 'take the suite\'s Release even past its Valid-Until: for a snapshot of the archive frozen on purpose (apt\'s check-valid-until=no); its new envs too')
    // One file per --dsc (repeat it): a variadic option would swallow the source names after it.
    .option('--dsc <file>', 'a local .dsc file to build too, its files beside it (repeat for more)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--profiles <list>', 'active build profiles, comma-separated (e.g. nocheck,nodoc): for Debian builds, and for recipes ($KILN_PROFILES, <!nocheck> in relations); repeated, they add up', (v: string, prev?: string) => (prev === undefined ? v : `${prev},${v}`))
    .option('--nocheck', 'DEB_BUILD_OPTIONS=nocheck and the nocheck profile')
    .option('--binnmu <n|auto>', 'a binary-only rebuild: the packages are versioned VERSION+bN (as sbuild --binNMU N --make-binNMU); auto: each rebuild of a version built before (here or in the archive) gets the next N, a first build none', parseBinnmu)
    .option('-B, --binary-arch', 'dpkg-buildpackage -B: architecture-dependent packages only')
    .option('-A, --binary-indep', 'dpkg-buildpackage -A: architecture-independent packages only')
    .option('--cpus <n>', 'CPUs per Debian build (DEB_BUILD_OPTIONS=parallel=N; default 1)', parsePositive('--cpus'))
    .option('--no-install-check', 'skip the dose-builddebcheck installability check')
    .option('--cross', "cross-build each arch other than this machine's in this machine's env, with its cross compilers (dpkg-buildpackage -a ARCH -B, the cross profile), instead of natively under QEMU")
    .option('--extra-repository <line>', 'also take build dependencies from this repository: "deb [signed-by=FILE] URI SUITE [COMPONENT…]" (as sbuild\'s; repeat for more)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--extra-repository-key <file>', 'a keyring an extra repository may be signed by, besides Debian\'s archive keyring (repeat for more)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--extra-package <path>', 'a local .deb apt may install as a build dependency, over the archive\'s package of that name (as sbuild\'s); a folder: every .deb in it (repeat for more)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--components <list>', 'archive components to read, comma-separated (default main): sources are looked up in them in order, build dependencies resolved from all of them (e.g. main,contrib,non-free); repeated, they add up', collectComponentList);
  if (options.all) cmd.option('--all', 'every source package of the run\'s components (--components; default main)');
  else {
    cmd
      .option('--twice', 'rebuild each package, recipe or Debian (up to date or not), a second time with varied clock, build path and time zone (and umask, for Debian packages), and compare the outputs (as reprotest does); a difference is a warning')
      .option('--verify', 'compare each built .deb with the archive\'s binary of the same version (as kiln verify does)')
      .option('--lintian', 'run lintian over each built package (as sbuild --run-lintian): its tags are reported with the run, never fatal')
      .option('--try-install', 'install each built .deb into a fresh root of the env, purge it and what it pulled in, and check that nothing is left behind (what sbuild --run-piuparts checks); a problem is a warning')
      .option('--autopkgtest', "run the source's own tests (debian/tests/control) with autopkgtest in a fresh root of the env after each build, on the built .debs (as sbuild --run-autopkgtest); a failed test is a warning")
      .option('--out <dir>', "copy each Debian package's .changes, .buildinfo and .debs (built or up to date) into DIR, for debsign and dput, as sbuild leaves them beside the source");
  }
  return cmd;
}

/** The Debian request of `--debian`, or undefined; `names` are the command's arguments. */
export function debianFrom(opts: DebianOptionsCli & { tree?: string }, names: readonly string[], treeGiven: boolean) {
  if (opts.debian === undefined && opts.dsc === undefined) return undefined;
  refuseUserinfo('--mirror', opts.mirror);
  checkMirrorUrl('--mirror', opts.mirror);
  if (opts.binaryArch === true && opts.binaryIndep === true) throw new KilnError('usage', '--binary-arch and --binary-indep exclude each other', { hint: 'give one (or neither, for -b)' });
  return {
    suite: opts.debian,
    sources: names,
    dscs: opts.dsc ?? [],
    all: opts.all === true,
    mirror: opts.mirror?.replace(/\/+$/, ''),
    profiles: profilesOf(opts.profiles),
    nocheck: opts.nocheck === true,
    ...(opts.binnmu === undefined ? {} : { binnmu: opts.binnmu }),
    mode: opts.binaryArch === true ? 'binary-arch' as const : opts.binaryIndep === true ? 'binary-indep' as const : 'binary' as const,
    cpus: opts.cpus,
    withTree: treeGiven,
    ...(opts.installCheck === false ? { skipInstallability: true } : {}),
    ...(opts.twice === true ? { twice: true } : {}),
    ...(opts.verify === true ? { verify: true } : {}),
    ...(opts.lintian === true ? { lintian: true } : {}),
    ...(opts.tryInstall === true ? { tryInstall: true } : {}),
    ...(opts.autopkgtest === true ? { autopkgtest: true } : {}),
    ...(opts.cross === true ? { cross: true } : {}),
    ...(opts.out === undefined ? {} : { out: outDirOf(opts.out) }),
    ...extraRepositoriesOf(opts),
    ...extraPackagesOf(opts),
    ...(opts.components === undefined ? {} : { components: opts.components }),
    ...(opts.keyring === undefined ? {} : { keyring: keyringFileOf('--keyring', opts.keyring) }),
    ...(opts.checkValidUntil === false ? { checkValidUntil: false as const } : {}),
  };
}

/**
 * A keyring file given by a flag (--keyring), made absolute: one that does not exist or is
 * not a file is a usage error before anything is read (whether it holds keys is checked
 * where it is read, inrelease.ts readKeyring).
 */
export function keyringFileOf(flag: string, file: string): string {
  const path = resolve(file);
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined || !st.isFile()) {
    throw new KilnError('usage', `${flag} ${file}: ${path} ${st === undefined ? 'does not exist' : 'is not a file'}`, { hint: 'name the keyring the archive is signed with: a binary keyring (.gpg) or an ASCII-armoured key (.asc), as apt\'s signed-by takes' });
  }
  return path;
}

/** --extra-repository lines and --extra-repository-key files, checked before the run (paths relative to the working directory). */
export function extraRepositoriesOf(opts: Pick<DebianOptionsCli, 'extraRepository' | 'extraRepositoryKey'>): { extraRepositories?: ExtraRepository[]; extraKeys?: string[] } {
  const repos = (opts.extraRepository ?? []).map((line) => parseExtraRepository(line, '--extra-repository', 'usage', (p) => resolve(p)));
  const keys = (opts.extraRepositoryKey ?? []).map((p) => resolve(p));
  const files = [...keys.map((k, i) => ({ k, flag: `--extra-repository-key ${opts.extraRepositoryKey![i]}` })), ...repos.flatMap((r) => (r.signedBy === undefined ? [] : [{ k: r.signedBy, flag: `--extra-repository "${r.line}": signed-by` }]))];
  for (const { k, flag } of files) {
    const st = statSync(k, { throwIfNoEntry: false });
    if (st === undefined || !st.isFile()) {
      throw new KilnError('usage', `${flag}: ${k} ${st === undefined ? 'does not exist' : 'is not a file'}`, { hint: 'name the repository\'s keyring file (binary .gpg or ASCII-armoured .asc; kiln key export writes one for kiln\'s repository)' });
    }
  }
  return { ...(repos.length === 0 ? {} : { extraRepositories: repos }), ...(keys.length === 0 ? {} : { extraKeys: keys }) };
}

/** --extra-package PATHs, made absolute (read, and a missing one said, before the run plans: debian/extra-packages.ts). */
export function extraPackagesOf(opts: Pick<DebianOptionsCli, 'extraPackage'>): { extraPackages?: { path: string; where: string }[] } {
  const given = opts.extraPackage ?? [];
  if (given.some((p) => p.trim() === '')) throw new KilnError('usage', '--extra-package: an empty path', { hint: 'give a .deb file, or a folder whose *.deb files are all taken' });
  return given.length === 0 ? {} : { extraPackages: given.map((p) => ({ path: resolve(p), where: `--extra-package ${p}` })) };
}

/** --out DIR: made if missing; a file there, or a path that cannot be a folder, is refused before the run. */
function outDirOf(dir: string): string {
  if (dir.trim() === '') throw new KilnError('usage', '--out: empty folder name', { hint: 'give the folder the .changes and .debs go to, e.g. --out ../upload' });
  const path = resolve(dir);
  const st = statSync(path, { throwIfNoEntry: false });
  if (st !== undefined && !st.isDirectory()) throw new KilnError('usage', `--out ${dir}: ${path} exists and is not a folder`, { hint: 'give a folder (kiln makes it when it does not exist)' });
  return path;
}

/** --nats URL, else $KILN_NATS; undefined when neither names one. */
export function natsUrlOf(given: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = (given ?? env['KILN_NATS'] ?? '').trim();
  if (url === '') return undefined;
  // Each server nats://HOST:PORT, tls://HOST:PORT or a bare HOST:PORT (the client's nats://);
  // another scheme (an http:// monitoring port, say) would be dialled as NATS all the same.
  for (const server of url.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(server)?.[1]?.toLowerCase();
    if (scheme !== undefined && scheme !== 'nats' && scheme !== 'tls') {
      const from = given === undefined ? '$KILN_NATS' : '--nats';
      throw new KilnError('usage', `${from}: ${scheme}:// is not a NATS URL (${hideUserinfo(server)})`, { hint: 'give the NATS server\'s client port: nats://HOST:4222 (tls://HOST:4222 for TLS); its http monitoring port (8222) does not take clients' });
    }
    // Said now as the flag's mistake, not later as a server that cannot be reached.
    const parsed = /\s/.test(server) ? null : URL.parse(scheme === undefined ? `nats://${server}` : server);
    if (parsed === null || parsed.hostname === '') {
      const from = given === undefined ? '$KILN_NATS' : '--nats';
      throw new KilnError('usage', `${from}: ${JSON.stringify(hideUserinfo(server))} is not a NATS server address`, { hint: 'give the NATS server\'s client port: nats://HOST:4222 (tls://HOST:4222 for TLS), several comma-separated' });
    }
  }
  return url;
}

const COUNT_WORDS: readonly (readonly [string, string])[] = [
  ['built', 'built'], ['up-to-date', 'up to date'], ['failed', 'failed'], ['skipped', 'skipped'], ['broken', 'broken'], ['cancelled', 'cancelled'],
  // A daemon build's counts while it runs (GET /builds): the jobs not settled yet.
  ['running', 'running'], ['queued', 'waiting'],
];

/**
 * A run's counts as text, e.g. `3 up to date, 1 failed`: what is 0 is left out (the line
 * fits 100 columns), except `built` with `{ built: true }` (summary lines); `0 packages`
 * when nothing is left.
 */
export function countsText(counts: Readonly<Partial<Record<string, number>>>, o: { built?: boolean } = {}): string {
  const parts = COUNT_WORDS.filter(([k]) => (counts[k] ?? 0) > 0 || (k === 'built' && o.built === true)).map(([k, words]) => `${counts[k] ?? 0} ${words}`);
  return parts.length === 0 ? '0 packages' : parts.join(', ');
}

/** The counts of a run's summary line: built always, the others when not zero. */
export const summaryCounts = (counts: Readonly<Partial<Record<string, number>>>): string => countsText(counts, { built: true });

/**
 * A mirror URL given on the command line: http://, https:// or file://, and one that parses
 * (with a host for http and https). Checked up front, so that `--mirror notaurl` is a usage
 * error naming the flag, not a failed download or bootstrap later.
 */
export function checkMirrorUrl(flag: string, url: string | undefined): void {
  if (url === undefined) return;
  const hint = `give the archive's base URL, e.g. ${flag} http://HOST/debian or ${flag} file:///srv/mirror/debian (default: the host's apt sources)`;
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    // said below
  }
  if (!/^(https?|file):\/\//i.test(url)) throw new KilnError('usage', `${flag}: "${url}" is not an http://, https:// or file:// URL`, { hint });
  if (u === undefined) throw new KilnError('usage', `${flag}: "${url}" is not a valid URL (no host, or a character a URL cannot hold?)`, { hint });
  if (u.protocol !== 'file:' && u.hostname === '') throw new KilnError('usage', `${flag}: "${url}" has no host`, { hint });
}

/** `--profiles a,b`: build profile names, each as Debian spells them. */
export function profilesOf(text: string | undefined): string[] {
  // Given but empty (`--profiles ''`, `a,,b`): a list that lost a name, not "no profiles"
  // (a trailing comma is fine, as for --arch).
  if (text !== undefined && text.trim().replace(/(.),$/, '$1').split(',').some((p) => p.trim() === '')) {
    throw new KilnError('usage', `--profiles: "${text}" has an empty name`, { hint: 'give names such as nocheck or nodoc, comma-separated without empty items; leave --profiles out for none' });
  }
  const names = (text ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
  for (const n of names) {
    if (!/^[a-z0-9][a-z0-9.+-]*$/.test(n)) {
      throw new KilnError('usage', `--profiles: ${JSON.stringify(n)} is not a build profile name`, { hint: 'give names such as nocheck or nodoc, comma-separated: lowercase letters, digits, ".", "+" and "-"' });
    }
  }
  return [...new Set(names)];
}

/** A commander parser for a duration option (30d, 12h, 90m): milliseconds, more than 0 (with `zero`, "0" too: off). */
export function parseDurationOption(option: string, o: { zero?: boolean } = {}): (text: string) => number {
  return (text) => {
    if (o.zero === true && text.trim() === '0') return 0;
    let ms: number;
    try {
      ms = parseDuration(text);
    } catch (e) {
      throw new KilnError('usage', `${option}: ${(e as Error).message}`, { hint: `a number and a unit: ms, s, m, h, d or w, e.g. ${option} 90d or 12h` });
    }
    if (ms < 0 || (ms === 0 && o.zero !== true)) throw new KilnError('usage', `${option}: must be more than 0, got "${text}"`, { hint: `e.g. ${option} 90d` });
    return ms;
  };
}

/**
 * A commander parser for a size flag: bytes, or K, M, G, T (powers of 1024); with `zero`, 0
 * too (no limit); with `least`, no size below it (`least` bytes, e.g. 1 MiB for a log).
 */
export function parseSizeOption(flag: string, o: { zero?: boolean; least?: number } = {}): (text: string) => number {
  return (text) => {
    if (o.zero === true && text.trim() === '0') return 0;
    let n = NaN;
    try {
      n = parseSize(text);
    } catch {
      // said below
    }
    if (Number.isSafeInteger(n) && n > 0 && o.least !== undefined && n < o.least) {
      const least = humanBytes(o.least).replace(/\.0 /, ' ');
      throw new KilnError('usage', `${flag}: "${text}" is ${n} byte${n === 1 ? '' : 's'}, less than the least ${flag} takes, ${least}`, { hint: `give ${least} or more, e.g. ${flag} 100M${o.zero === true ? ' (or 0 for no limit)' : ''}; K, M, G and T are powers of 1024` });
    }
    if (Number.isSafeInteger(n) && n > 0) return n;
    if (Number.isFinite(n) && n > Number.MAX_SAFE_INTEGER) throw new KilnError('usage', `${flag}: "${text}" is too large (at most ${Math.floor(Number.MAX_SAFE_INTEGER / 1024 ** 4)}T)`, { hint: 'give a size this machine can have, e.g. 100G' });
    throw new KilnError('usage', `${flag}: expected a size such as 100M or 1G${o.zero === true ? ' (or 0 for no limit)' : ''}, got "${text}"`, { hint: 'K, M, G and T are powers of 1024' });
  };
}

/** The smallest `--log-limit`: a log must have room for a failure's last lines (and kiln's own). */
export const MIN_LOG_LIMIT = 1024 ** 2;

/** `--log-limit SIZE`: bytes (K, M, G, T), at least 1M, 0 for no limit. */
export const parseLogLimit = parseSizeOption('--log-limit', { zero: true, least: MIN_LOG_LIMIT });

/** `--binnmu N`: a binNMU number, 1 to 999; or `auto` (debian/auto-binnmu.ts). */
export function parseBinnmu(text: string): number | 'auto' {
  if (text.trim() === 'auto') return 'auto';
  const n = /^\d{1,3}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!(n >= 1)) throw new KilnError('usage', `--binnmu: expected a number from 1 to 999 or auto, got "${text}"`, { hint: 'e.g. --binnmu 1 makes VERSION+b1; raise it for each later rebuild of one version, or let --binnmu auto count' });
  return n;
}
