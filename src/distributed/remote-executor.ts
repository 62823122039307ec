// `kiln build --nats URL`: the run's jobs are built by `kiln worker`s (worker.ts) instead
// of this process, behind the same execute(job, {signal}) the scheduler calls for a local
// build. Planning, the records, the report and the package index stay here.
//
// Per job: the key and early cutoff as a local build does; the package's folder and the
// artifacts it stages go to the object store (each once); the job goes on kiln.jobs.<arch>
// (its message id makes a second publish of it a no-op); then the run's events say which
// worker took it (job-started; a later attempt when a worker died) and its result: the
// first result of a job counts (a worker that comes back late is ignored), its artifact is
// checked against its meta and stored here, its log appended to the job's log here. A job
// no worker finishes in MAX_DELIVER deliveries fails (a poison job); a cancelled run tells
// the workers and takes back the jobs nobody took yet.

import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { DeliverPolicy } from '@nats-io/jetstream';
import type { Subscription } from '@nats-io/transport-node';
import type { ArtifactStore } from '../cache/artifact-types.ts';
import type { EventBus } from '../events/events.ts';
import { earlyCutoff, jobFinishedEvent } from '../execute/job-finished.ts';
import type { StagedOutput } from '../execute/executor-options.ts';
import { hostArch } from '../run/host-env.ts';
import type { Execute, Job, JobOutcome } from '../plan/job.ts';
import { whyWhenStarted } from '../plan/decide.ts';
import { fullKeyOf } from '../plan/keys.ts';
import { debianHandOff } from './debian-jobs.ts';
import { memo, type Memo } from './memo.ts';
import { runBlobs } from './run-blobs.ts';
import { answerAlive, checkAnswering, GONE_REQUEUE_MS, goneTooOften, MAX_GONE_RETURNS } from './liveness.ts';
import { watchStreams } from './stream-watch.ts';
import { unclaimedWhy } from './unclaimed.ts';
import { acceptResult } from './accept-result.ts';
import { workerCommand, workerEnvId } from '../run/env-id.ts';
import { compressFinishedLog } from '../logs/log-compress.ts';
import { cancelSubject, ensureConsumer, EVENTS_STREAM, eventsSubject, JOBS_STREAM, jobsSubject, logsSubject, MAX_DELIVER, verdictSubject, type Cluster } from './cluster.ts';
import { EventMessage, JobMessage, parseMessage, unreadableResult } from './wire.ts';
import { positiveFromEnv } from '../lib/env-number.ts';

export interface RemoteExecutorOptions {
  readonly cluster: Cluster;
  readonly runId: string;
  readonly artifacts: ArtifactStore;
  readonly cacheDir: string;
  readonly bus: EventBus;
  readonly outputs: Map<string, StagedOutput>;
  readonly logDir: string;
  readonly logPathOf: (jobId: string) => string;
  /** Where the run's `all` packages build (run-envs.ts allArchOf): their queue's arch. */
  readonly allArch: string;
  readonly mirrors: Readonly<Record<string, string>>;
  readonly options: JobMessage['options'];
  readonly expectedMs: (jobId: string) => number | undefined;
  /** Also told what the run's notes say of jobs nobody takes (a daemon's stderr: it keeps no run notes). */
  readonly warn?: (text: string) => void;
}

type Result = Extract<EventMessage, { type: 'result' }>;

/** When a job nobody took is said (KILN_UNCLAIMED_NOTE_MS for tests). */
const UNCLAIMED_NOTE_MS = positiveFromEnv('KILN_UNCLAIMED_NOTE_MS', 30_000);

interface Waiter {
  /** The run's event stream ended: no result can come. */
  readonly onLost: (why: string) => void;
  /** A result for it that does not parse. */
  readonly onUnreadable: (worker: string, why: string) => void;
  readonly onClaimed: (e: Extract<EventMessage, { type: 'claimed' }>) => void;
  readonly onResult: (e: Result) => void;
  readonly onReturned: (e: Extract<EventMessage, { type: 'returned' }>) => void;
  readonly onGivenUp: () => void;
}

