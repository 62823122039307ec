// GET /api/v1/builds/{id}/events: a build's live state as server-sent events (see
// build-feed.ts for the messages), authenticated like the rest of the API; the build
// page's script listens to it. The stream ends with an `end` event once the build ends.

import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import type { ServerEnv } from '../auth.ts';
import type { ServerContext } from '../context.ts';
import { visibleBuild } from '../routes/builds.ts';
import { ErrorSchema, IdParam } from '../schemas.ts';
import { followBuild } from './build-feed.ts';

/** A comment line this often keeps idle connections (a queued build) open through proxies. */
const KEEPALIVE_MS = 15_000;

export function registerBuildEventsRoute(app: OpenAPIHono<ServerEnv>, ctx: ServerContext): void {
  // Registered for the document only: the handler below answers in SSE.
  app.openAPIRegistry.registerPath(
    createRoute({
      method: 'get',
      path: '/api/v1/builds/{id}/events',
      security: [{ bearer: [] }],
      summary: "A build's live state as server-sent events: snapshot, then job, sample and build updates, then end",
      request: { params: IdParam },
      responses: {
        200: {
          content: { 'text/event-stream': { schema: z.string() } },
          description:
            '`snapshot` {build, jobs, samples} first (again when the build starts a new run); `job` (a job view), `sample` ' +
            '(cpu cores, memory and disk bytes of a running job), `build` (state, totals, ETA); `end` once the build has ended. Data is JSON.',
        },
        404: { content: { 'application/json': { schema: ErrorSchema } }, description: 'no such build for this token' },
      },
    }),
  );

  app.get('/api/v1/builds/:id/events', (c) => {
    const b = visibleBuild(ctx, c, c.req.param('id'));
    c.header('Cache-Control', 'no-store');
    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      const controller = new AbortController();
      stream.onAbort(() => controller.abort());
      let last = Date.now();
      const keepalive = setInterval(() => {
        if (Date.now() - last >= KEEPALIVE_MS) void stream.write(': keepalive\n\n');
      }, KEEPALIVE_MS);
      try {
        for await (const m of followBuild(ctx, b.id, { signal: controller.signal })) {
          await stream.writeSSE({ event: m.event, data: JSON.stringify(m.data) });
          last = Date.now();
        }
      } finally {
        clearInterval(keepalive);
      }
    });
  });
}
