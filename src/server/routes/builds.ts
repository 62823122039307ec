// /api/v1/builds: submit, list, show, cancel and retry builds. A tenant sees only its own
// builds (another tenant's build is a 404, as if it did not exist); an admin sees all.

import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { KilnError } from '../../errors.ts';
import { cancellerText, type BuildRecord, type Canceller } from '../../records/server-record-types.ts';
import { notFound, tenantScope, type ServerEnv } from '../auth.ts';
import { buildView, type ServerContext } from '../context.ts';
import { bundleNotFound } from './bundles.ts';
import { bundleDir } from '../bundles.ts';
import { BuildBodySchema, BuildListSchema, BuildSchema, CreatedSchema, ErrorSchema, IdParam, ListQuery, usageBody } from '../schemas.ts';
import type { Context } from 'hono';

const json = <T>(schema: T, description: string) => ({ content: { 'application/json': { schema } }, description });
const errors = {
  400: json(ErrorSchema, 'invalid request'),
  401: json(ErrorSchema, 'no, unknown, revoked or expired token'),
  404: json(ErrorSchema, 'no such build for this token'),
};
const security = [{ bearer: [] }];

export function visibleBuild(ctx: ServerContext, c: Context<ServerEnv>, id: string): BuildRecord {
  const b = ctx.records.getBuild(id);
  const scope = tenantScope(c);
  if (b === undefined || (scope !== undefined && b.tenant !== scope)) throw notFound(id);
  return b;
}

/** The daemon's log line of a cancel: which build, whose, by whom, and what happens to it. */
export function cancelLogLine(b: Pick<BuildRecord, 'id' | 'tenant' | 'tree'>, by: Canceller, outcome: 'cancelled' | 'cancelling'): string {
  const what = outcome === 'cancelled' ? 'it was queued: cancelled' : 'it was running: its jobs are being stopped';
  return `build ${b.id} (tenant ${b.tenant}, tree ${b.tree}) cancelled by ${cancellerText(by)}: ${what}`;
}

