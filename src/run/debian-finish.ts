// The end of a run with Debian source packages (run-build.ts): its binaries and their
// sources published into the state dir's signed repository (publish-debian.ts), and what
// that adds to the run: reproducibility (--twice, --verify), lintian and autopkgtest results in the
// report, and a failed run when a built .deb could not be published into its suite.
// A run with --twice ends here too, Debian or not: the recipes' comparisons
// (execute/recipe-twice.ts, in `<log>.twice.json` as a Debian build's) join the report's
// reproducibility as theirs do.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Downloads } from '../cache/downloads.ts';
import type { StagedOutput } from '../execute/executor-options.ts';
import type { JobState } from '../plan/job.ts';
import type { TwiceResult } from '../execute/debian-twice.ts';
import { writeReport, type ReproducibilityEntry, type RunReport } from '../publish/report.ts';
import type { JobCounts, Records, RunState } from '../records/records.ts';
import { hostArch } from './host-env.ts';
import type { PreparedPlan } from './prepare-plan.ts';
import type { BuildRequest } from './run-build.ts';

export interface DebianFinish {
  readonly req: BuildRequest;
  readonly prepared: PreparedPlan;
  readonly records: Records;
  readonly runId: string;
  readonly finalState: ReadonlyMap<string, JobState>;
  readonly outputs: ReadonlyMap<string, StagedOutput>;
  readonly downloads: Downloads;
  readonly counts: JobCounts;
  readonly runState: Exclude<RunState, 'running'>;
  readonly report: RunReport;
}

/** The run's state and report once published, when publishing changed them (undefined: as they were). */
export async function finishDebianRun(f: DebianFinish): Promise<{ state: Exclude<RunState, 'running'>; report: RunReport } | undefined> {
  const { req, prepared, runId, runState } = f;
  const { state, bus } = req;
  const note = (text: string): void => bus.emit({ type: 'note', at: Date.now(), text });
  const { debsRefused, publishDebianRun, stateAfterPublish, twiceLine } = await import('./publish-debian.ts');
  const { logPathOf } = await import('../execute/execute-job.ts');
  // --twice: the recipes' comparisons, read as publishDebianRun reads the Debian builds'.
  const recipes: ReproducibilityEntry[] = [];
  for (const n of req.forcedBy === 'twice' ? prepared.plan.nodes : []) {
    // Failed too: with --fail-on-warnings, one that is not reproducible fails, and is what matters most here.
    if (n.spec === undefined || n.spec.debian !== undefined || (f.finalState.get(n.id) !== 'built' && f.finalState.get(n.id) !== 'failed')) continue;
    const text = await readFile(`${logPathOf(join(state.logs, runId), n.id)}.twice.json`, 'utf8').catch(() => undefined);
    for (const t of text === undefined ? [] : JSON.parse(text) as TwiceResult[]) {
      recipes.push({ check: 'twice', job: n.id, deb: t.deb, status: t.status, summary: t.summary, details: t.details });
      note(twiceLine(n.id, t));
    }
  }
  const debian = prepared.scan.debian;
  if (debian === undefined) {
    if (recipes.length === 0) return undefined;
    const withRepro = { ...f.report, reproducibility: recipes };
    await writeReport(state.root, withRepro);
    return { state: runState, report: withRepro };
  }
  let publishError: string | undefined;
  const done = await publishDebianRun({
    stateRoot: state.root, suite: debian.suite.suite, archs: prepared.archs, plan: prepared.plan, artifacts: prepared.artifacts, finalState: f.finalState,
    keyOf: (id) => f.outputs.get(id)?.key, note, signal: req.signal,
    logOf: (id) => logPathOf(join(state.logs, runId), id),
    sources: f.downloads,
    ...(req.repoDir === undefined ? {} : { repoDir: req.repoDir }),
    ...(req.debian?.verify === true ? { verify: { mirror: debian.suite.mirror, ...(debian.suite.keyring === undefined ? {} : { keyring: debian.suite.keyring }), ...(debian.suite.checkValidUntil === false ? { checkValidUntil: false as const } : {}), cacheDir: state.cache, downloads: f.downloads, allArch: prepared.archs.find((a) => a !== 'all') ?? hostArch(), ...(debian.suite.components === undefined ? {} : { components: debian.suite.components }) } } : {}),
    ...(req.debian?.lintian === true ? { lintian: true } : {}),
    ...(req.debian?.out === undefined ? {} : { outDir: req.debian.out }),
  }).catch((e: unknown) => {
    const message = e instanceof Error ? e.message : String(e);
    note(`publishing the apt repository failed: ${message}`);
    // Cancelled meanwhile: the run is cancelled, not unpublished.
    if (req.signal.aborted !== true) publishError = message;
    return undefined;
  });
  // Built but not published (another suite's build of that version holds its pool
  // name): the suite would list a package whose dependency it lacks. The run fails, as
  // it does when the repository could not be published at all (a read-only or full disk).
  const refused = debsRefused(done?.published?.refused ?? []);
  const endState = stateAfterPublish(runState, refused, publishError !== undefined);
  if (endState !== runState) {
    note(publishError !== undefined
      ? `the run fails: what it built is not in the apt repository of suite ${debian.suite.suite} (above); the next run publishes it once the cause is mended`
      : `the run fails: ${refused} .deb(s) it built are not in suite ${debian.suite.suite} (above), so what it publishes there may not install`);
    f.records.finishRun(runId, { state: endState, endedAt: Date.now(), counts: f.counts });
  }
  const reproducibility = [...recipes, ...(done?.reproducibility ?? [])];
  const autopkgtest = done?.autopkgtest ?? [];
  if (reproducibility.length === 0 && (done?.lintian ?? []).length === 0 && autopkgtest.length === 0 && endState === runState && publishError === undefined) return undefined;
  const withRepro = { ...f.report, state: endState, ...(publishError === undefined ? {} : { publishError }), ...(reproducibility.length > 0 ? { reproducibility } : {}), ...((done?.lintian ?? []).length > 0 ? { lintian: done!.lintian } : {}), ...(autopkgtest.length > 0 ? { autopkgtest } : {}) };
  await writeReport(state.root, withRepro);
  return { state: endState, report: withRepro };
}
