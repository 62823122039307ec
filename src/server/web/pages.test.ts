// The pages rendered with hostile values everywhere a build or a request puts text:
// nothing comes out as markup.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPage, etaText, progressText } from './build-page.ts';
import { buildsPage, progressOf } from './builds-page.ts';
import { errorPage, loginPage } from './layout.ts';
import { hideJobPaths, summarize, type JobView } from './view.ts';

const EVIL = `<script>alert("x")</script><img src=x onerror=alert(1)>'"&`;

/** Every tag in the page is one of ours: no <script> but the module link, no <img>, no event handler attribute. */
function assertNoInjection(page: string): void {
  const scripts = [...page.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
  for (const s of scripts) assert.match(s, /^<script type="module" src="\/assets\/[a-z-]+\.js">$/, s);
  // A literal "<" only ever opens one of our tags (text has it escaped); in those tags,
  // outside the quoted values, no event handler attribute and no unquoted value.
  const tags = [...page.matchAll(/<[a-zA-Z!/][^>]*>/g)].map((m) => m[0]);
  const names = new Set(tags.map((t) => /^<\/?([a-zA-Z!][a-zA-Z0-9]*)/.exec(t)![1]!.toLowerCase()));
  for (const n of names) assert.ok(OUR_TAGS.has(n), `unexpected tag <${n}>`);
  for (const t of tags) {
    const outside = t.replace(/"[^"]*"/g, '""');
    assert.doesNotMatch(outside, /\son[a-z]+\s*=/i, t);
    assert.doesNotMatch(outside, /=[^"\s>]/, `unquoted attribute value in ${t}`);
  }
  assert.doesNotMatch(page, /href="javascript:/i);
}

const OUR_TAGS = new Set('!doctype html head meta title link script body header a nav form span button main h1 h2 p time b div progress ul li table thead tbody tr th td section pre code label input'.split(' '));

function job(over: Partial<JobView>): JobView {
  return {
    jobId: `${EVIL}@amd64`, name: EVIL, version: EVIL, arch: 'amd64', state: 'failed', attempt: 1, why: EVIL, cause: EVIL,
    startedAt: 1000, endedAt: 2000, durationMs: 1000, log: `/api/v1/builds/b1/jobs/${encodeURIComponent(`${EVIL}@amd64`)}/log`, phase: null, ...over,
  };
}

test('the build page escapes package names, versions, causes, why, tenant, tree and error', () => {
  const build = { id: EVIL, tenant: EVIL, tree: EVIL, state: 'running' as const, error: EVIL, createdAt: 0, startedAt: 500, endedAt: null };
  const jobs = [job({}), job({ jobId: 'run@amd64', state: 'running', endedAt: null, durationMs: null, phase: EVIL })];
  const summary = summarize({ build, jobs, total: 3, slots: 1, now: 3000 });
  const samples = new Map([['run@amd64', { jobId: 'run@amd64', cpuCores: 1.25, memoryBytes: 3 * 1024 * 1024, diskBytes: 1536, at: 2900 }]]);
  const page = buildPage({ summary, jobs, samples, tenant: EVIL, admin: false, now: 3000 }).html;
  assertNoInjection(page);
  assert.ok(page.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&#39;&quot;&amp;'));
  // The event stream's URL in a data attribute: percent-encoded, then escaped.
  assert.match(page, /data-events="\/api\/v1\/builds\/%3Cscript%3Ealert\(%22x%22\)%3C%2Fscript%3E/);
  // Failures first, the running job's sample shown.
  assert.ok(page.indexOf('class="state-failed"') < page.indexOf('class="state-running"'));
  assert.match(page, /<td class="cpu">1\.25<\/td>/);
  assert.match(page, /<td class="memory">3\.0 MiB<\/td>/);
  assert.match(page, /<td class="disk">1\.5 KiB<\/td>/);
  assert.match(page, /<progress id="progress" max="3" value="1"><\/progress> <span id="progress-text">1 of 3 \(33%\)<\/span>/);
});

test('the builds list, login and error pages escape what they show', () => {
  const list = buildsPage({
    builds: [{ id: EVIL, tenant: EVIL, tree: EVIL, state: 'running', total: 4, counts: { built: 1, running: 1 }, createdAt: '2025-01-01T00:00:00.000Z', startedAt: '2025-01-01T00:00:01.000Z', endedAt: null }],
    tenant: EVIL,
    admin: true,
    now: Date.parse('2025-01-01T00:01:02.000Z'),
  }).html;
  assertNoInjection(list);
  assert.match(list, /href="\/builds\/%3Cscript%3E/);
  assert.match(list, /<progress max="4" value="1"><\/progress> 1\/4/);
  assert.match(list, /1m 01s/);

  const login = loginPage({ next: `/"><script>x</script>`, error: EVIL }).html;
  assertNoInjection(login);
  assert.match(login, /name="next" value="\/&quot;&gt;&lt;script&gt;x&lt;\/script&gt;"/);
  assert.match(login, /type="password"/);

  assertNoInjection(errorPage({ status: 404, message: EVIL, hint: EVIL, tenant: EVIL }).html);
});

test('etaText: as the local live view, jobs running with nothing left of the estimate are "running past the ETA"', () => {
  const table: Array<[string, Parameters<typeof etaText>[0], string]> = [
    ['not running', { state: 'done', etaMs: 0, running: 0 }, '—'],
    ['nothing to go by', { state: 'running', etaMs: null, running: 1 }, 'unknown'],
    ['time left', { state: 'running', etaMs: 65_000, running: 1 }, 'about 1m 05s'],
    ['past the estimate', { state: 'running', etaMs: 0, running: 2 }, 'running past the ETA'],
    ['under a second left of a running job', { state: 'running', etaMs: 400, running: 1 }, 'running past the ETA'],
    ['nothing running, nothing left', { state: 'running', etaMs: 0, running: 0 }, 'about 0s'],
  ];
  for (const [what, input, want] of table) assert.equal(etaText(input), want, what);
  // A job past its learned duration, nothing pending: the page says so, not "about 0s".
  const build = { id: 'b1', tenant: 'alice', tree: 'main', state: 'running' as const, error: null, createdAt: 0, startedAt: 0, endedAt: null };
  const s = summarize({ build, jobs: [job({ jobId: 'x@amd64', name: 'x', state: 'running', startedAt: 0, endedAt: null, durationMs: null })], total: 1, slots: 1, expectedMs: new Map([['x@amd64', 1000]]), now: 60_000 });
  assert.match(buildPage({ summary: s, jobs: [], samples: new Map(), tenant: 'alice', admin: false, now: 60_000 }).html, /<span id="eta">running past the ETA<\/span>/);
});

test('progress: cancelled jobs are not counted as done, on the build page and in the list', () => {
  const build = { id: 'b1', tenant: 'alice', tree: 'main', state: 'cancelled' as const, error: 'cancelled', createdAt: 0, startedAt: 0, endedAt: 10 };
  const jobs = [job({ jobId: 'a@amd64', name: 'a', state: 'built' }), job({ jobId: 'b@amd64', name: 'b', state: 'cancelled' }), job({ jobId: 'c@amd64', name: 'c', state: 'cancelled' })];
  const s = summarize({ build, jobs, total: 3, slots: 1, now: 20 });
  assert.equal(progressText(s), '1 of 3 (33%), 2 cancelled');
  assert.match(buildPage({ summary: s, jobs, samples: new Map(), tenant: 'alice', admin: false, now: 20 }).html, /<progress id="progress" max="3" value="1"><\/progress>/);
  assert.equal(progressText(summarize({ build: { ...build, state: 'done' }, jobs: [jobs[0]!], total: 1, slots: 1, now: 20 })), '1 of 1 (100%)');
  assert.deepEqual(progressOf({ total: 3, counts: { built: 1, cancelled: 2, running: 0 } }), { finished: 1, cancelled: 2, total: 3 });
  const list = buildsPage({ builds: [{ id: 'b1', tenant: 'alice', tree: 'main', state: 'cancelled', total: 3, counts: { built: 1, cancelled: 2 }, createdAt: '2025-01-01T00:00:00.000Z', startedAt: null, endedAt: null }], tenant: 'alice', admin: false, now: 0 }).html;
  assert.match(list, /<progress max="3" value="1"><\/progress> 1\/3 <span class="cancelled-note">2 cancelled<\/span>/);
});

test("the tree shows as the uploaded folder's name (the bundle id in its title); the error hint is shown with the error", () => {
  const build = { id: 'b1', tenant: 'alice', tree: 'bundle:tree-0123', treeName: 'my-tree', state: 'failed' as const, error: '{tree}/kiln.toml: jobs: bad', errorHint: 'fix it', createdAt: 0, startedAt: null, endedAt: 5 };
  const page = buildPage({ summary: summarize({ build, jobs: [], total: null, slots: 1, now: 9 }), jobs: [], samples: new Map(), tenant: 'alice', admin: false, now: 9 }).html;
  assert.match(page, /tree <b id="tree"><span title="bundle:tree-0123">my-tree<\/span><\/b>/);
  assert.match(page, /<p id="build-error-hint" class="hint">fix it<\/p>/);
  const named = buildPage({ summary: summarize({ build: { ...build, tree: 'main', treeName: null, errorHint: null }, jobs: [], total: null, slots: 1, now: 9 }), jobs: [], samples: new Map(), tenant: 'alice', admin: false, now: 9 }).html;
  assert.match(named, /tree <b id="tree">main<\/b>/);
  assert.match(named, /<p id="build-error-hint" class="hint" hidden><\/p>/);
  const list = buildsPage({ builds: [{ id: 'b1', tenant: 'alice', tree: 'bundle:tree-0123', treeName: 'my-tree', state: 'done', total: null, counts: null, createdAt: '2025-01-01T00:00:00.000Z', startedAt: null, endedAt: null }], tenant: 'alice', admin: false, now: 0 }).html;
  assert.match(list, /<td class="tree"><span title="bundle:tree-0123">my-tree<\/span><\/td>/);
});

test("hideJobPaths writes the daemon's copy of an uploaded tree as {tree} in a cause", () => {
  const dir = '/srv/kiln/bundles/alice/tree-0123';
  const hide = (t: string): string => t.replaceAll(dir, '{tree}');
  const v = job({ cause: `invalid recipe: ${dir}/broken/recipe.toml: summary: expected a string` });
  assert.equal(hideJobPaths(v, hide).cause, 'invalid recipe: {tree}/broken/recipe.toml: summary: expected a string');
  assert.equal(hideJobPaths(v, undefined), v, 'a named tree keeps its paths');
  assert.equal(hideJobPaths(job({ cause: null }), hide).cause, null);
});
