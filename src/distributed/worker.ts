// `kiln worker --nats URL`: builds the jobs `kiln build --nats URL` puts on the cluster
// (cluster.ts), with this machine's sandbox, envs and caches, up to --jobs at once.
//
// Per job: say it is taken (claimed, with its delivery count as the attempt); keep saying
// it works on it (so the job is not handed to another worker while it builds); build it
// (worker-build.ts: unpack the package's folder, import the artifacts it stages, run it
// with the same executor as a local build, put the artifact and the log in the object
// store); publish the result; ack. Each job reserves its recipe's cpus and memory here, as
// in a local build (worker-capacity.ts; one that does not fit is held: roomFor). A Debian
// source package's job also brings its Packages index (and a local .dsc): debian-jobs.ts.
// A worker that dies loses the job to the next worker after the ack wait; one stopped
// with SIGTERM gives its jobs back at once (nak).

import { mkdtemp, readdir, rm, rmdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createArtifactStore } from '../cache/artifacts.ts';
import type { RunEnvs } from '../run/run-envs.ts';
import type { StateLayout } from '../run/state-layout.ts';
import { humanBytes } from '../lib/human-bytes.ts';
import { lowOnSpace } from '../run/free-space.ts';
import { claimRunWorkspace } from '../run/run-workspaces.ts';
import { askAlive, watchAlive } from './liveness.ts';
import { answerStatus, workerStatusOf, type HeldJob } from './worker-status.ts';
import { awaitVerdict, StoppedRuns } from './coordinator-words.ts';
import { DEFAULT_KEEP_LOGS_MS, pruneWorkerLogsEvery } from './worker-logs.ts';
import type { BinaryUniverse } from '../debian/lazy-index.ts';
import { ACK_WAIT_MS, cancelSubject, consumerName, eventsSubject, JOBS_STREAM, verdictSubject, type Cluster } from './cluster.ts';
import { machineCapacity } from '../run/host-env.ts';
import { clampToMachine, fitsNow, mayTake, reservationOf, reservedOf, type Reservation } from './worker-capacity.ts';
import { holdForRoom, raceAbort, sleepUnlessAborted } from './worker-hold.ts';
import { guardedMsg, streamEpochs, type JobMsg } from './stale-ack.ts';
import { parseMessage, JobMessage, type EventMessage } from './wire.ts';
import { buildJob, type WorkerPlace } from './worker-build.ts';

export interface WorkerOptions {
  readonly cluster: Cluster;
  readonly state: StateLayout;
  readonly envs: RunEnvs;
  /** Debian archs whose jobs this worker takes. */
  readonly archs: readonly string[];
  /** Jobs at once. */
  readonly jobs: number;
  /** Reserved cpus may exceed the cores by this many (--overcommit-cpus; default 0). */
  readonly overcommitCpus?: number;
  /** Its name in results and logs (default host:pid). */
  readonly name?: string;
  readonly say: (line: string) => void;
  readonly signal: AbortSignal;
  /**
   * Told to stop at once (a second SIGTERM): the jobs it is still giving back are abandoned
   * (neither acked nor naked: the server delivers them again once their ack wait runs out)
   * and it returns without waiting for the NATS server any more.
   */
  readonly abandon?: AbortSignal;
  /** Kept current with the jobs it holds (`RUN JOB`: taken, and not yet acked or given back), for its stop to say. */
  readonly held?: Set<string>;
  /** How long its own copies of the logs are kept (--keep-logs; default 7 days). */
  readonly keepLogsMs?: number;
  /** The free-space guard (--min-free): no job is taken while the state's disk has less. */
  readonly minFree?: { readonly bytes: number; readonly free: () => { bytes: number; where: string } | undefined };
}

/** How long a worker remembers that a coordinator stopped its run. */
const STOPPED_RUN_MEMORY_MS = 60 * 60_000;
/** How often a worker low on space looks again. */
const SPACE_RECHECK_MS = 5_000;

