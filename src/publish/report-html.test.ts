import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReportPackage, RunReport } from './report.ts';
import { esc, formatMs, renderReportHtml } from './report-html.ts';

const pkg = (name: string, state: ReportPackage['state'], extra: Partial<ReportPackage> = {}): ReportPackage => ({
  name, version: '1.0', arch: 'amd64', state, why: null, cause: null, durationMs: null, log: null, artifact: null, ...extra,
});

const report: RunReport = {
  runId: 'r-42',
  start: '2025-01-02T03:04:05.000Z',
  end: '2025-01-02T03:06:05.000Z',
  counts: { built: 2, 'up-to-date': 1, failed: 1, skipped: 1, broken: 1, cancelled: 0 },
  packages: [
    pkg('aaa-built', 'built', { why: 'new', durationMs: 1200, artifact: '/cache/a.tar' }),
    pkg('bbb-skipped', 'skipped', { cause: 'dependency zzz-fail@amd64 failed' }),
    pkg('ccc-uptodate', 'up-to-date'),
    pkg('ddd-broken', 'broken', { cause: 'needs libquux, which nothing provides' }),
    pkg('evil<img src=x onerror=alert(1)>', 'built', { durationMs: 5 }),
    pkg('zzz-fail', 'failed', { why: 'recipe-changed', cause: 'build exited with status 2', durationMs: 300, log: '/logs/zzz.log' }),
  ],
};

const logTail = (path: string): string[] =>
  path === '/logs/zzz.log'
    ? [...Array.from({ length: 60 }, (_, i) => `log line ${i + 1}`), '<script>alert("pwned")</script>', '\x1b[31mred\x1b[0m & done']
    : [];

test('everything from packages and logs is escaped', () => {
  const html = renderReportHtml(report, { logTail });
  assert.equal(html.match(/<script/g)?.length, 1, 'only the page’s own script tag');
  assert.ok(html.includes('&#60;script&#62;alert(&#34;pwned&#34;)&#60;/script&#62;'));
  assert.equal(html.includes('<img'), false);
  assert.ok(html.includes('evil&#60;img src=x onerror=alert(1)&#62;'));
  assert.ok(html.includes('red &#38; done'), 'colour codes stripped, ampersand escaped');
  assert.equal(html.includes('\x1b'), false);
});

test('failures come first, with the last 50 log lines; skipped and broken show their cause', () => {
  const html = renderReportHtml(report, { logTail });
  const at = (s: string) => {
    const i = html.indexOf(s);
    assert.ok(i >= 0, `missing ${s}`);
    return i;
  };
  assert.ok(at('id="failures"') < at('id="broken"'));
  assert.ok(at('id="broken"') < at('id="skipped"'));
  assert.ok(at('id="skipped"') < at('id="packages"'));
  assert.ok(at('build exited with status 2') < at('id="broken"'));
  // 62 lines offered, 50 shown: lines 1..12 are cut.
  assert.ok(html.includes('log line 13\n'));
  assert.equal(html.includes('log line 12\n'), false);
  assert.ok(at('needs libquux, which nothing provides') > at('id="broken"'));
  assert.ok(at('dependency zzz-fail@amd64 failed') > at('id="skipped"'));
  assert.equal(html.includes('id="cancelled"'), false, 'empty sections are left out');

  // The package table: failed, broken, skipped, built (by name), up-to-date.
  const body = html.slice(html.indexOf('<table id="pkgs">'));
  const names = [...body.matchAll(/<tr data-i="\d+" data-rank="\d+" data-ms="(-?\d+)"><td class="state s-([a-z-]+)">/g)].map((m) => m[2]);
  assert.deepEqual(names, ['failed', 'broken', 'skipped', 'built', 'built', 'up-to-date']);
  assert.match(body, /data-ms="1200"/);
  assert.match(body, /data-ms="-1"/);
});

test('counts are shown per state with a colour, the page loads nothing external', () => {
  const html = renderReportHtml(report, { logTail });
  assert.match(html, /<li class="state s-failed"><span>failed<\/span> <b>1<\/b><\/li>/);
  assert.match(html, /<li class="state s-built"><span>built<\/span> <b>2<\/b><\/li>/);
  assert.match(html, /\.counts \.s-failed\{background:#[0-9a-f]{6}\}/);
  assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//);
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  assert.match(html, /<title>kiln run r-42: 1 failed<\/title>/);
});

test('the inline script is valid JavaScript', () => {
  const html = renderReportHtml(report, { logTail });
  const script = html.slice(html.indexOf('<script>') + 8, html.indexOf('</script>'));
  assert.doesNotThrow(() => new Function(script));
});

test('esc and formatMs', () => {
  assert.equal(esc(`<a href="x">'&'</a>`), '&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;');
  assert.equal(formatMs(450), '450 ms');
  assert.equal(formatMs(12_340), '12.3 s');
  assert.equal(formatMs(185_000), '3 m 05 s');
  assert.equal(formatMs(3_725_000), '1 h 02 m');
});

test('long paths may wrap after each /; a failure’s log tail is shown whole, not in a scroll box', () => {
  const html = renderReportHtml(report, { logTail });
  assert.ok(html.includes('<code>/<wbr>cache/<wbr>a.tar</code>'), 'the artifact path');
  assert.ok(html.includes('<code>/<wbr>logs/<wbr>zzz.log</code>'), 'the log path');
  const css = html.slice(html.indexOf('<style>'), html.indexOf('</style>'));
  assert.match(css, /code\{overflow-wrap:anywhere\}/);
  const preRules = [...css.matchAll(/(?:^|\n)([^{\n]*\bpre\b[^{]*)\{([^}]*)\}/g)].filter(([, sel]) => !/details/.test(sel!));
  assert.ok(preRules.length > 0);
  for (const [, sel, body] of preRules) assert.doesNotMatch(body!, /max-height/, `${sel} limits the log tail's height`);
});
