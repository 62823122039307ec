// The end of a run, once the scheduler is done: the run-finished event (its state from the
// counts), the records flushed, the report (report.json, report.html) written, the package
// index rewritten when anything in it could differ, the plan memo left, and a Debian run's
// repository published (debian-finish.ts).

import type { ArtifactLabels } from '../publish/artifact-labels.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Downloads } from '../cache/downloads.ts';
import { binnmusUpToDate } from '../debian/auto-binnmu.ts';
import { KilnError } from '../errors.ts';
import { noSpaceLeft } from '../execute/disk-full.ts';
import type { StagedOutput } from '../execute/executor-options.ts';
import type { JobState } from '../plan/job.ts';
import type { PlanNode } from '../plan/plan.ts';
import { buildReport, writeReport } from '../publish/report.ts';
import type { Records } from '../records/records.ts';
import type { LiveSigns } from './live-signs.ts';
import { leaveMemo, type FinalOutput } from './plan-memo.ts';
import type { BuildMode } from './build-mode.ts';
import type { PreparedPlan } from './prepare-plan.ts';
import type { BuildRequest, BuildResult } from './run-build.ts';
import type { RunRecorder } from './run-recorder.ts';

export async function finishRun(o: {
  req: BuildRequest;
  records: Records;
  prepared: PreparedPlan;
  runId: string;
  /** All zero: counted here from finalState. */
  counts: Record<JobState, number>;
  /** What each job ended as (job-finished and job-settled events). */
  finalState: ReadonlyMap<string, JobState>;
  finalOutputs: ReadonlyMap<string, FinalOutput>;
  outputs: ReadonlyMap<string, StagedOutput>;
  /** Each package's category folder (categoriesOf). */
  categories: ReadonlyMap<string, string>;
  /** Each package's summary, license and restricted mark (labelsOf). */
  labels: ReadonlyMap<string, ArtifactLabels>;
  /** How each job not built natively was built (buildModesOf); undefined with --nats. */
  buildModes: ReadonlyMap<string, Exclude<BuildMode, 'native'>> | undefined;
  recorder: RunRecorder;
  signs: LiveSigns | undefined;
  downloads: Downloads;
  plannedFrom: number;
  toBuild: readonly PlanNode[];
}): Promise<BuildResult> {
  const { req, records, prepared, runId, counts, finalState, finalOutputs, outputs, categories, labels, buildModes, recorder, signs, downloads, plannedFrom, toBuild } = o;
  const { state, bus } = req;
  const { plan, artifacts } = prepared;
  for (const s of finalState.values()) counts[s]++;
  // Broken packages a recipe's `ignore` accounts for do not fail the run (poudriere's IGNORE).
  const ignored = plan.nodes.filter((n) => n.state === 'broken' && n.ignored).length;
  const runState = req.signal.aborted ? 'cancelled' : counts.failed + counts.broken - ignored > 0 || counts.skipped > 0 ? 'failed' : 'done';
  bus.emit({ type: 'run-finished', runId, at: Date.now(), state: runState, counts, ...(ignored === 0 ? {} : { ignored }) });
  recorder.flush();
  // The run is over and its records could not be written: said as kiln's trouble, not left for a crash.
  recorder.assertWritten(runId);

  await signs?.stopReports();
  const reportDir = join(state.runs, runId);
  // As written: with its failures triaged (which block most, which failed alike). A full disk is said as such.
  const { report } = await writeReport(state.root, buildReport(records, runId, categories, await binnmusUpToDate(debianUpToDate(plan.nodes, finalState, outputs), artifacts), labels, buildModes)).catch((e: unknown) => {
    if (!noSpaceLeft(e)) throw e;
    throw new KilnError('path-unusable', `${join(state.runs, runId)}: the report of run ${runId} could not be written: the disk is full (${e instanceof Error ? e.message : String(e)})`, {
      hint: `free space on the disk of ${state.root} (kiln cache gc, old runs' logs); the run is on record (kiln status ${runId})`,
      cause: e,
    });
  });
  // A no-change run leaves the index alone (nothing in it could differ), unless the planner
  // found entries another state dir stored (again, after a cache gc here dropped them from
  // this index; or under keys this state dir never built). (Also when a job to build ended
  // up to date: early cutoff, or another kiln built it.)
  if (counts.built > 0 || toBuild.some((n) => finalState.get(n.id) === 'up-to-date') || (prepared.refresh?.length ?? 0) > 0 || (prepared.unrecorded ?? 0) > 0 || !existsSync(state.index)) {
    const { updatePackageIndex } = await import('./update-index.ts');
    const unsigned = await updatePackageIndex(state.index, plan, artifacts, finalState, (id) => outputs.get(id)?.key, state.root);
    if (unsigned !== undefined) bus.emit({ type: 'note', at: Date.now(), text: unsigned });
  }
  // When every node ended built, up to date or broken (a broken one is so again next time, for the same reason).
  if (prepared.memo !== undefined) leaveMemo(prepared.memo.slot, { ...prepared.memo, runId, plannedFrom, plan, store: artifacts, records, final: finalOutputs });
  // A Debian run: its repository published, and what that and --twice add to the report (debian-finish.ts).
  if ((prepared.scan.debian !== undefined || req.forcedBy === 'twice') && !req.signal.aborted) {
    const finished = await (await import('./debian-finish.ts')).finishDebianRun({ req, prepared, records, runId, finalState, outputs, downloads, counts, runState, report });
    if (finished !== undefined) return { runId, state: finished.state, counts, ignored, report: finished.report, reportDir };
  }
  return { runId, state: runState, counts, ignored, report, reportDir };
}

/** The Debian jobs the run found up to date, with their options and artifact key (binnmusUpToDate). */
function debianUpToDate(nodes: readonly PlanNode[], finalState: ReadonlyMap<string, string>, outputs: ReadonlyMap<string, { readonly key: string }>) {
  return nodes.flatMap((n) => (n.spec?.debian === undefined || finalState.get(n.id) !== 'up-to-date' ? [] : [{ id: n.id, options: n.spec.debian.options, key: outputs.get(n.id)?.key }]));
}
