// --binnmu auto: a Debian source rebuilt under a version that was built before gets the
// next binNMU number, so that a version never names two different files.
//
// A Debian package is rebuilt without a new version when something under it changed (a
// build dependency of this run, or one in the archive, the env). Published again under the
// same version it replaces the file apt already has under that version, and apt does not
// see it as an upgrade. Debian's answer is a binNMU (VERSION+bN); with `auto`, kiln picks N
// when the job starts, one past the highest number seen, the version itself counting as 0:
//
//   - the numbers this state directory gave builds of the version (records: a table of
//     reservations, each made in one write transaction with the reading, and dropped
//     again when its build did not succeed, so two runs at once never share a number);
//   - what the repository the run publishes to lists of the source's binaries at that
//     version (builds taken up to date from a shared cache are there, not in the records);
//   - the archive's architecture-dependent binaries of the source (VERSION, VERSION+bN);
//
// each over every arch the run builds the source for, so that archs rebuilt together share
// their number (a Multi-Arch: same library must have one version on every arch). None of
// them: no binNMU (a version's first build).
//
// The number is not part of the key: the key says what was built from what (the option
// `auto` is part of it), the number only which build of the version it was. A job found up
// to date keeps the version its artifact has; a key built before (--force) keeps its
// number. On the first arch (dpkg-buildpackage -b) the build is split as Debian's binNMUs
// are (execute/debian-build.ts): the architecture-dependent packages are built with the
// binNMU changelog entry (-B), the architecture-independent ones without it (-A), keeping
// the source's version: a `Depends: foo-data (= ${source:Version})` still holds.

import type { BinaryUniverse } from './lazy-index.ts';
import type { Job } from '../plan/job.ts';
import type { PackageSpec } from '../plan/spec.ts';

/** The binNMU number of `binaryVersion` built from source `version`: 0 for the version itself, undefined for another one. */
export function binnmuNumberOf(binaryVersion: string, version: string): number | undefined {
  if (binaryVersion === version) return 0;
  if (!binaryVersion.startsWith(`${version}+b`)) return undefined;
  const n = binaryVersion.slice(version.length + 2);
  return /^[1-9]\d{0,5}$/.test(n) ? Number(n) : undefined;
}

/** The number for the next build: none for a first build (no earlier one), else the highest seen plus one. */
export function nextBinnmu(earlier: readonly number[]): number | undefined {
  return earlier.length === 0 ? undefined : Math.max(...earlier) + 1;
}

/** The binNMU numbers the suite's index has of `source` at `version` among its architecture-dependent binaries (0: the version itself). */
export function archiveBinnmus(universe: BinaryUniverse, source: string, version: string, binaries: readonly string[]): number[] {
  const out: number[] = [];
  for (const b of binaries) {
    for (const v of universe.versions(b)) {
      // An `all` binary is listed for every arch, built or not there.
      if (v.source !== source || v.architecture === 'all') continue;
      const n = binnmuNumberOf(v.version, version);
      if (n !== undefined) out.push(n);
    }
  }
  return out;
}

/**
 * The binary packages' version of a Debian job as built (VERSION+bN for a binNMU of an
 * architecture-dependent build), or undefined when it is the source's version.
 */
export function binnmuVersionOf(spec: PackageSpec, arch: string): string | undefined {
  const d = spec.debian;
  if (d?.options.binnmu === undefined || (d.modeFor[arch] ?? 'binary') === 'binary-indep') return undefined;
  return `${spec.version}+b${d.options.binnmu}`;
}

/** A number this state directory gave a build of the version: its arch, key and binary version (null: the version itself). */
export interface ReservedBinnmu {
  readonly arch: string;
  readonly key: string;
  readonly binaryVersion: string | null;
}

/** The number a reservation holds for source `version` (0: the version itself), or undefined for another version's. */
export function reservedNumber(r: Pick<ReservedBinnmu, 'binaryVersion'>, version: string): number | undefined {
  return r.binaryVersion === null ? 0 : binnmuNumberOf(r.binaryVersion, version);
}

/**
 * The binary version of each Debian binNMU found up to date (`key`: its artifact's), by id,
 * as its artifact's meta says it (a binNMU's build records it). Only where a binNMU can be
 * (with --binnmu): a whole suite's plan or no-change run reads no meta for it.
 */
