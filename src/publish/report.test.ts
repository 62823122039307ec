import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { KilnError } from '../errors.ts';
import { EventBus, type KilnEvent } from '../events/events.ts';
import { openRecords, type Records } from '../records/records.ts';
import { recordEvents } from '../records/subscriber.ts';
import { buildReport, categoriesOf, labelsOf, readLogTail, relativeHref, writeReport } from './report.ts';
import { skippedCause } from './report-diagnostics.ts';
import { renderReportHtml } from './report-html.ts';

function setup(t: TestContext): { dir: string; records: Records; bus: EventBus } {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-report-'));
  const records = openRecords(dir);
  t.after(() => {
    records.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, records, bus: new EventBus() };
}

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5);

/**
 * A small run: zlib built, openssl failed, curl and git skipped because of it, rust
 * broken, make up-to-date, x cancelled, wget skipped naming a package that did not fail.
 */
function syntheticRun(bus: EventBus, logDir: string, options: { finish?: boolean } = {}): void {
  const pkg = (name: string, version: string) => ({ runId: 'run-1', jobId: `${name}@amd64`, name, version, arch: 'amd64' });
  const failLog = join(logDir, 'openssl.log');
  writeFileSync(failLog, Array.from({ length: 80 }, (_, i) => `line ${i + 1}`).join('\n') + '\n');
  const events: KilnEvent[] = [
    { type: 'run-started', runId: 'run-1', at: T0, tree: '/trees/demo', targets: ['all'], archs: ['amd64'], total: 6, maxJobs: 2, toBuild: ['zlib@amd64', 'openssl@amd64', 'x@amd64', 'later@amd64'] },
    { type: 'job-settled', ...pkg('make', '4.4'), state: 'up-to-date', key: 'kmake', artifact: '/cache/make.tar', at: T0 + 1 },
    { type: 'job-settled', ...pkg('rust', '1.80'), state: 'broken', cause: 'rust needs llvm (>= 18), which no recipe provides', at: T0 + 1 },
    { type: 'job-started', ...pkg('zlib', '1.3'), why: { kind: 'source-changed' }, attempt: 1, log: '/logs/zlib.log', at: T0 + 10, expectedMs: undefined },
    { type: 'job-finished', ...pkg('zlib', '1.3'), state: 'built', key: 'kz', outputHash: 'oz', artifact: '/cache/zlib.tar', startedAt: T0 + 10, at: T0 + 1510 },
    { type: 'job-started', ...pkg('openssl', '3.0'), why: { kind: 'new' }, attempt: 1, log: failLog, at: T0 + 20, expectedMs: 900 },
    {
      type: 'job-finished', ...pkg('openssl', '3.0'), state: 'failed', key: 'ko', failure: { reason: 'exit-status', message: 'build exited with status 2' },
      exitCode: 2, signal: null, startedAt: T0 + 20, at: T0 + 2020,
    },
    { type: 'job-settled', ...pkg('curl', '8.0'), state: 'skipped', cause: skippedCause('openssl', 'amd64'), at: T0 + 2021 },
    { type: 'job-settled', ...pkg('git', '2.4'), state: 'skipped', cause: skippedCause('openssl', 'amd64'), at: T0 + 2021 },
    { type: 'job-settled', ...pkg('wget', '1.2'), state: 'skipped', cause: skippedCause('zlib', 'amd64'), at: T0 + 2021 },
    { type: 'job-started', ...pkg('x', '1'), why: { kind: 'forced' }, attempt: 1, log: '/logs/x.log', at: T0 + 30, expectedMs: undefined },
  ];
  if (options.finish !== false) {
    events.push(
      { type: 'job-finished', ...pkg('x', '1'), state: 'cancelled', key: 'kx', startedAt: T0 + 30, at: T0 + 2030 },
      { type: 'run-finished', runId: 'run-1', at: T0 + 3000, state: 'failed', counts: { built: 1, 'up-to-date': 1, failed: 1, skipped: 3, broken: 1, cancelled: 1 } },
    );
  }
  for (const e of events) bus.emit(e);
}

