// Local hooks through the real CLI: kiln build --hook (run-finished) and kiln.toml [hooks]
// (run-finished, job-failed). What a hook sees (its environment, its folder, the report
// already written), that run-finished fires once and job-failed once per failed job, that a
// failing or hanging hook is a note and never the run's exit status, and that kiln plan
// runs none.

import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { eventsOf, explain, runKiln, spawnKiln } from '../helpers/run-kiln.ts';
import { eventually, marker, pidsWithCmdline, reap } from '../helpers/proc.ts';

const install = (n: string): string => `mkdir -p "$DESTDIR/usr/share/${n}"\necho ${n} > "$DESTDIR/usr/share/${n}/${n}.txt"`;

/** A tree with `good` (builds) and, unless `allGood`, `bad` (exits 3); kiln.toml as given. */
async function writeTree(tree: string, toml: string | undefined, allGood = false): Promise<string> {
  const pkgs: Record<string, string> = { good: install('good') };
  if (!allGood) pkgs['bad'] = 'echo about to fail\nexit 3';
  for (const [name, script] of Object.entries(pkgs)) {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), recipeText({ name, script, version: name === 'bad' ? '2.5' : '1.0' }));
  }
  if (toml !== undefined) await writeFile(join(tree, 'kiln.toml'), toml);
  return tree;
}

