// The live web status page in a real browser: `kiln serve` as a child process on a real
// socket, a tree of one package whose build waits for the test (a gate file), and Debian's
// chromium driven by playwright-core. The test signs in through the form, watches the
// job run (with its cpu/memory sample), follows its log as lines appear, opens the gate
// and sees the job turn built, all without the page reloading; then saves a screenshot
// to test-artifacts/web-page.png. Also report.html in chromium at 1280 px: it fits the
// window, a failure's log tail is shown to its last line, and packages that did not run
// stay last when sorting by duration. Skipped, with the reason, when chromium is not installed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderReportHtml } from '../../src/publish/report-html.ts';
import type { ReportPackage } from '../../src/publish/report.ts';
import { REPO_ROOT, runKiln, spawnKiln, type KilnProcess } from '../helpers/run-kiln.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const DEADLINE_MS = 30_000;

const recipe = (name: string, script: string): string => recipeText({ name, script, summary: `web page test: ${name}` });

/** Resolves with kiln serve's URL from its "listening on" line. */
function listeningUrl(server: KilnProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`kiln serve did not start listening: ${text}`)), DEADLINE_MS);
    server.child.stderr!.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const m = /listening on (http:\/\/\S+?) /.exec(text);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void server.done.then((r) => reject(new Error(`kiln serve exited (${r.code}): ${r.stderr}`)));
  });
}

const skip = !existsSync(CHROMIUM) ? `${CHROMIUM} is not installed (bash scripts/setup.sh installs Debian's chromium)` : false;

