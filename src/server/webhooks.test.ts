import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isKilnError } from '../errors.ts';
import type { BuildRecord } from '../records/server-record-types.ts';
import { createWebhooks, retryable, scrubUrls, webhookBody, webhookName, webhookSignature, webhooksFrom, withoutUserinfo } from './webhooks.ts';

test('webhookSignature: GitHub-style sha256= and the hex HMAC-SHA256 of the body with the secret', () => {
  // RFC 4231 test case 2.
  assert.equal(webhookSignature('what do ya want for nothing?', 'Jefe'), 'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  const body = '{"event":"build-finished"}';
  assert.equal(webhookSignature(body, 's3cret'), `sha256=${createHmac('sha256', 's3cret').update(body).digest('hex')}`);
  assert.notEqual(webhookSignature(body, 's3cret'), webhookSignature(`${body} `, 's3cret'));
});

const record = (over: Partial<BuildRecord>): BuildRecord => ({
  id: 'b1', tenant: 'alice', tree: 'main', request: {}, priority: 0, state: 'failed', runId: 'R1', error: null, errorCode: null, errorHint: null,
  retryOf: null, createdAt: 0, startedAt: 1, endedAt: 2, priorRuns: [], cancelledBy: null, ...over,
});

test('webhookBody: the build, its counts, the path of its report.json; no report before a run started', () => {
  assert.deepEqual(webhookBody(record({}), { built: 1, failed: 1 }, Date.UTC(2025, 0, 2, 3, 4, 5)), {
    event: 'build-finished',
    build: { id: 'b1', tenant: 'alice', tree: 'main', state: 'failed', runId: 'R1', counts: { built: 1, failed: 1 }, error: null },
    report: '/api/v1/builds/b1/report.json',
    at: '2025-01-02T03:04:05.000Z',
  });
  const never = webhookBody(record({ state: 'cancelled', runId: null, error: 'cancelled before it started' }), null, 0);
  assert.equal(never.report, null);
  assert.equal(never.build.error, 'cancelled before it started');
});

for (const [status, want] of [[undefined, true], [500, true], [503, true], [404, false], [400, false], [301, false]] as const) {
  test(`retryable: ${status ?? 'a network error'} → ${want}`, () => assert.equal(retryable(status), want));
}

test('webhookName: the origin only (a chat webhook URL holds its secret in the path)', () => {
  assert.equal(webhookName('https://chat.example/hooks/T0/B0/SECRET', 0), 'webhook 1 (https://chat.example)');
});

test('webhooksFrom: URLs checked, the secret read less its newline; bad flags name themselves', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-webhook-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'secret'), 's3cret\n');
  writeFileSync(join(dir, 'empty'), '\n');
  assert.equal(webhooksFrom([], undefined), undefined);
  assert.deepEqual(webhooksFrom(['http://127.0.0.1:9/x'], join(dir, 'secret')), { urls: ['http://127.0.0.1:9/x'], secret: 's3cret' });
  assert.deepEqual(webhooksFrom(['https://ci.example/h'], undefined), { urls: ['https://ci.example/h'], secret: undefined });
  const rows: [string[], string | undefined, RegExp][] = [
    [['ftp://x.example/'], undefined, /^--webhook: expected an http:\/\/ or https:\/\/ URL, got "ftp:\/\/x.example\/"/],
    [['not a url'], undefined, /^--webhook: expected/],
    [[], join(dir, 'secret'), /^--webhook-secret-file signs what --webhook sends/],
    [['http://h.example/'], join(dir, 'missing'), /^--webhook-secret-file: cannot read .*missing: ENOENT/],
    [['http://h.example/'], join(dir, 'empty'), /^--webhook-secret-file: .*empty is empty/],
  ];
  for (const [urls, file, want] of rows) {
    assert.throws(() => webhooksFrom(urls, file), (e: unknown) => isKilnError(e) && e.code === 'usage' && want.test(e.message));
  }
});