/** KEY=VALUE lines of `env` output (values on one line in these tests). */
async function envFile(path: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

const notesOf = (r: Awaited<ReturnType<typeof runKiln>>): string[] => eventsOf(r.events, 'note').map((e) => e.text);

test('run-finished fires once after the report, with its env; job-failed fires for the failed job only; a hook exiting 3 is a note and the exit status stays 1', async () => {
  await using dir = await tmpDir();
  const out = join(dir.path, 'out');
  await mkdir(out);
  const tree = await writeTree(
    join(dir.path, 'tree'),
    `[hooks]\njob-failed = ["env > '${out}'/failed-$KILN_PACKAGE.env; echo job-failed >> '${out}/calls'"]\n`,
  );
  const state = join(dir.path, 'state');
  const finished = `env > '${out}/finished.env'; pwd > '${out}/pwd'; test -f "$KILN_REPORT_JSON" && test -f "$KILN_REPORT_HTML" && echo report-there > '${out}/report'; echo run-finished >> '${out}/calls'; echo to-the-log; exit 3`;
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--json', '--hook', finished], { env: { HOOK_TEST_SECRET: 'do-not-pass' } });
  assert.equal(r.code, 1, explain(r));
  const runId = r.summary!.runId;
  const arch = eventsOf(r.events, 'run-started')[0]!.archs[0]!;

  // Once each: the failed job's hook, then run-finished last.
  assert.deepEqual((await readFile(join(out, 'calls'), 'utf8')).trim().split('\n'), ['job-failed', 'run-finished']);
  const fin = await envFile(join(out, 'finished.env'));
  assert.equal(fin['KILN_EVENT'], 'run-finished');
  assert.equal(fin['KILN_RUN_ID'], runId);
  assert.equal(fin['KILN_STATE_DIR'], state);
  assert.equal(fin['KILN_RUN_STATE'], 'failed');
  assert.equal(fin['KILN_COUNTS'], 'built=1 up-to-date=0 failed=1 skipped=0 broken=0 cancelled=0');
  assert.equal(fin['KILN_REPORT_JSON'], r.summary!.report);
  assert.equal(fin['KILN_REPORT_HTML'], join(state, 'runs', runId, 'report.html'));
  assert.equal(fin['HOOK_TEST_SECRET'], undefined, "kiln's own environment does not reach a hook");
  assert.equal(fin['KILN_JOB_ID'], undefined);
  assert.equal((await readFile(join(out, 'pwd'), 'utf8')).trim(), tree, 'a hook runs in the tree folder');
  assert.equal((await readFile(join(out, 'report'), 'utf8')).trim(), 'report-there', 'the report is written before run-finished');

  assert.deepEqual((await readdir(out)).filter((f) => f.startsWith('failed-')), ['failed-bad.env']);
  const failed = await envFile(join(out, 'failed-bad.env'));
  assert.equal(failed['KILN_EVENT'], 'job-failed');
  assert.equal(failed['KILN_RUN_ID'], runId);
  assert.equal(failed['KILN_PACKAGE'], 'bad');
  assert.equal(failed['KILN_VERSION'], '2.5');
  assert.equal(failed['KILN_ARCH'], arch);
  assert.equal(failed['KILN_JOB_ID'], eventsOf(r.events, 'job-finished').find((e) => e.name === 'bad')!.jobId);
  assert.ok(existsSync(failed['KILN_LOG']!), `KILN_LOG ${failed['KILN_LOG']} is the job's log`);
  assert.match(await readFile(failed['KILN_LOG']!, 'utf8'), /about to fail/);
  assert.match(failed['KILN_CAUSE']!, /3/);
  assert.equal(failed['KILN_RUN_STATE'], undefined);

  const log = join(state, 'runs', runId, 'hooks.log');
  assert.match(await readFile(log, 'utf8'), /to-the-log/);
  const notes = notesOf(r);
  assert.ok(notes.some((n) => n.startsWith('hook `env > ') && n.endsWith(`(run-finished) exited 3: see ${log}`)), notes.join('\n'));
  assert.ok(notes.some((n) => /\(job-failed\) ran \(exit 0\)/.test(n)), notes.join('\n'));
});

test('everything built: a failing hook leaves exit status 0; a run whose hooks have nothing to do writes no hooks.log', async () => {
  await using dir = await tmpDir();
  const tree = await writeTree(join(dir.path, 'tree'), '[hooks]\njob-failed = ["exit 9"]\n', true);
  const state = join(dir.path, 'state');
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--json', '--hook', 'exit 3']);
  assert.equal(r.code, 0, explain(r));
  assert.ok(notesOf(r).includes(`hook \`exit 3\` (run-finished) exited 3: see ${join(state, 'runs', r.summary!.runId, 'hooks.log')}`), notesOf(r).join('\n'));
  // Only job-failed hooks, and nothing failed: no hook ran, no hooks.log.
  const again = await runKiln(['build', '--tree', tree, '--state', state, '--json', '--force', '*']);
  assert.equal(again.code, 0, explain(again));
  assert.equal(existsSync(join(state, 'runs', again.summary!.runId, 'hooks.log')), false);
  assert.ok(!notesOf(again).some((n) => n.startsWith('hook ')));
});

test('a hook that runs past its limit is killed and noted; the run ends with its own status', async () => {
  await using dir = await tmpDir();
  const tree = await writeTree(join(dir.path, 'tree'), undefined, true);
  const late = join(dir.path, 'late');
  const started = Date.now();
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--json', '--hook', `sleep 20; touch '${late}'`], { env: { KILN_HOOK_TIMEOUT_MS: '700' } });
  assert.equal(r.code, 0, explain(r));
  assert.ok(Date.now() - started < 15_000, 'the hook did not hold the run for its 20 s');
  assert.ok(notesOf(r).some((n) => /\(run-finished\) ran past 700 ms and was killed: see /.test(n)), notesOf(r).join('\n'));
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(existsSync(late), false);
});

/** A shell command sleeping 30 s as a process whose command line holds `m` (for pidsWithCmdline). */
const sleeper = (m: string): string => `bash -c 'exec -a "sleeping-$0" sleep 30' ${m}`;

test('Ctrl-C during a run-finished hook kills it (its whole group): exit 130 within seconds, no hook process left', async () => {
  await using dir = await tmpDir();
  const m = marker();
  try {
    const tree = await writeTree(join(dir.path, 'tree'), undefined, true);
    const k = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--json', '--hook', sleeper(m)], { timeoutMs: 60_000 });
    assert.ok(await eventually(async () => (await pidsWithCmdline(`sleeping-${m}`)).length === 1, 30_000), 'the hook never started');
    const sent = performance.now();
    process.kill(k.pid, 'SIGINT');
    const r = await k.done;
    assert.ok(performance.now() - sent < 5000, `kiln took ${Math.round(performance.now() - sent)} ms to stop after SIGINT`);
    assert.equal(r.code, 130, explain(r));
    assert.deepEqual(await pidsWithCmdline(m), [], 'the hook outlived kiln');
    assert.ok(notesOf(r).some((n) => /\(run-finished\) was killed: kiln was stopped: see /.test(n)), notesOf(r).join('\n'));
  } finally {
    await reap(m);
  }
});

test('a hook runs with the umask kiln was started with (not the 022 builds get)', async () => {
  await using dir = await tmpDir();
  const tree = await writeTree(join(dir.path, 'tree'), undefined, true);
  const out = join(dir.path, 'hook-made');
  const old = process.umask(0o077);
  let r: Awaited<ReturnType<typeof runKiln>>;
  try {
    r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--json', '--hook', `umask > ${out}.umask; echo x > ${out}`]);
  } finally {
    process.umask(old);
  }
  assert.equal(r.code, 0, explain(r));
  assert.equal((await readFile(`${out}.umask`, 'utf8')).trim(), '0077');
  assert.equal(statSync(out).mode & 0o777, 0o600);
});

test('kiln killed with SIGKILL during a run-finished hook: the hook (its whole group) goes too', async () => {
  await using dir = await tmpDir();
  const m = marker();
  try {
    const tree = await writeTree(join(dir.path, 'tree'), undefined, true);
    const k = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--json', '--hook', sleeper(m)], { timeoutMs: 60_000 });
    assert.ok(await eventually(async () => (await pidsWithCmdline(`sleeping-${m}`)).length === 1, 30_000), 'the hook never started');
    process.kill(k.pid, 'SIGKILL');
    await k.done;
    assert.ok(await eventually(async () => (await pidsWithCmdline(m)).length === 0, 10_000), 'the hook outlived the SIGKILLed kiln');
  } finally {
    await reap(m);
  }
});

test("Ctrl-C during a job-failed hook kills it; the cancelled run's run-finished hook runs with KILN_RUN_STATE=cancelled, and a second Ctrl-C kills it", async () => {
  await using dir = await tmpDir();
  const m = marker();
  const out = join(dir.path, 'out');
  await mkdir(out);
  try {
    const tree = await writeTree(join(dir.path, 'tree'), `[hooks]\njob-failed = ["${sleeper(`${m}-failed`).replaceAll('"', '\\"')}"]\n`);
    await mkdir(join(tree, 'slow'));
    await writeFile(join(tree, 'slow', 'recipe.toml'), recipeText({ name: 'slow', script: 'sleep 60' }));
    const k = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--json', '--jobs', '3', '--hook', `echo "$KILN_RUN_STATE" > '${out}/state'; ${sleeper(`${m}-finished`)}`], { timeoutMs: 60_000 });
    assert.ok(await eventually(async () => (await pidsWithCmdline(`sleeping-${m}-failed`)).length === 1, 30_000), 'the job-failed hook never started');
    const sent = performance.now();
    process.kill(k.pid, 'SIGINT');
    assert.ok(await eventually(async () => (await pidsWithCmdline(`sleeping-${m}-finished`)).length === 1, 8000), 'the run-finished hook of the cancelled run never started');
    assert.deepEqual(await pidsWithCmdline(`${m}-failed`), [], 'the job-failed hook outlived the cancel');
    assert.equal((await readFile(join(out, 'state'), 'utf8')).trim(), 'cancelled');
    process.kill(k.pid, 'SIGINT');
    const r = await k.done;
    assert.ok(performance.now() - sent < 8000, `kiln took ${Math.round(performance.now() - sent)} ms to stop after two SIGINTs`);
    assert.equal(r.code, 130, explain(r));
    assert.equal(r.summary?.state, 'cancelled');
    assert.deepEqual(await pidsWithCmdline(m), [], 'a hook outlived kiln');
    const notes = notesOf(r);
    assert.ok(notes.some((n) => /\(job-failed\) was killed: kiln was stopped: see /.test(n)), notes.join('\n'));
    assert.ok(notes.some((n) => /\(run-finished\) was killed: kiln was stopped: see /.test(n)), notes.join('\n'));
  } finally {
    await reap(m);
  }
});

test("a hook's output is capped in hooks.log: its head, a line saying how much was left out, its tail", async () => {
  await using dir = await tmpDir();
  const tree = await writeTree(join(dir.path, 'tree'), undefined, true);
  const state = join(dir.path, 'state');
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--json', '--hook', 'yes kiln-hook-output'], { env: { KILN_HOOK_TIMEOUT_MS: '1500' } });
  assert.equal(r.code, 0, explain(r));
  const log = join(state, 'runs', r.summary!.runId, 'hooks.log');
  const size = statSync(log).size;
  assert.ok(size < 1024 * 1024 + 4096, `hooks.log is ${size} bytes`);
  const text = await readFile(log, 'utf8');
  assert.match(text, /^== .* hook \(run-finished\): yes kiln-hook-output\nkiln-hook-output\n/);
  assert.match(text, /\n== \d+ bytes of output left out \(hooks\.log keeps 1024 KiB of a hook's output: its first 960 KiB and its last 64 KiB\) ==\n/);
  assert.match(text, /kiln-hook-output\n== ran past 1\.5 s and was killed after \d/);
});

test('kiln plan runs no hooks; --hook with --server is refused as local-only', async () => {
  await using dir = await tmpDir();
  const mark = join(dir.path, 'ran');
  const tree = await writeTree(join(dir.path, 'tree'), `[hooks]\nrun-finished = ["touch '${mark}'"]\njob-failed = ["touch '${mark}'"]\n`);
  const p = await runKiln(['plan', '--tree', tree, '--state', join(dir.path, 'state')]);
  assert.equal(p.code, 0, explain(p));
  assert.equal(existsSync(mark), false);
  const s = await runKiln(['build', '--tree', tree, '--server', 'http://127.0.0.1:9', '--token', 'x', '--hook', 'true']);
  assert.equal(s.code, 2, explain(s));
  assert.match(s.stderr, /--server: --hook applies to a local build only/);
});

test('kiln.toml [hooks] with a bad value: config-invalid naming the key, nothing built', async () => {
  await using dir = await tmpDir();
  const tree = await writeTree(join(dir.path, 'tree'), '[hooks]\nrun-finished = "./notify.sh"\n', true);
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state')]);
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /hooks\.run-finished: must be a list of shell commands/);
});
