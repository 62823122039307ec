// One build run, end to end: plan, settle what needs no work (up-to-date, broken),
// schedule the rest through execute() (run-execution.ts), then write the report and the
// package index (finish-run.ts). Everything observable goes out on the event bus; records
// subscribe to it. What only a run with work to do needs (the executor, the package index
// writer) is imported then.

import { mkdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { registerInUse } from '../cache/in-use.ts';
import { createDownloads } from '../cache/downloads.ts';
import { resolveMirrors } from '../config/mirrors.ts';
import type { EventBus } from '../events/events.ts';
import type { StagedOutput, SubstituteRequest } from '../execute/executor-options.ts';
import type { Job, JobState } from '../plan/job.ts';
import type { NatsAccess } from '../distributed/nats-access.ts';
import { crossWithNats } from './debian-plan.ts';
import { atOnceNote, clampToMachine } from '../schedule/pick-next.ts';
import { boostedIds, checkBoostFlag, computePriorities, type BoostRequest } from '../schedule/priority.ts';
import { durationModel } from '../schedule/arch-estimate.ts';
import { emulatedBy } from './run-envs.ts';
import { runScheduler, type SchedJob } from '../schedule/scheduler.ts';
import type { SlotGate } from '../schedule/slot-pool.ts';
import { openRecords, type Records } from '../records/records.ts';
import { FREE_SPACE_ADVICE, noSpaceLeft } from '../execute/disk-full.ts';
import { fullKeyOf } from '../plan/keys.ts';
import { runRecorder } from './run-recorder.ts';
import { finishRun } from './finish-run.ts';
import { categoriesOf, labelsOf, type RunReport } from '../publish/report.ts';
import { skippedCause } from '../publish/report-diagnostics.ts';
import { assertTreeHasPackages, preparePlan, type PlanRequest, type PreparedPlan } from './prepare-plan.ts';
import { planWithSoundStaged } from './check-staged.ts';
import { hostArch, machineCapacity } from './host-env.ts';
import { claimRunWorkspace, reapLeftovers } from './run-workspaces.ts';
import { displayUrl } from '../distributed/nats-url.ts';
import { makeStateDir, newRunId, type StateLayout } from './state-layout.ts';
import { KilnError } from '../errors.ts';
import { hooksForRun, type HookRequest } from './hooks.ts';
import type { FinalOutput } from './plan-memo.ts';
import { startLiveSigns, type LiveSigns } from './live-signs.ts';
import { buildModesOf } from './build-mode.ts';
import { diskGuardOf, type DiskGuardRequest } from './disk-guard.ts';

export interface BuildRequest extends PlanRequest, HookRequest, DiskGuardRequest, BoostRequest, SubstituteRequest {
  readonly state: StateLayout;
  readonly maxJobs: number | undefined;
  /** Reserved cpus may exceed the cores by this many (kiln build --overcommit-cpus). */
  readonly overcommitCpus?: number | undefined;
  readonly failFast: boolean;
  readonly keepFailed: boolean;
  /** Most bytes of a build's output its log holds (default 1 GiB; 0: no limit). */
  readonly logLimit?: number | undefined;
  /** No build runs longer than this, whatever its recipe says (--job-timeout). */
  readonly jobTimeoutMs?: number | undefined;
  /** kiln build --loop-timeout: every build's loop-timeout, whatever its recipe says (0: off). */
  readonly loopTimeoutMs?: number | undefined;
  /** The most cpus one job reserves, whatever its recipe says (kiln serve --max-job-cpus): also its $JOBS. */
  readonly maxJobCpus?: number | undefined;
  /** --retry N: a build that failed as a flaky one does runs again, up to N more times. */
  readonly retries?: number;
  /** --nats URL: the jobs are built by `kiln worker`s through this NATS server (src/distributed/). */
  readonly nats?: string;
  /** With nats: its .creds / nkey / TLS files, read as the command started (distributed/nats-access.ts). */
  readonly natsAccess?: NatsAccess | undefined;
  /** What an operator must hear even where run notes are not shown (a daemon's stderr). */
  readonly warn?: (text: string) => void;
  readonly bus: EventBus;
  readonly signal: AbortSignal;
  /** The daemon's job slots shared with the other running builds (kiln build alone: none). */
  readonly slotGate?: SlotGate | undefined;
  /** --ccache (true) / --no-ccache (false); default: kiln.toml's `ccache` (execute/ccache.ts). */
  readonly ccache?: boolean | undefined;
  /** --ccache-size, in bytes; default: kiln.toml's `ccache-size`, else 5 GiB. */
  readonly ccacheSize?: number | undefined;
  /** Where a Debian run publishes (default STATE/repo); a daemon gives each tenant its own. */
  readonly repoDir?: string | undefined;
  /** kiln build --hook: run-finished hooks after kiln.toml's (hooks.ts; never on a daemon). */
  readonly hooks?: readonly string[];
}

export interface BuildResult {
  readonly runId: string;
  readonly state: 'done' | 'failed' | 'cancelled';
  readonly counts: Record<JobState, number>;
  /** How many of the broken are so because of a recipe's `ignore` (they do not fail the run). */
  readonly ignored: number;
  readonly report: RunReport;
  readonly reportDir: string;
}

export async function runBuild(req: BuildRequest): Promise<BuildResult> {
  const { state } = req;
  // Before the state directory is made: an empty tree must leave nothing behind.
  assertTreeHasPackages(req.treeDir, req.debian);
  await makeStateDir(state);
  using records = openRecords(state.root);
  // What a dead kiln left behind: its runs are marked cancelled, its sandboxes (cgroups,
  // workspaces, journal entries) and stale locks removed.
  records.markInterruptedRuns();
  await reapLeftovers(state);
  // Before planning: what the plan found up to date (and marked used) counts as used since
  // the run started, for a cache gc while the run goes (in-use.ts).
  const plannedFrom = Date.now();
  // With --nats the workers' outputs come back as they are: no plan memo (plan-memo.ts).
  const prepared = await planWithSoundStaged(() => preparePlan({ ...req, memo: req.nats === undefined }, records), { signal: req.signal, note: (text) => req.bus.emit({ type: 'note', at: Date.now(), text }) }).catch((e: unknown) => {
    throw req.signal.aborted ? stoppedBeforeRun(req.signal) : e;
  });
  const hooks = hooksForRun(req, prepared.config.hooks, prepared.treeDir);
  try {
    // Stopped while it planned: nothing was built, so no run is recorded (not one of N cancelled jobs).
    await signalsHandled();
    if (req.signal.aborted) throw stoppedBeforeRun(req.signal);
    refreshRecords(records, prepared, plannedFrom);
    checkBoostFlag(req.boost, prepared.plan.nodes);
    const toBuild = prepared.plan.nodes.filter((n) => n.state === 'to-build');
    // debian.toml's cross = true, or a daemon's request (the flag is refused before planning, cli/build.ts).
    if (req.nats !== undefined && prepared.envs.crossFrom !== undefined) throw crossWithNats(false, 'cross-building (debian.toml\'s cross = true, or "cross": true)');
    if (req.nats !== undefined && toBuild.length > 0) await (await import('../distributed/precheck.ts')).precheckRemote(toBuild, req.nats, req.natsAccess);
    const result = await buildPlanned(req, records, prepared, plannedFrom);
    // After the report (and a Debian run's repository): the run's hooks, bounded, whatever they do.
    await hooks?.runFinished(result);
    return result;
  } finally {
    await hooks?.close();
    await prepared.envs.release();
  }
}

async function buildPlanned(req: BuildRequest, records: Records, prepared: PreparedPlan, plannedFrom = Date.now()): Promise<BuildResult> {
  const { state, bus } = req;
  const { plan, artifacts } = prepared;
  // With --nats the builds run on the workers, in their sandboxes: this machine's is not said.
  if (req.nats === undefined) for (const text of prepared.envs.note?.split('\n') ?? []) bus.emit({ type: 'note', at: Date.now(), text });
  if (prepared.profiles.length > 0) bus.emit({ type: 'note', at: Date.now(), text: `build profiles: ${prepared.profiles.join(' ')} (recipes see $KILN_PROFILES, Debian sources DEB_BUILD_PROFILES; part of every key)` });
  if (req.nats !== undefined && req.keepFailed) bus.emit({ type: 'note', at: Date.now(), text: "--keep-failed: not with --nats (the workers keep no workspace): a failed job's log is what there is" });
  const mirrors = await resolveMirrors(prepared.config.mirrors, {});
  const downloads = createDownloads({ cacheDir: state.cache, mirrors });
  // Bind-mounted read-only into isolated sandboxes: it must exist even when nothing was downloaded yet.
  await mkdir(join(state.cache, 'downloads'), { recursive: true });
  const runId = newRunId();
  // Records, with their write failures said (run-recorder.ts).
  const recorder = runRecorder(bus, records, state.root);
  let inUse: { release(): Promise<void> } | undefined;
  let signs: LiveSigns | undefined;
  /** The executor, local or remote (--nats), closed at the end. */
  let execution: import('./run-execution.ts').RunExecution | undefined;
  try {
    await claimRunWorkspace(state.work, runId);
    // --nats: the workers' machines build; what runs at once is --jobs (the workers limit
    // their own), and a job's cpus are not clamped to this machine's.
    const capacity = req.nats !== undefined ? { slots: req.maxJobs ?? 256, cpus: Number.MAX_SAFE_INTEGER, memoryBytes: Number.MAX_SAFE_INTEGER } : machineCapacity(req.maxJobs, req.overcommitCpus);
    const counts: Record<JobState, number> = { built: 0, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 0 };
    const finalState = new Map<string, JobState>();
    /** What each node with an artifact ended as: the plan memo this run may leave (plan-memo.ts). */
    const finalOutputs = new Map<string, FinalOutput>();
    const unsubscribe = bus.on((e) => {
      if (e.type !== 'job-finished' && e.type !== 'job-settled') return;
      finalState.set(e.jobId, e.state);
      if ((e.state === 'built' || e.state === 'up-to-date') && e.key !== undefined && e.outputHash !== undefined && e.artifact !== undefined) finalOutputs.set(e.jobId, { key: e.key, outputHash: e.outputHash, artifact: e.artifact });
    });
    const toBuild = plan.nodes.filter((n) => n.state === 'to-build');
    // A daemon's --max-job-cpus: a recipe asking more reserves (and gets as $JOBS) that many.
    const cpusOf = (n: (typeof toBuild)[number]): number => Math.min(n.spec!.build.cpus, req.maxJobCpus ?? Infinity);
    // Learned durations only matter when something is to be built (a no-change run of a
    // large tree skips the query). run-started carries them, for the progress view's ETA.
    const learned = toBuild.length > 0 ? records.learnedDurations() : new Map<string, number>();
    // Never built on this arch: another arch's duration scaled (QEMU's slowdown, learned; arch-estimate.ts).
    const model = durationModel(learned, emulatedBy(prepared.envs, new Set(plan.nodes.filter((n) => n.spec?.debian !== undefined).map((n) => n.arch)), hostArch()));
    const durationOf = (id: string): number => model.durationOf(id);
    const expectedOf = (id: string): number | undefined => (model.sourceOf(id).kind === 'estimate' ? undefined : model.durationOf(id));
    // --jobs (or one per core, on a local run) above what the reservations let run together: say what will run at once.
    const fewer = req.maxJobs === undefined && (req.slotGate !== undefined || req.nats !== undefined) ? undefined : atOnceNote(toBuild.map((n) => ({ cpus: cpusOf(n), memoryBytes: n.spec!.build.memoryBytes })), capacity, { jobsGiven: req.maxJobs !== undefined });
    if (fewer !== undefined) bus.emit({ type: 'note', at: Date.now(), text: fewer.text });
    const atOnce = fewer?.jobs;
    // The last moment a stop still means "no run": a signal that came while planning kept
    // the main thread busy is handled only now (as the run-started event is its record).
    await signalsHandled();
    if (req.signal.aborted) throw stoppedBeforeRun(req.signal);
    bus.emit({
      type: 'run-started',
      runId,
      at: Date.now(),
      tree: prepared.treeDir,
      targets: req.targets,
      archs: prepared.archs,
      total: plan.nodes.length,
      maxJobs: capacity.slots,
      ...(atOnce === undefined ? {} : { atOnce }),
      ...(req.nats === undefined ? {} : { workers: displayUrl(req.nats) }),
      toBuild: toBuild.map((n) => n.id),
      ...(learned.size > 0 ? { expectedMs: toBuild.map((n) => durationOf(n.id)) } : {}),
    });

    const outputs = new Map<string, StagedOutput>();
    for (const n of plan.nodes) {
      if (n.state === 'up-to-date') {
        outputs.set(n.id, { key: n.key!, outputHash: n.outputHash! });
        bus.emit({ type: 'job-settled', runId, jobId: n.id, name: n.name, version: n.version, arch: n.arch, state: 'up-to-date', key: n.key!, outputHash: n.outputHash!, artifact: n.artifact!, at: Date.now() });
      } else if (n.state === 'broken') {
        bus.emit({ type: 'job-settled', runId, jobId: n.id, name: n.name, version: n.version, arch: n.arch, state: 'broken', cause: n.broken!, at: Date.now() });
      }
    }

    const building = new Set(toBuild.map((n) => n.id));
    // The up-to-date artifacts this run will read: planned without a touch, so cache gc
    // must be told they are in use until the run ends (cache/in-use.ts). Those its builds
    // stage; for a Debian run, every one (the apt repository is published from them).
    const publishes = prepared.scan.debian !== undefined;
    const staged = new Set<string>();
    if (publishes) for (const o of outputs.values()) staged.add(o.key);
    else for (const n of toBuild) for (const w of n.waitsFor) if (!building.has(w)) staged.add(outputs.get(w)?.key ?? '');
    staged.delete('');
    inUse = toBuild.length === 0 && !publishes ? undefined : await registerInUse(state.cache, runId, [...staged], plannedFrom);
    const priorities = computePriorities(toBuild, durationOf, boostedIds(toBuild, [...(prepared.config.priorityBoost ?? []), ...(req.boost ?? [])]));
    const jobs = new Map<string, Job>();
    const schedJobs: SchedJob[] = [];
    const capped: string[] = [];
    for (const n of toBuild) {
      // Capped: the spec the job sees says so too (a Debian build's parallel= is its build.cpus).
      const spec = cpusOf(n) < n.spec!.build.cpus ? { ...n.spec!, build: { ...n.spec!.build, cpus: cpusOf(n) } } : n.spec!;
      if (spec !== n.spec) capped.push(`${n.id} (cpus = ${n.spec!.build.cpus})`);
      // $JOBS and the cpu quota: never more than the machine's cores (--overcommit-cpus lets
      // builds reserve more together, not one build use more than there is).
      const cpus = Math.min(clampToMachine({ cpus: spec.build.cpus, memoryBytes: spec.build.memoryBytes }, capacity).cpus, req.nats === undefined ? availableParallelism() : Infinity);
      jobs.set(n.id, { id: n.id, runId, spec, arch: n.arch, ownKey: n.ownKey, stage: n.waitsFor, waitsFor: n.waitsFor, why: n.why!, previousDepOutputs: n.previousDepOutputs, envId: n.envId, attempt: 1, cpus });
      schedJobs.push({
        id: n.id,
        waitsFor: n.waitsFor.filter((w) => building.has(w)),
        cpus: spec.build.cpus,
        memoryBytes: spec.build.memoryBytes,
        priority: priorities.get(n.id) ?? 0,
        expectedMs: durationOf(n.id),
      });
    }
    if (capped.length > 0) {
      const some = capped.length > 10 ? `${capped.slice(0, 10).join(', ')} and ${capped.length - 10} more` : capped.join(', ');
      bus.emit({ type: 'note', at: Date.now(), text: `--max-job-cpus ${req.maxJobCpus}: a job reserves at most ${req.maxJobCpus} cpu(s) on this daemon and builds with JOBS=${req.maxJobCpus}, whatever its recipe asks: capped ${some}` });
    }

    // Where the builds run, once (the host sandbox says so in its own note above).
    if (req.nats === undefined && toBuild.length > 0 && prepared.envs.backend.name !== 'host') {
      const ids = [...new Set(toBuild.map((n) => prepared.envs.envIdFor(n.arch)))].sort();
      bus.emit({ type: 'note', at: Date.now(), text: `builds run in the ${prepared.envs.backend.name} sandbox, in ${ids.length === 1 ? 'env' : 'envs'} ${ids.join(', ')}` });
    }
    // A no-change run has nothing to execute: nothing of the executor is loaded (run-execution.ts).
    execution = toBuild.length > 0 ? await (await import('./run-execution.ts')).openExecution({ req, prepared, runId, toBuild, outputs, artifacts, mirrors, downloads, expectedOf }) : undefined;
    const execute = execution?.execute;
    // While jobs run: the run's sign of life and its live report (live-signs.ts).
    const categories = categoriesOf(plan, prepared.invalid);
    const labels = labelsOf(plan);
    // How each job not built natively is built (cross, under QEMU, by its recipe): from the
    // envs this machine builds in; with --nats the workers' machines build, whose archs are theirs.
    const buildModes = req.nats === undefined ? buildModesOf(plan.nodes, { envs: prepared.envs, hostArch: hostArch() }) : undefined;
    if (toBuild.length > 0) signs = startLiveSigns({ stateRoot: state.root, logDir: join(state.logs, runId), reportDir: join(state.runs, runId), runId, records, categories, labels, buildModes, recorder, bus, onDaemon: req.onDaemon === true });
    // Why a job never started (cancelled before its turn): the run was stopped, or
    // --fail-fast stopped starting jobs after the first failure.
    let firstFailed: string | undefined;
    const notStartedCause = (): string => {
      if (req.signal.aborted) {
        const why = req.signal.reason instanceof Error ? req.signal.reason.message : undefined;
        return `not started: the run was cancelled${why === undefined || why === '' ? '' : ` (${why})`}`;
      }
      const f = firstFailed === undefined ? undefined : plan.byId.get(firstFailed);
      return f === undefined ? 'not started: the run stopped' : `not started: --fail-fast stopped the run after ${f.name} (${f.arch}) failed`;
    };
    let numbering: Promise<import('./binnmu-numbers.ts').BinnmuNumbering> | undefined;
    await runScheduler({
      jobs: schedJobs,
      capacity,
      failFast: req.failFast,
      holdStarts: diskGuardOf(req)?.holdStart,
      signal: req.signal,
      slotGate: req.slotGate,
      run: async (id, { signal }) => {
        let job = jobs.get(id)!;
        /** --binnmu auto: the job's number is reserved (binnmu-numbers.ts) until its outcome says whether it built. */
        let settle: ((built: boolean) => void) | undefined;
        let outcome: Awaited<ReturnType<NonNullable<typeof execute>>>;
        try {
          if (job.spec.debian?.options.autoBinnmu === true) {
            // Its final key, as the executor works it out (every staged output is known by now).
            const key = fullKeyOf(job.ownKey, Object.fromEntries(job.stage.map((s) => [s, outputs.get(s)?.outputHash ?? ''])));
            // One numbering per run, made once however many jobs start at the same moment.
            numbering ??= import('./binnmu-numbers.ts').then((m) => m.binnmuNumbering({ records, repoDir: req.repoDir, stateRoot: state.root }));
            ({ job, settle } = await (await numbering).number(job, key));
          }
          outcome = await execute!(job, { signal });
        } catch (e) {
          settle?.(false);
          // The executor turns every expected failure into an outcome; anything else is
          // recorded as this job's failure, never lost from the run (no job-finished).
          // A full disk under the job's own files (its log, opened first) is the machine's problem, not a bug.
          const full = noSpaceLeft(e);
          const message = full
            ? `kiln could not write this job's files (its log under ${state.logs}) with the disk full: ${e instanceof Error ? e.message : String(e)}; ${FREE_SPACE_ADVICE}`
            : `kiln failed while it handled this job: ${e instanceof Error ? e.message : String(e)}`;
          const at = Date.now();
          bus.emit({ type: 'job-finished', runId, jobId: id, name: job.spec.name, version: job.spec.version, arch: job.arch, state: 'failed', key: job.ownKey, failure: { reason: full ? 'disk-full' : 'internal', message }, startedAt: at, at });
          firstFailed ??= id;
          return 'failed';
        }
        settle?.(outcome.state === 'built');
        if (outcome.state === 'failed') firstFailed ??= id;
        return outcome.state === 'built' || outcome.state === 'up-to-date' ? 'succeeded' : outcome.state;
      },
      onSettled: (id, r) => {
        if (r.state !== 'skipped' && r.state !== 'cancelled') return;
        const n = plan.byId.get(id)!;
        const failedNode = r.state === 'skipped' ? plan.byId.get(r.cause) : undefined;
        bus.emit({
          type: 'job-settled',
          runId,
          jobId: id,
          name: n.name,
          version: n.version,
          arch: n.arch,
          state: r.state,
          cause: failedNode !== undefined ? skippedCause(failedNode.name, failedNode.arch) : r.state === 'skipped' ? r.cause : notStartedCause(),
          at: Date.now(),
        });
      },
    });
    unsubscribe();
    // The run's end said and written: its report, the package index, the plan memo, a Debian run's repository (finish-run.ts).
    return await finishRun({ req, records, prepared, runId, counts, finalState, finalOutputs, outputs, categories, labels, buildModes, recorder, signs, downloads, plannedFrom, toBuild });
  } finally {
    await execution?.close();
    await signs?.stop();
    // The run's workspace folder is empty unless --keep-failed kept something in it. Its
    // owner file goes whatever ended the run: in a long-lived process (kiln serve) it
    // would make `kiln doctor` take the folder for a live run's.
    await rm(join(state.work, runId, '.owner'), { force: true });
    await rmdir(join(state.work, runId)).catch(() => undefined);
    await inUse?.release();
    recorder.dispose();
  }
}


/**
 * Record the entries the planner had to read as their packages' last good outputs
 * (PreparedPlan.refresh), as of when the run began to plan. Only saves the next plans a
 * read: a records error here is not the build's.
 */
function refreshRecords(records: Records, prepared: PreparedPlan, plannedFrom: number): void {
  if (prepared.refresh === undefined) return;
  try {
    records.refreshSuccessOutputs(prepared.refresh, plannedFrom);
  } catch {
    // The next plan reads those entries again, and tries again.
  }
}

function stoppedBeforeRun(signal: AbortSignal): KilnError {
  const why = signal.reason instanceof Error ? signal.reason.message : 'stopped';
  return new KilnError('cancelled', `${why}: stopped while planning, before any package started; no run was recorded`);
}

/**
 * Lets the event loop run its pending I/O callbacks, a signal's handler among them: one
 * that came while the main thread was busy planning runs only when the loop gets a turn.
 */
function signalsHandled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
