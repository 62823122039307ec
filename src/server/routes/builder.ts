// The machine: GET /healthz (no token), GET /api/v1/builder (slots, running jobs with their
// latest cpu/memory/disk sample, load, memory, free disk) and Prometheus metrics at /metrics (admin token).

import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { statfs } from 'node:fs/promises';
import { availableParallelism, freemem, loadavg, totalmem } from 'node:os';
import { requireAdmin, tenantScope, type ServerEnv } from '../auth.ts';
import { lowSpaceProblem, type ServerContext } from '../context.ts';
import { BuilderSchema } from '../schemas.ts';

export function registerBuilderRoutes(app: OpenAPIHono<ServerEnv>, ctx: ServerContext): void {
  // A builder whose disk is below --min-free takes builds but starts none: not healthy.
  app.get('/healthz', (c) => {
    // Draining (--on-stop drain): still answering, but taking no work.
    if (ctx.queue.stopping) return c.json({ ok: false, problems: ['stopping: the daemon takes no new builds and is finishing the running ones'] }, 503);
    const low = ctx.queue.lowSpace();
    if (low === undefined) return c.json({ ok: true });
    // No host path here: /healthz needs no token.
    return c.json({ ok: false, problems: [`${lowSpaceProblem(low)}: queued builds wait (kiln cache gc frees space)`] }, 503);
  });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/builder',
      security: [{ bearer: [] }],
      summary: "The builder's slots, running jobs (a tenant sees its own), load, memory and free disk of the state dir",
      responses: { 200: { content: { 'application/json': { schema: BuilderSchema } }, description: 'the builder' } },
    }),
    async (c) => {
      const scope = tenantScope(c);
      const now = Date.now();
      const fs = await statfs(ctx.state.root);
      const active = ctx.queue.active();
      const runningJobs = active
        .filter((a) => scope === undefined || a.tenant === scope)
        .flatMap((a) => [...a.runningJobs.values()].map((j) => ({ j, s: a.samples.get(j.jobId) })))
        .map(({ j, s }) => ({
          buildId: j.buildId,
          jobId: j.jobId,
          name: j.name,
          arch: j.arch,
          startedAt: new Date(j.startedAt).toISOString(),
          elapsedMs: now - j.startedAt,
          sample: s === undefined ? null : { at: new Date(s.at).toISOString(), cpuCores: s.cpuCores, memoryBytes: s.memoryBytes, diskBytes: s.diskBytes },
        }));
      return c.json(
        {
          slots: ctx.queue.slots,
          maxConcurrentBuilds: ctx.queue.maxConcurrent,
          activeBuilds: active.length,
          queued: ctx.queue.queueLength(),
          runningJobs,
          load: loadavg(),
          cpus: availableParallelism(),
          memory: { totalBytes: totalmem(), freeBytes: freemem() },
          // The daemon's paths are the operator's business: an admin sees where, a tenant how much.
          disk: { ...(scope === undefined ? { path: ctx.state.root } : {}), freeBytes: fs.bavail * fs.bsize, totalBytes: fs.blocks * fs.bsize },
        },
        200,
      );
    },
  );

  app.get('/metrics', async (c) => {
    const denied = requireAdmin(c);
    if (denied !== undefined) return denied;
    const byState = ctx.records.countsByState();
    const fs = await statfs(ctx.state.root).catch(() => undefined);
    const active = ctx.queue.active();
    const jobsRunning = active.reduce((n, a) => n + a.runningJobs.size, 0);
    const lines = [
      '# HELP kiln_builds Builds in the queue database, by state.',
      '# TYPE kiln_builds gauge',
      ...Object.entries(byState).map(([s, n]) => `kiln_builds{state="${s}"} ${n}`),
      '# HELP kiln_jobs_running Jobs running now.',
      '# TYPE kiln_jobs_running gauge',
      `kiln_jobs_running ${jobsRunning}`,
      '# HELP kiln_queue_length Builds waiting to start.',
      '# TYPE kiln_queue_length gauge',
      `kiln_queue_length ${byState.queued}`,
      '# HELP kiln_builds_active Builds running in this server.',
      '# TYPE kiln_builds_active gauge',
      `kiln_builds_active ${active.length}`,
      '# HELP kiln_max_concurrent_builds Builds of different tenants allowed at once.',
      '# TYPE kiln_max_concurrent_builds gauge',
      `kiln_max_concurrent_builds ${ctx.queue.maxConcurrent}`,
      '# HELP kiln_job_slots Job slots of this builder.',
      '# TYPE kiln_job_slots gauge',
      `kiln_job_slots ${ctx.queue.slots}`,
      '# HELP kiln_state_free_bytes Free bytes on the disk of the state directory (workspaces, cache, logs).',
      '# TYPE kiln_state_free_bytes gauge',
      ...(fs === undefined ? [] : [`kiln_state_free_bytes ${fs.bavail * fs.bsize}`]),
      '# HELP kiln_low_space 1 while the free-space guard (--min-free) holds builds back.',
      '# TYPE kiln_low_space gauge',
      `kiln_low_space ${ctx.queue.lowSpace() === undefined ? 0 : 1}`,
      '',
    ];
    return c.text(lines.join('\n'), 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
}
