// Failing builds through the real CLI: a failure in the middle of a graph, wall-clock and
// silence limits, what `kiln logs`, `kiln status` and `kiln history` show afterwards, and
// the exit statuses of usage errors and broken trees.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { marker, pidsWithCmdline, reap } from '../helpers/proc.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { eventsOf, explain, fixtureTree, instantiateTree, pkgOf, readReport, runKiln, statesOf, type KilnResult } from '../helpers/run-kiln.ts';

/** A tree at `tree` with one folder per entry of `recipes` (name → recipe.toml text). */
async function writeTree(tree: string, recipes: Readonly<Record<string, string>>): Promise<string> {
  for (const [name, text] of Object.entries(recipes)) {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), text);
  }
  return tree;
}

/** run/job folders under <state>/work. */
async function workspaces(state: string): Promise<string[]> {
  const work = join(state, 'work');
  if (!existsSync(work)) return [];
  const found: string[] = [];
  for (const run of await readdir(work)) for (const job of await readdir(join(work, run))) found.push(`${run}/${job}`);
  return found.sort();
}

function archOf(r: KilnResult): string {
  const e = eventsOf(r.events, 'run-started')[0];
  assert.ok(e !== undefined && e.archs.length === 1);
  return e.archs[0]!;
}

test('--fail-fast: no job starts after the first failure; those never started say why', async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  // One at a time, by longest path: base, then mid (which fails); sibling and loner wait.
  const r = await runKiln(['build', '--tree', fixtureTree('failing-middle'), '--state', state, '--jobs', '1', '--fail-fast', '--json']);
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { base: 'built', loner: 'cancelled', mid: 'failed', sibling: 'cancelled', top: 'skipped', top2: 'skipped' });
  assert.deepEqual(eventsOf(r.events, 'job-started').map((e) => e.name), ['base', 'mid']);
  for (const name of ['loner', 'sibling']) {
    assert.equal(pkgOf(report, name).cause, `not started: --fail-fast stopped the run after mid (${archOf(r)}) failed`, name);
  }
});

