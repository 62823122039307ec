// The pack step of a job: what a build installed under $DESTDIR goes into the artifact
// cache under the job's key, with its meta (name, version, depends, provides, summary,
// license, restricted, and the provenance of the key), once the output checks let it
// through (output-checks.ts: errors refuse it, warnings are returned for the log and the
// job's result). A Debian build's output is its .debs, checked as such. The memory check
// is of the run, not the output: it warns of processes killed for memory in a build that
// succeeded, whatever the output holds (an empty one too).

import { binnmuVersionOf } from '../debian/auto-binnmu.ts';
import type { ArtifactInfo, ArtifactMeta, ArtifactStore, PutOptions } from '../cache/artifact-types.ts';
import { formatGroup } from '../debian/relation.ts';
import type { Job } from '../plan/job.ts';
import { recipeHashOf, type PackageSpec } from '../plan/spec.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { assertDebianOutput, assertNoOutputErrors, checkOutput, oomFinding, type OutputFinding } from './output-checks.ts';

export interface PackRequest {
  readonly artifacts: ArtifactStore;
  readonly job: Job;
  /** The spec the job builds (its limits may be lowered from job.spec's). */
  readonly spec: PackageSpec;
  readonly key: string;
  /** Every staged dependency's output hash, by job id: part of the key's provenance. */
  readonly depOutputs: Readonly<Record<string, string>>;
  readonly sandbox: Sandbox;
  readonly sourceDateEpoch: number;
  /** --fail-on-warnings: a warning of the output checks refuses the output too. */
  readonly warningsFail: boolean;
  /** How many processes of the build's run the kernel killed for memory (RunResult.oomKills): the memory check. */
  readonly oomKills?: number | undefined;
  /** A line for the job's log (a forced rebuild's output kept out of the cache, and why). */
  readonly note?: (text: string) => void;
  readonly signal: AbortSignal;
}

export interface Packed {
  readonly meta: ArtifactMeta;
  /** What the output checks warned of, letting it through. */
  readonly warnings: readonly OutputFinding[];
}

/** Packs and stores the output; throws (nothing stored) when a check refuses it or storing fails. */
export async function packOutput(r: PackRequest): Promise<Packed> {
  const { job, spec, sandbox } = r;
  let warnings: OutputFinding[] = [];
  const memory = (spec.build.skipChecks ?? []).includes('memory') ? undefined : oomFinding({ kills: r.oomKills, memoryBytes: spec.build.memoryBytes, debian: spec.debian !== undefined });
  // With --fail-on-warnings nothing is stored: refused before the output is looked at.
  if (memory !== undefined) assertNoOutputErrors([memory], r.warningsFail);
  /** The checks ran (they do on an output that is not empty): the memory warning is among theirs, kept in the entry's meta. */
  let checked = false;
  const check: NonNullable<PutOptions['check']> = spec.debian !== undefined
    ? {
        readElf: false,
        needles: [],
        run: ({ entries }) => {
          checked = true;
          assertDebianOutput(entries);
          warnings = memory === undefined ? [] : [memory];
          return warnings.map((w) => `${w.check}: ${w.message}`);
        },
      }
    : recipeCheck();
  const meta = await r.artifacts.put(r.key, {
    destDir: sandbox.host.dest,
    meta: artifactInfoOf(spec, job, r.depOutputs),
    sourceDateEpoch: r.sourceDateEpoch,
    // The job's early cutoff just found no artifact for this key.
    knownAbsent: job.why.kind !== 'forced',
    // `--force` (not `--twice`, which compares two builds): this output is the package's from now on.
    replace: job.why.kind === 'forced' && job.why.by === undefined,
    ...(r.note === undefined ? {} : { onKept: r.note }),
    destEmpty: sandbox.destUntouched?.() === true,
    check,
    signal: r.signal,
  });
  if (!checked && memory !== undefined) warnings = [memory];
  return { meta, warnings };

  function recipeCheck(): NonNullable<PutOptions['check']> {
    const skip = spec.build.skipChecks ?? [];
    const buildPaths = [sandbox.inside.src, sandbox.inside.dest, sandbox.inside.sysroot, sandbox.inside.home, sandbox.inside.tmp];
    return {
      readElf: job.arch !== 'all' && !skip.includes('arch'),
      needles: skip.includes('buildpaths') ? [] : buildPaths.map((p) => Buffer.from(p)),
      run: ({ entries, elf, holding }) => {
        checked = true;
        const found = checkOutput({ entries, ...(elf === undefined ? {} : { elf }), arch: job.arch, holding, buildPaths, exportedPaths: [sandbox.inside.sysroot, sandbox.inside.dest], dest: sandbox.inside.dest, skip });
        warnings = [...found.filter((f) => f.severity === 'warning'), ...(memory === undefined ? [] : [memory])];
        assertNoOutputErrors(found, r.warningsFail);
        return warnings.map((w) => `${w.check}: ${w.message}`);
      },
    };
  }
}

/** What an artifact's meta.json says of the package, and what its key was made of (a CI state dir's records do not outlive it). */
export function artifactInfoOf(spec: PackageSpec, job: Pick<Job, 'arch' | 'envId'>, depOutputs: Readonly<Record<string, string>>): ArtifactInfo {
  // A Debian binNMU: its binary packages' version, for a report of it found up to date later.
  const binaryVersion = binnmuVersionOf(spec, job.arch);
  return {
    name: spec.name,
    version: spec.version,
    ...(binaryVersion === undefined ? {} : { binaryVersion }),
    release: spec.release,
    arch: job.arch,
    depends: spec.depends.map(formatGroup),
    provides: spec.provides.map((p) => (p.version === undefined ? p.name : `${p.name} (= ${p.version})`)),
    // What a user or a hook filters by (pkgsrc's pkg_summary COMMENT and LICENSE): the recipe's
    // own words, which its bytes, and so the key, already cover. A Debian source's .debs say
    // their own (its spec's summary is made up, its license unknown).
    ...(spec.debian === undefined ? { summary: spec.summary, license: spec.license } : {}),
    // Not to be published or served (publish/, routes/artifacts.ts); in the key as any line of the recipe is.
    ...(spec.restricted === undefined ? {} : { restricted: spec.restricted }),
    inputs: {
      recipeHash: recipeHashOf(spec, job.arch),
      sourcesHash: spec.sourcesHash,
      envId: job.envId,
      depOutputs,
      sources: spec.sources.map((s) => ({ url: s.url, sha256: s.sha256 ?? null, ...(s.rev === undefined ? {} : { rev: s.rev }) })),
      // The recipe's options as this build had them (in recipeHash too).
      ...(spec.optionValues === undefined ? {} : { options: spec.optionValues }),
    },
  };
}
