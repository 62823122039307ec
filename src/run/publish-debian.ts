// After a run with Debian source packages: publish every .deb and .udeb they produced (built
// now or up to date) into the state dir's signed apt repository, suite = the Debian suite
// (.udebs in debian-installer/binary-ARCH, as Debian's archive has them).
// kiln's signing key is made on first use (`kiln key export` prints the public half).
// The repository is swapped in atomically (publish/apt-repo.ts); a failure here is a
// note, not a failed run: the packages are built and stay in the artifact cache.

import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Downloads } from '../cache/downloads.ts';
import { formatComparison, summarizeComparison } from '../debian/deb-compare.ts';
import { verifyDebs } from '../debian/deb-verify.ts';
import type { TwiceResult } from '../execute/debian-twice.ts';
import type { AutopkgtestEntry, LintianEntry, ReproducibilityEntry } from '../publish/report.ts';
import { countsOf, type AutopkgtestFile } from '../execute/debian-autopkgtest.ts';
import type { ArtifactStore } from '../cache/artifact-types.ts';
import { withLock } from '../cache/lock.ts';
import { createSigningKey, DEFAULT_KEY_NAME, loadSigningKey, signingKeyPaths } from '../publish/signing.ts';
import { publishRepo, type PublishResult } from '../publish/apt-repo.ts';
import { stageSources, type SourceFiles } from './publish-sources.ts';
import type { JobState } from '../plan/job.ts';
import type { Plan } from '../plan/plan.ts';

export interface PublishDebianOptions {
  readonly stateRoot: string;
  /** Default `<stateRoot>/repo`. */
  readonly repoDir?: string;
  readonly suite: string;
  readonly archs: readonly string[];
  readonly plan: Plan;
  readonly artifacts: ArtifactStore;
  readonly finalState: ReadonlyMap<string, JobState>;
  readonly keyOf: (jobId: string) => string | undefined;
  readonly note: (text: string) => void;
  /** --lintian: lintian over each built job's .changes (debian/lintian.ts). */
  readonly lintian?: boolean;
  /** --verify: compare each .deb with the archive's binary of the same version. */
  readonly verify?: { readonly mirror: string; readonly keyring?: string; readonly checkValidUntil?: false; readonly cacheDir: string; readonly downloads: Downloads; readonly allArch: string; readonly components?: readonly string[] };
  /** The downloads cache: the sources of the published binaries are published beside them (publish-sources.ts). */
  readonly sources?: SourceFiles;
  /** --out DIR: each job's .changes, .buildinfo and .debs are copied there (publish/debian-out.ts). */
  readonly outDir?: string;
  /** Job log path of a job id (its `<log>.twice.json` holds --twice's comparison). */
  readonly logOf?: (jobId: string) => string | undefined;
  readonly signal?: AbortSignal;
}

export interface DebianRunResult {
  readonly published: PublishResult | undefined;
  readonly reproducibility: ReproducibilityEntry[];
  readonly lintian: LintianEntry[];
  /** --autopkgtest: each test of each job that ran them (built, or failed for their warnings). */
  readonly autopkgtest: AutopkgtestEntry[];
}

