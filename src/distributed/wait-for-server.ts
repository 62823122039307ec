// `kiln worker` started before its NATS server answers (the machine is booting, the
// worker's service starts before nats-server, DNS does not resolve yet): it waits for the
// server, trying again with a backoff, instead of exiting (docs/operations.md, "Many
// machines"). Only a server that cannot be reached is waited for: one that answers and
// refuses (credentials, TLS, no JetStream) will not change its mind, and the worker exits.
// `kiln build --nats` and `kiln serve --nats` do not wait. Light: no NATS client here.

import { setTimeout as sleep } from 'node:timers/promises';
import { KilnError } from '../errors.ts';

/** The first wait between tries; each next one is twice as long, up to MAX_RETRY_MS. */
export const FIRST_RETRY_MS = 1_000;
export const MAX_RETRY_MS = 30_000;
/** Every how many tries a wait that goes on is said again (about every 5 minutes at MAX_RETRY_MS). */
const REMIND_EVERY = 10;

/** What the network (not the server) says when nothing answers at the address: worth trying again. */
const UNREACHABLE_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'ETIMEDOUT']);

/**
 * Whether a failed connect is worth waiting out (pure): nothing listens at the address yet,
 * its name does not resolve yet, the network is not up, or (without TLS) the connect timed
 * out. Everything else is an answer: credentials refused, a TLS handshake that failed or
 * a certificate not trusted (which will not fix itself), a TLS timeout (a server that drops
 * a client without the certificate it asks for, as connectRefusal in nats-access.ts reads it).
 */
export function worthWaiting(e: { message: string; code?: unknown; cause?: unknown }, tlsWanted: boolean): boolean {
  const cause = e.cause as { code?: unknown } | undefined;
  const codes = [e.code, cause?.code].filter((c): c is string => typeof c === 'string');
  if (codes.some((c) => UNREACHABLE_CODES.has(c))) return true;
  if (/^connection refused$/i.test(e.message)) return true;
  return !tlsWanted && /^timeout$/i.test(e.message);
}

/** The wait before try `n` + 1 (n from 1): 1 s, 2 s, 4 s … then 30 s each (pure). */
export function retryDelayMs(n: number): number {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(Math.max(n - 1, 0), 16));
}

export interface WaitOptions<T> {
  /** How the server is named to the user (without credentials). */
  readonly url: string;
  /** Aborted (SIGINT, SIGTERM): the wait ends at once with KilnError 'cancelled'. */
  readonly signal: AbortSignal;
  readonly say: (text: string) => void;
  /** Whether a failed try is worth waiting out; a failure that is not is thrown as it is. */
  readonly worth: (e: Error) => boolean | Promise<boolean>;
  /** The reason of a failed try, as the user reads it. */
  readonly reason: (e: Error) => string;
  /** What to do with a connection made after the wait was given up. */
  readonly discard?: (value: T) => unknown;
  readonly delayMs?: (n: number) => number;
}

/**
 * `dial` until it succeeds; a failure not worth waiting out is thrown. Says once that it
 * waits and why, and when the server answers.
 */
export async function waitForServer<T>(dial: () => Promise<T>, o: WaitOptions<T>): Promise<T> {
  const started = Date.now();
  const delayMs = o.delayMs ?? retryDelayMs;
  const given = (): KilnError => new KilnError('cancelled', `stopped while waiting for NATS at ${o.url} to answer`);
  for (let n = 1; ; n++) {
    if (o.signal.aborted) throw given();
    const dialing = dial();
    let value: T;
    try {
      value = await raceAbort(dialing, o.signal);
    } catch (e) {
      if (o.signal.aborted) {
        // The try goes on by itself: a connection it makes after all is closed.
        dialing.then((late) => o.discard?.(late), () => undefined);
        throw given();
      }
      if (!(await o.worth(e as Error))) throw e;
      if (n === 1) o.say(`cannot reach NATS at ${o.url} (${o.reason(e as Error)}): trying again every ${FIRST_RETRY_MS / 1000} s, backing off to every ${MAX_RETRY_MS / 1000} s, until it answers (Ctrl-C to stop)`);
      // A wrong host or port waits for ever too: said again now and then, not only once.
      else if (n % REMIND_EVERY === 0) o.say(`still cannot reach NATS at ${o.url} after ${Math.round((Date.now() - started) / 1000)} s (${o.reason(e as Error)}); check the URL if this lasts`);
      await sleep(delayMs(n), undefined, { signal: o.signal }).catch(() => undefined);
      continue;
    }
    if (n > 1) o.say(`connected to NATS at ${o.url} after ${Math.round((Date.now() - started) / 1000)} s`);
    return value;
  }
}

/** `p`, or a rejection as soon as `signal` is aborted. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Whether a TCP connection to `host:port` opens within `timeoutMs`: a TLS connect that
 * timed out is a server that dropped kiln after the handshake (no client certificate)
 * when it does, and a host not up yet (worth waiting for) when it does not.
 */
export function tcpReachable(host: string, port: number, timeoutMs = 5_000): Promise<boolean> {
  return import('node:net').then(({ connect }) => new Promise<boolean>((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  }));
}

/** The host and port of a NATS server URL (default port 4222), or undefined (pure). */
export function hostPortOf(server: string): { host: string; port: number } | undefined {
  try {
    const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(server) ? server : `nats://${server}`);
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port === '' ? 4222 : Number(u.port) };
  } catch {
    return undefined;
  }
}