test('buildReport: exact JSON shape from a synthetic run', (t) => {
  const { dir, records, bus } = setup(t);
  const rec = recordEvents(bus, records);
  syntheticRun(bus, dir);
  rec.dispose();
  const report = buildReport(records, 'run-1');
  assert.deepEqual(Object.keys(report), ['runId', 'start', 'end', 'state', 'tree', 'archs', 'maxJobs', 'kilnVersion', 'counts', 'packages']);
  assert.equal(report.state, 'failed');
  assert.equal(report.start, '2025-01-02T03:04:05.000Z');
  assert.equal(report.end, '2025-01-02T03:04:08.000Z');
  assert.equal(report.tree, '/trees/demo');
  assert.deepEqual(report.archs, ['amd64']);
  assert.equal(report.maxJobs, 2);
  assert.equal(report.kilnVersion, (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version);
  assert.deepEqual(report.counts, { built: 1, 'up-to-date': 1, failed: 1, skipped: 3, broken: 1, cancelled: 1 });
  assert.deepEqual(Object.keys(report.packages[0]!), ['name', 'version', 'arch', 'state', 'why', 'cause', 'durationMs', 'log', 'artifact', 'skippedBecause']);
  assert.deepEqual(
    report.packages.map((p) => [p.name, p.state, p.why, p.cause, p.durationMs, p.artifact]),
    [
      ['curl', 'skipped', null, 'needs openssl (amd64), which failed', null, null],
      ['git', 'skipped', null, 'needs openssl (amd64), which failed', null, null],
      ['make', 'up-to-date', null, null, null, '/cache/make.tar'],
      ['openssl', 'failed', 'new', 'build exited with status 2', 2000, null],
      ['rust', 'broken', null, 'rust needs llvm (>= 18), which no recipe provides', null, null],
      ['wget', 'skipped', null, 'needs zlib (amd64), which failed', null, null],
      ['x', 'cancelled', 'forced', null, 2000, null],
      ['zlib', 'built', 'source-changed', null, 1500, '/cache/zlib.tar'],
    ],
  );
  assert.equal(report.packages.find((p) => p.name === 'zlib')?.log, '/logs/zlib.log');
});

test('buildReport: a failure’s reason code; a skip’s failed dependency as a job id, only when that job failed', (t) => {
  const { dir, records, bus } = setup(t);
  const rec = recordEvents(bus, records);
  syntheticRun(bus, dir);
  rec.dispose();
  const report = buildReport(records, 'run-1');
  assert.deepEqual(
    report.packages.map((p) => [p.name, p.reason ?? null, p.skippedBecause ?? null]),
    [
      ['curl', null, ['openssl@amd64']],
      ['git', null, ['openssl@amd64']],
      ['make', null, null],
      ['openssl', 'exit-status', null],
      ['rust', null, null],
      // zlib built: a cause naming it is not a failure of this run.
      ['wget', null, null],
      ['x', null, null],
      ['zlib', null, null],
    ],
  );
  const json = JSON.parse(JSON.stringify(report)) as { packages: Record<string, unknown>[] };
  assert.equal(json.packages.find((p) => p['name'] === 'openssl')?.['reason'], 'exit-status');
  assert.equal('reason' in json.packages.find((p) => p['name'] === 'zlib')!, false, 'present only for failures');
});

test('buildReport: the categories it is given (from the plan) on their packages, in the JSON and in the HTML as category/name', (t) => {
  const { dir, records, bus } = setup(t);
  const rec = recordEvents(bus, records);
  syntheticRun(bus, dir);
  rec.dispose();
  const categories = categoriesOf({ nodes: [{ name: 'openssl', spec: { category: 'security' } }, { name: 'curl', spec: { category: 'net' } }, { name: 'zlib', spec: {} }, { name: 'rust', spec: undefined }] });
  assert.deepEqual([...categories], [['openssl', 'security'], ['curl', 'net']]);
  // An invalid recipe has no spec: its category comes from the scan's invalid list.
  assert.deepEqual([...categoriesOf({ nodes: [{ name: 'rust', spec: undefined }] }, [{ name: 'rust', category: 'lang' }, { name: 'go' }])], [['rust', 'lang']]);
  const report = buildReport(records, 'run-1', categories);
  assert.deepEqual(report.packages.filter((p) => p.category !== undefined).map((p) => [p.name, p.category]), [['curl', 'net'], ['openssl', 'security']]);
  assert.equal('category' in report.packages.find((p) => p.name === 'zlib')!, false, 'present only for a package in a category');
  const html = renderReportHtml(report, { logTail: () => [] });
  assert.match(html, /<td><span class="cat">net\/<\/span>curl<\/td>/);
  assert.match(html, /<span class="cat">security\/<\/span><b>openssl<\/b>/, 'the failure section names it so too');
  assert.doesNotMatch(renderReportHtml(buildReport(records, 'run-1'), { logTail: () => [] }), /class="cat"/);
});

test('buildReport: how each job not built natively was built (from the plan and envs, by job id) on its package, absent for a native one; report.html marks its arch', (t) => {
  const { dir, records, bus } = setup(t);
  const rec = recordEvents(bus, records);
  const job = (name: string, arch: string) => ({ runId: 'run-1', jobId: `${name}@${arch}`, name, version: '1', arch });
  const events: KilnEvent[] = [
    { type: 'run-started', runId: 'run-1', at: T0, tree: '/t', targets: [], archs: ['amd64', 'arm64', 'riscv64'], total: 4, maxJobs: 2, toBuild: ['hello@amd64', 'hello@arm64', 'zlib@riscv64'] },
    ...(['hello@amd64', 'hello@arm64', 'zlib@riscv64'] as const).flatMap((id): KilnEvent[] => {
      const [name, arch] = id.split('@') as [string, string];
      return [
        { type: 'job-started', ...job(name, arch), why: { kind: 'new' }, attempt: 1, log: `/logs/${name}_${arch}.log`, at: T0 + 1, expectedMs: undefined },
        { type: 'job-finished', ...job(name, arch), state: 'built', key: `k-${id}`, outputHash: `o-${id}`, artifact: `/cache/${name}_${arch}.tar`, startedAt: T0 + 1, at: T0 + 101 },
      ];
    }),
    { type: 'job-settled', ...job('libx', 'arm64'), state: 'broken', cause: 'arm64: build dependencies not installable for a cross build from amd64', at: T0 + 1 },
    { type: 'run-finished', runId: 'run-1', at: T0 + 200, state: 'failed', counts: { built: 3, 'up-to-date': 0, failed: 0, skipped: 0, broken: 1, cancelled: 0 } },
  ];
  for (const e of events) bus.emit(e);
  rec.dispose();
  const modes = new Map([['hello@arm64', 'cross'], ['libx@arm64', 'cross'], ['zlib@riscv64', 'emulated']] as const);
  const report = buildReport(records, 'run-1', undefined, undefined, undefined, modes);
  assert.deepEqual(report.packages.map((p) => [p.name, p.arch, p.buildMode]), [['hello', 'amd64', undefined], ['hello', 'arm64', 'cross'], ['libx', 'arm64', 'cross'], ['zlib', 'riscv64', 'emulated']]);
  const json = JSON.parse(JSON.stringify(report)) as { packages: Record<string, unknown>[] };
  assert.deepEqual(Object.keys(json.packages[1]!).slice(0, 5), ['name', 'version', 'arch', 'buildMode', 'state'], 'beside the arch');
  assert.equal('buildMode' in json.packages[0]!, false, 'absent for a native build');
  const html = renderReportHtml(report, { logTail: () => [] });
  assert.match(html, /<td>hello<\/td><td>1<\/td><td>arm64 <span class="mode" title="[^"]*nocheck[^"]*">\(cross\)<\/span><\/td>/);
  assert.match(html, /<td>zlib<\/td><td>1<\/td><td>riscv64 <span class="mode" title="[^"]*QEMU[^"]*">\(QEMU\)<\/span><\/td>/);
  assert.match(html, /<td>hello<\/td><td>1<\/td><td>amd64<\/td>/, 'a native row as before');
  // The summary counts the built ones (libx is broken).
  assert.match(html, / · 4 packages · 1 cross-built \(nocheck: their tests did not run\) · 1 built under QEMU emulation<\/p>/);
  // Without the modes (a report remade from the records alone): no mark, no count.
  assert.doesNotMatch(renderReportHtml(buildReport(records, 'run-1'), { logTail: () => [] }), /class="mode"|cross-built|under QEMU/);
});

test('writeReport: a job built under QEMU emulation that died of SIGILL (qemu saying nothing) is underEmulation, with the hint; natively it is not', async (t) => {
  const { dir, records, bus } = setup(t);
  const rec = recordEvents(bus, records);
  const job = (name: string, arch: string) => ({ runId: 'run-1', jobId: `${name}@${arch}`, name, version: '1', arch });
  // [name, arch, failure, exit status or signal, its log's lines]
  const rows: [string, string, string, number | string, string[]][] = [
    ['gawk', 'riscv64', 'the build script was killed by SIGILL', 'SIGILL', ['[   0.500] o running gen-tables']],
    ['sed', 'riscv64', 'the build script exited with status 132', 132, ['[   0.500] e ./build.sh: line 3:  4242 Illegal instruction     (core dumped) ./conftest']],
    ['grep', 'riscv64', 'the build script exited with status 1', 1, ['[   0.500] e a.c:1:1: error: expected \';\'']],
    ['gawk', 'amd64', 'the build script was killed by SIGILL', 'SIGILL', ['[   0.500] o running gen-tables']],
  ];
  const events: KilnEvent[] = [{ type: 'run-started', runId: 'run-1', at: T0, tree: '/t', targets: [], archs: ['amd64', 'riscv64'], total: rows.length, maxJobs: 2, toBuild: rows.map(([n, a]) => `${n}@${a}`) }];
  for (const [name, arch, message, end, lines] of rows) {
    const log = join(dir, `${name}_${arch}.log`);
    writeFileSync(log, [...lines, `[   0.600] k failed: ${message}`].join('\n') + '\n');
    events.push(
      { type: 'job-started', ...job(name, arch), why: { kind: 'new' }, attempt: 1, log, at: T0 + 1, expectedMs: undefined },
      { type: 'job-finished', ...job(name, arch), state: 'failed', key: `k-${name}-${arch}`, failure: { reason: typeof end === 'string' ? 'signal' : 'exit-status', message }, exitCode: typeof end === 'number' ? end : null, signal: typeof end === 'string' ? end : null, startedAt: T0 + 1, at: T0 + 601 },
    );
  }
  events.push({ type: 'run-finished', runId: 'run-1', at: T0 + 700, state: 'failed', counts: { built: 0, 'up-to-date': 0, failed: rows.length, skipped: 0, broken: 0, cancelled: 0 } });
  for (const e of events) bus.emit(e);
  rec.dispose();
  const modes = new Map([['gawk@riscv64', 'emulated'], ['sed@riscv64', 'emulated'], ['grep@riscv64', 'emulated']] as const);
  const { report, html } = await writeReport(dir, buildReport(records, 'run-1', undefined, undefined, undefined, modes));
  const json = JSON.parse(readFileSync(join(dir, 'runs', 'run-1', 'report.json'), 'utf8')) as typeof report;
  assert.deepEqual(json.packages.map((p) => [`${p.name}@${p.arch}`, p.underEmulation ?? false]), [['gawk@amd64', false], ['gawk@riscv64', true], ['grep@riscv64', false], ['sed@riscv64', true]]);
  const page = readFileSync(html, 'utf8');
  assert.equal(page.match(/under QEMU's user emulation, which may be at fault/g)?.length, 2, 'the hint, for the two');
});

test('relativeHref: from the report’s folder to a log, percent-encoded per segment', () => {
  assert.equal(relativeHref('/s/runs/r1', '/s/logs/r1/zlib_amd64.log'), '../../logs/r1/zlib_amd64.log');
  assert.equal(relativeHref('/s/runs/r1', '/s/logs/r1/g++ #1?_amd64.log'), '../../logs/r1/g%2B%2B%20%231%3F_amd64.log');
});

test('a live run leaves out running jobs; an interrupted one calls them cancelled', (t) => {
  const { dir, records, bus } = setup(t);
  const rec = recordEvents(bus, records);
  syntheticRun(bus, dir, { finish: false });
  rec.flush();
  const live = buildReport(records, 'run-1');
  assert.equal(live.end, null);
  assert.equal(live.packages.some((p) => p.name === 'x'), false);
  // ... and says what builds now and how many wait (the live report.html shows them).
  assert.deepEqual(live.running, [{ job: 'x@amd64', startedAt: new Date(T0 + 30).toISOString(), log: '/logs/x.log' }]);
  assert.equal(live.waiting, 1);
  const page = renderReportHtml(live, { logTail: () => [] });
  assert.match(page, /<meta http-equiv="refresh" content="30">/);
  assert.match(page, /Running \(1\), 1 waiting/);
  records.finishRun('run-1', { state: 'cancelled', endedAt: T0 + 9000, counts: {} });
  const cut = buildReport(records, 'run-1');
  assert.equal(cut.packages.find((p) => p.name === 'x')?.state, 'cancelled');
  assert.equal(cut.counts.cancelled, 1);
  assert.equal(cut.running, undefined);
  assert.doesNotMatch(renderReportHtml(cut, { logTail: () => [] }), /http-equiv="refresh"|id="running"/);
  rec.dispose();
});

test('writeReport writes report.json, report.html and junit.xml under runs/<id>, atomically', async (t) => {
  const { dir, records, bus } = setup(t);
  const rec = recordEvents(bus, records);
  syntheticRun(bus, dir);
  rec.dispose();
  const report = buildReport(records, 'run-1');
  const paths = await writeReport(dir, report);
  assert.equal(paths.json, join(dir, 'runs', 'run-1', 'report.json'));
  // junit.xml beside them, once the run has ended, with the failure's log tail.
  assert.deepEqual(readdirSync(join(dir, 'runs', 'run-1')).sort(), ['junit.xml', 'report.html', 'report.json']);
  assert.match(readFileSync(join(dir, 'runs', 'run-1', 'junit.xml'), 'utf8'), /<failure type="exit-status" [^>]*>[^<]*line 51\n[^<]*line 80<\/failure>/);
  // What it wrote is the report with its failures triaged (and it says so).
  assert.deepEqual(JSON.parse(readFileSync(paths.json, 'utf8')), paths.report);
  assert.deepEqual({ ...paths.report, packages: report.packages, failureGroups: undefined }, { ...report, failureGroups: undefined });
  assert.equal(paths.report.packages.find((p) => p.name === 'openssl')?.blocks, 2);
  const html = readFileSync(paths.html, 'utf8');
  // The failed package's log is a link relative to runs/run-1/.
  assert.ok(html.includes('<a href="../../openssl.log"><code>'), 'a relative link to the log');
  // The default log reader found the failed package's log: its last 50 lines, not more.
  assert.match(html, /line 80/);
  assert.match(html, /line 31\n/);
  assert.doesNotMatch(html, /line 30\n/);
});

test('unknown run and unsafe run ids are KilnErrors', async (t) => {
  const { dir, records } = setup(t);
  assert.throws(() => buildReport(records, 'nope'), (e: unknown) => e instanceof KilnError && e.code === 'run-not-found');
  const bad = { runId: '../x', start: '', end: null, counts: { built: 0, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 0 }, packages: [] };
  await assert.rejects(writeReport(dir, bad), (e: unknown) => e instanceof KilnError && e.code === 'unsafe-path');
});

test('readLogTail leaves out the environment and script kiln wrote before the build, not the build\'s own lines', (t) => {
  const { dir } = setup(t);
  const log = join(dir, 'c.log');
  writeFileSync(log, [
    '[   0.003] k ==> phase build at 2026-11-22T20:01:16.550Z',
    "[   0.003] k environment (nothing else is inherited; kiln adds KILN_JOB_COOKIE, to find the build's processes):",
    "[   0.003] k   CPATH='/w/sysroot/usr/include'",
    "[   0.003] k   TZ='UTC'",
    '[   0.003] k script (bash -e, in /w/src):',
    '[   0.003] k | make',
    "[   0.042] o   CC='gcc'",
    '[   0.042] e | not kiln\'s',
    '[   0.042] k failed: the build script exited with status 1',
  ].join('\n') + '\n');
  assert.deepEqual(readLogTail(log, 50), [
    '[   0.003] k ==> phase build at 2026-11-22T20:01:16.550Z',
    "[   0.042] o   CC='gcc'",
    '[   0.042] e | not kiln\'s',
    '[   0.042] k failed: the build script exited with status 1',
  ]);
});

test('readLogTail leaves out the build root\'s package list kiln wrote before the build (a build failing at once shows its own end, not k sed 4.9-3 riscv64)', (t) => {
  const { dir } = setup(t);
  const log = join(dir, 'p.log');
  const list = Array.from({ length: 300 }, (_, i) => `[   0.011] k pkg${i}-dev 1:2.${i}+dfsg-3~bpo12+1 riscv64`);
  writeFileSync(log, [
    '[   0.000] k ==> log opened at 2026-11-22T20:01:16.547Z (times are seconds since then)',
    '[   0.010] k tar 1.34 for riscv64, key 0123456789abcdef, why: new',
    '[   0.010] k built in env sid-riscv64@20261122-0012-ab12cd34, chroot sandbox',
    '[   0.011] k package versions in the build root:',
    '[   0.011] k sed 4.9-3 riscv64',
    ...list,
    '[   0.011] k libnoarch 1.0 ',
    // The next note, in the same millisecond: not a package line, so the list has ended.
    '[   0.011] k stage zlib@riscv64',
    '[   0.012] k ==> phase build at 2026-11-22T20:01:16.559Z',
    // A line of the build that reads like a package is the build's.
    '[   0.900] o gcc 12.2.0 riscv64',
    '[   0.901] e ./configure: line 12: cc: command not found',
    '[   0.902] k failed: the build script exited with status 127',
  ].join('\n') + '\n');
  assert.deepEqual(readLogTail(log, 15), [
    '[   0.000] k ==> log opened at 2026-11-22T20:01:16.547Z (times are seconds since then)',
    '[   0.010] k tar 1.34 for riscv64, key 0123456789abcdef, why: new',
    '[   0.010] k built in env sid-riscv64@20261122-0012-ab12cd34, chroot sandbox',
    '[   0.011] k stage zlib@riscv64',
    '[   0.012] k ==> phase build at 2026-11-22T20:01:16.559Z',
    '[   0.900] o gcc 12.2.0 riscv64',
    '[   0.901] e ./configure: line 12: cc: command not found',
    '[   0.902] k failed: the build script exited with status 127',
  ]);
  // The note without a list (an env with no dpkg status file) goes too; a later kiln line with a stamp of its own stays.
  const bare = join(dir, 'q.log');
  writeFileSync(bare, '[   0.011] k package versions in the build root: (env e@1 has no /var/lib/dpkg/status: no list)\n[   0.020] k stage a b c\n[   0.030] e boom\n');
  assert.deepEqual(readLogTail(bare, 15), ['[   0.020] k stage a b c', '[   0.030] e boom']);
});

test('readLogTail: plain, gzip, large, missing', (t) => {
  const { dir } = setup(t);
  const plain = join(dir, 'a.log');
  writeFileSync(plain, 'a\nb\nc\n');
  assert.deepEqual(readLogTail(plain, 2), ['b', 'c']);
  const gz = join(dir, 'b.log.gz');
  writeFileSync(gz, gzipSync('x\ny\n'));
  assert.deepEqual(readLogTail(gz, 5), ['x', 'y']);
  const big = join(dir, 'big.log');
  writeFileSync(big, Array.from({ length: 100_000 }, (_, i) => `row ${i}`).join('\n'));
  assert.deepEqual(readLogTail(big, 2), ['row 99998', 'row 99999']);
  assert.deepEqual(readLogTail(join(dir, 'gone.log'), 5), []);
});

test('readLogTail: a log it cannot read for any reason is no tail, not a crash of the report', (t) => {
  const { dir } = setup(t);
  // A name too long for the file system (the log was never written), a folder, a corrupt .gz.
  assert.deepEqual(readLogTail(join(dir, `${'a'.repeat(300)}_amd64.log`), 5), []);
  assert.deepEqual(readLogTail(dir, 5), []);
  const gz = join(dir, 'bad.log.gz');
  writeFileSync(gz, 'not gzip');
  assert.deepEqual(readLogTail(gz, 5), []);
});

test('labelsOf: a run\'s report takes summary, license and restricted from its recipes (no meta.json read per package); a Debian source has no summary or license of its own', () => {
  const spec = (o: { summary: string; license: string; restricted?: string; debian?: object }) => o;
  const labels = labelsOf({
    nodes: [
      { name: 'zlib', spec: spec({ summary: 'compression', license: 'Zlib' }) },
      { name: 'zlib', spec: spec({ summary: 'compression', license: 'Zlib' }) },
      { name: 'blob', spec: spec({ summary: 'firmware', license: 'proprietary', restricted: 'no redistribution' }) },
      { name: 'hello', spec: spec({ summary: 'made up', license: '', debian: {} }) },
      { name: 'broken' },
    ],
  });
  assert.deepEqual([...labels], [
    ['zlib', { summary: 'compression', license: 'Zlib' }],
    ['blob', { summary: 'firmware', license: 'proprietary', restricted: 'no redistribution' }],
    ['hello', {}],
  ]);
});