test('the build page in chromium: a job runs, its log is followed live, it turns built without a reload', { skip, timeout: 120_000 }, async (t) => {
  const { chromium } = await import('playwright-core');
  await using dir = await tmpDir('kiln-web-page-');
  const gate = join(dir.path, 'go');
  const tree = join(dir.path, 'tree');
  mkdirSync(join(tree, 'slow'), { recursive: true });
  writeFileSync(
    join(tree, 'slow', 'recipe.toml'),
    recipe(
      'slow',
      // Busy for a moment (something to sample), then waits (bounded) for the test's gate file.
      `echo "first""-line"\nfor i in $(seq 1 400); do test -f '${gate}' && break; sleep 0.05; done\necho "second""-line"\nmkdir -p "$DESTDIR/usr/share/slow"\necho slow > "$DESTDIR/usr/share/slow/slow.txt"`,
    ),
  );
  const state = join(dir.path, 'state');
  const token = (await runKiln(['token', 'create', 'alice', '--state', state])).stdout.trim();
  assert.match(token, /\S{16,}/);

  const help = (await runKiln(['serve', '--help'])).stdout;
  const sampling = help.includes('--sample-interval');
  const server = spawnKiln(['serve', '--listen', '127.0.0.1:0', '--state', state, '--tree', `main=${tree}`, '--sandbox', 'host', ...(sampling ? ['--sample-interval', '0.3'] : [])], { timeoutMs: 110_000 });
  t.after(async () => {
    server.child.kill('SIGTERM');
    await server.done;
  });
  const base = await listeningUrl(server);
  const created = await fetch(`${base}/api/v1/builds`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: '{"tree":"main"}' });
  assert.equal(created.status, 201);
  const id = ((await created.json()) as { id: string }).id;

  const browser = await chromium.launch({ executablePath: CHROMIUM });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(DEADLINE_MS);
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()} (${m.location().url})`);
  });

  // Not signed in: the build page sends the browser to the form, which comes back to it.
  await page.goto(`${base}/builds/${id}`);
  assert.match(new URL(page.url()).pathname, /^\/login$/);
  await page.fill('input[name=token]', token);
  await Promise.all([page.waitForURL(`${base}/builds/${id}`), page.click('button[type=submit]')]);
  const cookies = await page.context().cookies();
  assert.equal(cookies.find((c) => c.name === 'kiln_session')?.httpOnly, true);
  assert.equal(await page.evaluate('document.cookie'), '', 'the session cookie is not readable by scripts');

  // From here on the page must not reload: a marker in its window survives only in the same document.
  // (Browser-side code is given as strings: the test is type-checked without the DOM library.)
  await page.evaluate("window.kilnMarker = 'same-document'");
  // (A new document fires DOMContentLoaded; the viewer's #log= hash change does not.)
  let loads = 0;
  page.on('domcontentloaded', () => loads++);

  const row = page.locator('#packages tbody tr', { has: page.locator('td.name', { hasText: /^slow$/ }) });
  await row.locator('.state', { hasText: 'running' }).waitFor();
  const runningRow = page.locator('#running tbody tr', { has: page.locator('td.name', { hasText: /^slow$/ }) });
  await runningRow.waitFor();
  await page.locator('#build-state', { hasText: 'running' }).waitFor();
  await page.locator('#live', { hasText: 'live' }).waitFor();

  // Live updates re-render the tables but keep the elements that did not change: a log
  // link being clicked is never swapped between mousedown and mouseup (that click would be lost).
  if (sampling) {
    await page.evaluate("window.kilnLink = document.querySelector('#running tbody tr a.log-link')");
    const renders = await page.evaluate("new Promise((resolve) => { let n = 0; new MutationObserver(() => n++).observe(document.getElementById('running'), { subtree: true, childList: true }); setTimeout(() => resolve(n), 1500); })");
    assert.ok(Number(renders) > 0, 'the running table was re-rendered meanwhile (samples, every 0.3 s)');
    assert.equal(await page.evaluate("window.kilnLink === document.querySelector('#running tbody tr a.log-link')"), true, 'the same link element after re-renders');
  }

  // Follow the running job's log: the first line arrives while the job still waits.
  await runningRow.locator('a.log-link').click();
  await page.locator('#log', { hasText: 'first-line' }).waitFor();
  assert.doesNotMatch(await page.locator('#log').innerText(), /second-line/);
  assert.match(await page.locator('#log-status').innerText(), /following/);

  if (sampling) {
    // The sampler's latest cpu/memory reading of the running job reaches the page live.
    await runningRow.locator('td.memory', { hasText: /\d/ }).waitFor();
    assert.match(await runningRow.locator('td.cpu').innerText(), /^\d+\.\d\d$/);
  } else {
    t.diagnostic('kiln serve has no --sample-interval yet: the cpu/memory columns are not checked');
  }
  assert.match(await runningRow.locator('td.elapsed').innerText(), /^\d+s$/);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'web-page-running.png'), fullPage: true });

  // Open the gate: the rest of the log follows, and the job turns built.
  writeFileSync(gate, '');
  await page.locator('#log', { hasText: 'second-line' }).waitFor();
  await page.locator('#log-status', { hasText: 'ended: built' }).waitFor();
  await row.locator('.state', { hasText: 'built' }).waitFor();
  await page.locator('#build-state', { hasText: 'done' }).waitFor();
  await page.locator('#running tbody tr').first().waitFor({ state: 'detached' });
  assert.match(await page.locator('#progress-text').innerText(), /^1 of 1 \(100%\)$/);
  assert.match(await page.locator('#counts li[data-state=built] b').innerText(), /^1$/);
  assert.match(await row.locator('td.why').innerText(), /^new: /);

  assert.equal(await page.evaluate('window.kilnMarker'), 'same-document');
  assert.equal(loads, 0, 'no new document was loaded');
  await page.screenshot({ path: join(ARTIFACTS, 'web-page.png'), fullPage: true });

  // The list at / shows the build done.
  await page.goto(`${base}/`);
  const listed = page.locator(`#builds tbody tr[data-build="${id}"]`);
  await listed.locator('.state', { hasText: 'done' }).waitFor();
  assert.match(await listed.locator('.progress-cell').innerText(), /1\/1/);
  assert.deepEqual(problems, []);
});

