// apiReport: the daemon's paths in a run's report become what the rest of the API shows
// (log and artifact URLs, the build's tree name, `{tree}` for an uploaded tree's folder);
// reportHtmlCsp: the served page runs only its own scripts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ReportPackage, RunReport } from '../publish/report.ts';
import { renderReportHtml } from '../publish/report-html.ts';
import { apiReport, jobLogUrl, reportHtmlCsp } from './report-view.ts';
import { hideTreeRoot } from './tree-root.ts';

const STATE = '/var/lib/kiln-state';
const BUNDLE = `${STATE}/bundles/alice/tree-abc`;

const pkg = (p: Partial<ReportPackage> & Pick<ReportPackage, 'name' | 'state'>): ReportPackage => ({
  version: '1.0', arch: 'amd64', why: null, cause: null, durationMs: null, log: null, artifact: null, ...p,
});

const report: RunReport = {
  runId: 'r1',
  start: '2025-01-01T00:00:00.000Z',
  end: null,
  state: 'running',
  tree: BUNDLE,
  archs: ['amd64'],
  counts: { built: 1, 'up-to-date': 1, failed: 1, skipped: 0, broken: 1, cancelled: 0 },
  packages: [
    pkg({ name: 'ok', state: 'built', log: `${STATE}/logs/r1/ok_amd64.log`, artifact: `${STATE}/cache/artifacts/ab/abcd.tar.zst`, warnings: [`symlink into ${BUNDLE}/ok/x`] }),
    pkg({ name: 'empty', state: 'up-to-date', artifact: `${STATE}/cache/artifacts/cd/cdef` }),
    pkg({ name: 'bad', arch: 'arm64', state: 'failed', cause: 'exit status 1', log: 'logs/r1/bad_arm64.log', reason: 'exit-status' }),
    pkg({ name: 'odd', state: 'broken', cause: `${BUNDLE}/odd/recipe.toml: version: missing`, diagnostics: [`${BUNDLE}/odd/recipe.toml: version: missing`] }),
  ],
  running: [{ job: 'slow@amd64', startedAt: '2025-01-01T00:00:01.000Z', log: `${STATE}/logs/r1/slow_amd64.log` }],
  waiting: 0,
  lintian: [{ job: 'ok@amd64', changes: 'ok_1.0_amd64.changes', tags: [`W: ok: tag ${BUNDLE}/debian/x`] }],
};

test('apiReport: logs and artifacts are API URLs, the tree is the build\'s, an uploaded tree is {tree}', () => {
  const { report: out, logFiles } = apiReport(report, { buildId: 'b1', tree: 'bundle:tree-abc', stateRoot: STATE, hide: (s) => hideTreeRoot(s, BUNDLE) });
  const by = new Map(out.packages.map((p) => [p.name, p]));
  const table: Array<[string, string | null, string | null]> = [
    // name, log, artifact
    ['ok', '/api/v1/builds/b1/jobs/ok%40amd64/log', '/api/v1/builds/b1/jobs/ok%40amd64/artifact'],
    ['empty', null, null], // installed nothing: a folder, no archive to serve
    ['bad', '/api/v1/builds/b1/jobs/bad%40arm64/log', null],
    ['odd', null, null],
  ];
  for (const [name, log, artifact] of table) {
    assert.equal(by.get(name)?.log, log, name);
    assert.equal(by.get(name)?.artifact, artifact, name);
  }
  assert.equal(by.get('ok')?.log, jobLogUrl('b1', 'ok@amd64'), 'the URL GET …/jobs gives');
  assert.equal(out.tree, 'bundle:tree-abc');
  assert.equal(by.get('odd')?.cause, '{tree}/odd/recipe.toml: version: missing');
  assert.deepEqual(by.get('odd')?.diagnostics, ['{tree}/odd/recipe.toml: version: missing']);
  assert.deepEqual(by.get('ok')?.warnings, ['symlink into {tree}/ok/x']);
  assert.deepEqual(out.running, [{ job: 'slow@amd64', startedAt: '2025-01-01T00:00:01.000Z', log: '/api/v1/builds/b1/jobs/slow%40amd64/log' }]);
  assert.deepEqual(out.lintian?.[0]?.tags, ['W: ok: tag {tree}/debian/x']);
  assert.ok(!JSON.stringify(out).includes(STATE), `no server path left: ${JSON.stringify(out)}`);
  // The files behind the URLs, for the log tails (a relative log is under the state dir).
  assert.deepEqual([...logFiles].sort(), [
    ['/api/v1/builds/b1/jobs/bad%40arm64/log', `${STATE}/logs/r1/bad_arm64.log`],
    ['/api/v1/builds/b1/jobs/ok%40amd64/log', `${STATE}/logs/r1/ok_amd64.log`],
    ['/api/v1/builds/b1/jobs/slow%40amd64/log', `${STATE}/logs/r1/slow_amd64.log`],
  ]);
  assert.equal(report.packages[0]?.log, `${STATE}/logs/r1/ok_amd64.log`, 'the input is left alone');
});

test('apiReport: a named server tree keeps its texts; only the paths of files change', () => {
  const { report: out } = apiReport(report, { buildId: 'b2', tree: 'main', stateRoot: STATE });
  assert.equal(out.tree, 'main');
  assert.equal(out.packages.find((p) => p.name === 'odd')?.cause, `${BUNDLE}/odd/recipe.toml: version: missing`);
});

test('reportHtmlCsp allows the page\'s own inline scripts by hash, nothing else', () => {
  const sha = (t: string): string => createHash('sha256').update(t).digest('base64');
  const { report: out } = apiReport(report, { buildId: 'b1', tree: 'main', stateRoot: STATE });
  const html = renderReportHtml(out, { logTail: () => ['<script>alert(1)</script>'], logHref: (u) => u });
  const csp = reportHtmlCsp(html, sha);
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)];
  assert.equal(scripts.length, 1, 'the log tail is escaped: one script, the page\'s own');
  assert.match(csp, new RegExp(`script-src 'sha256-${sha(scripts[0]![1]!).replace(/[+/]/g, '\\$&')}'(;|$)`));
  assert.doesNotMatch(csp, /script-src[^;]*unsafe-inline/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(reportHtmlCsp('<p>no script</p>', sha), /script-src 'none'/);
  assert.match(html, /href="\/api\/v1\/builds\/b1\/jobs\/bad%40arm64\/log"/);
});
