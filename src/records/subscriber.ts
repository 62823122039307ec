// Write the event stream into the records database. The bus is synchronous and on the
// scheduler's path, so events are queued and written in batches, one transaction each
// (a transaction per event would cost an fsync-sized commit per row): every
// `flushMs`, every `maxBatch` events, at run-finished, and on flush()/dispose().
// While a run it recorded goes, it also writes the run's sign of life every `heartbeatMs`
// (Records.markAlive): a kiln killed with -9 is then known to have lived until a second
// before (markInterruptedRuns), even while its builds print nothing.

import { assertNever } from '../errors.ts';
import type { EventBus, KilnEvent } from '../events/events.ts';
import type { JobSettledInput, Records } from './records.ts';

export interface RecordEventsOptions {
  /** Longest an event waits in the queue; default 50 ms. */
  readonly flushMs?: number;
  /** Queue length that triggers an immediate flush; default 500. */
  readonly maxBatch?: number;
  /** How often a running run's sign of life is written; default 1000 ms. */
  readonly heartbeatMs?: number;
  /** Told about write failures (the bus cannot see errors from a timer); default: a process warning. */
  /** A write failed: a batch of events (kept for the next flush), or the run's sign of life (tried again at the next beat). */
  readonly onError?: (error: unknown, what: 'batch' | 'heartbeat') => void;
}

export interface EventRecorder {
  /** Write everything queued now. */
  flush(): void;
  /** Events not on record yet (their writes failed and wait for the next flush). */
  pending(): number;
  /** Unsubscribe, then flush what is queued. */
  dispose(): void;
}

type RecordedEvent = Exclude<KilnEvent, { type: 'job-phase' } | { type: 'note' }>;

export function recordEvents(bus: EventBus, records: Records, options: RecordEventsOptions = {}): EventRecorder {
  const flushMs = options.flushMs ?? 50;
  const maxBatch = options.maxBatch ?? 500;
  const onError = options.onError ?? ((e: unknown, what: 'batch' | 'heartbeat') => process.emitWarning(`kiln records (${what}): ${String(e)}`));
  let queue: RecordedEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  /** The runs it recorded the start of and not yet the end: their sign of life is written. */
  const going = new Set<string>();
  const heartbeat = setInterval(() => {
    if (going.size === 0) return;
    try {
      records.markAlive(going, Date.now());
    } catch (err) {
      // (Busy or full: the next beat tries again; a missed one only makes a dead run's end earlier.)
      onError(err, 'heartbeat');
    }
  }, options.heartbeatMs ?? 1000);
  heartbeat.unref();

  function flush(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    try {
      records.transaction(() => {
        // Packages settled up-to-date at plan time go in as one row per run and batch.
        const bulk = new Map<string, JobSettledInput[]>();
        for (const e of batch) {
          if (e.type === 'job-settled' && e.state === 'up-to-date' && e.inputs === undefined) {
            let list = bulk.get(e.runId);
            if (list === undefined) bulk.set(e.runId, (list = []));
            list.push({ runId: e.runId, jobId: e.jobId, name: e.name, version: e.version, arch: e.arch, state: e.state, key: e.key, outputHash: e.outputHash, artifact: e.artifact, at: e.at });
            continue;
          }
          // One bad event (say, a state the schema rejects) is reported, not allowed to
          // roll back the rest of the batch.
          try {
            write(records, e);
          } catch (err) {
            // Some errors (I/O, full disk) make SQLite roll the whole transaction back:
            // then the batch must be retried as a whole, not committed in pieces.
            if (!records.inTransaction) throw err;
            onError(err, 'batch');
          }
        }
        for (const [runId, list] of bulk) {
          try {
            records.recordUpToDate(runId, list);
          } catch (err) {
            if (!records.inTransaction) throw err;
            onError(err, 'batch');
          }
        }
      });
    } catch (err) {
      // BEGIN or COMMIT failed (busy past the timeout, disk full): keep the batch for the
      // next flush so the records catch up once the database is writable again.
      queue = batch.concat(queue);
      onError(err, 'batch');
    }
  }

  const off = bus.on((e) => {
    if (e.type === 'job-phase' || e.type === 'note') return;
    queue.push(e);
    if (e.type === 'run-started') going.add(e.runId);
    else if (e.type === 'run-finished') going.delete(e.runId);
    // A run is on record at once, so a kiln killed right after starting leaves a run that
    // the next kiln can mark interrupted.
    // A result that took a second or more to make is on record at once: a kill -9 then
    // loses at most flushMs of quick jobs' records (their artifacts are found all the same).
    const costly = e.type === 'job-finished' && e.at - e.startedAt >= 1000;
    if (e.type === 'run-started' || e.type === 'run-finished' || costly || queue.length >= maxBatch) {
      flush();
    } else if (timer === undefined) {
      timer = setTimeout(flush, flushMs);
      // A pending flush alone must not keep the process alive; dispose() flushes anyway.
      timer.unref();
    }
  });

  return {
    flush,
    pending: () => queue.length,
    dispose() {
      off();
      clearInterval(heartbeat);
      flush();
    },
  };
}

function write(records: Records, e: RecordedEvent): void {
  switch (e.type) {
    case 'run-started':
      records.createRun({
        id: e.runId, tree: e.tree, targets: e.targets, archs: e.archs,
        maxJobs: e.maxJobs, startedAt: e.at, total: e.total, toBuild: e.toBuild,
      });
      return;
    case 'job-settled':
      records.recordJobSettled({
        runId: e.runId, jobId: e.jobId, name: e.name, version: e.version, arch: e.arch,
        state: e.state, cause: e.cause, key: e.key, artifact: e.artifact, at: e.at,
      });
      if (e.inputs !== undefined) records.recordJobInputs(e.runId, e.jobId, e.inputs);
      if (e.inputs !== undefined) records.recordPackageState(e.jobId, { state: e.state, key: e.key, inputs: e.inputs });
      return;
    case 'job-started':
      records.recordJobStart({
        runId: e.runId, jobId: e.jobId, attempt: e.attempt, name: e.name, version: e.version,
        arch: e.arch, why: e.why, log: e.log, startedAt: e.at,
      });
      return;
    case 'job-finished':
      records.recordJobEnd({
        runId: e.runId, jobId: e.jobId, name: e.name, version: e.version, arch: e.arch,
        state: e.state, key: e.key, outputHash: e.outputHash, artifact: e.artifact, failure: e.failure,
        exitCode: e.exitCode, signal: e.signal, rusage: e.rusage, warnings: e.warnings, cause: e.cause, startedAt: e.startedAt, endedAt: e.at,
        ...(e.log === undefined ? {} : { log: e.log }),
        ...(e.worker === undefined ? {} : { worker: e.worker }),
        ...(e.binaryVersion === undefined ? {} : { binaryVersion: e.binaryVersion }),
      });
      if (e.inputs !== undefined) records.recordJobInputs(e.runId, e.jobId, e.inputs);
      if (e.state !== 'cancelled') records.recordPackageState(e.jobId, { state: e.state, key: e.key, inputs: e.inputs, outputHash: e.outputHash, artifact: e.artifact });
      return;
    case 'job-sample':
      // Kept by the server's sampler (issue 5); the CLI's records do not store samples.
      return;
    case 'job-waiting':
      // Said on the console and in the events; its job's row comes when it starts or ends.
      return;
    case 'run-finished':
      records.finishRun(e.runId, { state: e.state, endedAt: e.at, counts: e.counts });
      return;
    default:
      assertNever(e, 'event');
  }
}