test('failing middle: siblings still build, dependents are skipped naming the failed package; logs, status, history', async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const tree = fixtureTree('failing-middle');
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--jobs', '2', '--json', '--keep-failed']);
  assert.equal(r.code, 1, explain(r));
  assert.equal(r.summary?.state, 'failed');
  // --keep-failed keeps the failed job's workspace, and only that one.
  assert.deepEqual(await workspaces(state), [`${r.summary!.runId}/mid_${archOf(r)}`]);
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { base: 'built', loner: 'built', mid: 'failed', sibling: 'built', top: 'skipped', top2: 'skipped' });
  const mid = pkgOf(report, 'mid');
  assert.match(mid.cause ?? '', /exited with status 3/);
  for (const name of ['top', 'top2']) {
    assert.match(pkgOf(report, name).cause ?? '', /needs mid\b.*which failed/, `${name} must name mid`);
  }
  // junit.xml for CI: the failure and the two skips.
  const junit = await readFile(join(state, 'runs', report.runId, 'junit.xml'), 'utf8');
  assert.match(junit, /<testsuite name="kiln run \S+" tests="6" failures="1" errors="0" skipped="2"/);
  assert.match(junit, /<testcase classname="\S+" name="mid 1\.0" time="[\d.]+">\n<failure type="exit-status" message="the build script exited with status 3">/);
  const finished = eventsOf(r.events, 'job-finished').find((e) => e.name === 'mid');
  assert.equal(finished?.failure?.reason, 'exit-status');
  assert.equal(finished?.exitCode, 3);

  // kiln logs: the failed job's own output, stdout and stderr.
  const logs = await runKiln(['logs', 'mid', '--state', state]);
  assert.equal(logs.code, 0, explain(logs));
  assert.match(logs.stdout, /MID-LOG-MARKER compiling/);
  assert.match(logs.stdout, /the build went wrong on purpose/);
  // ... and, before it, what ran: the script line by line and its whole environment.
  assert.match(logs.stdout, /k script \(bash -e, in \/\S+\/src\):\n.*k \| test -f "\$SYSROOT\/usr\/lib\/base\.txt"\n/);
  assert.match(logs.stdout, /k environment \(nothing else is inherited; kiln adds KILN_JOB_COOKIE, to find the build's processes\):\n(.*k   [A-Z_]+='.*'\n)+/);
  assert.match(logs.stdout, /k   JOBS='1'\n/);
  const byRun = await runKiln(['logs', 'mid', '--state', state, '--run', report.runId]);
  assert.equal(byRun.code, 0, explain(byRun));
  assert.match(byRun.stdout, /MID-LOG-MARKER/);
  const noLog = await runKiln(['logs', 'top', '--state', state]);
  assert.equal(noLog.code, 2, `a skipped package has no log: ${explain(noLog)}`);
  assert.match(noLog.stderr, /top/);

  // kiln status: the latest run, failed, with the failure and the skips explained.
  const status = await runKiln(['status', '--state', state]);
  assert.equal(status.code, 0, explain(status));
  assert.match(status.stdout, new RegExp(`run ${report.runId}: failed`));
  assert.match(status.stdout, /^  3 built, 1 failed, 2 skipped$/m);
  assert.match(status.stdout, /failed\s+mid@\S+.*exited with status 3/);
  assert.match(status.stdout, /skipped\s+top@\S+.*needs mid/);
  const statusJson = await runKiln(['status', report.runId, '--state', state, '--json']);
  assert.equal(statusJson.code, 0, explain(statusJson));
  const sj = JSON.parse(statusJson.stdout) as { state: string; runId: string; counts: Record<string, number> };
  assert.equal(sj.state, 'failed');
  assert.equal(sj.runId, report.runId);
  assert.deepEqual(sj.counts, report.counts);

  // A second run with the same inputs tries mid again: previous-failure. The others are up to date.
  const again = await runKiln(['build', '--tree', tree, '--state', state, '--jobs', '2', '--json']);
  assert.equal(again.code, 1, explain(again));
  const started = eventsOf(again.events, 'job-started');
  assert.deepEqual(started.map((e) => [e.name, e.why.kind]), [['mid', 'previous-failure']]);
  const report2 = await readReport(again);
  assert.equal((await workspaces(state)).length, 1, 'without --keep-failed the failed workspace is removed');
  assert.deepEqual(statesOf(report2), { base: 'up-to-date', loner: 'up-to-date', mid: 'failed', sibling: 'up-to-date', top: 'skipped', top2: 'skipped' });

  // kiln history: both attempts, newest first.
  const history = await runKiln(['history', 'mid', '--state', state]);
  assert.equal(history.code, 0, explain(history));
  const [header, ...lines] = history.stdout.trim().split('\n');
  assert.match(header!, /^RUN\s+PACKAGE\s+VERSION\s+STATE\s+STARTED\s+TOOK\s+WHY\s+CAUSE$/);
  assert.equal(lines.length, 2, history.stdout);
  assert.ok(lines[0]!.startsWith(report2.runId), `newest first: ${history.stdout}`);
  assert.ok(lines[1]!.startsWith(report.runId), history.stdout);
  assert.match(lines[0]!, /failed\s.*previous-failure/);
  assert.match(lines[1]!, /failed\s.*new/);
  const unknown = await runKiln(['history', 'no-such-package', '--state', state]);
  assert.equal(unknown.code, 2, explain(unknown));
});

test('timeout: a build past its wall-clock limit fails with reason timeout, and its processes are gone', async () => {
  await using dir = await tmpDir();
  const m = marker();
  try {
    const tree = await instantiateTree('timeout', join(dir.path, 'tree'), { MARKER: m });
    const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--jobs', '2', '--json'], { timeoutMs: 20_000 });
    assert.equal(r.code, 1, explain(r));
    assert.ok(r.durationMs < 15_000, `took ${r.durationMs}ms: the 30 s sleep was not cut at 1 s`);
    const slow = eventsOf(r.events, 'job-finished').find((e) => e.name === 'slow');
    assert.equal(slow?.state, 'failed');
    assert.equal(slow?.failure?.reason, 'timeout');
    assert.match(slow?.failure?.message ?? '', /1s/);
    const report = await readReport(r);
    assert.equal(pkgOf(report, 'quick').state, 'built');
    assert.equal(pkgOf(report, 'slow').state, 'failed');
    assert.match(pkgOf(report, 'slow').cause ?? '', /wall-clock limit/);
    assert.deepEqual(await pidsWithCmdline(m), [], 'the timed-out build left processes behind');
  } finally {
    await reap(m);
  }
});

