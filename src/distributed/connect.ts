// One way kiln dials NATS (openCluster for coordinators, daemons and workers; `kiln
// workers`' plain question): the URL's servers and credentials, or the access files
// (nats-access.ts) instead; TLS when the URL says tls:// or a TLS file is given; refusals
// said as KilnErrors whose hint names what to fix. `wait`: a server that cannot be
// reached yet is waited for (wait-for-server.ts, `kiln worker`).

import { connect, jwtAuthenticator, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { KilnError } from '../errors.ts';
import { connectRefusal, type NatsAccess } from './nats-access.ts';
import { credentialsOf, displayUrl, serversOf } from './nats-url.ts';
import { hostPortOf, tcpReachable, waitForServer, worthWaiting } from './wait-for-server.ts';

/** Whether the server's host:port takes a TCP connection (true when it cannot be told). */
async function reachable(server: string | undefined): Promise<boolean> {
  const hp = server === undefined ? undefined : hostPortOf(server);
  return hp === undefined ? true : tcpReachable(hp.host, hp.port);
}

export interface DialOptions {
  readonly access?: NatsAccess | undefined;
  /** The connection's name on the server. */
  readonly name: string;
  /** Reconnects for ever after a loss (a long-lived connection); otherwise the client's default. */
  readonly reconnect?: boolean;
  readonly wait?: { readonly signal: AbortSignal; readonly say: (text: string) => void } | undefined;
}

export async function dialNats(given: string, o: DialOptions): Promise<NatsConnection> {
  const url = displayUrl(given);
  const access = o.access;
  // tls:// means TLS: the handshake is required (the client would otherwise talk plain text to a plain server); so does any TLS file.
  const tlsWanted = access?.tls !== undefined || serversOf(given).some((s) => /^tls:\/\//i.test(s));
  const identity = access?.identity;
  const auth = identity === undefined ? credentialsOf(given) : { authenticator: identity.kind === 'creds' ? jwtAuthenticator(identity.jwt, identity.seed) : nkeyAuthenticator(identity.seed) };
  const dial = (): Promise<NatsConnection> => connect({
    servers: serversOf(given),
    ...auth,
    ...(tlsWanted ? { tls: { ...access?.tls } } : {}),
    name: o.name,
    ...(o.reconnect === true ? { maxReconnectAttempts: -1, reconnectTimeWait: 500 } : {}),
  });
  try {
    return o.wait === undefined ? await dial() : await waitForServer(dial, {
      url, ...o.wait,
      // Over TLS a timeout is a refusal (no client certificate) only if the host answers TCP at all.
      worth: async (e) => worthWaiting(e, tlsWanted) || (tlsWanted && /^timeout$/i.test(e.message) && !(await reachable(serversOf(given)[0]))),
      reason: (e) => connectRefusal(e, access, tlsWanted).message,
      discard: (late) => late.close(),
    });
  } catch (e) {
    if (e instanceof KilnError) throw e;
    // A port that takes TCP but says nothing NATS says (an http or monitoring port): not a server that is down.
    if (!tlsWanted && /^timeout$/i.test((e as Error).message) && (await reachable(serversOf(given)[0]))) {
      throw new KilnError('server-unreachable', `NATS at ${url} did not answer: something takes TCP connections there, but does not speak NATS to kiln`, {
        hint: 'give the NATS server\'s client port (nats://HOST:4222, unless nats-server -p set another); 8222 is its http monitoring port', cause: e,
      });
    }
    const why = connectRefusal(e as Error & { code?: unknown }, access, tlsWanted);
    throw new KilnError(why.code, why.code === 'unauthorized' ? `NATS at ${url} refused kiln's credentials: ${why.message}` : `cannot reach NATS at ${url}: ${why.message}`, { hint: why.hint, cause: e });
  }
}