test('report.html in chromium at 1280 px: no wider than the window, the whole log tail shown, packages that did not run sort last', { skip, timeout: 60_000 }, async (t) => {
  const { chromium } = await import('playwright-core');
  await using dir = await tmpDir('kiln-report-page-');
  const art = (name: string): string => `/var/lib/kiln/a-rather-deep/state-directory/cache/artifacts/${'0123456789abcdef'.repeat(4)}/${name}_1.0-1_amd64.tar.zst`;
  const pkg = (name: string, state: ReportPackage['state'], extra: Partial<ReportPackage> = {}): ReportPackage => ({
    name, version: '1.0-1', arch: 'amd64', state, why: null, cause: null, durationMs: null, log: null, artifact: null, ...extra,
  });
  const packages: ReportPackage[] = [
    pkg('a-package-with-a-rather-long-name', 'built', { why: 'new', durationMs: 4000, artifact: art('a-package-with-a-rather-long-name') }),
    pkg('quick', 'built', { why: 'new', durationMs: 100, artifact: art('quick') }),
    pkg('current', 'up-to-date', { artifact: art('current') }),
    pkg('after-fail', 'skipped', { cause: 'needs failer (amd64), which failed' }),
    pkg('failer', 'failed', { why: 'new', durationMs: 2000, cause: 'the build script exited with status 3', log: `/var/lib/kiln/state/logs/${'r'.repeat(40)}/failer_amd64.log` }),
  ];
  const tail = [...Array.from({ length: 49 }, (_, i) => `fail-line ${i + 1}`), 'kiln: failed: the build script exited with status 3'];
  const html = renderReportHtml(
    { runId: 'r1', start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T00:01:00.000Z', counts: { built: 2, 'up-to-date': 1, failed: 1, skipped: 1, broken: 0, cancelled: 0 }, packages },
    { logTail: () => tail },
  );
  const file = join(dir.path, 'report.html');
  writeFileSync(file, html);
  const browser = await chromium.launch({ executablePath: CHROMIUM });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`file://${file}`);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'report-page.png'), fullPage: true });

  assert.ok(Number(await page.evaluate('document.documentElement.scrollWidth')) <= 1280, 'the page is wider than a 1280 px window');
  // The tail is not a scroll box that starts at its top: its last line (kiln's failed: line) is laid out in full.
  const pre = JSON.parse(String(await page.evaluate("JSON.stringify((({ scrollHeight, clientHeight }) => ({ scrollHeight, clientHeight }))(document.querySelector('.failure pre')))"))) as { scrollHeight: number; clientHeight: number };
  assert.ok(pre.scrollHeight <= pre.clientHeight, `the log tail scrolls: ${JSON.stringify(pre)}`);
  assert.match(await page.locator('.failure pre').innerText(), /kiln: failed: the build script exited with status 3$/);
  // A package name is not broken mid-word: its cell's text is on one line.
  const nameLines = await page.evaluate("(() => { const td = [...document.querySelectorAll('#pkgs td')].find((c) => c.textContent === 'a-package-with-a-rather-long-name'); const r = document.createRange(); r.selectNodeContents(td); return r.getClientRects().length; })()");
  assert.equal(nameLines, 1);

  const order = async (): Promise<string[]> => JSON.parse(String(await page.evaluate("JSON.stringify([...document.querySelectorAll('#pkgs tbody tr')].map((r) => r.dataset.ms))"))) as string[];
  const button = page.locator('#pkgs th button[data-key=ms]');
  await button.click();
  assert.deepEqual(await order(), ['4000', '2000', '100', '-1', '-1'], 'longest first');
  await button.click();
  assert.deepEqual(await order(), ['100', '2000', '4000', '-1', '-1'], 'shortest first: the packages that did not run are still last');
});