test('silent: a build that prints nothing for its silent-timeout fails with reason silent; a chatty one does not', async () => {
  await using dir = await tmpDir();
  const m = marker();
  try {
    const tree = await instantiateTree('silent', join(dir.path, 'tree'), { MARKER: m });
    const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--jobs', '2', '--json'], { timeoutMs: 20_000 });
    assert.equal(r.code, 1, explain(r));
    assert.ok(r.durationMs < 15_000, `took ${r.durationMs}ms`);
    const finished = eventsOf(r.events, 'job-finished');
    const quiet = finished.find((e) => e.name === 'quiet');
    assert.equal(quiet?.state, 'failed');
    assert.equal(quiet?.failure?.reason, 'silent');
    const chatty = finished.find((e) => e.name === 'chatty');
    assert.equal(chatty?.state, 'built', `chatty printed every 0.25 s for 2 s: ${chatty?.failure?.message}`);
    assert.deepEqual(await pidsWithCmdline(m), [], 'the silent build left processes behind');
  } finally {
    await reap(m);
  }
});

test('exit statuses: usage and configuration errors exit 2 with a message, a broken tree exits 1', async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const opts = { cwd: dir.path };
  const cases: [string[], RegExp][] = [
    [['build', '--tree', fixtureTree('diamond'), '--state', state, '--jobs', '0'], /--jobs/],
    [['build', '--tree', fixtureTree('diamond'), '--state', state, '--arch', 'AMD64!'], /--arch/],
    [['build', '--tree', join(dir.path, 'no-such-tree'), '--state', state], /no-such-tree/],
    [['frobnicate'], /frobnicate/],
    [['build', '--no-such-option'], /no-such-option/],
    [['status', '--state', join(dir.path, 'empty-state')], /empty-state/],
    // A daemon's builds use its own settings: local-only options are refused, not ignored
    // (the daemon is never contacted: nothing listens on port 9).
    [['build', '--tree', fixtureTree('diamond'), '--server', 'http://127.0.0.1:9', '--token', 't', '-j', '3', '--keep-failed'], /--server: --jobs, --keep-failed apply to a local build only/],
  ];
  for (const [args, re] of cases) {
    const r = await runKiln(args, opts);
    assert.equal(r.code, 2, `kiln ${args.join(' ')}: ${explain(r)}`);
    assert.match(r.stderr, re, `kiln ${args.join(' ')}`);
  }
  // Sent to a daemon by $KILN_SERVER: the refusal says so, and how to build here instead.
  const byEnv = await runKiln(['build', '--tree', fixtureTree('diamond'), '-j', '3'], { ...opts, env: { KILN_SERVER: 'http://127.0.0.1:9', KILN_TOKEN: 't' } });
  assert.equal(byEnv.code, 2, explain(byEnv));
  assert.match(byEnv.stderr, /error \[usage\]: --server \(\$KILN_SERVER\): --jobs applies to a local build only\n.*hint: .*unset KILN_SERVER/);
  const broken = await runKiln(['build', '--tree', fixtureTree('missing-dep'), '--state', state, '--jobs', '2'], opts);
  assert.equal(broken.code, 1, explain(broken));
  // The summary line leaves out the counts that are 0 (but built).
  assert.match(broken.stdout, /^kiln: run \S+ failed in \S+: 1 built, 2 broken$/m);
  const help = await runKiln(['--help'], opts);
  assert.equal(help.code, 0, explain(help));
  assert.match(help.stdout, /build/);
});

test('the arch check: a package for riscv64 that installs this machine\'s binaries fails naming them; an all package, the native arch and skip-checks pass', async () => {
  await using dir = await tmpDir();
  const install = 'mkdir -p "$DESTDIR/usr/bin" && cp /bin/true "$DESTDIR/usr/bin/tool"';
  const tree = await writeTree(join(dir.path, 'tree'), {
    wrong: recipeText({ name: 'wrong', script: install }),
    allowed: recipeText({ name: 'allowed', script: install }).replace('[build]\n', '[build]\nskip-checks = ["arch"]\n'),
    data: recipeText({ name: 'data', script: install }).replace('license = "MIT"', 'license = "MIT"\narchs = ["all"]'),
  });
  const native = (await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'native'), '--json']));
  assert.equal(native.code, 0, `the build machine's own binaries failed the check\n${explain(native)}`);
  const host = archOf(native);
  const foreign = host === 'riscv64' ? 'arm64' : 'riscv64';

  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'cross'), '--arch', foreign, '--json']);
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { wrong: 'failed', allowed: 'built', data: 'built' });
  const wrong = pkgOf(report, 'wrong');
  assert.match(wrong.cause ?? '', new RegExp(`built for ${foreign}, but its output holds ELF files for another machine: usr/bin/tool \\(`));
  assert.match(await readFile(wrong.log!, 'utf8'), /DEB_HOST_GNU_TYPE/);
  // Nothing was stored for it: its next run builds it again.
  assert.equal(wrong.artifact ?? null, null);
});

