// Bearer-token authentication. Tokens are created by `kiln token create` and stored only
// as their sha256 (server-records.ts); each request looks its token up, so a revoke from
// the CLI takes effect on the next request without restarting the server.

import type { Context, MiddlewareHandler } from 'hono';
import { KilnError } from '../errors.ts';
import type { ServerRecords } from '../records/server-records.ts';
import type { TokenRecord } from '../records/server-record-types.ts';

export interface ServerEnv {
  Variables: { auth: TokenRecord };
}

/** Paths served without a token: liveness, and the public API description and its viewer. */
export function isPublicPath(path: string): boolean {
  return path === '/healthz' || path === '/api/v1/openapi.json' || path === '/api/v1/docs' || path.startsWith('/api/v1/docs/');
}

/**
 * `isKnownPath`: does any route answer this path (whatever the method)? A path none does
 * is passed on without a token check, to be a 404 `not-found` whatever the auth: a 401
 * there would say an endpoint exists that needs a token.
 */
export function bearerAuth(records: ServerRecords, isKnownPath: (path: string) => boolean = () => true): MiddlewareHandler<ServerEnv> {
  return async (c, next) => {
    if (isPublicPath(c.req.path) || !isKnownPath(c.req.path)) return next();
    // Already signed in by the web page's session cookie (web/session.ts: GET/HEAD only).
    if ((c.get('auth') as TokenRecord | undefined) !== undefined) return next();
    const header = c.req.header('authorization');
    const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m === null) {
      c.header('WWW-Authenticate', 'Bearer realm="kiln"');
      return c.json({ error: { code: 'unauthorized', message: 'this endpoint needs a bearer token (Authorization: Bearer TOKEN)', hint: 'create one with `kiln token create TENANT`' } }, 401);
    }
    const token = records.tokenFor(m[1]!);
    if (token === undefined) {
      c.header('WWW-Authenticate', 'Bearer realm="kiln", error="invalid_token"');
      const dead = records.deadToken(m[1]!);
      const what = dead === undefined ? 'the bearer token is unknown to this server' : `the bearer token ${dead.why === 'revoked' ? 'was revoked' : 'expired'} at ${new Date(dead.at).toISOString()}`;
      return c.json({ error: { code: 'unauthorized', message: what, hint: 'ask the operator for a new one (`kiln token create TENANT`)' } }, 401);
    }
    c.set('auth', token);
    return next();
  };
}

/** The tenant whose builds this request may see; undefined for an admin (all of them). */
export function tenantScope(c: Context<ServerEnv>): string | undefined {
  const auth = c.get('auth');
  return auth.admin ? undefined : auth.tenant;
}

/** 403 unless the token is an admin token. */
export function requireAdmin(c: Context<ServerEnv>): Response | undefined {
  if (c.get('auth').admin) return undefined;
  return c.json({ error: { code: 'forbidden', message: `${c.req.path} needs an admin token`, hint: 'create one with `kiln token create NAME --admin`' } }, 403);
}

/** A build the caller may see, else a 404 that does not tell other tenants' builds from missing ones. */
export function notFound(id: string): KilnError {
  return new KilnError('run-not-found', `no build "${id}" for this token`, { hint: 'list your builds with GET /api/v1/builds' });
}
