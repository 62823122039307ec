// A browser navigating to the daemon (Accept: text/html, no Authorization header) where an
// API client gets JSON: unknown paths are a 404 whatever the auth (an HTML page for the
// browser), the report and log URLs send a signed-out browser to the form and back, a
// build failed before it started shows its hint. Through app.request(), no socket.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../../errors.ts';
import { openServerRecords } from '../../records/server-records.ts';
import { createApp, type KilnServerApp } from '../app.ts';
import type { BuildRunner } from '../queue.ts';
import { isBrowserNavigation } from './browser.ts';
import { isBrowsablePath } from './session.ts';

const ORIGIN = 'http://localhost';
const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

function setup(t: TestContext, runner: BuildRunner = async () => ({ runId: null, state: 'done' }) as never) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-web-browser-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tokens = openServerRecords(dir);
  const alice = tokens.createToken('alice').token;
  tokens.close();
  const kiln = createApp({ stateDir: dir, trees: { main: dir }, runner, slots: 2, onError: () => undefined });
  t.after(() => kiln.close());
  return { kiln, alice };
}

async function signIn(kiln: KilnServerApp, token: string): Promise<string> {
  const res = await kiln.app.request(`${ORIGIN}/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: ORIGIN },
    body: new URLSearchParams({ token, next: '/' }).toString(),
  });
  assert.equal(res.status, 303);
  return /^([^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]!;
}

test('isBrowserNavigation and isBrowsablePath', () => {
  assert.equal(isBrowserNavigation('GET', BROWSER, undefined), true);
  assert.equal(isBrowserNavigation('HEAD', 'text/html', undefined), true);
  assert.equal(isBrowserNavigation('GET', '*/*', undefined), false, 'curl, fetch');
  assert.equal(isBrowserNavigation('GET', 'application/json', undefined), false);
  assert.equal(isBrowserNavigation('GET', 'text/event-stream', undefined), false, 'EventSource');
  assert.equal(isBrowserNavigation('GET', BROWSER, 'Bearer x'), false, 'a bearer token is an API client');
  assert.equal(isBrowserNavigation('POST', BROWSER, undefined), false);
  for (const p of ['/api/v1/builds/b1/report.html', '/api/v1/builds/b1/report.json', '/api/v1/builds/b1/junit.xml', '/api/v1/builds/b1/jobs/a%40amd64/log', '/api/v1/builds/b1/jobs/a@amd64/artifact']) assert.equal(isBrowsablePath(p), true, p);
  for (const p of ['/api/v1/builds', '/api/v1/builds/b1', '/api/v1/builds/b1/events', '/api/v1/builds/b1/cancel', '/api/v1/builds/b1/report.html/x']) assert.equal(isBrowsablePath(p), false, p);
});

test('an unknown path is a 404 whatever the auth: JSON for API clients, a page for a browser', async (t) => {
  const { kiln, alice } = setup(t);
  const anon = await kiln.app.request('/nonexistent');
  assert.equal(anon.status, 404, 'not 401: no such endpoint exists');
  assert.equal(((await anon.json()) as { error: { code: string } }).error.code, 'not-found');
  const bearer = await kiln.app.request('/nonexistent', { headers: { Authorization: `Bearer ${alice}` } });
  assert.equal(bearer.status, 404);
  assert.equal(((await bearer.json()) as { error: { code: string } }).error.code, 'not-found');
  const badToken = await kiln.app.request('/api/v1/nonexistent', { headers: { Authorization: 'Bearer nope' } });
  assert.equal(badToken.status, 404);
  // A known endpoint still needs the token.
  assert.equal((await kiln.app.request('/api/v1/builds')).status, 401);
  assert.equal((await kiln.app.request('/api/v1/builds', { headers: { Accept: BROWSER } })).status, 401, 'the API list is no page');

  const page = await kiln.app.request('/nonexistent', { headers: { Accept: BROWSER } });
  assert.equal(page.status, 404);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  const html = await page.text();
  assert.match(html, /<h1>Not found<\/h1>/);
  assert.match(html, /there is no page at \/nonexistent/);
  assert.doesNotMatch(html, /sign out/, 'nobody is signed in');

  const cookie = await signIn(kiln, alice);
  const signedIn = await kiln.app.request('/nonexistent', { headers: { Accept: BROWSER, Cookie: cookie } });
  assert.equal(signedIn.status, 404);
  const text = await signedIn.text();
  assert.match(text, /<h1>Not found<\/h1>/);
  assert.match(text, /alice/, 'the header names who is signed in');
  // The page's own scripts ask for JSON: they keep getting it.
  const script = await kiln.app.request('/nonexistent', { headers: { Accept: 'application/json', Cookie: cookie } });
  assert.equal(script.status, 404);
  assert.match(script.headers.get('content-type') ?? '', /application\/json/);
  // A build that is not there, opened in a browser: a page too.
  const missing = await kiln.app.request('/api/v1/builds/nope/report.html', { headers: { Accept: BROWSER, Cookie: cookie } });
  assert.equal(missing.status, 404);
  assert.match(await missing.text(), /no build &quot;nope&quot; for this token/);
});

test("the report and log URLs send a signed-out browser to the form and back; API clients keep a JSON 401", async (t) => {
  const { kiln, alice } = setup(t);
  for (const path of ['/api/v1/builds/b1/report.html', '/api/v1/builds/b1/report.json', '/api/v1/builds/b1/jobs/a%40amd64/log']) {
    const res = await kiln.app.request(path, { headers: { Accept: BROWSER } });
    assert.equal(res.status, 303, path);
    assert.equal(res.headers.get('location'), `/login?next=${encodeURIComponent(path)}`);
    const api = await kiln.app.request(path);
    assert.equal(api.status, 401, path);
    assert.match(api.headers.get('content-type') ?? '', /application\/json/);
  }
  // After signing in, the form goes back to the report.
  const back = await kiln.app.request(`${ORIGIN}/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: ORIGIN },
    body: new URLSearchParams({ token: alice, next: '/api/v1/builds/b1/report.html' }).toString(),
  });
  assert.equal(back.status, 303);
  assert.equal(back.headers.get('location'), '/api/v1/builds/b1/report.html');
});

test('a build that failed before it started shows its error and its hint on the page', async (t) => {
  const runner: BuildRunner = async () => {
    throw new KilnError('config-invalid', 'kiln.toml: jobs: expected a number', { hint: 'fix kiln.toml and build again' });
  };
  const { kiln, alice } = setup(t, runner);
  const created = await kiln.app.request('/api/v1/builds', { method: 'POST', headers: { Authorization: `Bearer ${alice}`, 'Content-Type': 'application/json' }, body: '{"tree":"main"}' });
  const id = ((await created.json()) as { id: string }).id;
  for (let i = 0; i < 200 && kiln.queue.getActive(id) !== undefined; i++) await new Promise((r) => setTimeout(r, 10));
  const page = await (await kiln.app.request(`/builds/${id}`, { headers: { Authorization: `Bearer ${alice}` } })).text();
  assert.match(page, /<p id="build-error" class="error">kiln\.toml: jobs: expected a number<\/p>/);
  assert.match(page, /<p id="build-error-hint" class="hint">fix kiln\.toml and build again<\/p>/);
});
