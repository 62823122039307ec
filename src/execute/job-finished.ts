// How a job's end is told, by the local executor (execute-job.ts) and the remote one
// (distributed/remote-executor.ts) alike: the job-finished event of an outcome, and early
// cutoff, the up-to-date outcome of a job whose final key already has an artifact.

import { artifactPath, type ArtifactStore } from '../cache/artifact-types.ts';
import type { KilnEvent } from '../events/events.ts';
import { EARLY_CUTOFF_CAUSE, type Job, type JobOutcome } from '../plan/job.ts';
import { recipeHashOf } from '../plan/spec.ts';
import { inputPartsOf } from '../plan/input-parts.ts';
import { binnmuVersionOf } from '../debian/auto-binnmu.ts';

/** The job-finished event of a job's outcome (the local executor's, and the workers' through remote-executor.ts). */
export function jobFinishedEvent(runId: string, job: Job, key: string, depOutputs: Record<string, string>, outcome: JobOutcome): Extract<KilnEvent, { type: 'job-finished' }> {
  const spec = job.spec;
  const binary = binnmuVersionOf(spec, job.arch);
  return {
    type: 'job-finished',
    runId,
    jobId: job.id,
    name: spec.name,
    version: spec.version,
    arch: job.arch,
    state: outcome.state,
    key,
    ...(outcome.outputHash === undefined ? {} : { outputHash: outcome.outputHash }),
    ...(outcome.artifact === undefined ? {} : { artifact: outcome.artifact }),
    ...(outcome.failure === undefined ? {} : { failure: outcome.failure }),
    ...(outcome.exitCode === undefined ? {} : { exitCode: outcome.exitCode }),
    ...(outcome.signal === undefined ? {} : { signal: outcome.signal }),
    ...(outcome.rusage === undefined ? {} : { rusage: outcome.rusage }),
    ...(outcome.keptWorkspace === undefined ? {} : { keptWorkspace: outcome.keptWorkspace }),
    ...(outcome.warnings === undefined ? {} : { warnings: outcome.warnings }),
    ...(outcome.cause === undefined ? {} : { cause: outcome.cause }),
    ...(outcome.log === undefined ? {} : { log: outcome.log }),
    ...(outcome.worker === undefined ? {} : { worker: outcome.worker }),
    ...(outcome.state === 'built' && binary !== undefined ? { binaryVersion: binary } : {}),
    // As the plan keyed it (a Debian source's per-arch hash), so that the next plan's why compares like with like.
    inputs: { recipeHash: recipeHashOf(spec, job.arch), sourcesHash: spec.sourcesHash, envId: job.envId, depOutputs, parts: inputPartsOf(spec, job.arch) },
    startedAt: outcome.startedAt,
    at: outcome.endedAt,
  };
}

/** Early cutoff: a job not forced whose key has an artifact is up to date (and the artifact used). */
export async function earlyCutoff(artifacts: ArtifactStore, job: Job, key: string, startedAt: number): Promise<JobOutcome | undefined> {
  if (job.why.kind === 'forced') return undefined;
  const stored = await artifacts.get(key);
  if (stored === undefined) return undefined;
  artifacts.markUsed(key);
  return { state: 'up-to-date', key, outputHash: stored.outputHash, artifact: artifactPath(artifacts, key, stored.archive), cause: EARLY_CUTOFF_CAUSE, startedAt, endedAt: Date.now() };
}
