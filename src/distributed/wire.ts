// The messages between `kiln build --nats` (the coordinator) and `kiln worker`, checked
// with zod on the way in: a job to build (on kiln.jobs.<arch>), and what a worker says of
// it (on kiln.events.<run>): that it took it, and its result.

import { z } from 'zod';
import type { FailureReason, Job } from '../plan/job.ts';
import { WORKER_NAME_RE } from './nats-url.ts';

const blobName = z.string().regex(/^sha256-[0-9a-f]{64}$/);
/** A job id as the planner makes them (NAME@ARCH): it names files on both sides. */
const jobIdText = z.string().regex(/^[a-z0-9][a-z0-9+.-]*@[a-z0-9][a-z0-9-]*$/);
/** An artifact key (it names a directory of the cache). */
const keyText = z.string().regex(/^[0-9A-Za-z][0-9A-Za-z_-]{2,127}$/);
const hashText = z.string().regex(/^[0-9a-f]{64}$/);
const workerName = z.string().regex(WORKER_NAME_RE);
const FAILURE_REASONS = ['exit-status', 'signal', 'timeout', 'silent', 'looping', 'out-of-memory', 'pids-limit', 'disk-full', 'fetch-failed', 'stage-failed', 'install-failed', 'pack-failed', 'internal', 'cancelled'] as const satisfies readonly FailureReason[];

/** An artifact as it travels: its meta.json text and the blobs of its manifest and archive (null: none). */
export const WireArtifact = z.object({
  metaText: z.string().max(1_000_000),
  manifest: blobName.nullable(),
  archive: blobName.nullable(),
});
export type WireArtifact = z.infer<typeof WireArtifact>;

export const JobMessage = z.object({
  v: z.literal(1),
  runId: z.string().regex(/^[0-9A-Za-z-]+$/),
  jobId: jobIdText,
  /** The job as the coordinator planned it; its spec's folder is the `tree` blob, unpacked. */
  job: z.custom<Job>((j) => {
    const job = j as Job;
    return typeof j === 'object' && j !== null && jobIdText.safeParse(job.id).success && /^[a-z0-9][a-z0-9-]*$/.test(String(job.arch))
      && Array.isArray(job.stage) && job.stage.every((s) => jobIdText.safeParse(s).success)
      && typeof job.spec?.name === 'string' && /^[a-z0-9][a-z0-9+.-]*$/.test(job.spec.name) && typeof job.spec.build?.script === 'string'
      && Number.isInteger(job.cpus) && job.cpus > 0 && typeof job.ownKey === 'string';
  }),
  /** Attempts before this message (its job given back by stopping workers): a worker's attempt is this plus its delivery count. */
  returns: z.number().int().nonnegative().max(10_000).optional(),
  /** The full input key the coordinator expects (the worker computes it again and compares). */
  key: keyText,
  /** A tar of the package's folder (the recipe and the files it references). */
  tree: blobName,
  /** Resolved mirrors (mirror://NAME/… URLs), as the coordinator resolved them. */
  mirrors: z.record(z.string(), z.string()),
  /** The artifacts the job stages, by job id. */
  deps: z.array(z.object({ id: jobIdText, key: keyText, outputHash: hashText, artifact: WireArtifact })),
  /** A Debian source package's job: what its spec's suite holds (debian-jobs.ts). */
  debian: z.object({
    suite: z.string().regex(/^[A-Za-z0-9._-]+$/),
    mirror: z.string().regex(/^(https?:\/\/[^/]|file:\/\/\/)/).max(2000),
    /** The arch whose Packages index the build reads (the primary arch for an `all` job). */
    buildArch: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
    /** That index (the suite's, merged with any extra repository's), as a blob. */
    packages: blobName,
    /** The extra repositories merged into it, for the build log. */
    extras: z.array(z.object({
      uri: z.string().max(2000),
      suite: z.string().max(200),
      components: z.array(z.string().max(200)).max(50),
      notAutomatic: z.boolean(),
      added: z.record(z.string(), z.number().int().nonnegative()),
    })).max(100),
    /** A local .dsc: its name in the tree blob (which holds it and its files); none for the archive's sources. */
    dsc: z.string().regex(/^(?!\.)[^/\\\0]{1,250}\.dsc$/).optional(),
  }).optional(),
  /** The coordinator answers on kiln.alive.<run> (liveness.ts): a worker finding nobody there gives the job back. */
  alive: z.literal(true).optional(),
  options: z.object({
    logLimit: z.number().int().nonnegative().optional(),
    retries: z.number().int().nonnegative().max(100).optional(),
    maxTimeoutMs: z.number().int().positive().optional(),
    /** kiln build --loop-timeout (0: off), over the recipes' loop-timeout. */
    loopTimeoutMs: z.number().int().nonnegative().optional(),
    sourceDateEpoch: z.number().int(),
    profiles: z.array(z.string()),
    warningsFail: z.boolean(),
    /** A daemon's fetch policy (lib/fetch-guard.ts): the worker fetches this job's files only where it allows. */
    fetchPolicy: z.object({
      trustedHosts: z.array(z.string().max(253)).max(1000),
      allowed: z.array(z.string().max(64)).max(1000),
    }).strict().optional(),
  }),
});
export type JobMessage = z.infer<typeof JobMessage>;

