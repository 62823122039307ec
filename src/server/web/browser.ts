// What the daemon answers a browser that navigates to it (a typed URL, a link, the report
// URL `kiln build --server` prints) where an API client gets JSON: an HTML error page
// (404 for a path that is no page or endpoint, a build that is not there), and for a
// signed-out browser the sign-in form, then back (session.ts). A browser's navigation
// asks for text/html; API clients (curl, fetch, the CLI: no text/html in Accept) and any
// request with an Authorization header keep JSON.

import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ServerEnv } from '../auth.ts';
import type { TokenRecord } from '../../records/server-record-types.ts';
import { errorPage } from './layout.ts';
import { pageHeaders } from './page-headers.ts';

/** A GET or HEAD whose Accept names text/html and that carries no Authorization header (pure). */
export function isBrowserNavigation(method: string, accept: string | undefined, authorization: string | undefined): boolean {
  return (method === 'GET' || method === 'HEAD') && authorization === undefined && /\btext\/html\b/i.test(accept ?? '');
}

export function fromBrowser(c: Context): boolean {
  return isBrowserNavigation(c.req.method, c.req.header('accept'), c.req.header('authorization'));
}

/** An error as the web page's HTML error page, with the pages' security headers. */
export async function htmlErrorResponse(c: Context<ServerEnv>, status: ContentfulStatusCode, message: string, hint: string | undefined): Promise<Response> {
  const tenant = (c.get('auth') as TokenRecord | undefined)?.tenant;
  await pageHeaders(c, async () => {
    c.res = c.html(errorPage({ status, message, hint, tenant }).html, status);
  });
  return c.res;
}
