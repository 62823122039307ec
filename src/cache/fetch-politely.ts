// How the downloads cache talks to servers: at most a few connections per server at once
// (a Debian build may ask for a hundred .debs at the same moment; a mirror, or the network
// in between, drops connections opened faster than that, as apt's few connections per
// host never see), and a download whose connection failed (before any data came, or
// midway: it starts again from the beginning), or that a busy server answered 429, 502, 503
// or 504, is tried again after a pause, as apt does (Acquire::Retries).

/** Downloads at once per server (scheme, host and port). */
export const PER_SERVER = 6;

/** Pauses before the second and third tries of a download whose connection failed. */
export const RETRY_PAUSES_MS: readonly number[] = [1000, 3000];

/** Connection failures worth another try: the server, or the network to it, may be fine a moment later. */
const TRANSIENT = new Set([
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EAI_AGAIN', 'EPIPE', 'ENETUNREACH', 'EHOSTUNREACH',
  // A server busy, restarting or behind a gateway that lost it for a moment (downloads.ts gives the status as a code).
  'HTTP_429', 'HTTP_502', 'HTTP_503', 'HTTP_504',
]);

/** Whether `e` (or an error it was caused by) is a transient connection failure (pure). */
export function isTransient(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x instanceof Error && depth < 5; x = x.cause, depth++) {
    const code = (x as NodeJS.ErrnoException).code;
    if (code !== undefined && TRANSIENT.has(code)) return true;
  }
  return false;
}

/** A limit of `n` tasks at once per key; the others wait in order. */
export function perKeyLimit(n: number): <T>(key: string, task: () => Promise<T>) => Promise<T> {
  const running = new Map<string, number>();
  const waiting = new Map<string, (() => void)[]>();
  const release = (key: string): void => {
    const next = waiting.get(key)?.shift();
    if (next !== undefined) return next();
    const left = (running.get(key) ?? 1) - 1;
    if (left === 0) {
      running.delete(key);
      waiting.delete(key);
    } else running.set(key, left);
  };
  return async (key, task) => {
    const now = running.get(key) ?? 0;
    if (now < n) running.set(key, now + 1);
    else await new Promise<void>((resolve) => {
      let list = waiting.get(key);
      if (list === undefined) waiting.set(key, (list = []));
      list.push(resolve);
    });
    try {
      return await task();
    } finally {
      release(key);
    }
  };
}

/** The server a url is fetched from (its origin), or the url itself when it has none. */
export function serverOf(url: string): string {
  const u = URL.parse(url);
  return u === null || u.origin === 'null' ? url : u.origin;
}

/**
 * Runs `attempt` again after each pause of `pauses` while it fails with a transient
 * connection failure; `onRetry` is told of each. A cancel (signal) ends the waiting.
 */
export async function withRetries<T>(attempt: () => Promise<T>, o: { signal: AbortSignal; pauses?: readonly number[]; onRetry?: (e: unknown, pauseMs: number) => void }): Promise<T> {
  const pauses = o.pauses ?? RETRY_PAUSES_MS;
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      if (i >= pauses.length || o.signal.aborted || !isTransient(e)) throw e;
      o.onRetry?.(e, pauses[i]!);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          o.signal.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, pauses[i]!);
        o.signal.addEventListener('abort', done, { once: true });
      });
      if (o.signal.aborted) throw e;
    }
  }
}
