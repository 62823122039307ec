// kiln's NATS JetStream layout, shared by `kiln build --nats` (the coordinator) and
// `kiln worker` (docs/operations.md, "Many machines"):
//
//   stream KILN_JOBS     kiln.jobs.<arch>.<env>: jobs to build, a work queue (each taken
//                        once); consumer kiln-<arch>-<env>, shared by the workers of that
//                        arch and env (<env>: a short hash of the env's id, poolToken):
//                        explicit ack, ACK WAIT (a worker that stops answering loses the job
//                        to the next one; a live one says it is working), MAX_DELIVER deliveries
//   stream KILN_EVENTS   kiln.events.<run>: a worker took a job (claimed), a job's result
//   bucket kiln_blobs    content-addressed files (sha256-<hex>): recipe folders, artifacts,
//                        logs (NATS object store); each expires its TTL (blobTtlMs) after it was
//                        last put, and a put renews one past half of it (blobs.ts)
//   kiln.cancel.<run>    core NATS: the coordinator stops a run's jobs
//   kiln.logs.<run>.<job> core NATS: a job's log as it grows (the result brings all of it)
//
// Everything is created on first use, so a bare `nats-server -js` is enough.

import type { NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import type { NatsAccess } from './nats-access.ts';
import { dialNats } from './connect.ts';
import { waitForJetStream } from './jetstream-ready.ts';
import { displayUrl } from './nats-url.ts';
import { positiveFromEnv } from '../lib/env-number.ts';

export const JOBS_STREAM = 'KILN_JOBS';
export const EVENTS_STREAM = 'KILN_EVENTS';
export const BLOBS_BUCKET = 'kiln_blobs';
/** Deliveries of one job before it is given up (the worker died or crashed each time: a poison job). */
export const MAX_DELIVER = 3;
/** How long a worker may go without saying it works on a job before the job goes to another (KILN_ACK_WAIT_MS for tests). */
export const ACK_WAIT_MS = positiveFromEnv('KILN_ACK_WAIT_MS', 30_000);
/** How long a job waits on the queue, and (by default) how long a blob is kept after its last put. */
export const JOBS_MAX_AGE_MS = 2 * 24 * 3600 * 1000;
/** The server refuses a stream max_age under this (and over an int64 of nanoseconds). */
const MIN_TTL_MS = 100;
const MAX_TTL_MS = 9_000_000_000_000;

/**
 * The blobs' time to live by default: twice as long as a job may wait, so that a job taken
 * at the end of its wait still finds a blob reused (not put again) just before it was queued.
 */
export const BLOB_TTL_MS = 2 * JOBS_MAX_AGE_MS;

/** The permissions a NATS user needs for kiln (coordinator, daemon and worker alike). */
export const NATS_PERMISSIONS = 'publish on kiln.>, $JS.API.>, $JS.ACK.>, $JS.FC.>, $O.kiln_blobs.> and _INBOX.>, and subscribe on kiln.>, _INBOX.>, $O.kiln_blobs.> and $JS.EVENT.ADVISORY.>';

/** How long a queue's consumer may go unused before the server removes it. */
const CONSUMER_IDLE_MS = 7 * 24 * 3600 * 1000;

/** The blobs' time to live (the bucket's max_age): KILN_BLOB_TTL_MS (for tests), else BLOB_TTL_MS. */
export function blobTtlMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env['KILN_BLOB_TTL_MS'];
  if (text === undefined || text === '') return BLOB_TTL_MS;
  const ms = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(ms) || ms < MIN_TTL_MS || ms > MAX_TTL_MS) {
    throw new KilnError('config-invalid', `KILN_BLOB_TTL_MS=${JSON.stringify(text)} is not a whole number of milliseconds from ${MIN_TTL_MS} to ${MAX_TTL_MS}`, {
      hint: `unset it (blobs are then kept ${BLOB_TTL_MS / 86_400_000} days after their last use) or give e.g. KILN_BLOB_TTL_MS=86400000`,
    });
  }
  return ms;
}

export interface Cluster {
  readonly url: string;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly blobs: ObjectStore;
  close(): Promise<void>;
}

/**
 * Jobs go to the workers that can build them: one queue per arch and env (a worker's
 * `--env`, or its host release; run/env-id.ts workerEnvId), named by a short hash of the env's id.
 */
export function poolToken(envId: string): string {
  return sha256(envId).slice(0, 12);
}
export function jobsSubject(arch: string, envId: string): string {
  return `kiln.jobs.${arch}.${poolToken(envId)}`;
}
export function eventsSubject(runId: string): string {
  return `kiln.events.${runId}`;
}
/** Core NATS: a job's log as it grows ({attempt, offset, data} chunks). */
export function logsSubject(runId: string, jobId: string): string {
  return `kiln.logs.${runId}.${jobId.replace(/[.*>\s]/g, '_')}`;
}
export function cancelSubject(runId: string): string {
  return `kiln.cancel.${runId}`;
}
/**
 * Where the coordinator tells the worker of a job's attempt whether its result was taken
 * (`taken`) or came after another worker took the job over (`stale`): a stale worker does
 * not ack, since acking an older delivery removes the job from the queue (nats-server 2.9)
 * while the newer attempt still runs, and nothing would deliver it again if that one died.
 */
export function verdictSubject(runId: string, jobId: string, attempt: number): string {
  return `kiln.verdict.${runId}.${jobId.replace(/[.*>\s]/g, '_')}.${attempt}`;
}
export function consumerName(arch: string, envId: string): string {
  return `kiln-${arch}-${poolToken(envId)}`;
}

