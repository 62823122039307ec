// The messages between `kiln build --nats` (the coordinator) and `kiln worker`, checked
// with zod on the way in: a job to build (on kiln.jobs.<arch>), and what a worker says of
// it (on kiln.events.<run>): that it took it, and its result.

import { z } from 'zod';
import type { Job, JobOutcome } from '../plan/job.ts';

const blobName = z.string().regex(/^sha256-[0-9a-f]{64}$/);

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
  jobId: z.string().min(1).max(300),
  /** The job as the coordinator planned it; its spec's folder is the `tree` blob, unpacked. */
  job: z.custom<Job>((j) => typeof j === 'object' && j !== null && typeof (j as Job).id === 'string' && typeof (j as Job).spec?.name === 'string' && typeof (j as Job).spec?.build?.script === 'string'),
  /** The full input key the coordinator expects (the worker computes it again and compares). */
  key: z.string().min(3),
  /** A tar of the package's folder (the recipe and the files it references). */
  tree: blobName,
  /** Resolved mirrors (mirror://NAME/… URLs), as the coordinator resolved them. */
  mirrors: z.record(z.string(), z.string()),
  /** The artifacts the job stages, by job id. */
  deps: z.array(z.object({ id: z.string(), key: z.string(), outputHash: z.string(), artifact: WireArtifact })),
  options: z.object({
    logLimit: z.number().int().nonnegative().optional(),
    maxTimeoutMs: z.number().int().positive().optional(),
    sourceDateEpoch: z.number().int(),
    profiles: z.array(z.string()),
    warningsFail: z.boolean(),
  }),
});
export type JobMessage = z.infer<typeof JobMessage>;

/** What a result carries of the outcome (paths are the worker's: not sent). */
export type WireOutcome = Omit<JobOutcome, 'artifact' | 'log' | 'keptWorkspace'>;

export const EventMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('claimed'), jobId: z.string(), attempt: z.number().int().positive(), worker: z.string(), at: z.number() }),
  z.object({
    type: z.literal('result'),
    jobId: z.string(),
    attempt: z.number().int().positive(),
    worker: z.string(),
    outcome: z.custom<WireOutcome>((o) => typeof o === 'object' && o !== null && typeof (o as WireOutcome).state === 'string' && typeof (o as WireOutcome).key === 'string'),
    artifact: WireArtifact.nullable(),
    /** The job's log on the worker. */
    log: blobName.nullable(),
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
