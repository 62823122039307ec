// The web status page's HTML routes: / (the builds) and /builds/{id} (one build), for a
// browser signed in by the session cookie (session.ts) or any client with a bearer token.
// They read what the API reads and render it on the server (builds-page.ts,
// build-page.ts); the scripts under /assets/ keep them live.

import type { Context } from 'hono';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { isKilnError } from '../../errors.ts';
import { tenantScope, type ServerEnv } from '../auth.ts';
import { buildView, treeNameOf, type ServerContext } from '../context.ts';
import { visibleBuild } from '../routes/builds.ts';
import { uploadedTreeDir } from '../runner.ts';
import { hideTreeRoot } from '../tree-root.ts';
import { buildPage } from './build-page.ts';
import { buildsPage } from './builds-page.ts';
import { errorPage } from './layout.ts';
import { pageHeaders } from './page-headers.ts';
import { hideJobPaths, jobViewOf, jobViewOfRunning, summarize, type JobView, type SampleView } from './view.ts';

export function registerWebPages(app: OpenAPIHono<ServerEnv>, ctx: ServerContext): void {
  app.get('/', pageHeaders, (c) => {
    const auth = c.get('auth');
    const builds = ctx.records.listBuilds({ tenant: tenantScope(c), limit: 200 }).map((b) => buildView(ctx, b));
    return c.html(buildsPage({ builds, tenant: auth.tenant, admin: auth.admin, now: Date.now() }).html);
  });

  app.get('/builds/:id', pageHeaders, (c) => {
    const auth = c.get('auth');
    let b;
    try {
      b = visibleBuild(ctx, c, c.req.param('id'));
    } catch (e) {
      if (!isKilnError(e)) throw e;
      return notFoundPage(c, e.message, e.hint);
    }
    const now = Date.now();
    const active = ctx.queue.getActive(b.id);
    const runId = b.runId ?? active?.runId ?? null;
    const jobs = new Map<string, JobView>();
    const samples = new Map<string, SampleView>();
    let slots = Math.max(1, Math.floor(ctx.queue.slots / ctx.queue.maxConcurrent));
    let total: number | null = null;
    // An uploaded tree's folder on the daemon is `{tree}` in causes, as in GET /jobs and report.json.
    const hide = treeHider(ctx, b);
    if (runId !== null) {
      for (const j of ctx.runs.jobsOfRun(runId)) {
        // The records lag the queue by a few ms: a job the queue no longer runs is not shown running.
        if (j.state === 'running' && active !== undefined && active.runId === runId && !active.runningJobs.has(j.jobId)) continue;
        const phase = active !== undefined && active.runId === runId ? (active.phases.get(j.jobId) ?? null) : null;
        jobs.set(j.jobId, hideJobPaths(jobViewOf(b.id, j, phase), hide));
      }
      if (active !== undefined && active.runId === runId) {
        for (const r of active.runningJobs.values()) if (!jobs.has(r.jobId)) jobs.set(r.jobId, jobViewOfRunning(b.id, r, active.phases.get(r.jobId) ?? null));
      }
      for (const [jobId, s] of ctx.records.latestSamples(runId)) {
        if (jobs.get(jobId)?.state === 'running') samples.set(jobId, { jobId, cpuCores: s.cpuCores, memoryBytes: s.memoryBytes, diskBytes: s.diskBytes, at: s.at });
      }
      const run = ctx.runs.getRun(runId);
      total = run?.total ?? null;
      slots = run?.maxJobs ?? slots;
    }
    const summary = summarize({ build: { ...b, treeName: treeNameOf(b) }, jobs: jobs.values(), total, slots, expectedMs: b.state === 'running' ? ctx.runs.learnedDurations() : undefined, now });
    return c.html(buildPage({ summary, jobs: [...jobs.values()], samples, tenant: auth.tenant, admin: auth.admin, now }).html);
  });
}

/** Rewrites the daemon's copy of an uploaded tree as `{tree}` (tree-root.ts); undefined for a named tree. */
export function treeHider(ctx: ServerContext, b: Parameters<typeof uploadedTreeDir>[0]): ((text: string) => string) | undefined {
  const dir = uploadedTreeDir(b, ctx.state.root);
  return dir === undefined ? undefined : (text) => hideTreeRoot(text, dir);
}

function notFoundPage(c: Context<ServerEnv>, message: string, hint: string | undefined): Response {
  return c.html(errorPage({ status: 404, message, hint: hint === undefined ? undefined : hint.replace('GET /api/v1/builds', 'the list at /'), tenant: c.get('auth').tenant }).html, 404);
}
