// A worker's result as the coordinator's outcome of a job (remote-executor.ts): its log
// appended to the job's log here (what the stream did not bring yet), a Debian build's
// --twice comparison put beside it, and for a success its artifact, checked against its
// meta and stored here under the job's key. A result for another key, or a success
// without an artifact, is refused (thrown): the job then fails, saying why.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ObjectStore } from '@nats-io/obj';
import { artifactPath, type ArtifactStore } from '../cache/artifact-types.ts';
import { importEntry } from '../cache/artifact-transfer.ts';
import { EARLY_CUTOFF_CAUSE, type JobOutcome } from '../plan/job.ts';
import { getFile } from './blobs.ts';
import { parseMessage, WireAutopkgtest, WireTwice, type EventMessage } from './wire.ts';

type Result = Extract<EventMessage, { type: 'result' }>;

export interface AcceptContext {
  readonly blobs: ObjectStore;
  readonly artifacts: ArtifactStore;
  readonly cacheDir: string;
  /** The job's key here: the result must be for it. */
  readonly key: string;
  /** A `--force`d job: another output replaces the entry stored here (as a local build's does). */
  readonly replace?: boolean;
  /** The job's log here. */
  readonly log: string;
  readonly startedAt: number;
  /** Bytes of this result's attempt's log already appended from the stream (0: another attempt's). */
  readonly streamedOfAttempt: number;
  /** Appends to the job's log (in order with the notes). */
  readonly write: (data: string | Buffer) => Promise<void>;
  readonly note: (text: string) => Promise<void>;
}

export async function acceptResult(e: Result, c: AcceptContext): Promise<JobOutcome> {
  const tmp = await mkdtemp(join(tmpdir(), 'kiln-result-'));
  try {
    if (e.log !== null) {
      // What the stream did not bring yet (all of it for another attempt's result).
      await getFile(c.blobs, e.log, join(tmp, 'log'));
      const whole = await readFile(join(tmp, 'log'));
      await c.write(c.streamedOfAttempt <= whole.length ? whole.subarray(c.streamedOfAttempt) : whole);
    }
    if (e.twice !== undefined && e.twice !== null) {
      // A Debian build's --twice comparison, beside the log here, where the run's report reads it.
      await getFile(c.blobs, e.twice, join(tmp, 'twice.json'));
      const twice = parseMessage(WireTwice, await readFile(join(tmp, 'twice.json'), 'utf8'));
      if (!twice.ok) throw new Error(`its --twice comparison is not one kiln reads (${twice.why})`);
      await writeFile(`${c.log}.twice.json`, `${JSON.stringify(twice.value, null, 2)}\n`);
    }
    if (e.autopkgtest !== undefined && e.autopkgtest !== null) {
      // --autopkgtest's results, beside the log here too.
      await getFile(c.blobs, e.autopkgtest, join(tmp, 'autopkgtest.json'));
      const tested = parseMessage(WireAutopkgtest, await readFile(join(tmp, 'autopkgtest.json'), 'utf8'));
      if (!tested.ok) throw new Error(`its autopkgtest results are not ones kiln reads (${tested.why})`);
      await writeFile(`${c.log}.autopkgtest.json`, `${JSON.stringify(tested.value, null, 2)}\n`);
    }
    await c.note(`result from worker ${e.worker} (attempt ${e.attempt}): ${e.outcome.state}`);
    // The job's own key: a result for another key would store under it.
    if (e.outcome.key !== c.key) throw new Error(`it is for the key ${e.outcome.key.slice(0, 16)}, not the job's ${c.key.slice(0, 16)}`);
    const { outputHash: _claimed, ...rest } = e.outcome;
    // Up to date there, not here: the worker's cache had it (the plan here did not).
    const cause = rest.state === 'up-to-date' && (rest.cause === undefined || rest.cause === EARLY_CUTOFF_CAUSE) ? `found up to date in the cache of worker ${e.worker}` : rest.cause;
    const base: JobOutcome = { ...rest, ...(cause === undefined ? {} : { cause }), key: c.key, log: c.log, worker: e.worker, startedAt: c.startedAt, endedAt: Date.now() };
    const ok = e.outcome.state === 'built' || e.outcome.state === 'up-to-date';
    if (!ok) return base;
    // A success comes with its artifact, stored here under the job's key once checked;
    // its output hash is the stored meta's, not what the result says.
    if (e.artifact === null) throw new Error(`it says ${e.outcome.state} but sends no artifact`);
    const manifest = e.artifact.manifest === null ? null : join(tmp, 'manifest.json');
    const archive = e.artifact.archive === null ? null : join(tmp, 'archive');
    if (manifest !== null) await getFile(c.blobs, e.artifact.manifest!, manifest);
    if (archive !== null) await getFile(c.blobs, e.artifact.archive!, archive);
    const meta = await importEntry(c.artifacts, c.cacheDir, c.key, { metaText: e.artifact.metaText, manifestText: manifest === null ? null : await readFile(manifest, 'utf8'), archivePath: archive }, `worker ${e.worker}`, { replace: c.replace === true, onKept: (t) => void c.note(t) });
    return { ...base, outputHash: meta.outputHash, artifact: artifactPath(c.artifacts, c.key, meta.archive) };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