test('in chromium: an uploaded tree by its folder name with {tree} in causes, "running past the ETA", a cancelled build counted honestly, an HTML 404, the report URL through the sign-in', { skip, timeout: 120_000 }, async (t) => {
  const { chromium } = await import('playwright-core');
  await using dir = await tmpDir('kiln-web-upload-');
  const gate = join(dir.path, 'go');
  const tree = join(dir.path, 'my-tree');
  const pkg = (name: string, text: string): void => {
    mkdirSync(join(tree, name), { recursive: true });
    writeFileSync(join(tree, name, 'recipe.toml'), text);
  };
  const install = (n: string): string => `mkdir -p "$DESTDIR/usr/share/${n}"\necho ${n} > "$DESTDIR/usr/share/${n}/${n}.txt"`;
  pkg('ok', recipe('ok', install('ok')));
  pkg('broken', 'name = "broken"\nversion = "1.0"\nsummary = 5\nlicense = "MIT"\n\n[build]\nscript = "true"\n');
  // First quick (its learned duration), then (changed) waiting for the gate: it runs past that.
  pkg('slow', recipe('slow', install('slow')));
  const state = join(dir.path, 'state');
  const token = (await runKiln(['token', 'create', 'alice', '--state', state])).stdout.trim();
  const server = spawnKiln(['serve', '--listen', '127.0.0.1:0', '--state', state, '--sandbox', 'host'], { timeoutMs: 110_000 });
  t.after(async () => {
    server.child.kill('SIGTERM');
    await server.done;
  });
  let serverLog = '';
  server.child.stderr!.on('data', (c: Buffer) => (serverLog += c.toString('utf8')));
  const base = await listeningUrl(server);
  const client = { env: { KILN_TOKEN: token }, timeoutMs: 60_000 };
  const clientState = join(dir.path, 'client-state');
  const first = await runKiln(['build', '--server', base, '--tree', tree, '--state', clientState], client);
  assert.equal(first.code, 1, `${first.stderr}\n--- kiln serve ---\n${serverLog}`);
  const reportUrl = /kiln: report: (http:\/\/\S+\/report\.html)/.exec(first.stderr)?.[1];
  assert.ok(reportUrl !== undefined, first.stderr);

  pkg('slow', recipe('slow', `for i in $(seq 1 1000); do test -f '${gate}' && break; sleep 0.05; done\n${install('slow')}`));
  pkg('top', recipeText({ name: 'top', script: install('top'), deps: ['slow'], summary: 'web page test: top' }));
  const second = spawnKiln(['build', '--server', base, '--tree', tree, '--state', clientState], client);
  t.after(async () => {
    if (second.child.exitCode === null) second.child.kill('SIGKILL');
    await second.done;
  });
  const api = async (path: string, init: RequestInit = {}): Promise<Response> => fetch(`${base}${path}`, { ...init, headers: { Authorization: `Bearer ${token}`, ...init.headers } });
  let id = '';
  for (const deadline = Date.now() + DEADLINE_MS; id === ''; ) {
    assert.ok(Date.now() < deadline, 'the second build never ran slow');
    const { builds } = (await (await api('/api/v1/builds?limit=1')).json()) as { builds: { id: string; state: string }[] };
    const b = builds[0];
    if (b !== undefined && reportUrl.includes(b.id) === false && b.state === 'running') {
      const { jobs } = (await (await api(`/api/v1/builds/${b.id}/jobs`)).json()) as { jobs: { jobId: string; state: string }[] };
      if (jobs.some((j) => j.jobId.startsWith('slow@') && j.state === 'running')) id = b.id;
    }
    if (id === '') await new Promise((r) => setTimeout(r, 100));
  }

  const browser = await chromium.launch({ executablePath: CHROMIUM });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(DEADLINE_MS);

  // The report URL kiln build --server printed: the sign-in form, then back to the report (not a JSON 401).
  await page.goto(reportUrl);
  assert.match(new URL(page.url()).pathname, /^\/login$/);
  await page.fill('input[name=token]', token);
  await Promise.all([page.waitForURL(reportUrl), page.click('button[type=submit]')]);
  assert.match(await page.content(), /broken/);
  assert.doesNotMatch(await page.content(), /"code":"unauthorized"/);

  // A path that is nothing: an HTML 404 page, not JSON.
  const missing = await page.goto(`${base}/nonexistent`);
  assert.equal(missing?.status(), 404);
  assert.equal(await page.locator('h1').innerText(), 'Not found');

  // The running build: the folder's name, causes without the daemon's paths, past its ETA.
  await page.goto(`${base}/builds/${id}`);
  await page.locator('#live', { hasText: 'live' }).waitFor();
  assert.equal(await page.locator('#tree').innerText(), 'my-tree');
  const brokenRow = page.locator('#packages tbody tr', { has: page.locator('td.name', { hasText: /^broken$/ }) });
  await brokenRow.waitFor();
  const cause = await brokenRow.locator('td.cause').innerText();
  assert.match(cause, /\{tree\}\/broken\/recipe\.toml: summary/);
  assert.ok(!cause.includes(state), `the daemon's state path is shown: ${cause}`);
  await page.locator('#eta', { hasText: 'running past the ETA' }).waitFor();
  const jobsJson = await (await api(`/api/v1/builds/${id}/report.json`)).text();
  assert.ok(!jobsJson.includes(state), "report.json names the daemon's state path");

  // Cancelled: what was done and what was cancelled, never a full bar.
  assert.equal((await api(`/api/v1/builds/${id}/cancel`, { method: 'POST' })).status, 202);
  await page.locator('#build-state', { hasText: 'cancelled' }).waitFor();
  await page.locator('#progress-text', { hasText: /cancelled$/ }).waitFor();
  const progress = await page.locator('#progress-text').innerText();
  assert.match(progress, /^\d of 4 \(\d+%\), [12] cancelled$/);
  assert.doesNotMatch(progress, /100%/);
  assert.ok(Number(await page.locator('#progress').getAttribute('value')) < 4);
  assert.equal((await second.done).code, 130);

  await page.goto(`${base}/`);
  const listed = page.locator(`#builds tbody tr[data-build="${id}"]`);
  await listed.locator('.state', { hasText: 'cancelled' }).waitFor();
  assert.equal(await listed.locator('td.tree').innerText(), 'my-tree');
  assert.match(await listed.locator('.progress-cell').innerText(), /^\s*\d\/4 [12] cancelled$/);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'web-page-list.png'), fullPage: true });
});