export async function binnmusUpToDate(
  found: readonly { readonly id: string; readonly options: { readonly autoBinnmu?: true; readonly binnmu?: number }; readonly key: string | undefined }[],
  artifacts: { get(key: string): Promise<Readonly<Record<string, unknown>> | undefined> },
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of found) {
    if ((f.options.autoBinnmu !== true && f.options.binnmu === undefined) || f.key === undefined) continue;
    const meta = await artifacts.get(f.key).catch(() => undefined);
    if (typeof meta?.['binaryVersion'] === 'string') out.set(f.id, meta['binaryVersion']);
  }
  return out;
}

/** What the numbering sees of a version besides the archive (auto-binnmu.ts's header). */
export interface BinnmusSeen {
  readonly reserved: readonly ReservedBinnmu[];
  /** The repository's binaries of the source: arch and version. */
  readonly published: readonly { readonly arch: string; readonly version: string }[];
}

/** The archs a source's binNMU is numbered over: those the run builds its architecture-dependent packages for. */
function numberedArchs(d: NonNullable<PackageSpec['debian']>): Set<string> {
  return new Set(Object.entries(d.modeFor).filter(([a, m]) => a !== 'all' && m !== 'binary-indep').map(([a]) => a));
}

/** Whether --binnmu auto numbers this job at all (not an `all` build, nor a source of `all` packages only). */
export function autoBinnmuApplies(job: Pick<Job, 'arch' | 'spec'>): boolean {
  const d = job.spec.debian;
  return d?.options.autoBinnmu === true && job.arch !== 'all' && (d.modeFor[job.arch] ?? 'binary') !== 'binary-indep' && !d.source.architecture.every((w) => w === 'all');
}

/**
 * The number of a build under --binnmu auto, its final key `key`: 0 for none (the version
 * itself), with why for the log. A key reserved before on the arch keeps its number: one
 * key, one output, one version.
 */
export function chooseBinnmu(job: Pick<Job, 'arch' | 'spec'>, key: string, seen: BinnmusSeen): { n: number; why?: string } {
  const d = job.spec.debian!;
  const { name, version } = job.spec;
  const same = seen.reserved.find((r) => r.arch === job.arch && r.key === key && reservedNumber(r, version) !== undefined);
  if (same !== undefined) {
    const n = reservedNumber(same, version)!;
    return n === 0 ? { n } : { n, why: `--binnmu auto: ${name} ${version} on ${job.arch} was built here from these very inputs as the binNMU ${version}+b${n}: built again as that` };
  }
  const archs = numberedArchs(d);
  archs.add(job.arch);
  const numbersOf = (versions: readonly string[]) => versions.map((v) => binnmuNumberOf(v, version)).filter((n): n is number => n !== undefined);
  const here = numbersOf(seen.reserved.filter((r) => archs.has(r.arch)).map((r) => r.binaryVersion ?? version));
  const published = numbersOf(seen.published.filter((p) => archs.has(p.arch)).map((p) => p.version));
  const archive = [...archs].flatMap((a) => archiveBinnmus(d.suite.packages(a).universe, d.source.package, version, d.source.binaries));
  const n = nextBinnmu([...here, ...published, ...archive]);
  if (n === undefined) return { n: 0 };
  const list = (ns: readonly number[]) => [...new Set(ns)].sort((a, b) => a - b).map((x) => (x === 0 ? version : `+b${x}`)).join(', ');
  const on = archs.size === 1 ? `on ${job.arch}` : `on ${[...archs].sort().join(', ')}`;
  const seenAt = [
    ...(here.length === 0 ? [] : [`built here ${here.length === 1 ? 'once' : here.length === 2 ? 'twice' : `${here.length} times`} (${list(here)})`]),
    ...(published.length === 0 ? [] : [`published in the repository (${list(published)})`]),
    ...(archive.length === 0 ? [] : [`in ${d.suite.suite}'s archive (${list(archive)})`]),
  ];
  return { n, why: `--binnmu auto: ${name} ${version} ${on} was ${seenAt.join(', ')}: this build is the binNMU ${version}+b${n}` };
}

/** The job with the number chosen (`binnmu`, and `binnmuWhy` for its log); as it is for 0. */
export function withBinnmu<J extends Pick<Job, 'arch' | 'spec'>>(job: J, chosen: { n: number; why?: string }): J {
  const d = job.spec.debian;
  if (chosen.n === 0 || d === undefined) return job;
  return { ...job, spec: { ...job.spec, debian: { ...d, options: { ...d.options, binnmu: chosen.n }, ...(chosen.why === undefined ? {} : { binnmuWhy: chosen.why }) } } };
}