/** The queue of one arch and env: whose jobs a worker takes, where the coordinator puts them. */
export interface Pool {
  readonly arch: string;
  readonly envId: string;
}

/**
 * Connects and makes sure the streams, the consumer of each pool in `pools` and the bucket
 * exist. `access`: what the command was given besides the URL (nats-access.ts: a .creds
 * file or nkey seed instead of the URL's credentials, TLS files). `wait`: a server that cannot
 * be reached yet is waited for until `signal` is aborted (KilnError 'cancelled').
 */
export async function openCluster(given: string, pools: readonly Pool[] = [], o: { say?: (text: string) => void; access?: NatsAccess | undefined; wait?: { signal: AbortSignal; say: (text: string) => void } } = {}): Promise<Cluster> {
  const url = displayUrl(given);
  const ttlMs = blobTtlMs();
  const nc = await dialNats(given, { access: o.access, name: `kiln ${process.pid}`, reconnect: true, wait: o.wait });
  try {
    // `kiln worker`: a server whose JetStream is not ready yet (a cluster still electing its
    // leader at boot) is waited for too; one without JetStream is not (jetstream-ready.ts).
    if (o.wait !== undefined) await waitForJetStream(nc, url, o.wait);
    const jsm = await jetstreamManager(nc);
    // Jobs of a coordinator that died without taking them back expire after two days.
    await ensureStream(jsm, { name: JOBS_STREAM, subjects: ['kiln.jobs.>'], retention: RetentionPolicy.Workqueue, storage: StorageType.File, duplicate_window: 10 * 60 * 1_000_000_000, max_age: JOBS_MAX_AGE_MS * 1_000_000 });
    await ensureStream(jsm, { name: EVENTS_STREAM, subjects: ['kiln.events.>'], retention: RetentionPolicy.Limits, storage: StorageType.File, max_age: 7 * 24 * 3600 * 1_000_000_000 });
    for (const pool of pools) await ensureConsumer(jsm, pool);
    const blobs = await openBlobs(nc, jsm, ttlMs);
    // A NATS server that goes away and comes back is said (the client reconnects by itself).
    if (o.say !== undefined) {
      const say = o.say;
      void (async () => {
        for await (const s of nc.status()) {
          if (s.type === 'disconnect') say(`lost the NATS server at ${url}: waiting for it to come back (the jobs in flight go on when it does)`);
          else if (s.type === 'reconnect') say(`the NATS server at ${url} is back`);
        }
      })().catch(() => undefined);
    }
    return { url, nc, js: jetstream(nc), jsm, blobs, close: () => nc.drain().catch(() => nc.close()) };
  } catch (e) {
    await nc.close();
    if (e instanceof KilnError) throw e;
    const message = (e as Error).message;
    // The user kiln connected as may not use a subject kiln needs.
    if (/permissions violation/i.test(message)) {
      throw new KilnError('unauthorized', `NATS at ${url} refused kiln a subject: ${message}`, {
        hint: `give kiln's NATS user ${NATS_PERMISSIONS} (docs/operations.md, "Many machines")`,
        cause: e,
      });
    }
    throw new KilnError('server-unreachable', `NATS at ${url} answered, but not as kiln needs: ${message}`, {
      hint: 'run nats-server with JetStream enabled (nats-server -js, or jetstream {} in its configuration)',
      cause: e,
    });
  }
}

/**
 * The bucket, its blobs expiring `ttlMs` after their last put. One made by an older kiln (no
 * TTL) or by a process given another KILN_BLOB_TTL_MS is set to this one: the last opener wins.
 */
async function openBlobs(nc: NatsConnection, jsm: JetStreamManager, ttlMs: number): Promise<ObjectStore> {
  const ttl = ttlMs * 1_000_000;
  const create = (): Promise<ObjectStore> => new Objm(nc).create(BLOBS_BUCKET, { storage: StorageType.File, ttl });
  // Two processes making it at once with other TTLs: the second's add is refused, and its retry finds the first's.
  const blobs = await create().catch(create);
  const config = (await blobs.status()).streamInfo.config;
  // The server wants the duplicate window within the max age.
  if (config.max_age !== ttl) await jsm.streams.update(config.name, { ...config, max_age: ttl, duplicate_window: Math.min(config.duplicate_window, ttl) });
  return blobs;
}

async function ensureStream(jsm: JetStreamManager, config: Parameters<JetStreamManager['streams']['add']>[0]): Promise<void> {
  const have = await jsm.streams.info(config.name!).catch(() => undefined);
  if (have === undefined) await jsm.streams.add(config);
}

/** The consumer the workers of one arch and env share (one job at a time per fetch, acked explicitly). */
export async function ensureConsumer(jsm: JetStreamManager, pool: Pool): Promise<void> {
  const name = consumerName(pool.arch, pool.envId);
  const have = await jsm.consumers.info(JOBS_STREAM, name).catch(() => undefined);
  // Removed by the server once unused for a week (an env version nobody builds in any more).
  const config = { durable_name: name, description: `kiln jobs for ${pool.arch} in ${pool.envId}`, ack_policy: AckPolicy.Explicit, ack_wait: ACK_WAIT_MS * 1_000_000, max_deliver: MAX_DELIVER, filter_subject: jobsSubject(pool.arch, pool.envId), inactive_threshold: CONSUMER_IDLE_MS * 1_000_000 };
  // Made once, by whoever comes first; a worker then heartbeats at a third of its ack wait.
  if (have === undefined) await jsm.consumers.add(JOBS_STREAM, config);
}
