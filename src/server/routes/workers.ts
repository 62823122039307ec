// GET /api/v1/workers: the `kiln worker`s that answer on the NATS server of a daemon started
// with --nats (distributed/worker-status.ts, as `kiln workers` asks them). An admin sees
// everything; a tenant sees which queues are served and how busy the workers are, but of
// the jobs they build (and hold for room) only its own builds', and neither their hosts
// nor their paths.

import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { errorBody, KilnError } from '../../errors.ts';
import type { WorkerStatus } from '../../distributed/worker-status.ts';
import { tenantScope, type ServerEnv } from '../auth.ts';
import type { ServerContext } from '../context.ts';

const WorkerView = z.object({
  name: z.string(),
  host: z.string().nullable().openapi({ description: 'its machine (admins only)' }),
  version: z.string().openapi({ description: "kiln's version on the worker" }),
  startedAt: z.string(),
  serves: z.array(z.object({ arch: z.string(), envId: z.string() })).openapi({ description: 'the queues it takes jobs from: a job goes only to a worker of its arch and env' }),
  sandbox: z.string(),
  jobs: z.number().openapi({ description: 'jobs at once (its --jobs)' }),
  busy: z.number().openapi({ description: 'jobs it builds now, of every tenant' }),
  running: z.array(z.object({ buildId: z.string().nullable(), runId: z.string(), jobId: z.string(), attempt: z.number(), since: z.string() })).openapi({ description: "the jobs it builds now that the caller may see (a tenant: its own builds')" }),
  disk: z.object({ freeBytes: z.number(), minFreeBytes: z.number(), low: z.boolean(), path: z.string().nullable() }).nullable(),
  capacity: z.object({
    cpus: z.object({ reserved: z.number(), total: z.number() }),
    memory: z.object({ reservedBytes: z.number(), totalBytes: z.number() }),
    held: z.number().openapi({ description: 'jobs it took that wait until its running jobs leave room for them, of every tenant (it takes no other job meanwhile)' }),
    heldJobs: z.array(z.object({ buildId: z.string().nullable(), runId: z.string(), jobId: z.string(), cpus: z.number(), memoryBytes: z.number(), since: z.string() })).openapi({ description: "those jobs that the caller may see (a tenant: its own builds'), with what each reserves" }),
  }).nullable().openapi({ description: 'what its running jobs reserve of its cpus (cores plus --overcommit-cpus) and memory; null from a worker of a kiln that does not say' }),
});
export const WorkersSchema = z.object({ workers: z.array(WorkerView) }).openapi('Workers');

export function registerWorkerRoutes(app: OpenAPIHono<ServerEnv>, ctx: ServerContext): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/workers',
      security: [{ bearer: [] }],
      summary: 'The kiln workers that answer on the NATS server of a daemon started with --nats',
      responses: {
        200: { content: { 'application/json': { schema: WorkersSchema } }, description: 'the workers that answered within a second' },
        404: { description: 'the daemon builds on its own machine (no --nats): it has no workers' },
      },
    }),
    async (c) => {
      if (ctx.workers === undefined) {
        return c.json(errorBody(new KilnError('not-found', 'this daemon builds on its own machine: it has no workers', { hint: 'start it with kiln serve --nats URL to hand the jobs to `kiln worker`s (docs/operations.md, "Many machines"); GET /api/v1/builder shows this machine' })), 404) as never;
      }
      const scope = tenantScope(c);
      // Runs of builds running here, by run id, and whose they are.
      const runs = new Map(ctx.queue.active().filter((a) => a.runId !== undefined).map((a) => [a.runId!, { buildId: a.id, tenant: a.tenant }]));
      const statuses = await ctx.workers();
      return c.json({ workers: statuses.map((s) => workerView(s, scope, runs)) }, 200);
    },
  );
}

/** A worker as the caller may see it (pure): `scope` a tenant, undefined an admin. */
export function workerView(s: WorkerStatus, scope: string | undefined, runs: ReadonlyMap<string, { buildId: string; tenant: string }>) {
  const admin = scope === undefined;
  return {
    name: s.name,
    host: admin ? s.host : null,
    version: s.version,
    startedAt: new Date(s.startedAt).toISOString(),
    serves: s.archs.map((a) => ({ arch: a.arch, envId: a.envId })),
    sandbox: s.sandbox,
    jobs: s.jobs,
    busy: s.running.length,
    running: s.running
      .filter((r) => admin || runs.get(r.runId)?.tenant === scope)
      .map((r) => ({ buildId: runs.get(r.runId)?.buildId ?? null, runId: r.runId, jobId: r.jobId, attempt: r.attempt, since: new Date(r.since).toISOString() })),
    disk: s.disk === null ? null : { freeBytes: s.disk.free, minFreeBytes: s.disk.minFree, low: s.disk.low, path: admin ? s.disk.where : null },
    capacity: s.capacity === undefined ? null : {
      cpus: { reserved: s.capacity.cpus.reserved, total: s.capacity.cpus.total },
      memory: { reservedBytes: s.capacity.memory.reserved, totalBytes: s.capacity.memory.total },
      held: s.capacity.held.length,
      heldJobs: s.capacity.held
        .filter((h) => admin || runs.get(h.runId)?.tenant === scope)
        .map((h) => ({ buildId: runs.get(h.runId)?.buildId ?? null, runId: h.runId, jobId: h.jobId, cpus: h.cpus, memoryBytes: h.memoryBytes, since: new Date(h.since).toISOString() })),
    },
  };
}
