import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReportPackage, RunReport } from './report.ts';
import { buildModeCount, esc, formatMs, packageCount, renderReportHtml } from './report-html.ts';

const pkg = (name: string, state: ReportPackage['state'], extra: Partial<ReportPackage> = {}): ReportPackage => ({
  name, version: '1.0', arch: 'amd64', state, why: null, cause: null, durationMs: null, log: null, artifact: null, ...extra,
});

const report: RunReport = {
  runId: 'r-42',
  start: '2025-01-02T03:04:05.000Z',
  end: '2025-01-02T03:06:05.000Z',
  tree: '/src/my tree',
  archs: ['amd64', 'arm64'],
  maxJobs: 3,
  kilnVersion: '9.8.7',
  counts: { built: 2, 'up-to-date': 1, failed: 2, skipped: 2, broken: 1, cancelled: 0 },
  packages: [
    pkg('aaa-built', 'built', { why: 'new', durationMs: 1200, artifact: '/cache/a.tar' }),
    pkg('bbb-skipped', 'skipped', { cause: 'dependency zzz-fail@amd64 failed' }),
    pkg('bbc-skipped', 'skipped', { cause: 'needs zzz-fail (amd64), which failed', skippedBecause: ['zzz-fail@amd64'] }),
    pkg('yyy-fail', 'failed', { why: 'new', cause: 'timed out', reason: 'timeout', durationMs: 9000 }),
    pkg('ccc-uptodate', 'up-to-date'),
    pkg('ddd-broken', 'broken', { cause: 'needs libquux, which nothing provides' }),
    pkg('evil<img src=x onerror=alert(1)>', 'built', { durationMs: 5 }),
    pkg('zzz-fail', 'failed', { why: 'recipe-changed', cause: 'build exited with status 2', reason: 'exit-status', durationMs: 300, log: '/logs/zzz.log' }),
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
  assert.deepEqual(names, ['failed', 'failed', 'broken', 'skipped', 'skipped', 'built', 'built', 'up-to-date']);
  assert.match(body, /data-ms="1200"/);
  assert.match(body, /data-ms="-1"/);
});

test('counts are shown per state with a colour, the page loads nothing external', () => {
  const html = renderReportHtml(report, { logTail });
  assert.match(html, /<li class="state s-failed"><span>failed<\/span> <b>2<\/b><\/li>/);
  assert.match(html, /<li class="state s-built"><span>built<\/span> <b>2<\/b><\/li>/);
  assert.match(html, /<li class="state s-cancelled zero"><span>cancelled<\/span> <b>0<\/b><\/li>/, 'a state with none is dimmed');
  assert.match(html, /\.counts \.s-failed\{background:#[0-9a-f]{6}\}/);
  assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//);
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  assert.match(html, /<title>kiln run r-42: 2 failed<\/title>/);
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
  assert.equal(formatMs(59_960), '1 m 00 s', 'rounded to the unit shown, not 60.0 s');
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

const text = (html: string): string => html.replace(/<[^>]+>/g, '').replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));

test('a header line names the tree, the arches, --jobs and the kiln version; left out when the report has none', () => {
  const html = renderReportHtml(report, { logTail });
  const line = /<p class="meta run">(.*)<\/p>/.exec(html);
  assert.ok(line !== null, 'no run line');
  assert.equal(text(line[1]!), 'tree /src/my tree · arches amd64, arm64 · --jobs 3 · kiln 9.8.7');
  const { tree: _t, archs: _a, maxJobs: _m, kilnVersion: _k, ...bare } = report;
  assert.doesNotMatch(renderReportHtml(bare, { logTail }), /class="meta run"/);
});

test('the summary says which failure caused how many skips, most first, each a link to its failure', () => {
  const html = renderReportHtml(report, { logTail });
  const list = /<ul class="blame">\n([\s\S]*?)\n<\/ul>/.exec(html);
  assert.ok(list !== null, 'no blame list');
  assert.ok(html.indexOf('class="blame"') < html.indexOf('id="failures"'), 'in the summary, above the failures');
  const items = list[1]!.split('\n');
  assert.deepEqual(items.map(text), [
    'failed: zzz-fail 1.0 amd64 exit-status — skipped because of it: 1',
    'failed: yyy-fail 1.0 amd64 timeout — skipped because of it: 0',
  ]);
  // The link goes to the failure's article; the skip's cause links there too.
  const href = /href="#([^"]+)"/.exec(items[0]!)![1]!;
  assert.match(html, new RegExp(`<article class="failure" id="${href}">\\n<h3><b>zzz-fail</b>`));
  assert.ok(html.includes(`<a class="cause-text" href="#${href}">needs zzz-fail (amd64), which failed</a>`));
  assert.ok(html.includes('<p class="skips">skipped because of it (1): bbc-skipped <span class="arch">amd64</span></p>'));
  assert.doesNotMatch(renderReportHtml({ ...report, packages: report.packages.filter((p) => p.state !== 'failed') }, { logTail }), /class="blame"/);
});