/**
 * What a result carries of the outcome, each field checked (paths are the worker's: not
 * sent). The output hash is not taken from here: it is the imported artifact's.
 */
export const WireOutcome = z.object({
  state: z.enum(['built', 'up-to-date', 'failed', 'cancelled']),
  key: keyText,
  outputHash: hashText.optional(),
  failure: z.object({ reason: z.enum(FAILURE_REASONS), message: z.string().max(100_000) }).optional(),
  exitCode: z.number().int().nullable().optional(),
  signal: z.string().max(32).nullable().optional(),
  rusage: z.object({ userMs: z.number().nonnegative(), systemMs: z.number().nonnegative(), maxRssKb: z.number().nonnegative() }).optional(),
  cause: z.string().max(100_000).optional(),
  warnings: z.array(z.string().max(100_000)).max(1000).readonly().optional(),
  startedAt: z.number(),
  endedAt: z.number(),
}).strict();
export type WireOutcome = z.infer<typeof WireOutcome>;

export const EventMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('claimed'), jobId: jobIdText, attempt: z.number().int().positive(), worker: workerName, at: z.number() }),
  /** A worker that is stopping gave the job back (acked, not built): its coordinator queues it again. */
  z.object({
    type: z.literal('returned'),
    jobId: jobIdText,
    attempt: z.number().int().positive(),
    worker: workerName,
    at: z.number(),
    /** Why: the worker is stopping (the default), or this run's coordinator did not answer (liveness.ts). */
    why: z.enum(['stopping', 'coordinator-gone']).optional(),
  }),
  z.object({
    type: z.literal('result'),
    jobId: jobIdText,
    attempt: z.number().int().positive(),
    worker: workerName,
    outcome: WireOutcome,
    artifact: WireArtifact.nullable(),
    /** The job's log on the worker. */
    log: blobName.nullable(),
    /** A Debian build's --twice comparison (`<log>.twice.json` there), if it made one. */
    twice: blobName.nullable().optional(),
    /** A Debian build's --autopkgtest results (`<log>.autopkgtest.json` there), if it ran the tests. */
    autopkgtest: blobName.nullable().optional(),
  }),
]);
export type EventMessage = z.infer<typeof EventMessage>;

/** A message's JSON, checked; undefined (with why) when it is not one of kiln's. */
export function parseMessage<T>(schema: z.ZodType<T>, data: string): { ok: true; value: T } | { ok: false; why: string } {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return { ok: false, why: 'not JSON' };
  }
  const r = schema.safeParse(json);
  return r.success ? { ok: true, value: r.data } : { ok: false, why: r.error.issues.map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`).join('; ') };
}

/** A --twice comparison as it travels (debian-twice.ts's TwiceResult[]), checked before it is written. */
export const WireTwice = z.array(z.object({
  deb: z.string().max(1000),
  status: z.enum(['reproducible', 'differs', 'error']),
  summary: z.string().max(100_000),
  details: z.array(z.string().max(100_000)).max(10_000),
}).strict()).max(10_000);

/** --autopkgtest's results as they travel (debian-autopkgtest.ts's AutopkgtestFile), checked before they are written. */
export const WireAutopkgtest = z.object({
  exit: z.number().int().nullable(),
  results: z.array(z.object({
    name: z.string().min(1).max(1000),
    result: z.string().max(100),
    detail: z.string().max(100_000),
  }).strict()).max(10_000),
}).strict();

/** Which job and worker a result names that does not parse as EventMessage (another kiln version's?), if it says that much (pure). */
export function unreadableResult(text: string): { jobId: string; worker: string } | undefined {
  let raw: { type?: unknown; jobId?: unknown; worker?: unknown };
  try {
    raw = JSON.parse(text) as typeof raw;
  } catch {
    return undefined;
  }
  return raw?.type === 'result' && typeof raw.jobId === 'string' ? { jobId: raw.jobId, worker: String(raw.worker ?? '?') } : undefined;
}
