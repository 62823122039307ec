// The CLI's side of a kiln daemon: `--server URL` (or $KILN_SERVER) and `--token T` (or
// $KILN_TOKEN) make build, status, logs and cancel talk to `kiln serve` over its REST API
// instead of the local state dir. This file holds the options and a small client that
// turns the API's `{error: {code, message, hint}}` answers back into KilnErrors, so the
// CLI prints them and exits with the same status as for a local failure.

import type { Command } from 'commander';
import { errorCodes, isKilnError, KilnError, type ErrorCode } from '../errors.ts';

export interface RemoteOptions {
  readonly server?: string;
  readonly token?: string;
}

export interface Remote {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  readonly token: string;
}

export function addRemoteOptions(cmd: Command): Command {
  return cmd
    .option('--server <url>', 'talk to a kiln daemon (`kiln serve`) at URL instead of the local state dir (default: $KILN_SERVER)')
    .option('--token <token>', 'the bearer token for --server (default: $KILN_TOKEN; `kiln token create` makes one)');
}

/** The daemon to talk to, or undefined to work locally. Throws when a server has no token. */
export function remoteFrom(opts: RemoteOptions, env: NodeJS.ProcessEnv = process.env): Remote | undefined {
  const server = opts.server ?? (env['KILN_SERVER'] || undefined);
  if (server === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new KilnError('usage', `--server: "${server}" is not a URL (e.g. http://127.0.0.1:8080)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new KilnError('usage', `--server: expected an http:// or https:// URL, got "${server}"`);
  const token = opts.token ?? (env['KILN_TOKEN'] || undefined);
  if (token === undefined) {
    throw new KilnError('usage', `--server ${server} needs a token: give --token or set KILN_TOKEN`, { hint: 'the operator makes one with `kiln token create TENANT`' });
  }
  return { url: url.href.replace(/\/+$/, ''), token };
}

/** A verb that only works against a daemon. */
export function requireRemote(opts: RemoteOptions, verb: string): Remote {
  const r = remoteFrom(opts);
  if (r === undefined) throw new KilnError('usage', `kiln ${verb} talks to a kiln daemon: give --server URL (or set KILN_SERVER) and a token`);
  return r;
}

export interface RequestOptions {
  readonly body?: string | Uint8Array | ReadableStream<Uint8Array>;
  readonly json?: unknown;
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal;
  /** Statuses returned to the caller instead of thrown (e.g. 404 for "is it there?"). */
  readonly allow?: readonly number[];
}

/** One API call; non-2xx answers become KilnErrors carrying the server's code and hint. */
export async function call(remote: Remote, method: string, path: string, o: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${remote.token}`, ...o.headers };
  let body = o.body;
  if (o.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(o.json);
  }
  let res: Response;
  try {
    res = await fetch(`${remote.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }), ...(o.signal === undefined ? {} : { signal: o.signal }) });
  } catch (e) {
    if (o.signal?.aborted) throw e;
    throw unreachable(remote, e);
  }
  if (res.ok || o.allow?.includes(res.status)) return res;
  throw await errorFrom(res, `${method} ${path}`);
}

export async function callJson<T>(remote: Remote, method: string, path: string, o: RequestOptions = {}): Promise<T> {
  const res = await call(remote, method, path, o);
  let text: string;
  try {
    text = await res.text();
  } catch (e) {
    // The connection dropped after the headers (a daemon killed mid-answer): it got the
    // request, and may have acted on it.
    if (o.signal?.aborted) throw e;
    throw unreachable(remote, e, `the connection broke while it answered ${method} ${path} (it may have acted on it)`);
  }
  return JSON.parse(text) as T;
}

function unreachable(remote: Remote, e: unknown, what?: string): KilnError {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? String(e);
  return new KilnError('server-unreachable', what === undefined ? `cannot reach the kiln daemon at ${remote.url}: ${why}` : `kiln daemon at ${remote.url}: ${what}: ${why}`, {
    hint: 'check --server (or KILN_SERVER) and that `kiln serve` is running',
    cause: e,
  });
}

async function errorFrom(res: Response, what: string): Promise<KilnError> {
  const text = await res.text().catch(() => '');
  let err: { code?: string; message?: string; hint?: string } | undefined;
  try {
    err = (JSON.parse(text) as { error?: typeof err }).error;
  } catch {
    err = undefined;
  }
  const code: ErrorCode =
    err?.code !== undefined && err.code in errorCodes ? (err.code as ErrorCode) : res.status === 401 || res.status === 403 ? 'unauthorized' : 'usage';
  const message = err?.message ?? `${what}: HTTP ${res.status} ${text.slice(0, 200)}`;
  return new KilnError(code, `the server says: ${message}`, err?.hint === undefined ? {} : { hint: err.hint });
}

/** Lines of a server-sent event stream: yields {event, data} until the stream ends. */
export async function* readSse(res: Response): AsyncGenerator<{ event: string; data: string }> {
  if (res.body === null) return;
  const decoder = new TextDecoder();
  let buf = '';
  let event = 'message';
  let data: string[] = [];
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      if (line === '') {
        if (data.length > 0) yield { event, data: data.join('\n') };
        event = 'message';
        data = [];
      } else if (line.startsWith('event:')) {
        event = line.slice(6).trim();
      } else if (line.startsWith('data:')) {
        data.push(line.slice(5).replace(/^ /, ''));
      }
    }
  }
}

/** The server's hints name API calls; at the CLI, name the commands that do the same. */
export function forTheCli(e: unknown, id: string): unknown {
  if (!isKilnError(e)) return e;
  const hint =
    e.code === 'run-not-found'
      ? 'list your builds with `kiln status --runs --server URL`'
      : e.code === 'build-ended'
        ? `see how it ended with \`kiln status ${id} --server URL\``
        : undefined;
  return hint === undefined ? e : new KilnError(e.code, e.message, { hint, cause: e });
}
