// Which methods the daemon answers on a path that it has no route for with the request's
// method: a 405 with `Allow` then tells a client that used the wrong method, where a 404
// would say the endpoint does not exist.

/** A route as hono lists it (`app.routes`): middleware is method `ALL`. */
export interface RouteEntry {
  readonly method: string;
  readonly path: string;
}

/** Does a hono route path (`/api/v1/builds/:id`, `/api/*`) match PATH (pure)? */
export function routeMatches(route: string, path: string): boolean {
  const want = route.split('/');
  const got = path.split('/');
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    if (w === '*' && i === want.length - 1) return true;
    const g = got[i];
    if (g === undefined) return false;
    if (w.startsWith(':')) {
      if (g === '') return false;
      continue;
    }
    if (w !== g) return false;
  }
  return got.length === want.length;
}

/** The methods of the routes (not middleware) that match PATH, sorted, with HEAD beside GET (pure). */
export function allowedMethods(routes: readonly RouteEntry[], path: string): string[] {
  const methods = new Set<string>();
  for (const r of routes) {
    if (r.method === 'ALL' || !routeMatches(r.path, path)) continue;
    methods.add(r.method);
    if (r.method === 'GET') methods.add('HEAD');
  }
  return [...methods].sort();
}