/** The tests --autopkgtest ran for the run's Debian jobs (`<log>.autopkgtest.json`), a line each job for the console. */
async function autopkgtestEntries(o: PublishDebianOptions): Promise<AutopkgtestEntry[]> {
  const out: AutopkgtestEntry[] = [];
  // Failed too: with --fail-on-warnings a failed test fails the job, and is what matters most here.
  for (const n of o.plan.nodes.filter((x) => x.spec?.debian?.autopkgtest === true && (o.finalState.get(x.id) === 'built' || o.finalState.get(x.id) === 'failed'))) {
    const log = o.logOf?.(n.id);
    const text = log === undefined ? undefined : await readFile(`${log}.autopkgtest.json`, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const file = JSON.parse(text) as AutopkgtestFile;
    for (const r of file.results) out.push({ job: n.id, test: r.name, result: r.result, detail: r.detail });
    o.note(`autopkgtest ${n.id}: ${countsOf(file.results)}${file.exit === null ? ' (autopkgtest did not finish)' : ''}`);
  }
  return out;
}

export function repoDirOf(stateRoot: string): string {
  return join(stateRoot, 'repo');
}

export async function publishDebianRun(o: PublishDebianOptions): Promise<DebianRunResult> {
  const jobs = o.plan.nodes.filter((n) => n.spec?.debian !== undefined && (o.finalState.get(n.id) === 'built' || o.finalState.get(n.id) === 'up-to-date'));
  const reproducibility: ReproducibilityEntry[] = [];
  const lintian: LintianEntry[] = [];
  for (const n of jobs) {
    const log = o.logOf?.(n.id);
    if (log === undefined || o.finalState.get(n.id) !== 'built') continue;
    const text = await readFile(`${log}.twice.json`, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    for (const t of JSON.parse(text) as TwiceResult[]) {
      reproducibility.push({ check: 'twice', job: n.id, deb: t.deb, status: t.status, summary: t.summary, details: t.details });
      o.note(twiceLine(n.id, t));
    }
  }
  const autopkgtest = await autopkgtestEntries(o);
  // --try-install and --autopkgtest check what a run builds: say so of what it found up to date.
  for (const n of jobs.filter((j) => o.finalState.get(j.id) === 'up-to-date')) {
    const asked = [...(n.spec!.debian!.tryInstall === true ? ['--try-install'] : []), ...(n.spec!.debian!.autopkgtest === true ? ['--autopkgtest'] : [])];
    if (asked.length > 0) o.note(`${asked.join(', ')}: ${n.id} was found up to date, not checked again: \`--force ${n.name} ${asked.join(' ')}\` rebuilds and checks it`);
  }
  if (jobs.length === 0) return { published: undefined, reproducibility, lintian, autopkgtest };
  const tmp = await mkdtemp(join(o.stateRoot, '.publish-'));
  try {
    const debs: string[] = [];
    // Published beside the .debs, not compared by --verify (which reads the archive's .deb indexes).
    const udebs: string[] = [];
    const jobOfDeb = new Map<string, string>();
    for (const n of jobs) {
      const key = o.keyOf(n.id) ?? n.key;
      if (key === undefined) continue;
      const dir = join(tmp, n.id.replace('@', '_'));
      await mkdir(dir);
      await o.artifacts.stageInto(key, dir, o.signal === undefined ? {} : { signal: o.signal });
      if (o.outDir !== undefined) {
        // A folder kiln cannot write is said, and the repository is published all the same.
        const { copyUploadFiles } = await import('../publish/debian-out.ts');
        const copied = await copyUploadFiles(dir, o.outDir).catch((e: unknown) => {
          o.note(`error: --out: cannot copy ${n.id}'s files into ${o.outDir}: ${(e as Error).message}`);
          return undefined;
        });
        if (copied !== undefined) o.note(`--out: ${n.id}: ${copied.length === 0 ? 'nothing to copy' : copied.join(' ')} → ${o.outDir}`);
      }
      for (const f of await readdir(dir)) {
        if (!f.endsWith('.deb') && !f.endsWith('.udeb')) continue;
        // A regular file only: a symlink a build left in its output is never followed (as root).
        if (!(await lstat(join(dir, f))).isFile()) {
          o.note(`not published: ${f} of ${n.id} is not a regular file`);
          continue;
        }
        (f.endsWith('.udeb') ? udebs : debs).push(join(dir, f));
        jobOfDeb.set(join(dir, f), n.id);
      }
    }
    if (debs.length === 0 && udebs.length === 0) return { published: undefined, reproducibility, lintian, autopkgtest };
    // The sources they were built from, beside them (apt-get source; the GPL's offer of source).
    const dscs = o.sources === undefined ? [] : await stageSources(jobs.map((n) => n.spec!.debian!), join(tmp, '.sources'), o.sources, o.note).catch((e: unknown) => {
      // (A folder or link kiln cannot make: the binaries go without their sources, said why.)
      o.note(`the sources of this run are not published: ${(e as Error).message}; publishing the binaries without them`);
      return [];
    });
    if (o.lintian === true) {
      const { lintianSummary, runLintian } = await import('../debian/lintian.ts');
      // What this run built (an up-to-date package is not checked here).
      for (const n of jobs.filter((j) => o.finalState.get(j.id) === 'built')) {
        const dir = join(tmp, n.id.replace('@', '_'));
        for (const changes of (await readdir(dir)).filter((f) => f.endsWith('.changes')).sort()) {
          if (o.signal?.aborted === true) break;
          const r = await runLintian(changes, { dir, ...(o.signal === undefined ? {} : { signal: o.signal }) });
          const counts = { errors: r.tags.filter((t) => t.code === 'E').length, warnings: r.tags.filter((t) => t.code === 'W').length };
          lintian.push({ job: n.id, changes, ...counts, tags: r.tags.map((t) => t.line), ...(r.error === undefined ? {} : { error: r.error }) });
          o.note(`lintian ${changes}: ${r.error === undefined ? lintianSummary(r.tags) : `${r.error}${r.tags.length > 0 ? ` (after ${lintianSummary(r.tags)})` : ''}`}`);
        }
      }
      for (const n of jobs.filter((j) => o.finalState.get(j.id) === 'up-to-date')) {
        // Whether the run that built it had --lintian is not known here: say only what is.
        o.note(`lintian: ${n.id} was found up to date, not checked: lintian checks what a run builds; \`--force ${n.name} --lintian\` rebuilds and checks it`);
      }
    }
    if (o.verify !== undefined) {
      const suiteName = o.suite;
      const { checked, skipped } = debsToVerify(debs);
      o.note(`verifying ${checked.length} .deb(s) against ${suiteName} in the archive${skipped.length === 0 ? '' : ` (not ${skipped.length} -dbgsym: Debian keeps those in its separate debug archive)`}`);
      const results = await verifyDebs(checked, {
        cacheDir: o.verify.cacheDir, downloads: o.verify.downloads, mirror: o.verify.mirror, ...(o.verify.keyring === undefined ? {} : { keyring: o.verify.keyring }), ...(o.verify.checkValidUntil === false ? { checkValidUntil: false as const } : {}), suite: suiteName, allArch: o.verify.allArch, ...(o.verify.components === undefined ? {} : { components: o.verify.components }),
        ...(o.signal === undefined ? {} : { signal: o.signal }),
      });
      for (const r of results) {
        const summary = r.comparison !== undefined ? summarizeComparison(r.comparison) : r.error?.message ?? r.status;
        const details = r.comparison !== undefined && r.comparison.verdict === 'differs' ? formatComparison(r.comparison) : [];
        reproducibility.push({ check: 'archive', job: jobOfDeb.get(r.deb) ?? '?', deb: basename(r.deb), status: r.status, summary, details });
        o.note(`verify ${basename(r.deb)}: ${r.status === 'reproducible' ? 'reproducible (bit-identical to the archive)' : summary}`);
      }
    }
    // Under a lock: two runs of one state dir (the daemon runs several) make one key, not two halves.
    await withLock(join(o.stateRoot, '.locks'), 'signing-key', async () => {
      if (existsSync(signingKeyPaths(o.stateRoot).secret)) return;
      const made = await createSigningKey(o.stateRoot, { name: DEFAULT_KEY_NAME });
      o.note(`made kiln's repository signing key ${made.fingerprint} in ${made.paths.secret}; \`kiln key export\` prints the public key for apt`);
    });
    const key = await loadSigningKey(o.stateRoot);
    const publish = (withSources: readonly string[]): Promise<PublishResult> => publishRepo({
      repoDir: o.repoDir ?? repoDirOf(o.stateRoot),
      suite: o.suite,
      debs: [...debs, ...udebs],
      dscs: withSources,
      key,
      architectures: o.archs.filter((a) => a !== 'all'),
      // A Debian version rebuilt because a build dependency changed has other bytes.
      replaceSameVersion: true,
      ...(o.signal === undefined ? {} : { signal: o.signal }),
    });
    // A source kiln cannot publish (a local .dsc that lists a file twice, or changed since
    // its build) is a note: the binaries are published all the same.
    const result = await publish(dscs).catch((e: unknown) => {
      if (dscs.length === 0 || o.signal?.aborted === true) throw e;
      o.note(`the sources of this run are not published: ${(e as Error).message}; publishing the binaries without them`);
      return publish([]);
    });
    o.note(publishedText(result));
    for (const line of olderLines(result)) o.note(line);
    for (const line of sameVersionLines(result, o.plan.nodes.some((n) => n.spec?.debian?.options.autoBinnmu === true))) o.note(line);
    if (result.poolNotSwept !== undefined) o.note(`published, but no pool file was deleted: ${result.poolNotSwept.why}; ${result.poolNotSwept.hint}`);
    for (const r of result.refused) {
      if (r.from.endsWith('.dsc')) {
        o.note(`not published to ${result.suite}: the source ${basename(r.from)}: its ${r.filename} is already in the pool as suite ${r.suite}'s, with other bytes (one pool serves every suite): its binaries are published; publish each suite into its own repository to have both`);
        continue;
      }
      o.note(`not published to ${result.suite}: ${r.filename} is already in the pool as suite ${r.suite}'s build of that version, with other bytes (one pool serves every suite; replacing it would break ${r.suite}): publish each suite into its own repository, or give this rebuild another version`);
    }
    // --verify compared the .debs in a folder that goes now: name them where they stay, in the pool (for diffoscope).
    const inPool = new Map(result.packages.filter((p) => p.outcome !== 'older').map((p) => [p.from, join(result.repoDir, p.filename)]));
    const lasting = reproducibility.map((e) => (e.check !== 'archive' || e.details.length === 0 ? e : { ...e, details: e.details.map((l) => withPoolPaths(l, inPool)) }));
    return { published: result, reproducibility: lasting, lintian, autopkgtest };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** A line naming a .deb of the run's temporary folder names it in the pool instead, when it went there (pure). */
export function withPoolPaths(line: string, inPool: ReadonlyMap<string, string>): string {
  let out = line;
  for (const [from, to] of inPool) if (out.includes(from)) out = out.replaceAll(from, to);
  return out;
}

/**
 * The .debs `--verify` compares, and the -dbgsym ones it leaves out: Debian publishes
 * those in a separate debug archive, not in the suite's Packages (pure).
 */
export function debsToVerify(debs: readonly string[]): { checked: string[]; skipped: string[] } {
  const isDbgsym = (d: string): boolean => /-dbgsym_[^/]*\.deb$/.test(d);
  return { checked: debs.filter((d) => !isDbgsym(d)), skipped: debs.filter(isDbgsym) };
}

/** The terminal line of one .deb of a --twice comparison (pure). */
export function twiceLine(jobId: string, t: TwiceResult): string {
  const what = t.deb === '' ? jobId : `${t.deb} (${jobId})`;
  switch (t.status) {
    case 'reproducible':
      return `twice ${what}: reproducible (bit-identical in a varied rebuild)`;
    case 'differs':
      // The summary reads "differs: …" (deb-compare-format.ts); a = the first build, b = the varied one.
      return `twice ${what}: ${t.summary.startsWith('differs') ? t.summary : `differs: ${t.summary}`}${t.details.length > 0 ? ` (${t.details.length} detail line(s) in the job log and report)` : ''}`;
    case 'error':
      return `twice ${what}: not compared: ${t.summary}`;
  }
}

/**
 * A version going backwards: built, but older than what the suite lists, so not
 * published, and apt keeps installing the newer one (pure). One line per package.
 */
export function olderLines(r: Pick<PublishResult, 'packages' | 'suite'>): string[] {
  return r.packages
    // A source held back with its binaries is counted, not warned of: its binaries' warnings say why.
    .filter((p) => p.outcome === 'older' && p.heldBack !== true)
    .map((p) => `warning: ${p.package} ${p.version} (${p.architecture}) is older than the ${p.previous ?? 'newer'} suite ${r.suite} lists: not published, and apt keeps installing ${p.previous ?? 'that'} (a version going backwards: raise it, or add an epoch, or \`kiln repo remove --suite ${r.suite} ${p.package}\` first)`);
}

/**
 * What a publish replaced under the very version it had (pure): a source is a warning
 * (two different sources under one version: what `apt-get source` gets depends on the
 * index a client has; the old one stays in its folder of the pool); rebuilt binaries are one
 * note, as apt does not see them as upgrades (with --binnmu auto only arch-all packages,
 * and forced rebuilds of one key, rebuilt with other bytes are left to say).
 */
export function sameVersionLines(r: Pick<PublishResult, 'packages' | 'suite'>, autoBinnmu: boolean): string[] {
  const same = r.packages.filter((p) => p.outcome === 'replaced' && p.previous === p.version);
  const sources = same.filter((p) => p.architecture === 'source');
  const binaries = same.filter((p) => p.architecture !== 'source');
  const out = sources.map((p) => `warning: the source ${p.package} ${p.version} is published again with other content, under the same version (in a pool folder of its own): what \`apt-get source\` gets then depends on the index a client has (give a changed source a new version: dch -v)`);
  if (binaries.length > 0) {
    const names = binaries.slice(0, 5).map((p) => `${p.package} ${p.version} (${p.architecture})`).join(', ');
    out.push(`${binaries.length} package(s) rebuilt and published again under the version they had (${names}${binaries.length > 5 ? ', …' : ''}): apt does not see them as upgrades${autoBinnmu ? ' (--binnmu auto: arch-independent packages, never binNMUed, or a forced rebuild of the same inputs, keeping its number, that did not build the same bytes again)' : '; --binnmu auto gives each rebuild a version of its own'}`);
  }
  return out;
}

/**
 * A run's state once its packages are published (pure): a run that built everything but
 * could not publish some of it (refused: another suite's build of that version holds the
 * pool name) fails, since the suite may now list a package without its dependency.
 */
/**
 * How many built .debs a publish refused (pure): a source left out (its orig tarball
 * another suite's, with other bytes) is a note, not a failed run: its binaries install.
 */
export function debsRefused(refused: readonly { readonly from: string }[]): number {
  return refused.filter((r) => !r.from.endsWith('.dsc')).length;
}

export function stateAfterPublish<S extends string>(runState: S | 'failed', refused: number, publishFailed = false): S | 'failed' {
  return (refused > 0 || publishFailed) && runState === 'done' ? 'failed' : runState;
}

/** What a publish did, counted by outcome: `published 2 .deb(s) to … (1 added, 1 unchanged, 1 older than listed, not published)`. */
export function publishedText(r: Pick<PublishResult, 'packages' | 'repoDir' | 'suite' | 'indexed' | 'refused'>): string {
  const n = (o: string): number => r.packages.filter((p) => p.outcome === o).length;
  const parts = [
    n('added') > 0 ? `${n('added')} added` : '',
    n('replaced') > 0 ? `${n('replaced')} replaced` : '',
    n('unchanged') > 0 ? `${n('unchanged')} unchanged` : '',
    n('older') > 0 ? `${n('older')} older than the version listed, left out` : '',
    r.refused.length > 0 ? `${r.refused.length} refused (below)` : '',
  ].filter((s) => s !== '');
  const into = r.packages.filter((p) => p.outcome === 'added' || p.outcome === 'replaced');
  const sources = into.filter((p) => p.architecture === 'source').length;
  const udebs = into.filter((p) => p.filename.endsWith('.udeb')).length;
  const debs = into.length - sources - udebs;
  const kinds = [debs > 0 ? `${debs} .deb(s)` : '', udebs > 0 ? `${udebs} .udeb(s)` : '', sources > 0 ? `${sources} source(s)` : ''].filter((s) => s !== '');
  const what = kinds.length <= 1 ? kinds.join('') : `${kinds.slice(0, -1).join(', ')} and ${kinds.at(-1)!}`;
  const head = into.length === 0 ? `nothing new published to ${r.repoDir}` : `published ${what} to ${r.repoDir}`;
  return `${head} (suite ${r.suite}, ${r.indexed} package(s) listed${parts.length === 0 ? '' : `; ${parts.join(', ')}`})`;
}