test('output checks: a symlink into the workspace fails the build; build paths, /usr/local and setuid are warned of (console, log, report); skip-checks silences them', async () => {
  await using dir = await tmpDir();
  const tree = await writeTree(join(dir.path, 'tree'), {
    linky: recipeText({ name: 'linky', script: 'mkdir -p "$DESTDIR/usr/lib"\necho x > "$DESTDIR/usr/lib/libx.so.1"\nln -s "$DESTDIR/usr/lib/libx.so.1" "$DESTDIR/usr/lib/libx.so"' }),
    leaky: recipeText({ name: 'leaky', script: 'mkdir -p "$DESTDIR/usr/lib/pkgconfig" "$DESTDIR/usr/local/bin"\necho "prefix=$DESTDIR/usr" > "$DESTDIR/usr/lib/pkgconfig/leaky.pc"\necho x > "$DESTDIR/usr/local/bin/x"\nchmod 4755 "$DESTDIR/usr/local/bin/x"' }),
    quiet: recipeText({ name: 'quiet', script: 'mkdir -p "$DESTDIR/usr/lib/pkgconfig"\necho "prefix=$DESTDIR/usr" > "$DESTDIR/usr/lib/pkgconfig/q.pc"' }).replace('[build]\n', '[build]\nskip-checks = ["buildpaths"]\n'),
    clean: recipeText({ name: 'clean', script: 'mkdir -p "$DESTDIR/usr/lib"\necho x > "$DESTDIR/usr/lib/libc.so.1"\nln -sr "$DESTDIR/usr/lib/libc.so.1" "$DESTDIR/usr/lib/libc.so"' }),
  });
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--sandbox', 'host']);
  assert.equal(r.code, 1, explain(r));
  const report = JSON.parse(await readFile(/report: (\S+)\.html/.exec(r.stdout + r.stderr)![1] + '.json', 'utf8')) as { packages: { name: string; state: string; reason?: string; cause: string | null; warnings?: string[]; log: string | null }[] };
  const pkg = (name: string) => report.packages.find((p) => p.name === name)!;
  assert.deepEqual(report.packages.map((p) => `${p.name} ${p.state}`).sort(), ['clean built', 'leaky built', 'linky failed', 'quiet built']);
  assert.equal(pkg('linky').reason, 'pack-failed');
  assert.match(pkg('linky').cause ?? '', /symlinks that point nowhere once installed \(into the build's workspace, or out of the package\): usr\/lib\/libx\.so -> \/\S+\/dest\/usr\/lib\/libx\.so\.1/);
  assert.deepEqual(pkg('leaky').warnings?.map((w) => w.slice(0, w.indexOf(':'))), ['buildpaths', 'hierarchy', 'permissions']);
  assert.match(pkg('leaky').warnings![0]!, /1 file holds the paths the build ran at .*: usr\/lib\/pkgconfig\/leaky\.pc$/);
  assert.equal(pkg('quiet').warnings, undefined);
  assert.equal(pkg('clean').warnings, undefined);
  assert.match(r.stdout, /built +leaky@\S+ in .*\n +warning: buildpaths: /);
  assert.match(await readFile(pkg('leaky').log!, 'utf8'), /warning \(buildpaths\): .*\n.*-ffile-prefix-map=\$SRCDIR=\./);
  // A forced rebuild of the same output keeps the stored artifact, and its output is checked all the same.
  const forced = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--sandbox', 'host', '--force', 'leaky', '--json']);
  assert.deepEqual(eventsOf(forced.events, 'job-finished').find((e) => e.name === 'leaky')?.warnings?.map((w) => w.slice(0, w.indexOf(':'))), ['buildpaths', 'hierarchy', 'permissions']);
  // --fail-on-warnings: a warning fails its build as an error does; the others still build.
  const strict = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'strict'), '--sandbox', 'host', '--fail-on-warnings', '--json']);
  assert.equal(strict.code, 1, explain(strict));
  const strictReport = await readReport(strict);
  assert.deepEqual(statesOf(strictReport), { clean: 'built', leaky: 'failed', linky: 'failed', quiet: 'built' });
  assert.equal(pkgOf(strictReport, 'leaky').reason, 'pack-failed');
  assert.match(pkgOf(strictReport, 'leaky').cause ?? '', /^3 output checks failed \(warnings fail the build: --fail-on-warnings\): buildpaths: 1 file holds the paths the build ran at .*; hierarchy: .*; permissions: /);
  // A package stored with warnings by a run without the flag is not up to date with it:
  // it is built again and fails, whether the records know its warnings (same state dir) or
  // only the artifact's meta does (another state dir sharing the cache).
  const cache = join(dir.path, 'state', 'cache');
  for (const state of [join(dir.path, 'state'), join(dir.path, 'other')]) {
    const again = await runKiln(['build', '--tree', tree, '--state', state, '--cache', cache, '--sandbox', 'host', '--fail-on-warnings', '--json']);
    assert.equal(again.code, 1, explain(again));
    const againReport = await readReport(again);
    assert.deepEqual(statesOf(againReport), { clean: 'up-to-date', leaky: 'failed', linky: 'failed', quiet: 'up-to-date' }, state);
    assert.equal(pkgOf(againReport, 'leaky').why, 'forced');
    const why = eventsOf(again.events, 'job-started').find((e) => e.name === 'leaky')?.why;
    assert.deepEqual(why?.kind === 'forced' && why.by === 'fail-on-warnings' ? why.warnings.map((w) => w.slice(0, w.indexOf(':'))) : why, ['buildpaths', 'hierarchy', 'permissions']);
    assert.match(await readFile(pkgOf(againReport, 'leaky').log!, 'utf8'), /why: forced: --fail-on-warnings, and its stored build had warnings \(buildpaths: /);
    assert.equal(pkgOf(againReport, 'leaky').reason, 'pack-failed');
  }
  // Without the flag it is up to date again: its artifact is still there.
  const relaxed = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--sandbox', 'host', '--json']);
  assert.equal(pkgOf(await readReport(relaxed), 'leaky').state, 'up-to-date');
});

