// Bearer-token authentication. Tokens are created by `kiln token create` and stored only
// as their sha256 (server-records.ts); each request looks its token up, so a revoke from
// the CLI takes effect on the next request without restarting the server. A read-only
// token (`kiln token create --read-only`) may look but change nothing: readOnlyRefusal is
// the one check of that, made here for every request a token signs in.

import type { Context, MiddlewareHandler } from 'hono';
import { errorBody, KilnError } from '../errors.ts';
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
 * `allowedOn`: the methods the routes answer on this path (allowed-methods.ts; undefined:
 * every path takes every method). A path none answers is passed on without a token check,
 * to be a 404 `not-found` whatever the auth: a 401 there would say an endpoint exists that
 * needs a token. A method the path does not take is a 405 for every token, read-only or not.
 */
export function bearerAuth(records: ServerRecords, allowedOn?: (path: string) => readonly string[]): MiddlewareHandler<ServerEnv> {
  return async (c, next) => {
    const allowed = allowedOn?.(c.req.path);
    if (isPublicPath(c.req.path) || allowed?.length === 0) return next();
    // Already signed in by the web page's session cookie (web/session.ts: GET/HEAD only).
    const session = c.get('auth') as TokenRecord | undefined;
    if (session !== undefined) return refuseOrNext(c, session, allowed, next);
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
    return refuseOrNext(c, token, allowed, next);
  };
}

/** The methods a read-only token may use: they only look. */
export const READ_ONLY_METHODS: readonly string[] = ['GET', 'HEAD'];

/**
 * Why `token` may not make this request, else undefined: a read-only token asking for
 * anything but GET or HEAD. Every POST, PUT and DELETE of the API changes something (a
 * build queued, cancelled or retried, a bundle stored or removed); none is let through.
 * The web page's /login and /logout are answered before the token check (web/session.ts),
 * so a read-only token signs in and out like any other.
 */
export function readOnlyRefusal(token: Pick<TokenRecord, 'readOnly' | 'id'>, method: string, path: string): KilnError | undefined {
  if (!token.readOnly || READ_ONLY_METHODS.includes(method.toUpperCase())) return undefined;
  return new KilnError('forbidden', `${method} ${path}: token ${token.id} is read-only: it may look (GET, HEAD) but not change anything`, {
    hint: 'to submit, cancel or retry builds or upload bundles, create a token without --read-only (`kiln token create TENANT`)',
  });
}

/** A read-only token's 403, on a method the path takes (any other is the 405 that follows for every token). */
function refuseOrNext(c: Context<ServerEnv>, token: TokenRecord, allowed: readonly string[] | undefined, next: () => Promise<void>): Promise<void> | Response {
  if (allowed !== undefined && !allowed.includes(c.req.method)) return next();
  const refused = readOnlyRefusal(token, c.req.method, c.req.path);
  return refused === undefined ? next() : c.json(errorBody(refused), 403);
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
