// kiln serve --webhook URL: every build that ends (done, failed, cancelled) is POSTed to
// each URL as JSON, signed GitHub-style (X-Kiln-Signature: sha256=HMAC of the body with
// --webhook-secret-file's secret), so that a CI or a chat bot hears of it without polling.
//
// The URLs are the operator's (command-line flags), never a tenant's: they may be internal
// addresses, so the global fetch is used, not the tenants' fetch guard (lib/fetch-guard.ts).
// A delivery never holds the queue up: it runs beside it, 10 s per try, up to 3 tries on a
// network error or a 5xx with a pause between, and what fails is said on the daemon's stderr
// (a URL only by its origin: never its path, which may hold a secret, nor credentials).

import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { KilnError } from '../errors.ts';
import type { BuildRecord } from '../records/server-record-types.ts';

export interface BuildFinishedBody {
  readonly event: 'build-finished';
  readonly build: {
    readonly id: string;
    readonly tenant: string;
    readonly tree: string;
    readonly state: string;
    readonly runId: string | null;
    readonly counts: Readonly<Record<string, number>> | null;
    readonly error: string | null;
  };
  /** The URL path (on this daemon) of the build's report.json; null when no run of it started. */
  readonly report: string | null;
  readonly at: string;
}

/** The body of a build that ended. Pure. */
export function webhookBody(b: BuildRecord, counts: Readonly<Record<string, number>> | null, now: number): BuildFinishedBody {
  return {
    event: 'build-finished',
    build: { id: b.id, tenant: b.tenant, tree: b.tree, state: b.state, runId: b.runId, counts, error: b.error },
    report: b.runId === null ? null : `/api/v1/builds/${encodeURIComponent(b.id)}/report.json`,
    at: new Date(now).toISOString(),
  };
}

/** X-Kiln-Signature's value: `sha256=` and the hex HMAC-SHA256 of the body's bytes with the secret. Pure. */
export function webhookSignature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** Whether a try that ended so is tried again: a network error (no status) or a 5xx. Pure. */
export function retryable(status: number | undefined): boolean {
  return status === undefined || status >= 500;
}

/** A webhook as the daemon's log names it: its origin only (a chat's webhook URL holds its secret in the path). Pure. */
export function webhookName(url: string, index: number): string {
  return `webhook ${index + 1} (${new URL(url).origin})`;
}

/** A URL as a message may show it: without a user name or password (`//***@host`). Pure. */
export function withoutUserinfo(u: string): string {
  return u.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@');
}

/** Text (an error message) with every URL in it cut to its origin: no credentials, no path (a chat webhook's secret). Pure. */
export function scrubUrls(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, (m) => {
    try {
      return new URL(m).origin;
    } catch {
      return '<url>';
    }
  });
}

/** --webhook URLs, checked: http or https, with no user:password@ (fetch refuses those). */
export function parseWebhookUrls(urls: readonly string[]): string[] {
  return urls.map((u) => {
    let url: URL | undefined;
    try {
      url = new URL(u);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new KilnError('usage', `--webhook: expected an http:// or https:// URL, got ${JSON.stringify(withoutUserinfo(u))}`, { hint: 'e.g. --webhook https://ci.example/kiln-hook (repeatable)' });
    }
    if (url.username !== '' || url.password !== '') {
      throw new KilnError('usage', `--webhook: a URL with a user name or password in it (${url.protocol}//***@${url.host}/…) cannot be POSTed to (fetch refuses such URLs)`, {
        hint: 'drop the user:password@ part; have the receiver check --webhook-secret-file\'s X-Kiln-Signature, or a token in the URL\'s path or query, instead',
      });
    }
    return u;
  });
}

/** The secret of --webhook-secret-file: the file's text, less its trailing newline. */
export function readWebhookSecret(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new KilnError('usage', `--webhook-secret-file: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { hint: 'give a file readable by the daemon holding the shared secret (e.g. made with: head -c 32 /dev/urandom | base64 > FILE)' });
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret.trim() === '') throw new KilnError('usage', `--webhook-secret-file: ${file} is empty`, { hint: 'put the shared secret in it (e.g. head -c 32 /dev/urandom | base64 > FILE)' });
  return secret;
}

/** kiln serve's --webhook and --webhook-secret-file, checked; undefined without --webhook. */
export function webhooksFrom(urls: readonly string[], secretFile: string | undefined): { urls: string[]; secret: string | undefined } | undefined {
  if (urls.length === 0) {
    if (secretFile !== undefined) throw new KilnError('usage', '--webhook-secret-file signs what --webhook sends: give --webhook URL too', { hint: 'e.g. kiln serve --webhook https://ci.example/kiln-hook --webhook-secret-file /etc/kiln/webhook.secret' });
    return undefined;
  }
  return { urls: parseWebhookUrls(urls), secret: secretFile === undefined ? undefined : readWebhookSecret(secretFile) };
}

export interface WebhookOptions {
  readonly urls: readonly string[];
  readonly secret?: string | undefined;
  /** The daemon's stderr. */
  readonly log: (line: string) => void;
  readonly timeoutMs?: number;
  readonly tries?: number;
  /** The pause after the first failed try; doubled after each (default 1 s). */
  readonly backoffMs?: number;
  readonly fetch?: typeof fetch;
}

export interface Webhooks {
  /** POST the body to every URL, in the background. */
  send(body: BuildFinishedBody): void;
  /** Resolves once every delivery under way has ended (the daemon's stop waits for them). */
  idle(): Promise<void>;
}

export function createWebhooks(o: WebhookOptions): Webhooks {
  const doFetch = o.fetch ?? fetch;
  const timeoutMs = o.timeoutMs ?? 10_000;
  const tries = o.tries ?? 3;
  const backoffMs = o.backoffMs ?? 1000;
  const pending = new Set<Promise<void>>();
  const deliver = async (url: string, index: number, text: string, buildId: string): Promise<void> => {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'kiln-webhook' };
    if (o.secret !== undefined) headers['x-kiln-signature'] = webhookSignature(text, o.secret);
    let why = '';
    for (let attempt = 1; attempt <= tries; attempt++) {
      let status: number | undefined;
      try {
        const res = await doFetch(url, { method: 'POST', headers, body: text, signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
        status = res.status;
        await res.body?.cancel().catch(() => undefined);
        if (status >= 200 && status < 300) return;
        why = `HTTP ${status}`;
      } catch (e) {
        // fetch's messages may quote the URL: never more of it than its origin in the log.
        why = e instanceof Error && e.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : scrubUrls(`${e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e)}`);
      }
      if (!retryable(status)) break;
      if (attempt < tries) await new Promise((r) => setTimeout(r, backoffMs * 2 ** (attempt - 1)));
      else why = `${why}, after ${tries} tries`;
    }
    o.log(`${webhookName(url, index)}: build ${buildId} was not delivered: ${why}`);
  };
  return {
    send(body) {
      const text = JSON.stringify(body);
      o.urls.forEach((url, i) => {
        const p = deliver(url, i, text, body.build.id).catch((e: unknown) => o.log(`${webhookName(url, i)}: build ${body.build.id}: ${scrubUrls(String(e))}`));
        pending.add(p);
        void p.finally(() => pending.delete(p));
      });
    },
    async idle() {
      await Promise.allSettled([...pending]);
    },
  };
}