test('--retry N: a flaky build is built again in a fresh workspace and said flaky; one that always fails is tried N+1 times', async () => {
  await using dir = await tmpDir();
  const mark = join(dir.path, 'failed-once');
  const tree = await writeTree(join(dir.path, 'tree'), {
    flaky: recipeText({ name: 'flaky', script: `test ! -e src-was-dirty\ntouch src-was-dirty\nif [ ! -e '${mark}' ]; then touch '${mark}'; echo "flaky test failed"; exit 1; fi\necho ok` }),
    broken: recipeText({ name: 'broken', script: 'echo "always fails"; exit 2' }),
  });
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--sandbox', 'host', '--retry', '2', '--json']);
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { broken: 'failed', flaky: 'built' });
  assert.deepEqual(pkgOf(report, 'flaky').warnings, ['retry: built on attempt 2, after attempt 1: the build script exited with status 1']);
  const flakyLog = await readFile(pkgOf(report, 'flaky').log!, 'utf8');
  assert.match(flakyLog, /o flaky test failed\n.*k failed: .*\n.*k attempt 1 failed \(the build script exited with status 1\): building it again in a fresh workspace \(--retry 2, 1 of 2\)/);
  const brokenLog = await readFile(pkgOf(report, 'broken').log!, 'utf8');
  assert.equal(brokenLog.match(/o always fails/g)?.length, 3, brokenLog);
  // Its cause says it was tried three times, and how each ended.
  assert.equal(pkgOf(report, 'broken').cause, 'the build script exited with status 2 (attempt 3; the 2 earlier ones failed too: the build script exited with status 2; the build script exited with status 2)');
  // A failure a retry cannot change is not retried (an invalid recipe is broken, not built).
  const without = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state2'), '--sandbox', 'host', '--json', '--force', 'broken', 'broken']);
  assert.equal((await readFile(pkgOf(await readReport(without), 'broken').log!, 'utf8')).match(/o always fails/g)?.length, 1, 'retried without --retry');
});

