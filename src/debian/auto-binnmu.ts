// --binnmu auto: a Debian source rebuilt under a version that was built before gets the
// next binNMU number, so that a version never names two different files.
//
// A Debian package is rebuilt without a new version when something under it changed (a
// build dependency of this run, or one in the archive, the env). Published again under the
// same version it would be a second file under one name: kiln's repository refuses it
// (`conflict`), and apt would see two hashes for one version. Debian's answer is a binNMU
// (VERSION+bN); with `auto`, kiln picks N when the job starts:
//
//   - no N for the version's first build (neither this state directory's records nor the
//     suite's index have a binary of the source at that version, on that arch);
//   - else one more than the highest N seen, the plain version counting as 0: records
//     (every build of the version that succeeded here, on that arch: kiln build --binnmu N,
//     auto or none) and the archive's binaries of the source (VERSION, VERSION+bN).
//
// The number is not part of the key: the key says what was built from what (the option
// `auto` is part of it), the number only which build of the version it was. A job found up
// to date keeps the version its artifact has. On the first arch (dpkg-buildpackage -b) the
// build is split as Debian's binNMUs are (execute/debian-build.ts): the architecture-
// dependent packages are built with the binNMU changelog entry (-B), the
// architecture-independent ones without it (-A), keeping the source's version: a
// `Depends: foo-data (= ${source:Version})` still holds.

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

/** The binNMU numbers the suite's index has of `source` at `version` among its binaries (0: the version itself). */
export function archiveBinnmus(universe: BinaryUniverse, source: string, version: string, binaries: readonly string[]): number[] {
  const out: number[] = [];
  for (const b of binaries) {
    for (const v of universe.versions(b)) {
      if (v.source !== source) continue;
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

/** An earlier good build of the version here: its key and binary version (null: the source's version). */
export interface EarlierBuild {
  readonly key: string | null;
  readonly binaryVersion: string | null;
}

/**
 * The job as it starts under --binnmu auto, its final key `key`: with the number chosen
 * (`binnmu`, and `binnmuWhy` for its log), or as it is. `recorded` gives the earlier good
 * builds of the source's version on the arch in this state directory. A build of a key
 * built before (--force) keeps that build's number: one key, one output, one version.
 */
export function withAutoBinnmu(job: Job, key: string, recorded: (name: string, arch: string, version: string) => readonly EarlierBuild[]): Job {
  const d = job.spec.debian;
  // Debian binNMUs architecture-dependent packages only: a source of `all` packages alone keeps its version.
  if (d?.options.autoBinnmu !== true || job.arch === 'all' || (d.modeFor[job.arch] ?? 'binary') === 'binary-indep' || d.source.architecture.every((w) => w === 'all')) return job;
  const version = job.spec.version;
  const earlier = recorded(job.spec.name, job.arch, version);
  const numberOf = (b: EarlierBuild) => (b.binaryVersion === null ? 0 : binnmuNumberOf(b.binaryVersion, version));
  const same = earlier.find((b) => b.key === key && numberOf(b) !== undefined);
  const withNumber = (n: number, why: string): Job => ({ ...job, spec: { ...job.spec, debian: { ...d, options: { ...d.options, binnmu: n }, binnmuWhy: why } } });
  if (same !== undefined) {
    const n = numberOf(same)!;
    return n === 0 ? job : withNumber(n, `--binnmu auto: ${job.spec.name} ${version} on ${job.arch} was built here from these very inputs as the binNMU ${version}+b${n}: built again as that`);
  }
  const here = earlier.map(numberOf).filter((n): n is number => n !== undefined);
  const archive = archiveBinnmus(d.suite.packages(job.arch).universe, d.source.package, version, d.source.binaries);
  const n = nextBinnmu([...here, ...archive]);
  if (n === undefined) return job;
  const list = (ns: readonly number[]) => [...new Set(ns)].sort((a, b) => a - b).map((x) => (x === 0 ? version : `+b${x}`)).join(', ');
  const seen = [
    ...(here.length === 0 ? [] : [`built here ${here.length === 1 ? 'once' : here.length === 2 ? 'twice' : `${here.length} times`} (${list(here)})`]),
    ...(archive.length === 0 ? [] : [`in ${d.suite.suite}'s archive (${list(archive)})`]),
  ];
  return withNumber(n, `--binnmu auto: ${job.spec.name} ${version} on ${job.arch} was ${seen.join(' and ')}: this build is the binNMU ${version}+b${n}`);
}