test('createWebhooks: signed JSON POST; tried again on 5xx and network errors up to 3 times, not on 4xx; failures logged', async () => {
  const calls: { url: string; init: RequestInit }[] = [];
  const answers = new Map<string, Array<number | Error>>([
    ['http://a.example/ok-third', [500, new TypeError('fetch failed'), 200]],
    ['http://b.example/always-502', [502, 502, 502, 502]],
    ['http://c.example/gone', [404, 200]],
  ]);
  const fakeFetch = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const next = answers.get(url)!.shift()!;
    if (next instanceof Error) throw next;
    return new Response('x', { status: next });
  }) as unknown as typeof fetch;
  const logs: string[] = [];
  const hooks = createWebhooks({ urls: [...answers.keys()], secret: 'k', log: (l) => logs.push(l), backoffMs: 1, fetch: fakeFetch });
  const body = webhookBody(record({}), null, 0);
  hooks.send(body);
  await hooks.idle();
  const tries = (u: string): number => calls.filter((c) => c.url === u).length;
  assert.deepEqual([tries('http://a.example/ok-third'), tries('http://b.example/always-502'), tries('http://c.example/gone')], [3, 3, 1]);
  const text = JSON.stringify(body);
  for (const c of calls) {
    assert.equal(c.init.method, 'POST');
    assert.equal(c.init.body, text);
    const h = c.init.headers as Record<string, string>;
    assert.equal(h['content-type'], 'application/json');
    assert.equal(h['x-kiln-signature'], webhookSignature(text, 'k'));
  }
  assert.deepEqual(logs.sort(), ['webhook 2 (http://b.example): build b1 was not delivered: HTTP 502, after 3 tries', 'webhook 3 (http://c.example): build b1 was not delivered: HTTP 404']);
});

test('webhooksFrom: a URL with user:password@ is refused at start, naming --webhook, without the password', () => {
  const rows: [string, RegExp][] = [
    ['https://bot:hunter2@ci.example/h', /^--webhook: a URL with a user name or password in it \(https:\/\/\*\*\*@ci\.example\/…\) cannot be POSTed to/],
    ['http://hunter2@ci.example/h', /^--webhook: a URL with a user name or password in it \(http:\/\/\*\*\*@ci\.example\/…\)/],
    ['ftp://bot:hunter2@ci.example/h', /^--webhook: expected an http:\/\/ or https:\/\/ URL, got "ftp:\/\/\*\*\*@ci\.example\/h"/],
  ];
  for (const [u, want] of rows) {
    assert.throws(() => webhooksFrom([u], undefined), (e: unknown) => {
      assert.ok(isKilnError(e) && e.code === 'usage');
      assert.match(e.message, want);
      assert.doesNotMatch(`${e.message} ${e.hint ?? ''}`, /hunter2/);
      return true;
    });
  }
});

test('scrubUrls and withoutUserinfo: a URL in a message is cut to its origin; credentials never shown', () => {
  assert.equal(scrubUrls('Request cannot be constructed from a URL that includes credentials: https://bot:hunter2@ci.example/hooks/SECRET?x=1'), 'Request cannot be constructed from a URL that includes credentials: https://ci.example');
  assert.equal(scrubUrls('connect ECONNREFUSED 127.0.0.1:9'), 'connect ECONNREFUSED 127.0.0.1:9');
  assert.equal(withoutUserinfo('ftp://bot:hunter2@x.example/p'), 'ftp://***@x.example/p');
  assert.equal(withoutUserinfo('https://x.example/p@q'), 'https://x.example/p@q');
});

test('createWebhooks: no delivery error prints the URL (credentials, a secret path), whatever fetch says', async () => {
  const secretUrl = 'http://bot:hunter2@127.0.0.1:9/hooks/SECRETPATH';
  const logs: string[] = [];
  // The real fetch refuses a URL with credentials, quoting it; a fake one quotes it in a cause.
  const real = createWebhooks({ urls: [secretUrl], log: (l) => logs.push(l), tries: 1 });
  const quoting = (async (url: string) => {
    throw new TypeError('fetch failed', { cause: new Error(`getaddrinfo ENOTFOUND for ${url}`) });
  }) as unknown as typeof fetch;
  const fake = createWebhooks({ urls: [secretUrl], log: (l) => logs.push(l), tries: 2, backoffMs: 1, fetch: quoting });
  const crashing = createWebhooks({ urls: [secretUrl], log: (l) => logs.push(l), tries: 1, fetch: (() => { throw new Error(`bad ${secretUrl}`); }) as unknown as typeof fetch });
  for (const w of [real, fake, crashing]) {
    w.send(webhookBody(record({}), null, 0));
    await w.idle();
  }
  assert.equal(logs.length, 3, logs.join('\n'));
  for (const l of logs) {
    assert.match(l, /^webhook 1 \(http:\/\/127\.0\.0\.1:9\): build b1 was not delivered: /);
    assert.doesNotMatch(l, /hunter2|SECRETPATH|bot/, l);
  }
});