export async function createRemoteExecutor(o: RemoteExecutorOptions): Promise<{ execute: Execute; close(): Promise<void> }> {
  const waiters = new Map<string, Waiter>();
  /** Stream sequence of each published job: the advisory of a given-up job names it. */
  const jobOfSeq = new Map<number, string>();
  const put = runBlobs(o.cluster.blobs, o.artifacts);
  const pools: Memo<string> = new Map();
  const whyUnclaimed = unclaimedWhy(o.cluster.nc);
  // The run's events, from the start of the stream (none are missed between publish and listen).
  const consumer = await o.cluster.js.consumers.get(EVENTS_STREAM, { filter_subjects: eventsSubject(o.runId), deliver_policy: DeliverPolicy.All });
  const messages = await consumer.consume();
  let closing = false;
  /** Why the run's event stream ended, once it has: later jobs fail at once. */
  let lost: string | undefined;
  const listening = (async () => {
    try {
      await listen();
      if (!closing) throw new Error('the stream ended');
    } catch (e) {
      if (closing) return;
      lost = `the run lost its events from ${o.cluster.url} (${(e as Error).message})`;
      for (const w of [...waiters.values()]) w.onLost(lost);
    }
  })();
  async function listen(): Promise<void> {
    for await (const m of messages) {
      const parsed = parseMessage(EventMessage, m.string());
      if (!parsed.ok) {
        // A result this kiln cannot read (another kiln version's?) fails its job, said why:
        // its worker has acked it, so nothing else would ever come.
        const raw = unreadableResult(m.string());
        if (raw !== undefined) waiters.get(raw.jobId)?.onUnreadable(raw.worker, parsed.why);
        continue;
      }
      const e = parsed.value;
      const w = waiters.get(e.jobId);
      if (w === undefined) {
        // A result for a job this run no longer waits for (settled: built by another attempt,
        // or cancelled): its worker need not wait for a word, nor ack (the job is off the queue).
        if (e.type === 'result') o.cluster.nc.publish(verdictSubject(o.runId, e.jobId, e.attempt), 'stale');
        continue;
      }
      if (e.type === 'claimed') w.onClaimed(e);
      else if (e.type === 'returned') w.onReturned(e);
      else w.onResult(e);
    }
  }
  /** A settled job: out of the queue (if still there) and stopped on any worker. */
  function forget(jobId: string, seqs: ReadonlySet<number>): void {
    for (const seq of seqs) void o.cluster.jsm.streams.deleteMessage(JOBS_STREAM, seq).catch(() => false);
    o.cluster.nc.publish(cancelSubject(o.runId), jobId);
  }
  // The server may come back without kiln's streams: the jobs in flight then fail, said why, instead of waiting for ever.
  const streams = watchStreams(o.cluster, (why) => {
    if (closing || lost !== undefined) return;
    lost = why;
    for (const w of [...waiters.values()]) w.onLost(why);
  });
  // Workers ask whether this run is still here before and while they build its jobs (liveness.ts).
  const alive = answerAlive(o.cluster.nc, o.runId);
  checkAnswering(o.cluster.nc, o.runId, (text) => {
    o.bus.emit({ type: 'note', at: Date.now(), text });
    o.warn?.(`run ${o.runId}: ${text}`);
  });
  const advisories: Subscription = o.cluster.nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${JOBS_STREAM}.*`, {
    callback: (err, m) => {
      if (err !== null) return;
      const seq = (m.json() as { stream_seq?: number }).stream_seq;
      const jobId = seq === undefined ? undefined : jobOfSeq.get(seq);
      if (jobId !== undefined) waiters.get(jobId)?.onGivenUp();
    },
  });

  const execute: Execute = async (job, { signal }) => {
    // When a worker took it (a build's time is its own, not the queue's); until then, now.
    let startedAt = Date.now();
    const log = o.logPathOf(job.id);
    await mkdir(o.logDir, { recursive: true });
    const depOutputs: Record<string, string> = {};
    for (const id of job.stage) depOutputs[id] = o.outputs.get(id)!.outputHash;
    const key = fullKeyOf(job.ownKey, depOutputs);
    // The dependency that really changed, now that every staged output is known.
    const why = whyWhenStarted(job.why, job.previousDepOutputs, depOutputs);
    if (why !== job.why) job = { ...job, why };
    const finished = (outcome: JobOutcome): JobOutcome => {
      o.bus.emit(jobFinishedEvent(o.runId, job, key, depOutputs, outcome));
      if (outcome.outputHash !== undefined) o.outputs.set(job.id, { key, outputHash: outcome.outputHash });
      return outcome;
    };
    // Early cutoff, as a local build has it.
    const cutoff = await earlyCutoff(o.artifacts, job, key, startedAt);
    if (cutoff !== undefined) return finished(cutoff);
    // Every write of the log in one chain: notes, the streamed chunks, the final log.
    let writes: Promise<void> = Promise.resolve();
    /** The log was compressed once the job settled (logs/log-compress.ts): a later note would land in its excerpt. */
    let sealed = false;
    const write = (data: string | Buffer): Promise<void> => (writes = writes.then(() => (sealed ? undefined : appendFile(log, data))).catch(() => undefined));
    const note = (text: string): Promise<void> => write(`[kiln ${new Date().toISOString()}] ${text}\n`);
    /** The worker's log of the current attempt, as streamed so far (bytes appended here). */
    let attemptNow = 1;
    let streamed = 0;
    await writeFile(log, '');
    let message: JobMessage;
    try {
      const deps = [];
      for (const id of job.stage) {
        const out = o.outputs.get(id)!;
        deps.push({ id, key: out.key, outputHash: out.outputHash, artifact: await put.artifact(out.key) });
      }
      // A Debian job: its index as a blob, its suite by name, a local .dsc with its files.
      const debian = job.spec.debian === undefined ? undefined : await debianHandOff(job, put.file);
      const tree = debian === undefined ? await put.tree(job.spec.dir) : await put.tree(debian.tree.dir, debian.tree.names);
      message = { v: 1, runId: o.runId, jobId: job.id, job: debian?.job ?? ({ ...job, spec: { ...job.spec }, previousDepOutputs: undefined } as Job), key, tree, mirrors: { ...o.mirrors }, deps, options: o.options, alive: true, ...(debian === undefined ? {} : { debian: debian.wire }) };
      // Checked as a worker will check it: one it would refuse fails here, saying why.
      const checked = parseMessage(JobMessage, JSON.stringify(message));
      if (!checked.ok) throw new Error(`a worker would refuse its message (${checked.why})`);
    } catch (e) {
      return finished({ state: 'failed', key, failure: { reason: 'internal', message: `cannot hand the job to the workers: ${(e as Error).message}` }, log, startedAt, endedAt: Date.now() });
    }
    const arch = job.arch === 'all' ? o.allArch : job.arch;
    // The queue of the workers of that arch in the job's env (the run's profiles travel in the message).
    const pool = workerEnvId(job.envId);
    // The queue of the workers that build for this arch in this env (made with the job's ack wait if new).
    try {
      await memo(pools, `${arch} ${pool}`, () => ensureConsumer(o.cluster.jsm, { arch, envId: pool }).then(() => ''));
    } catch (e) {
      return finished({ state: 'failed', key, failure: { reason: 'internal', message: `cannot make the queue of ${arch} in ${pool} on ${o.cluster.url}: ${(e as Error).message}` }, log, startedAt, endedAt: Date.now() });
    }
    await note(`queued for the workers of ${arch} in ${pool} (${o.cluster.url})`);
    return new Promise<JobOutcome>((resolve) => {
      let claimedBy: string | undefined;
      /** Its messages on the queue (one more each time a stopping worker gave it back). */
      const seqs = new Set<number>();
      let done = false;
      /** Give-backs by workers that found this run not answering (liveness.ts). */
      let goneReturns = 0;
      /** A result is being accepted: other results are ignored (the first counts). */
      let accepting = false;
      /** acceptResult has ended (what it appends to the log is in). */
      let accepted = false;
      // The worker's log as it grows, appended here in order (a gap waits for the result).
      const chunks = o.cluster.nc.subscribe(logsSubject(o.runId, job.id), {
        callback: (err, m) => {
          if (err !== null) return;
          let c: { attempt?: unknown; offset?: unknown; data?: unknown };
          try {
            c = m.json();
          } catch {
            return;
          }
          if (done || accepting || c.attempt !== attemptNow || c.offset !== streamed || typeof c.data !== 'string') return;
          const data = Buffer.from(c.data, 'base64');
          streamed += data.length;
          void write(data);
        },
      });
      // Nobody took it for a while: said once, with what to start (a run otherwise just waits).
      const unclaimed = setTimeout(() => {
        if (claimedBy !== undefined || done) return;
        // With what the workers say of themselves (none there, another env, low on disk, busy).
        void whyUnclaimed(arch, pool).then((why) => {
          if (claimedBy !== undefined || done) return;
          const text = `${job.id}: no worker has taken it in ${UNCLAIMED_NOTE_MS / 1000} s${why === undefined ? '' : ` (${why})`}: start one for ${arch} in ${pool} (${workerCommand(o.cluster.url, arch, pool, hostArch())}); the run waits for it`;
          o.bus.emit({ type: 'note', at: Date.now(), text });
          o.warn?.(`run ${o.runId}: ${text}`);
          void note(`no worker has taken it in ${UNCLAIMED_NOTE_MS / 1000} s${why === undefined ? '' : ` (${why})`}; waiting for one`);
        });
      }, UNCLAIMED_NOTE_MS);
      unclaimed.unref();
      const settle = (outcome: JobOutcome): void => {
        if (done) return;
        done = true;
        clearTimeout(unclaimed);
        chunks.unsubscribe();
        waiters.delete(job.id);
        // Settled here: the job leaves the queue (a worker that took it and died without
        // its ack would have it delivered again), and any other worker on it stops.
        forget(job.id, seqs);
        signal.removeEventListener('abort', onAbort);
        // A large log is kept compressed (logs/log-compress.ts) before the job is said finished,
        // in the chain of writes; not while a result's log is still being appended (a stop or a
        // lost stream settled the job meanwhile): that log stays whole and plain.
        const appending = accepting && !accepted;
        writes = writes.then(async () => {
          if (!appending) sealed = (await compressFinishedLog(log)) !== undefined;
        }).catch(() => undefined);
        void writes.then(() => resolve(finished(outcome)));
      };
      const onAbort = (): void => {
        void (async () => {
          o.cluster.nc.publish(cancelSubject(o.runId), job.id);
          // Not taken yet: out of the queue, so no worker starts it later.
          if (claimedBy === undefined) for (const seq of seqs) await o.cluster.jsm.streams.deleteMessage(JOBS_STREAM, seq).catch(() => false);
          await note('cancelled: the run was stopped');
          // A worker that took it says when it has stopped it; not waited for long.
          // Never taken: not started, as a local job that had not started (the wording of the report).
          const message = claimedBy === undefined ? 'not started: the run was cancelled' : 'killed: the run was cancelled';
          setTimeout(() => settle({ state: 'cancelled', key, failure: { reason: 'cancelled', message }, log, startedAt, endedAt: Date.now() }), claimedBy === undefined ? 0 : 5_000).unref();
        })();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      waiters.set(job.id, {
        onLost: (why) => settle({ state: 'failed', key, failure: { reason: 'internal', message: `${why}: the job's outcome here is unknown` }, log, startedAt, endedAt: Date.now() }),
        onClaimed: (e) => {
          if (done) return;
          if (claimedBy === undefined) {
            // This machine's clock (a worker's may differ): durations here compare with each other.
            startedAt = Date.now();
            o.bus.emit({ type: 'job-started', runId: o.runId, jobId: job.id, name: job.spec.name, version: job.spec.version, arch: job.arch, why: job.why, attempt: job.attempt, log, at: startedAt, expectedMs: o.expectedMs(job.id) });
          }
          void note(e.attempt === 1 ? `taken by worker ${e.worker}` : `attempt ${e.attempt}: taken by worker ${e.worker} (${claimedBy ?? 'the previous worker'} stopped answering, or gave it back)`);
          // A hand-over is said on the run's console too, not only in the job's log.
          if (e.attempt > 1) o.bus.emit({ type: 'note', at: Date.now(), text: `${job.id}: attempt ${e.attempt} taken by worker ${e.worker} (the worker before stopped answering, or gave it back)` });
          claimedBy = e.worker;
          if (e.attempt !== attemptNow) {
            attemptNow = e.attempt;
            streamed = 0;
          }
        },
        onResult: (e) => {
          const verdict = (word: 'taken' | 'stale'): void => o.cluster.nc.publish(verdictSubject(o.runId, job.id, e.attempt), word);
          if (done || accepting) return verdict('stale');
          // Fencing: the result of an attempt another worker has taken over since (its worker
          // was stopped past the ack wait, then ran again) is not this job's any more; its
          // worker is told so, and leaves the job's delivery to the worker that has it now.
          if (e.attempt < attemptNow) {
            verdict('stale');
            void note(`late result from worker ${e.worker} (attempt ${e.attempt}): ignored, attempt ${attemptNow} is building on worker ${claimedBy ?? 'another worker'}`);
            return;
          }
          verdict('taken');
          accepting = true; // the first result counts; a late one from a worker thought dead is ignored
          // (A stop or a lost stream meanwhile settles the job first; accept's outcome is then dropped.)
          void acceptResult(e, { blobs: o.cluster.blobs, artifacts: o.artifacts, cacheDir: o.cacheDir, key, replace: job.why.kind === 'forced' && job.why.by === undefined, log, startedAt, streamedOfAttempt: e.attempt === attemptNow ? streamed : 0, write, note }).finally(() => (accepted = true)).then(
            (outcome) => settle(outcome),
            (err: unknown) => settle({ state: 'failed', key, failure: { reason: 'internal', message: `the result of worker ${e.worker} was refused: ${(err as Error).message}` }, log, startedAt, endedAt: Date.now() }),
          );
        },
        onReturned: (e) => {
          // A stopping worker gave it back: queued again (a new message), this attempt kept in the count.
          // (Not when the run is stopping: onAbort settles it.)
          // (A delivery given back before anyone claimed it is newer than the last claim.)
          if (done || accepting || e.attempt < attemptNow || signal.aborted) return;
          if (e.attempt > attemptNow) {
            attemptNow = e.attempt;
            streamed = 0;
          }
          claimedBy = undefined;
          for (const seq of seqs) jobOfSeq.delete(seq);
          if (e.why !== 'coordinator-gone') {
            void note(`attempt ${e.attempt}: worker ${e.worker} gave it back (it is stopping); queued again`);
            queue(e.attempt);
            return;
          }
          // Workers found nobody answering for this run while it is here: cut off for a moment
          // (queued again, after a pause), or unable to answer at all (failed, not looped).
          if (++goneReturns >= MAX_GONE_RETURNS) {
            settle({ state: 'failed', key, failure: { reason: 'internal', message: goneTooOften(o.runId, goneReturns) }, log, startedAt, endedAt: Date.now() });
            return;
          }
          void note(`attempt ${e.attempt}: worker ${e.worker} gave it back (this run did not answer it: cut off from the NATS server for a while?); queued again`);
          setTimeout(() => {
            if (!done && !signal.aborted) queue(e.attempt);
          }, GONE_REQUEUE_MS).unref();
        },
        onUnreadable: (worker, why) => {
          if (done || accepting) return;
          settle({ state: 'failed', key, failure: { reason: 'internal', message: `the result of worker ${worker} could not be read (${why}): is it another kiln version?` }, log, startedAt, endedAt: Date.now() });
        },
        onGivenUp: () => {
          if (done || accepting) return;
          // Out of the work queue: JetStream keeps a message no worker acked.
          for (const seq of seqs) void o.cluster.jsm.streams.deleteMessage(JOBS_STREAM, seq).catch(() => false);
          void note(`given up after ${MAX_DELIVER} deliveries: every worker that took it died or stopped answering`).then(() =>
            settle({ state: 'failed', key, failure: { reason: 'internal', message: `no worker finished it in ${MAX_DELIVER} deliveries (each died, stopped answering, or could not hand it on): see the workers' output` }, log, startedAt, endedAt: Date.now() }));
        },
      });
      // The run's event stream is gone already: no result could come back.
      if (lost !== undefined) {
        waiters.get(job.id)!.onLost(lost);
        return;
      }
      /** On the queue, after `returns` attempts given back by stopping workers. */
      function queue(returns: number): void {
        const text = JSON.stringify(returns === 0 ? message : { ...message, returns });
        void o.cluster.js.publish(jobsSubject(arch, pool), text, { msgID: `${o.runId}/${job.id}/${job.attempt}${returns === 0 ? '' : `/${returns}`}` }).then(
          (ack) => {
            seqs.add(ack.seq);
            jobOfSeq.set(ack.seq, job.id);
            // Settled (cancelled) before the queue answered: out again at once.
            if (done) forget(job.id, seqs);
          },
          (e: unknown) => settle({ state: 'failed', key, failure: { reason: 'internal', message: `cannot queue the job on ${o.cluster.url}: ${(e as Error).message}` }, log, startedAt, endedAt: Date.now() }),
        );
      }
      queue(0);
    });

  };

  return {
    execute,
    async close() {
      closing = true;
      alive.unsubscribe();
      streams.stop();
      advisories.unsubscribe();
      await messages.close().catch(() => undefined);
      await listening.catch(() => undefined);
    },
  };
}