export function registerBuildRoutes(app: OpenAPIHono<ServerEnv>, ctx: ServerContext): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/builds',
      security,
      summary: "Queue a build of a known tree, or of one of the tenant's uploaded bundles, for the token's tenant",
      request: { body: { content: { 'application/json': { schema: BuildBodySchema } }, required: true } },
      responses: { 201: json(CreatedSchema, 'queued'), ...errors },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const tenant = c.get('auth').tenant;
      if ((body.priority ?? 0) > ctx.maxPriority && !c.get('auth').admin) {
        throw new KilnError('forbidden', `priority ${body.priority} is above what this daemon lets a tenant ask for (${ctx.maxPriority})`, {
          hint: `ask for ${ctx.maxPriority} or less; the operator sets the ceiling with kiln serve --max-priority`,
        });
      }
      let tree: string;
      if (body.bundle !== undefined) {
        if (ctx.records.getBundle(tenant, body.bundle) === undefined) throw bundleNotFound(body.bundle);
        tree = `bundle:${body.bundle}`;
        await ctx.precheck?.(bundleDir(ctx.state.root, tenant, body.bundle), body);
      } else {
        tree = body.tree ?? '';
        if (!ctx.trees.has(tree)) {
          throw new KilnError('tree-not-found', `this server knows no tree "${tree}"`, {
            hint: `known trees: ${[...ctx.trees.keys()].join(', ') || '(none: start kiln serve with --tree NAME=DIR)'}`,
          });
        }
        await ctx.precheck?.(ctx.trees.get(tree)!, body);
      }
      // Again after the precheck's await: `kiln cache gc` (another process) may have removed
      // an old bundle meanwhile; once the build is queued, gc leaves its bundle alone.
      if (body.bundle !== undefined && ctx.records.getBundle(tenant, body.bundle) === undefined) throw bundleNotFound(body.bundle);
      const b = ctx.queue.enqueue({ tenant, tree, request: body, priority: body.priority ?? 0 });
      c.header('Location', `/api/v1/builds/${b.id}`);
      // Said to the client, not only in the run's log: it asked for an env it does not get.
      const notes = ctx.hostSandbox === true && body.env !== undefined ? [`this daemon builds with --sandbox host: on its own machine as it is, not in the env "${body.env}"`] : [];
      return c.json({ id: b.id, state: b.state, ...(notes.length === 0 ? {} : { notes }) }, 201);
    },
    // An invalid body: the hint lists the fields a build request accepts.
    (result, c) => (result.success ? undefined : c.json(usageBody(result.error, BuildBodySchema), 400)),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/builds',
      security,
      summary: "The token's builds, newest first (an admin token: everyone's)",
      request: { query: ListQuery },
      responses: { 200: json(BuildListSchema, 'builds'), ...errors },
    }),
    (c) => {
      const q = c.req.valid('query');
      const builds = ctx.records.listBuilds({ tenant: tenantScope(c), state: q.state, limit: q.limit ?? 100 });
      return c.json({ builds: builds.map((b) => buildView(ctx, b)) }, 200);
    },
    // An unknown query parameter: the hint lists the accepted ones.
    (result, c) => (result.success ? undefined : c.json(usageBody(result.error, ListQuery), 400)),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/builds/{id}',
      security,
      summary: 'One build: state, run id, job counts',
      request: { params: IdParam },
      responses: { 200: json(BuildSchema, 'the build'), ...errors },
    }),
    (c) => c.json(buildView(ctx, visibleBuild(ctx, c, c.req.valid('param').id)), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/builds/{id}/cancel',
      security,
      summary: 'Cancel a queued build, or abort a running one (202: it ends cancelled shortly)',
      request: { params: IdParam },
      responses: { 200: json(BuildSchema, 'cancelled'), 202: json(BuildSchema, 'cancelling'), 409: json(ErrorSchema, 'already ended'), ...errors },
    }),
    (c) => {
      const b = visibleBuild(ctx, c, c.req.valid('param').id);
      const auth = c.get('auth');
      const by = { tenant: auth.tenant, admin: auth.admin };
      const outcome = ctx.queue.cancel(b.id, by);
      if (outcome === 'finished') {
        const now = ctx.records.getBuild(b.id) ?? b;
        throw new KilnError('build-ended', `build ${b.id} already ended (${now.state}): there is nothing to cancel`, {
          hint: `see how it ended with GET /api/v1/builds/${b.id}`,
        });
      }
      ctx.log?.(cancelLogLine(b, by, outcome));
      const now = ctx.records.getBuild(b.id)!;
      return c.json(buildView(ctx, now), outcome === 'cancelled' ? 200 : 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/builds/{id}/retry',
      security,
      summary: 'Queue a new build with the same request, to redo the failed and skipped jobs (what built is reused from the cache)',
      request: { params: IdParam },
      responses: { 201: json(CreatedSchema, 'queued'), 409: json(ErrorSchema, 'not failed or cancelled'), ...errors },
    }),
    (c) => {
      const b = visibleBuild(ctx, c, c.req.valid('param').id);
      if (b.state === 'done') {
        throw new KilnError('build-ended', `build ${b.id} already ended (done): only a failed or cancelled build can be retried`, {
          hint: 'to build it again, start a new build (POST /api/v1/builds)',
        });
      }
      if (b.state !== 'failed' && b.state !== 'cancelled') {
        throw new KilnError('build-not-ended', `build ${b.id} is ${b.state}: only a failed or cancelled build can be retried`, {
          hint: `wait for it to end, or cancel it (POST /api/v1/builds/${b.id}/cancel)`,
        });
      }
      const bundle = (b.request as { bundle?: string }).bundle;
      if (bundle !== undefined && ctx.records.getBundle(b.tenant, bundle) === undefined) throw bundleNotFound(bundle);
      // Within today's ceiling, whatever the build asked for when --max-priority was higher.
      const priority = c.get('auth').admin ? b.priority : Math.min(b.priority, ctx.maxPriority);
      const again = ctx.queue.enqueue({ tenant: b.tenant, tree: b.tree, request: b.request, priority, retryOf: b.id });
      c.header('Location', `/api/v1/builds/${again.id}`);
      return c.json({ id: again.id, state: again.state }, 201);
    },
  );
}
