// The pages rendered with hostile values everywhere a build or a request puts text:
// nothing comes out as markup.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPage } from './build-page.ts';
import { buildsPage } from './builds-page.ts';
import { errorPage, loginPage } from './layout.ts';
import { summarize, type JobView } from './view.ts';

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