test('a log is a link (the href the caller gives, escaped); the tail is in a <details> open by default', () => {
  const html = renderReportHtml(report, { logTail, logHref: (log) => `../..${log.replace('zzz', 'z"z')}` });
  assert.ok(html.includes('<a href="../../logs/z&#34;z.log"><code>/<wbr>logs/<wbr>zzz.log</code></a>'));
  assert.match(html, /<details class="tail" open><summary>last 50 lines of the log<\/summary><pre class="tail">log line 13\n/);
  // No href given: the path without a link.
  assert.doesNotMatch(renderReportHtml(report, { logTail }), /<a href="[^#]/);
});

test('report.html: lintian\'s tags per .changes, escaped, and a lintian that could not run says why', async () => {
  const { renderReportHtml } = await import('./report-html.ts');
  const html = renderReportHtml(
    {
      runId: 'r1', start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T00:01:00.000Z',
      counts: { built: 2, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 0 }, packages: [],
      lintian: [
        { job: 'hello@amd64', changes: 'hello_2.10-3_amd64.changes', errors: 1, warnings: 1, tags: ['E: hello: some-error <x>', 'W: hello changes: distribution-and-changes-mismatch bookworm unstable'] },
        { job: 'foo@amd64', changes: 'foo_1-1_amd64.changes', tags: [], error: 'lintian is not installed' },
      ],
    },
    { logTail: () => [] },
  );
  assert.match(html, /<h2>Lintian \(1 error, 1 warning\)<\/h2>/);
  assert.match(html, /<code>E: hello: some-error &#60;x&#62;<\/code>/);
  assert.match(html, /foo_1-1_amd64\.changes<\/code><\/td><td>lintian is not installed/);
});

test('a package a kiln worker built names the worker (escaped)', () => {
  const html = renderReportHtml({ ...report, packages: [pkg('w-built', 'built', { why: 'new', durationMs: 10, worker: 'build<3>:42' })] }, { logTail });
  assert.match(html, /<td>new \(worker build&#60;3&#62;:42\)<\/td>/);
});

test('the package count of a live report counts the running and waiting ones too', () => {
  const live: RunReport = { ...report, end: null, state: 'running', packages: [], counts: { built: 0, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 0 }, running: [{ job: 'a@amd64', startedAt: report.start, log: null }], waiting: 0 };
  assert.match(renderReportHtml(live, { logTail }), /still running · 1 package: 1 running<\/p>/);
  assert.equal(packageCount({ ...live, packages: [pkg('b', 'built')], waiting: 2 }), '4 packages: 1 settled, 1 running, 2 waiting');
  assert.equal(packageCount(report), '8 packages', 'a finished run: the settled ones are all');
  assert.equal(packageCount({ ...report, packages: [pkg('b', 'built')] }), '1 package');
});

test('a failure where QEMU\'s user emulation failed says so by its error line', () => {
  const failed = report.packages.find((p) => p.name === 'zzz-fail')!;
  const emulated = { ...report, packages: [{ ...failed, arch: 'riscv64', errorLine: 'qemu: uncaught target signal 4 (Illegal instruction) - core dumped', underEmulation: true }] };
  assert.match(renderReportHtml(emulated, { logTail }), /the log's error: <code>qemu: uncaught target signal 4 \(Illegal instruction\) - core dumped<\/code> — under QEMU's user emulation, which may be at fault, not the package/);
  // qemu said nothing (7.2): the SIGILL of a job built under emulation (failure-triage.ts mayBeEmulator).
  const sigill = { ...report, packages: [{ ...failed, arch: 'riscv64', buildMode: 'emulated' as const, errorLine: 'the build script was killed by SIGILL', underEmulation: true }] };
  assert.match(renderReportHtml(sigill, { logTail }), /the log's error: <code>the build script was killed by SIGILL<\/code> — under QEMU's user emulation, which may be at fault, not the package \(qemu's own error, or an instruction the emulated CPU lacks\): build it on a native machine of its arch to tell/);
  assert.doesNotMatch(renderReportHtml({ ...report, packages: [{ ...failed, errorLine: 'a.c:1: error: x' }] }, { logTail }), /user emulation/);
});

test('a Debian run whose apt repository could not be published says so near the top, escaped; others show nothing of it', () => {
  const html = renderReportHtml({ ...report, publishError: "EROFS: read-only file system, open '/repo/<x>/.kiln/publish.lock'" }, { logTail });
  assert.match(html, /<section id="publish">\n<h2>Not published<\/h2>\n<p>The apt repository could not be published, so the run failed: <code>EROFS: read-only file system, open &#39;\/repo\/&#60;x&#62;\/.kiln\/publish.lock&#39;<\/code>/);
  assert.ok(html.indexOf('id="publish"') < html.indexOf('id="failures"'), 'before the failures');
  assert.doesNotMatch(renderReportHtml(report, { logTail }), /id="publish"/);
});

test('the table of all packages links every package\'s log (a built one\'s too) where the page can make links', () => {
  const withLogs: RunReport = { ...report, packages: [pkg('aaa-built', 'built', { log: '/logs/r/aaa.log', durationMs: 5 }), pkg('bbb-uptodate', 'up-to-date')] };
  const html = renderReportHtml(withLogs, { logTail: () => [], logHref: (l) => `../..${l}?x=<1>` });
  const table = html.slice(html.indexOf('<table id="pkgs">'));
  assert.match(table, /<th>Log<\/th><th>Artifact<\/th>/);
  assert.match(table, /aaa-built<\/td>.*<td><a href="\.\.\/\.\.\/logs\/r\/aaa\.log\?x=&#60;1&#62;">log<\/a><\/td>/);
  assert.match(table, /bbb-uptodate<\/td>.*<td><\/td><td><\/td><\/tr>/, 'none for a package without a log');
  assert.doesNotMatch(renderReportHtml(withLogs, { logTail: () => [] }).slice(html.indexOf('<table id="pkgs">')), /<a href/, 'no link without logHref');
});

test('how a package was built when not natively: a mark by its arch (table and failure), the built ones counted in the summary', () => {
  const modes: RunReport = {
    ...report,
    packages: [
      pkg('native', 'built', { durationMs: 5 }),
      pkg('xlib', 'built', { arch: 'arm64', buildMode: 'cross', durationMs: 5 }),
      pkg('ylib', 'built', { arch: 'arm64', buildMode: 'cross', durationMs: 5 }),
      pkg('tool', 'built', { arch: 'riscv64', buildMode: 'recipe-cross', durationMs: 5 }),
      pkg('zlib', 'failed', { arch: 'riscv64', buildMode: 'emulated', cause: 'build exited with status 2', reason: 'exit-status', durationMs: 5 }),
    ],
  };
  const html = renderReportHtml(modes, { logTail });
  assert.match(html, /<td>tool<\/td><td>1\.0<\/td><td>riscv64 <span class="mode" title="[^"]*\$KILN_ARCH[^"]*">\(cross by recipe\)<\/span><\/td>/);
  assert.match(html, /<h3><b>zlib<\/b> 1\.0 <span class="arch">riscv64 <span class="mode" [^>]*>\(QEMU\)<\/span><\/span>/, 'the failure says it too');
  assert.match(html, /<td>native<\/td><td>1\.0<\/td><td>amd64<\/td>/);
  // Only the built ones are counted (the failed zlib is not).
  assert.match(html, / · 5 packages · 2 cross-built \(nocheck: their tests did not run\) · 1 built by its recipe&#39;s script on another arch<\/p>/, 'escaped as the page escapes');
  assert.deepEqual(buildModeCount([pkg('a', 'built', { buildMode: 'emulated' }), pkg('b', 'built', { buildMode: 'recipe-cross' }), pkg('c', 'built', { buildMode: 'recipe-cross' })]), ['1 built under QEMU emulation', "2 built by their recipes' scripts on another arch"]);
  assert.deepEqual(buildModeCount(report.packages), [], 'all native: nothing said');
});
