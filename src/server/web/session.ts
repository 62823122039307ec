// How a browser signs in to the web status page with the existing bearer tokens. The
// token is typed once into the form at /login and POSTed; the server checks it and starts
// a session: the cookie holds a random session secret, not the token (the records keep
// only its sha256), and the session ends after 12 hours on the server's clock whatever
// the browser does with the cookie. The cookie is HttpOnly (the page's scripts, and so
// any injected script, cannot read it), SameSite=Strict (no other site can make the
// browser send it), Path=/, Secure when served over https. The token never appears in a URL.
//
// The cookie authenticates only GET and HEAD requests that carry no Authorization header:
// the pages, their event stream and the logs they follow. Anything that changes state
// (cancel, retry, new builds) still needs `Authorization: Bearer`, so the cookie cannot be
// used for a cross-site write even where SameSite is not enforced. /login and /logout
// refuse cross-origin form posts (hono's csrf middleware); /logout ends the session on the
// server. The session and its token are looked up on every request, so `kiln token
// revoke` (or the token expiring) ends a browser session at once.

import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ServerRecords } from '../../records/server-records.ts';
import type { TokenRecord } from '../../records/server-record-types.ts';
import type { ServerEnv } from '../auth.ts';
import { fromBrowser } from './browser.ts';
import { loginPage } from './layout.ts';
import { pageHeaders } from './page-headers.ts';

export const SESSION_COOKIE = 'kiln_session';
export const SESSION_MAX_AGE_S = 12 * 3600;

/** Paths that are pages: without a session they redirect to /login rather than answer 401. */
export function isPagePath(path: string): boolean {
  return path === '/' || /^\/builds\/[^/]+\/?$/.test(path);
}

/**
 * API paths a browser is sent to (the report URL `kiln build --server` prints, the page's
 * log links, report.json and junit.xml beside the report, an artifact): opened in a
 * browser (browser.ts fromBrowser) without a session, they too go to the form and back.
 */
export function isBrowsablePath(path: string): boolean {
  return /^\/api\/v1\/builds\/[^/]+\/(report\.html|report\.json|junit\.xml|jobs\/[^/]+\/(log|artifact))$/.test(path);
}

/**
 * Where to go after signing in: a path on this site, else "/". Refuses absolute URLs,
 * protocol-relative ones ("//evil", "/\\evil") and control characters (open redirect).
 */
export function safeNext(next: string | undefined): string {
  if (next === undefined || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  if (/[\u0000-\u001f\u007f\\]/.test(next)) return '/';
  return next;
}

function isReadOnly(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

function authorizedBy(c: Context<ServerEnv>): TokenRecord | undefined {
  return c.get('auth') as TokenRecord | undefined;
}

/**
 * Before bearerAuth: a GET/HEAD without an Authorization header is signed in by a valid
 * session cookie; a page requested without either is sent to the login form.
 */
export function sessionAuth(records: ServerRecords): MiddlewareHandler<ServerEnv> {
  return async (c, next) => {
    if (isReadOnly(c.req.method) && c.req.header('authorization') === undefined) {
      const value = getCookie(c, SESSION_COOKIE);
      const token = value === undefined || value === '' ? undefined : records.sessionToken(value);
      if (token !== undefined) c.set('auth', token);
      else if (isPagePath(c.req.path) || (isBrowsablePath(c.req.path) && fromBrowser(c))) {
        const target = new URL(c.req.url);
        return c.redirect(`/login?next=${encodeURIComponent(target.pathname + target.search)}`, 303);
      }
    }
    return next();
  };
}

function secure(c: Context): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
}

/** GET/POST /login and POST /logout; registered before bearerAuth (they need no token). */
export function registerSessionRoutes(app: OpenAPIHono<ServerEnv>, records: ServerRecords): void {
  app.get('/login', pageHeaders, (c) => {
    if (authorizedBy(c) !== undefined) return c.redirect(safeNext(c.req.query('next')), 303);
    return c.html(loginPage({ next: safeNext(c.req.query('next')) }).html);
  });

  app.post('/login', pageHeaders, csrf(), bodyLimit({ maxSize: 4096, onError: (c) => c.text('the sign-in form is too large', 413) }), async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(typeof form['next'] === 'string' ? form['next'] : undefined);
    const value = typeof form['token'] === 'string' ? form['token'].trim() : '';
    const token = value === '' ? undefined : records.tokenFor(value);
    if (token === undefined) {
      return c.html(loginPage({ next, error: 'That token is unknown, revoked or expired. Ask the operator for one (kiln token create TENANT).' }).html, 401);
    }
    const session = records.createSession(token.id, SESSION_MAX_AGE_S * 1000);
    setCookie(c, SESSION_COOKIE, session, { httpOnly: true, sameSite: 'Strict', path: '/', secure: secure(c), maxAge: SESSION_MAX_AGE_S });
    return c.redirect(next, 303);
  });

  app.post('/logout', pageHeaders, csrf(), (c) => {
    const value = getCookie(c, SESSION_COOKIE);
    if (value !== undefined && value !== '') records.endSession(value);
    deleteCookie(c, SESSION_COOKIE, { path: '/', secure: secure(c) });
    return c.redirect('/login', 303);
  });
}
