// The live web status page (issue 5 §4), wired into the daemon's app in two steps:
//
//   registerWebSession(app, ctx)  before bearerAuth: the session cookie (session.ts),
//                                 /login, /logout and the static /assets/, which need no token;
//   registerWebRoutes(app, ctx)   after it: the pages / and /builds/{id} (pages.ts) and the
//                                 build event stream /api/v1/builds/{id}/events (events-route.ts).
//
// Pages are rendered on the server with everything escaped (html.ts); two small plain
// scripts (assets/) keep them live from server-sent events. No front-end build step.

import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ServerEnv } from '../auth.ts';
import type { ServerContext } from '../context.ts';
import { registerAssetRoutes } from './assets.ts';
import { registerBuildEventsRoute } from './events-route.ts';
import { registerWebPages } from './pages.ts';
import { registerSessionRoutes, sessionAuth } from './session.ts';

export function registerWebSession(app: OpenAPIHono<ServerEnv>, ctx: ServerContext): void {
  app.use('*', sessionAuth(ctx.records));
  registerSessionRoutes(app, ctx.records);
  registerAssetRoutes(app);
}

export function registerWebRoutes(app: OpenAPIHono<ServerEnv>, ctx: ServerContext): void {
  registerWebPages(app, ctx);
  registerBuildEventsRoute(app, ctx);
}
