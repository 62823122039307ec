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
  throw await errorFrom(remote, res, `${method} ${path}`);
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
  try {
    return JSON.parse(text) as T;
  } catch {
    throw notKiln(remote, `${method} ${path}`, res, text);
  }
}

function unreachable(remote: Remote, e: unknown, what?: string): KilnError {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === undefined && cause?.message === 'bad port') {
    // fetch blocks some ports outright (the WHATWG fetch standard's "bad ports"): no daemon there can ever be reached.
    const port = new URL(remote.url).port;
    return new KilnError('usage', `--server ${remote.url}: fetch refuses to connect to port ${port} (a port the fetch standard blocks, like 1, 25 or 6000)`, {
      hint: 'run the daemon on another port (`kiln serve --listen 127.0.0.1:8080`) and give that URL',
      cause: e,
    });
  }
  const why = cause?.code ?? cause?.message ?? String(e);
  return new KilnError('server-unreachable', what === undefined ? `cannot reach the kiln daemon at ${remote.url}: ${why}` : `kiln daemon at ${remote.url}: ${what}: ${why}`, {
    hint: 'check --server (or KILN_SERVER) and that `kiln serve` is running',
    cause: e,
  });
}

/** A non-2xx answer as a KilnError: the daemon's own `{error: {code, message, hint}}`, or, for anything else, what answered instead. */
export async function errorFrom(remote: Remote, res: Response, what: string): Promise<KilnError> {
  const text = await res.text().catch(() => '');
  const err = kilnErrorOf(text);
  if (err === undefined) return notKiln(remote, what, res, text);
  if (err.code in errorCodes) {
    const code = err.code as ErrorCode;
    // The daemon's hint for an unknown path names its API docs; here, the likely cause is a daemon of another version.
    const hint = code === 'not-found' ? `the daemon at ${remote.url} has no such endpoint: it may run another kiln version than this one` : err.hint;
    return new KilnError(code, `the server says: ${err.message}`, hint === undefined ? {} : { hint });
  }
  // A code this kiln does not know (a newer daemon): keep it in the message, pick ours by the HTTP status.
  return new KilnError(codeForStatus(res.status), `the server says [${err.code}]: ${err.message}`, {
    hint: err.hint ?? `this kiln does not know the code "${err.code}": the daemon may run a newer kiln`,
  });
}

/** The `error` of a kiln daemon's error answer, or undefined when the text is not one. */
export function kilnErrorOf(text: string): { code: string; message: string; hint?: string } | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  const err = typeof doc === 'object' && doc !== null ? (doc as { error?: unknown }).error : undefined;
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, message, hint } = err as { code?: unknown; message?: unknown; hint?: unknown };
  if (typeof code !== 'string' || typeof message !== 'string' || !/^[a-z][a-z0-9-]*$/.test(code)) return undefined;
  return { code, message, ...(typeof hint === 'string' ? { hint } : {}) };
}

function codeForStatus(status: number): ErrorCode {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 413) return 'too-large';
  return status >= 500 ? 'internal' : 'usage';
}

/** An answer that is not a kiln daemon's: name the URL and status, show at most a short one-line excerpt. */
function notKiln(remote: Remote, what: string, res: Response, text: string): KilnError {
  const type = res.headers.get('content-type')?.split(';')[0]?.trim();
  const excerpt = excerptOf(text);
  const answered = `answered ${what} with HTTP ${res.status}${type ? ` (${type})` : ''}`;
  const tail = excerpt === '' ? '' : `: "${excerpt}"`;
  if (res.status === 502 || res.status === 503 || res.status === 504) {
    // A proxy in front of a daemon that is down answers so.
    return new KilnError('server-unreachable', `the server at ${remote.url} ${answered}, not a kiln daemon's answer (a proxy whose daemon is down?)${tail}`, {
      hint: 'check that `kiln serve` is running behind --server (or KILN_SERVER)',
    });
  }
  return new KilnError('server-not-kiln', `the server at ${remote.url} ${answered}, which is not a kiln daemon's answer${tail}`, {
    hint: 'check that --server (or KILN_SERVER) points at a `kiln serve` daemon (its /healthz answers {"ok":true})',
  });
}

/** A short single line of an answer's text: HTML tags, scripts and styles dropped, whitespace collapsed. */
export function excerptOf(text: string, max = 80): string {
  const plain = text
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/[\u0000-\u001f\u007f\s]+/g, ' ')
    .trim();
  return plain.length <= max ? plain : `${plain.slice(0, max - 1)}…`;
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