/** Takes and builds jobs until `signal` aborts; then gives back what it holds. */
export async function runWorker(o: WorkerOptions): Promise<{ built: number; failed: number; cancelled: number }> {
  const name = o.name ?? `${hostname()}:${process.pid}`;
  const artifacts = createArtifactStore({ cacheDir: o.state.cache });
  /** Debian jobs' parsed Packages indexes, by blob (debian-jobs.ts). */
  const universes = new Map<string, Promise<BinaryUniverse>>();
  const counts = { built: 0, failed: 0, cancelled: 0 };
  // The jobs it builds, with what each reserves of this machine (cores, memory, slots).
  const running = new Map<Promise<void>, Reservation>();
  const total = machineCapacity(o.jobs, o.overcommitCpus);
  // Cancels from coordinators, by run and job ('*': every job of the run).
  const controllers = new Map<string, AbortController>();
  // Runs stopped whole (Ctrl-C of their coordinator), remembered for a while: a job of one
  // that was being taken as the cancel came (not registered yet) is stopped as it starts.
  const stoppedRuns = new StoppedRuns(STOPPED_RUN_MEMORY_MS);
  const cancels = o.cluster.nc.subscribe(cancelSubject('*'), {
    callback: (err, m) => {
      // (A refused subscription: no message; touching it would leave the connection deaf.)
      if (err !== null) return;
      const runId = m.subject.slice(cancelSubject('').length);
      const jobId = m.string();
      if (jobId === '*') stoppedRuns.stop(runId, Date.now());
      for (const [id, c] of controllers) if (id === `${runId} ${jobId}` || (jobId === '*' && id.startsWith(`${runId} `))) c.abort(new Error('cancelled by the coordinator'));
    },
  });
  // What it is, builds and holds for room (roomFor), for `kiln workers` and the coordinators' notes (worker-status.ts).
  const startedAt = Date.now();
  const runningJobs = new Map<string, { runId: string; jobId: string; attempt: number; since: number }>();
  const heldJobs = new Map<string, HeldJob>();
  const statusAnswers = answerStatus(o.cluster.nc, () => workerStatusOf({ name, startedAt, archs: o.archs.map((arch) => ({ arch, envId: o.envs.envIdFor(arch) })), sandbox: o.envs.backend.name, jobs: o.jobs, running: runningJobs.values(), minFree: o.minFree, capacity: { reserved: reservedOf(running.values(), total), held: heldJobs.values() } }));
  // The queue of each arch in this worker's env: only jobs it can build come to it.
  const consumers = await Promise.all(o.archs.map((arch) => o.cluster.js.consumers.get(JOBS_STREAM, consumerName(arch, o.envs.envIdFor(arch)))));
  // The jobs stream as this worker knows it: acks of a stream made anew are not sent (stale-ack.ts).
  const epochs = streamEpochs(o.cluster.nc, async () => String((await o.cluster.jsm.streams.info(JOBS_STREAM)).created));
  await epochs.ready;
  // Says it works on a job every third of the consumers' real ack wait (whoever made them).
  const ackWaitMs = Math.min(...(await Promise.all(consumers.map(async (c) => ((await c.info()).config.ack_wait ?? 0) / 1_000_000))).filter((n) => n > 0), ACK_WAIT_MS);
  // Its workspaces under a folder of its own (work/worker-PID, owner file inside): what a
  // worker killed mid-job leaves there is removed when the next kiln starts on this state.
  const own = await claimRunWorkspace(o.state.work, `worker-${process.pid}`);
  // Its own copies of the logs: the old ones go, now and every hour.
  const workerLogs = join(o.state.logs, 'worker');
  const here: WorkerPlace = { cluster: o.cluster, envs: o.envs, state: o.state, artifacts, name, universes, workerLogs, own, say: o.say };
  // Not the runs it builds for now (a build longer than --keep-logs writes there still).
  const pruning = pruneWorkerLogsEvery(workerLogs, o.keepLogsMs ?? DEFAULT_KEEP_LOGS_MS, () => new Set([...controllers.keys()].map((id) => id.slice(0, id.indexOf(' ')))), o.say);
  let turn = 0;
  let low = false;
  try {
    while (!o.signal.aborted) {
      // A free slot and a free cpu (the least a job reserves); else wait for a job to end.
      if (!mayTake([...running.values()], total)) {
        await raceAbort(running.keys(), [o.signal]);
        continue;
      }
      // Low on disk: take nothing (the job goes to another worker, or waits), say so once.
      const free = o.minFree?.free();
      if (o.minFree !== undefined && lowOnSpace(free, o.minFree.bytes)) {
        if (!low) o.say(`the disk of ${free!.where} has ${humanBytes(free!.bytes)} free, less than --min-free ${humanBytes(o.minFree.bytes)}: taking no job until there is space`);
        low = true;
        await sleepUnlessAborted(SPACE_RECHECK_MS, [o.signal]);
        continue;
      }
      if (low) o.say(`the disk has space again (${humanBytes(free?.bytes ?? 0)} free): taking jobs`);
      low = false;
      // Round robin over the archs; a short wait each, so a stop is seen quickly.
      const which = turn++ % consumers.length;
      // (While the server is gone a pull waits for it to come back, past its expiry: a stop
      // does not wait with it. A job that comes after all goes back at once.)
      const next = consumers[which]!.next({ expires: 1_000 }).catch(() => null);
      await raceAbort([next], [o.signal]);
      if (o.signal.aborted) {
        void next.then((m) => m === null ? undefined : guardedMsg(m, epochs).nak(), () => undefined);
        break;
      }
      const pulled = await next;
      if (pulled === null) continue;
      const msg = guardedMsg(pulled, epochs);
      const parsed = parseMessage(JobMessage, msg.string());
      // (A message it cannot read is refused by handle(), at once: it reserves the least.)
      const need = parsed.ok ? reservationOf(parsed.value.job) : { cpus: 1, memoryBytes: 0 };
      // Held from here until it is acked, refused or given back.
      const heldId = parsed.ok ? `${parsed.value.runId} ${parsed.value.jobId}` : undefined;
      if (heldId !== undefined) o.held?.add(heldId);
      if (parsed.ok && !(await roomFor(msg, parsed.value, need))) {
        o.held?.delete(heldId!);
        continue;
      }
      // handle() says what goes wrong and gives the job back; it never throws.
      const p = handle(msg, parsed, o.archs[which]!).catch((e: unknown) => o.say(`internal error: ${(e as Error).stack ?? String(e)}`)).finally(() => {
        running.delete(p);
        if (heldId !== undefined) o.held?.delete(heldId);
      });
      running.set(p, need);
    }
  } finally {
    pruning.stop();
    for (const c of controllers.values()) c.abort(new Error('the worker is stopping'));
    // (Told to stop at once: the jobs still being given back are left to the ack wait.)
    await raceAbort([Promise.allSettled(running.keys())], o.abandon === undefined ? [] : [o.abandon]);
    epochs.stop();
    cancels.unsubscribe();
    statusAnswers.unsubscribe();
    // Empty now, unless a sandbox could not be taken down: that (owner file kept) is for the
    // next start to reap, which unmounts first; never removed blindly here.
    const left = await readdir(own).catch(() => ['?']);
    if (left.length === 1 && left[0] === '.owner') await rm(own, { recursive: true, force: true });
  }
  return counts;

  /**
   * Waits until a job taken fits beside the running ones (held meanwhile: worker-hold.ts);
   * false: it is not to be built here (cancelled by its coordinator, the coordinator gone,
   * or the worker stopping), and is off the queue or given back. While held it can be
   * cancelled as a running job is: its entry in `controllers`, and the runs stopped whole.
   */
  async function roomFor(msg: JobMsg, m: JobMessage, need: Reservation): Promise<boolean> {
    const fits = (): boolean => fitsNow(need, [...running.values()], total);
    if (fits()) return true;
    const id = `${m.runId} ${m.jobId}`;
    const cancel = new AbortController();
    controllers.set(id, cancel);
    if (stoppedRuns.has(m.runId, Date.now())) cancel.abort(new Error('cancelled by the coordinator'));
    const waiting = (): void => {
      heldJobs.set(id, { runId: m.runId, jobId: m.jobId, ...clampToMachine(need, total), since: Date.now() });
      o.say(`${id}: waits for room here: it reserves ${need.cpus} cpu(s)${need.memoryBytes > 0 ? ` and ${humanBytes(need.memoryBytes)} of memory` : ''}, more than the running jobs leave free`);
    };
    const end = await holdForRoom({ msg, runId: m.runId, alive: m.alive === true, nc: o.cluster.nc, fits, running: () => running.keys(), stop: o.signal, cancel: cancel.signal, heartbeatMs: Math.max(200, Math.floor(ackWaitMs / 3)), waiting })
      .finally(() => (heldJobs.delete(id), controllers.get(id) === cancel && controllers.delete(id)));
    if (end === 'room') return true;
    const attempt = (m.returns ?? 0) + msg.info.deliveryCount;
    if (end === 'gone') await giveBack(msg, m, attempt, 'coordinator-gone');
    else if (end === 'stopping') await stopping(msg, m, attempt);
    else {
      // Never started, as the coordinator counts it (it took the job off the queue): dropped.
      msg.term();
      counts.cancelled++;
      o.say(`${id}: not built: cancelled by the coordinator while it waited for room`);
    }
    return false;
  }

  /** A job from the queue of `queueArch` (an `all` job builds in that arch's env). */
  async function handle(msg: JobMsg, parsed: ReturnType<typeof parseMessage<JobMessage>>, queueArch: string): Promise<void> {
    if (!parsed.ok) {
      o.say(`refused a message on ${msg.subject}: ${parsed.why}`);
      // +TERM without a reason: a server before 2.10 ignores one with a reason (and delivers it again).
      msg.term();
      return;
    }
    const m = parsed.value;
    if (m.job.id !== m.jobId || m.job.runId !== m.runId) {
      o.say(`refused a message on ${msg.subject}: its job is ${m.job.id} of ${m.job.runId}, it says ${m.jobId} of ${m.runId}`);
      msg.term();
      return;
    }
    // Counted over the messages of the job: one given back by a stopping worker was queued again.
    const attempt = (m.returns ?? 0) + msg.info.deliveryCount;
    // Cancellable from here on (a cancel while the coordinator is asked below is not missed).
    const controller = new AbortController();
    const id = `${m.runId} ${m.jobId}`;
    controllers.set(id, controller);
    // A run whose coordinator is gone (killed outright): its jobs are not built for nobody.
    if (m.alive === true && (await askAlive(o.cluster.nc, m.runId)) === 'gone') {
      if (controllers.get(id) === controller) controllers.delete(id);
      await giveBack(msg, m, attempt, 'coordinator-gone');
      return;
    }
    runningJobs.set(id, { runId: m.runId, jobId: m.jobId, attempt, since: Date.now() });
    if (stoppedRuns.has(m.runId, Date.now())) controller.abort(new Error('cancelled by the coordinator'));
    const heartbeat = setInterval(() => msg.working(), Math.max(200, Math.floor(ackWaitMs / 3)));
    // Its coordinator going away while it builds stops the build.
    let gone = false;
    const watch = m.alive === true ? watchAlive(o.cluster.nc, m.runId, () => {
      gone = true;
      controller.abort(new Error('the coordinator of the run is gone'));
    }) : undefined;
    let work: string | undefined;
    try {
      work = await mkdtemp(join(own, 'job-'));
      await publish(m.runId, { type: 'claimed', jobId: m.jobId, attempt, worker: name, at: Date.now() });
      o.say(`${m.runId} ${m.jobId}: taken (attempt ${attempt})`);
      const result = await buildJob(here, m, attempt, work!, queueArch, controller.signal);
      if (gone) {
        await giveBack(msg, m, attempt, 'coordinator-gone');
        return;
      }
      if (result.outcome.state === 'cancelled' && o.signal.aborted && !controller.signal.reason?.message?.includes('coordinator')) {
        await stopping(msg, m, attempt);
        return;
      }
      // The coordinator says whether it took the result; one that came late (the job went to
      // another worker meanwhile) is not acked: that delivery is the other worker's now.
      const verdict = awaitVerdict(o.cluster, verdictSubject(m.runId, m.jobId, attempt));
      await publish(m.runId, { type: 'result', jobId: m.jobId, attempt, worker: name, ...result });
      if ((await verdict) === 'stale') {
        o.say(`${m.runId} ${m.jobId}: attempt ${attempt} came late: the job went to another worker meanwhile (this result is not used)`);
        return;
      }
      msg.ack();
      if (result.outcome.state === 'built' || result.outcome.state === 'up-to-date') counts.built++;
      else if (result.outcome.state === 'cancelled') counts.cancelled++;
      else counts.failed++;
      o.say(`${m.runId} ${m.jobId}: ${result.outcome.state}${result.outcome.failure === undefined ? '' : `: ${result.outcome.failure.message}`}`);
    } catch (e) {
      if (gone) {
        await giveBack(msg, m, attempt, 'coordinator-gone');
        return;
      }
      if (o.signal.aborted && !controller.signal.reason?.message?.includes('coordinator')) {
        await stopping(msg, m, attempt);
        return;
      }
      // kiln's own side broke (the object store, the disk, the job's index): another attempt,
      // maybe on another worker, may fare better.
      // kiln's own errors say what happened; anything else is a bug: its stack too.
      // (A programming error's stack helps; a NATS outage's or a refusal's message is enough.)
      const bug = e instanceof TypeError || e instanceof ReferenceError || e instanceof RangeError || e instanceof SyntaxError;
      const text = bug ? ((e as Error).stack ?? (e as Error).message) : e instanceof Error ? e.message : String(e);
      // NATS itself did not answer (down, restarting): this delivery may be another worker's
      // by now (its ack wait ran out meanwhile), and a nak of it would queue the job once
      // more. Left to the ack wait instead, which redelivers it if nobody took it.
      if (!bug && natsTrouble(e)) {
        o.say(`${m.runId} ${m.jobId}: NATS did not answer (${text}): left for the queue to deliver again once its ack wait runs out`);
        return;
      }
      // The client's words when the server answers without kiln's streams or store (a server
      // restarted without its JetStream store directory), though JetStream itself runs.
      const said = /jetstream is not enabled/i.test(text) ? `${text} (the NATS server answered without kiln's streams or object store: restarted without its JetStream store?)` : text;
      o.say(`${m.runId} ${m.jobId}: ${said}: given back`);
      msg.nak(5_000);
    } finally {
      clearInterval(heartbeat);
      watch?.stop();
      controllers.delete(id);
      runningJobs.delete(id);
      if (work !== undefined) await rm(work, { recursive: true, force: true });
      // The run's workspace folder, once its last job here is done (others may still use it).
      await rmdir(join(own, m.runId)).catch(() => undefined);
    }
  }

  /**
   * Stopping: the job goes back at once, to this worker's next start or another worker.
   * Said to the coordinator, which queues it again: a stop is not one of its deliveries.
   * (When that cannot be said, the message goes back to the queue instead, counted.)
   */
  async function stopping(msg: JobMsg, m: JobMessage, attempt: number): Promise<void> {
    await giveBack(msg, m, attempt, 'stopping');
  }

  /**
   * Gives the job back to its coordinator (acked, not built; the coordinator queues it
   * again): the worker is stopping, or the coordinator did not answer (liveness.ts), which
   * one that was only cut off from the server sees when it is back.
   */
  async function giveBack(msg: JobMsg, m: JobMessage, attempt: number, why: 'stopping' | 'coordinator-gone'): Promise<void> {
    // The ack confirmed by the server: an ack lost would leave the old message to be built again too.
    // (Abandoned by a stop at once: nothing more is waited for; the ack wait gives it back.)
    const given = publish(m.runId, { type: 'returned', jobId: m.jobId, attempt, worker: name, at: Date.now(), why }).then(() => msg.ackAck(), () => msg.nak());
    await raceAbort([given], o.abandon === undefined ? [] : [o.abandon]);
    if (o.abandon?.aborted === true) return;
    o.say(why === 'stopping'
      ? `${m.runId} ${m.jobId}: given back (the worker is stopping)`
      : `${m.runId} ${m.jobId}: not built: nobody answers for run ${m.runId} (its coordinator was killed, or is cut off from NATS): off the queue, and queued again by the coordinator if it comes back`);
  }

  async function publish(runId: string, e: EventMessage): Promise<void> {
    await o.cluster.js.publish(eventsSubject(runId), JSON.stringify(e));
  }
}

/** Whether an error is NATS not answering (a request or publish that timed out, a connection lost), not kiln's own trouble. */
function natsTrouble(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  const message = e instanceof Error ? e.message : String(e);
  return code === 'TIMEOUT' || code === 'CONNECTION_CLOSED' || code === 'DISCONNECT' || /^timeout$|connection closed|disconnect/i.test(message);
}
