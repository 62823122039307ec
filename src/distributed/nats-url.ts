// A NATS URL as kiln shows it and as the client is given it: credentials out of it. Light
// (no NATS client): the CLI and the daemon read it on every --nats run.

/** The URL as it may be shown (in logs, notes, errors): without a user or password in it. */
export function displayUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1');
}

/**
 * The credentials of a NATS URL as the client takes them (it does not read them from the
 * URL): `nats://USER:PASSWORD@HOST` a user and password, `nats://TOKEN@HOST` a token,
 * percent-decoded (pure).
 */
export function credentialsOf(url: string): { user: string; pass: string } | { token: string } | Record<string, never> {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^@/]*)@/i.exec(url);
  if (m === null || m[1] === '') return {};
  const decode = (x: string): string => {
    try {
      return decodeURIComponent(x);
    } catch {
      return x;
    }
  };
  const colon = m[1]!.indexOf(':');
  return colon === -1 ? { token: decode(m[1]!) } : { user: decode(m[1]!.slice(0, colon)), pass: decode(m[1]!.slice(colon + 1)) };
}
