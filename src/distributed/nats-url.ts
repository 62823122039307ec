// A NATS URL as kiln shows it and as the client is given it: credentials out of it. Light
// (no NATS client): the CLI and the daemon read it on every --nats run. And what a worker's
// name may be, which the CLI checks as it starts.

/** A worker's name (kiln worker --name): printed in logs, notes and `kiln status`, so no control characters. */
export const WORKER_NAME_RE = /^[^\u0000-\u001f\u007f]{1,200}$/;

/** A server address's scheme (optional) and its user and password or token: up to the last @ before the path, as a URL parser reads it. */
const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)?([^/]*)@/i;

/** The URL as it may be shown (in logs, notes, errors): without a user or password in it (each of a comma-separated list, with or without its scheme). */
export function displayUrl(url: string): string {
  return url.split(',').map((u) => u.trim().replace(USERINFO, '$1')).join(',');
}

/** One server address as an error may show it, with or without a scheme: its user and password (or token) as `…@` (pure). */
export function hideUserinfo(server: string): string {
  return server.replace(USERINFO, '$1…@');
}

/** The servers of a URL (or of a comma-separated list of them), without credentials, for the client. */
export function serversOf(url: string): string[] {
  return displayUrl(url).split(',').filter((u) => u !== '');
}

/**
 * The credentials of a NATS URL as the client takes them (it does not read them from the
 * URL): `nats://USER:PASSWORD@HOST` a user and password, `nats://TOKEN@HOST` a token,
 * percent-decoded (pure).
 */
export function credentialsOf(url: string): { user: string; pass: string } | { token: string } | Record<string, never> {
  // The first server's (a list gives all its servers one user); up to the last @ before the path, as a URL parser does.
  const info = USERINFO.exec(url.split(',')[0]!.trim())?.[2];
  if (info === undefined || info === '') return {};
  const decode = (x: string): string => {
    try {
      return decodeURIComponent(x);
    } catch {
      return x;
    }
  };
  const colon = info.indexOf(':');
  return colon === -1 ? { token: decode(info) } : { user: decode(info.slice(0, colon)), pass: decode(info.slice(colon + 1)) };
}