test('--retry N: a download that failed is fetched again; an archive kiln refuses (or a checksum that does not match) is not', async () => {
  await using dir = await tmpDir();
  const body = 'hello\n';
  let hits = 0;
  // Not found the first time (a mirror still syncing), there the second.
  const server = createServer((_req, res) => (++hits === 1 ? res.writeHead(404).end('not found\n') : res.writeHead(200).end(body)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await using _close = { [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  const port = (server.address() as AddressInfo).port;
  const sha = createHash('sha256').update(body).digest('hex');
  const tree = await writeTree(join(dir.path, 'tree'), {
    late: `${recipeText({ name: 'late', script: 'mkdir -p "$DESTDIR/usr/share/late"; cp hello.txt "$DESTDIR/usr/share/late/"' })}\n[[sources]]\nurl = "http://127.0.0.1:${port}/hello.txt"\nsha256 = "${sha}"\n`,
    evil: `${recipeText({ name: 'evil', script: 'true' })}\n[[sources]]\nurl = "file:evil.tar"\nstrip = 0\n`,
  });
  await symlink('/etc/passwd', join(tree, 'evil', 'evil'));
  assert.equal(spawnSync('tar', ['-C', join(tree, 'evil'), '-cf', join(tree, 'evil', 'evil.tar'), 'evil']).status, 0);
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--sandbox', 'host', '--retry', '2', '--json']);
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { evil: 'failed', late: 'built' });
  assert.match(pkgOf(report, 'late').warnings?.[0] ?? '', /^retry: built on attempt 2, after attempt 1: \S+\/late\/recipe\.toml: sources\[0\]\.url: download of \S+ failed: HTTP 404/);
  assert.equal(pkgOf(report, 'evil').reason, 'fetch-failed');
  const evilLog = await readFile(pkgOf(report, 'evil').log!, 'utf8');
  assert.doesNotMatch(evilLog, /attempt 1 failed/, evilLog);
  // Its cause is its error line, and it is not grouped with other failures.
  assert.match(pkgOf(report, 'evil').errorLine ?? '', /evil/);
});

test('--keep-failed on the host sandbox: rebuild.sh in the kept workspace re-runs the build as it ran', async () => {
  await using dir = await tmpDir();
  // Fails unless a file the user adds to $SRCDIR is there; says what it saw.
  const tree = await writeTree(join(dir.path, 'tree'), { flaky: recipeText({ name: 'flaky', script: 'echo "pkg=$KILN_PACKAGE src=$SRCDIR"\ntest -f fixed' }) });
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--keep-failed', '--sandbox', 'host', '--json']);
  assert.equal(r.code, 1, explain(r));
  const log = await readFile(pkgOf(await readReport(r), 'flaky').log!, 'utf8');
  const script = /re-run the build there as it ran: bash (\S+rebuild\.sh)/.exec(log)?.[1];
  assert.ok(script !== undefined, log);
  const src = / o pkg=\S+ src=(\S+)/.exec(log)![1]!;
  assert.equal(spawnSync('bash', [script], { encoding: 'utf8' }).status, 1, 'still failing, as the build did');
  await writeFile(join(src, 'fixed'), '');
  const again = spawnSync('bash', [script], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.equal(again.stdout, `pkg=flaky src=${src}\n`);
  // The console says where the workspace is, not only the log.
  assert.equal(eventsOf(r.events, 'job-finished')[0]?.keptWorkspace, dirname(script));
  const plain = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--keep-failed', '--sandbox', 'host']);
  assert.match(plain.stdout + plain.stderr, /failed +flaky@\S+ .*\n +workspace kept at \S+ \(bash \S+\/rebuild\.sh re-runs the build/);
});

test('--job-timeout: a build with no limit of its own is killed at the run\'s ceiling, with reason timeout', async () => {
  await using dir = await tmpDir();
  const tree = await writeTree(join(dir.path, 'tree'), { forever: recipeText({ name: 'forever', script: 'while :; do echo still here; sleep 0.2; done' }) });
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--json', '--job-timeout', '2s'], { timeoutMs: 60_000 });
  assert.equal(r.code, 1, explain(r));
  const p = pkgOf(await readReport(r), 'forever');
  assert.equal(p.state, 'failed');
  assert.match(p.cause ?? '', /^killed after the wall-clock limit of 2(\.0)?s \(--job-timeout\)$/, explain(r));
  const bad = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--job-timeout', 'soon']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--job-timeout: /);
});

test('kiln logs --raw: the build\'s output as it printed it, for log scanners', async () => {
  await using dir = await tmpDir();
  const tree = await writeTree(join(dir.path, 'tree'), { talker: recipeText({ name: 'talker', script: 'echo "cc -O2 -c a.c"\necho "a.c:1: warning: x" >&2\nprintf "no newline"' }) });
  const state = join(dir.path, 'state');
  const r = await runKiln(['build', '--tree', tree, '--state', state]);
  assert.equal(r.code, 0, explain(r));
  const raw = await runKiln(['logs', 'talker', '--raw', '--state', state]);
  assert.equal(raw.code, 0, raw.stderr);
  assert.equal(raw.stdout, 'cc -O2 -c a.c\na.c:1: warning: x\nno newline\n');
});

test('failure triage: failures that fail alike are grouped by their log\'s error, and the ones holding back most are named first (report.json, report.html, the end of the run)', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const pkg = async (name: string, script: string, deps: string[] = []): Promise<void> => {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), recipeText({ name, script, deps }));
  };
  // Two libraries miss the same header (in their own source files); a third fails otherwise.
  const needsHeader = (file: string): string => `mkdir -p src; echo '#include <kiln-missing.h>' > src/${file}.c\ngcc -c "$PWD/src/${file}.c" -o ${file}.o`;
  await pkg('liba', needsHeader('a'));
  await pkg('libb', needsHeader('bee'));
  await pkg('tool', 'echo "tool: no config found" >&2; exit 3');
  await pkg('app1', 'true', ['libb']);
  await pkg('app2', 'true', ['libb']);
  await pkg('app3', 'true', ['liba']);
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--sandbox', 'host']);
  assert.equal(r.code, 1, explain(r));
  assert.match(r.stdout, /^fix first: libb@\S+ \(holds back 2\), liba@\S+ \(holds back 1\)$/m, r.stdout);
  assert.match(r.stdout, /^2 failed alike: fatal error: kiln-missing\.h: No such file or directory \(libb@\S+, liba@\S+\)$/m, r.stdout);
  const report = JSON.parse(await readFile(/^report: (\S+)\.html$/m.exec(r.stdout)![1] + '.json', 'utf8')) as { packages: { name: string; blocks?: number; errorLine?: string }[]; failureGroups: { signature: string; jobs: string[]; blocks: number }[] };
  const p = (n: string) => report.packages.find((x) => x.name === n)!;
  assert.equal(p('libb').blocks, 2);
  assert.match(p('liba').errorLine ?? '', /\/src\/a\.c:1:10: fatal error: kiln-missing\.h: No such file or directory$/);
  assert.equal(report.failureGroups.length, 2);
  assert.deepEqual(report.failureGroups[0]!.jobs.map((j) => j.replace(/@.*/, '')), ['libb', 'liba']);
  assert.equal(report.failureGroups[0]!.blocks, 3);
  assert.match(report.failureGroups[1]!.signature, /^tool: no config found$/);
  const html = await readFile(/^report: (\S+)$/m.exec(r.stdout)![1]!, 'utf8');
  assert.match(html, /Failures by error \(2\)/);
  assert.match(html, /the log's error: <code>[^<]*kiln-missing\.h/);
});

test('a package installed under a path naming the build\'s own folders (a Makefile variable taken from the environment) is refused, saying which variable kind and how to pass it', async () => {
  await using dir = await tmpDir();
  const tree = await writeTree(join(dir.path, 'tree'), {
    // As cJSON's Makefile does: INSTALL_LIBRARY_PATH = $(DESTDIR)$(PREFIX)/$(LIBRARY_PATH), with kiln's LIBRARY_PATH.
    stray: recipeText({ name: 'stray', script: 'mkdir -p "$DESTDIR/usr/$LIBRARY_PATH" && echo hi > "$DESTDIR/usr/$LIBRARY_PATH/libx.so"' }),
    fine: recipeText({ name: 'fine', script: 'mkdir -p "$DESTDIR/usr/lib" && echo hi > "$DESTDIR/usr/lib/libx.so"' }),
  });
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--sandbox', 'host', '--json']);
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { fine: 'built', stray: 'failed' });
  assert.equal(pkgOf(report, 'stray').reason, 'pack-failed');
  assert.match(pkgOf(report, 'stray').cause ?? '', /^installed under a path that names the build's own folders .*: usr\/\S+\/sysroot\/usr\/lib\/libx\.so/);
  assert.match(await readFile(pkgOf(report, 'stray').log!, 'utf8'), /make install LIBRARY_PATH=lib/);
});
