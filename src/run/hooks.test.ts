import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EventBus, type KilnEvent } from '../events/events.ts';
import { cappedOutput, countsText, hookEnv, hookFailure, hookLabel, hookNote, hooksForRun, jobFailedVars, limitText, mergeHooks, runFinishedVars, startHooks } from './hooks.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';

const COUNTS = { built: 3, 'up-to-date': 2, failed: 1, skipped: 0, broken: 0, cancelled: 0 };

const merges: { name: string; tree: Parameters<typeof mergeHooks>[0]; cli: string[]; want: ReturnType<typeof mergeHooks> }[] = [
  { name: 'neither', tree: undefined, cli: [], want: { runFinished: [], jobFailed: [] } },
  { name: '--hook only: run-finished', tree: undefined, cli: ['a', 'b'], want: { runFinished: ['a', 'b'], jobFailed: [] } },
  { name: 'kiln.toml only', tree: { runFinished: ['t'], jobFailed: ['f'] }, cli: [], want: { runFinished: ['t'], jobFailed: ['f'] } },
  { name: "--hook after kiln.toml's", tree: { runFinished: ['t'], jobFailed: ['f'] }, cli: ['c'], want: { runFinished: ['t', 'c'], jobFailed: ['f'] } },
];
for (const row of merges) {
  test(`mergeHooks: ${row.name}`, () => assert.deepEqual(mergeHooks(row.tree, row.cli), row.want));
}

const envs: { name: string; base: NodeJS.ProcessEnv; vars: Record<string, string>; want: Record<string, string> }[] = [
  {
    name: "a few of kiln's variables pass, secrets and KILN_* do not",
    base: { PATH: '/p', HOME: '/h', LANG: 'C.UTF-8', LC_TIME: 'C', https_proxy: 'http://proxy.example:3128', KILN_TOKEN: 'secret', AWS_SECRET_ACCESS_KEY: 'x', KILN_STATE: '/s' },
    vars: { KILN_EVENT: 'run-finished' },
    want: { PATH: '/p', HOME: '/h', LANG: 'C.UTF-8', LC_TIME: 'C', https_proxy: 'http://proxy.example:3128', KILN_EVENT: 'run-finished' },
  },
  { name: 'no PATH: a usual one', base: {}, vars: {}, want: { PATH: '/usr/local/bin:/usr/bin:/bin' } },
  { name: "the hook's variables win", base: { PATH: '/p', KILN_EVENT: 'x' }, vars: { KILN_EVENT: 'job-failed' }, want: { PATH: '/p', KILN_EVENT: 'job-failed' } },
];
for (const row of envs) {
  test(`hookEnv: ${row.name}`, () => assert.deepEqual(hookEnv(row.base, row.vars), row.want));
}

test('countsText: every state, in a fixed order', () => {
  assert.equal(countsText(COUNTS), 'built=3 up-to-date=2 failed=1 skipped=0 broken=0 cancelled=0');
});

test('runFinishedVars: the run, its state and counts, the report files', () => {
  assert.deepEqual(runFinishedVars({ runId: 'R', state: 'failed', counts: COUNTS, reportDir: '/s/runs/R' }, '/s'), {
    KILN_EVENT: 'run-finished',
    KILN_RUN_ID: 'R',
    KILN_STATE_DIR: '/s',
    KILN_RUN_STATE: 'failed',
    KILN_COUNTS: 'built=3 up-to-date=2 failed=1 skipped=0 broken=0 cancelled=0',
    KILN_REPORT_JSON: '/s/runs/R/report.json',
    KILN_REPORT_HTML: '/s/runs/R/report.html',
  });
});

const failed = (over: Partial<Extract<KilnEvent, { type: 'job-finished' }>>): Extract<KilnEvent, { type: 'job-finished' }> => ({
  type: 'job-finished', runId: 'R', jobId: 'foo:amd64', name: 'foo', version: '1.2', arch: 'amd64', state: 'failed', key: 'k', startedAt: 1, at: 2, ...over,
});
const jobRows: { name: string; e: ReturnType<typeof failed>; log: string; cause: string }[] = [
  { name: 'an absolute log, the failure message', e: failed({ log: '/s/logs/R/foo.log', failure: { reason: 'exit-status', message: 'exit status 3' } }), log: '/s/logs/R/foo.log', cause: 'exit status 3' },
  { name: 'a log relative to the state dir', e: failed({ log: 'logs/R/foo.log', failure: { reason: 'timeout', message: 'timed out' } }), log: '/s/logs/R/foo.log', cause: 'timed out' },
  { name: 'no log, no failure', e: failed({}), log: '', cause: 'failed' },
];
for (const row of jobRows) {
  test(`jobFailedVars: ${row.name}`, () => {
    assert.deepEqual(jobFailedVars(row.e, '/s'), {
      KILN_EVENT: 'job-failed', KILN_RUN_ID: 'R', KILN_STATE_DIR: '/s', KILN_JOB_ID: 'foo:amd64', KILN_PACKAGE: 'foo', KILN_VERSION: '1.2', KILN_ARCH: 'amd64', KILN_LOG: row.log, KILN_CAUSE: row.cause,
    });
  });
}

const outcomes: { name: string; r: Parameters<typeof hookFailure>[0]; want: string | undefined }[] = [
  { name: 'exit 0', r: { exitCode: 0, signal: null }, want: undefined },
  { name: 'exit 3', r: { exitCode: 3, signal: null }, want: 'exited 3' },
  { name: 'a signal', r: { exitCode: null, signal: 'SIGSEGV' }, want: 'was killed by SIGSEGV' },
  { name: 'the time limit', r: { exitCode: null, signal: 'SIGTERM', killedFor: 'timeout' }, want: 'ran past 60 s and was killed' },
  { name: 'kiln stopped', r: { exitCode: null, signal: 'SIGTERM', killedFor: 'cancelled' }, want: 'was killed: kiln was stopped' },
];
for (const row of outcomes) {
  test(`hookFailure: ${row.name}`, () => assert.equal(hookFailure(row.r, 60_000), row.want));
}

test('hookNote and hookLabel: the command on one line, shortened; the event; where the output is', () => {
  assert.equal(hookNote('notify.sh', 'run-finished', 'exited 3', '/s/runs/R/hooks.log'), 'hook `notify.sh` (run-finished) exited 3: see /s/runs/R/hooks.log');
  assert.equal(hookNote('a\n  b', 'job-failed', undefined, '/l'), 'hook `a b` (job-failed) ran (exit 0): its output is in /l');
  assert.equal(hookLabel('x'.repeat(100)), `${'x'.repeat(57)}...`);
});

test('startHooks: job-failed hooks one at a time as jobs fail, then run-finished; output in hooks.log; a failing hook is a note', async () => {
  await using dir = await tmpDir();
  const bus = new EventBus();
  const notes: string[] = [];
  bus.on((e) => e.type === 'note' && notes.push(e.text));
  const out = join(dir.path, 'out');
  const runner = startHooks({
    hooks: { runFinished: [`echo "fin $KILN_RUN_STATE" >> ${out}; exit 3`], jobFailed: [`echo "start $KILN_JOB_ID" >> ${out}; sleep 0.2; echo "end $KILN_JOB_ID" >> ${out}; echo to-log`] },
    cwd: dir.path, stateRoot: dir.path, bus, env: { PATH: process.env['PATH'] },
  })!;
  bus.emit(failed({ jobId: 'a' }));
  bus.emit(failed({ jobId: 'b', state: 'built' }));
  bus.emit(failed({ jobId: 'c' }));
  await runner.runFinished({ runId: 'R', state: 'failed', counts: COUNTS, reportDir: join(dir.path, 'runs/R') });
  // One at a time: never two starts in a row.
  assert.deepEqual((await readFile(out, 'utf8')).trim().split('\n'), ['start a', 'end a', 'start c', 'end c', 'fin failed']);
  const log = join(dir.path, 'runs/R/hooks.log');
  assert.match(await readFile(log, 'utf8'), /to-log/);
  assert.equal(notes.length, 3);
  assert.equal(notes[2], `hook \`echo "fin $KILN_RUN_STATE" >> ${out}; exit 3\` (run-finished) exited 3: see ${log}`.replace(/`([^`]{57})[^`]+`/, '`$1...`'));
  await runner.close();
});

test('hooksForRun: none without hooks; on a daemon none, with a note when the tree has some', async () => {
  const bus = new EventBus();
  const notes: string[] = [];
  bus.on((e) => e.type === 'note' && notes.push(e.text));
  assert.equal(hooksForRun({ bus, state: { root: '/s' } }, undefined, '/t'), undefined);
  assert.notEqual(hooksForRun({ bus, state: { root: '/s' }, hooks: ['x'] }, undefined, '/t'), undefined);
  assert.equal(hooksForRun({ bus, state: { root: '/s' }, onDaemon: true }, { runFinished: ['touch /tmp/pwned'], jobFailed: [] }, '/t'), undefined);
  assert.equal(notes.length, 1);
  assert.match(notes[0]!, /not run on a daemon/);
  assert.equal(existsSync('/s/runs'), false);
});

test('limitText: minutes past one, seconds, milliseconds', () => {
  assert.deepEqual([300_000, 60_000, 10_000, 1500, 700].map(limitText), ['5 min', '60 s', '10 s', '1.5 s', '700 ms']);
});

const caps: { name: string; chunks: string[]; want: string }[] = [
  { name: 'under the cap: all of it', chunks: ['abc', 'def'], want: 'abcdef' },
  { name: 'exactly the cap: all of it', chunks: ['0123456789', '0123456789'], want: '01234567890123456789' },
  { name: 'over: the head, a line saying how much was left out, the tail', chunks: ['0123456789', 'abcdefghij', 'ABCDEFGHIJ'], want: "0123456789abcdef\n== 10 bytes of output left out (hooks.log keeps 0.01953125 KiB of a hook's output: its first 0.015625 KiB and its last 0.00390625 KiB) ==\nGHIJ" },
  { name: 'over, many small chunks', chunks: [...'0123456789abcdefghijklmnopqrstuvwxyz'], want: "0123456789abcdef\n== 16 bytes of output left out (hooks.log keeps 0.01953125 KiB of a hook's output: its first 0.015625 KiB and its last 0.00390625 KiB) ==\nwxyz" },
];
for (const row of caps) {
  test(`cappedOutput: ${row.name}`, async () => {
    const written: string[] = [];
    const out = cappedOutput(async (b) => void written.push(b.toString()), 20, 4);
    for (const c of row.chunks) await out.add(Buffer.from(c));
    await out.end();
    assert.equal(written.join(''), row.want);
  });
}

test('startHooks: a hook printing 3 MB leaves 1 MiB in hooks.log, its head and its tail, and says how much was left out', async () => {
  await using dir = await tmpDir();
  const bus = new EventBus();
  const runner = startHooks({ hooks: { runFinished: ['echo FIRST; head -c 3000000 /dev/zero | tr "\\0" x; echo; echo LAST'], jobFailed: [] }, cwd: dir.path, stateRoot: dir.path, bus, env: { PATH: process.env['PATH'] } })!;
  await runner.runFinished({ runId: 'R', state: 'done', counts: COUNTS, reportDir: join(dir.path, 'runs/R') });
  const log = await readFile(join(dir.path, 'runs/R/hooks.log'), 'utf8');
  assert.ok(log.length < 1024 * 1024 + 1024, `hooks.log is ${log.length} bytes`);
  assert.match(log, /^== .* hook \(run-finished\): echo FIRST/);
  assert.match(log, /\nFIRST\nxxx/);
  assert.match(log, /\n== \d+ bytes of output left out \(hooks\.log keeps 1024 KiB of a hook's output: its first 960 KiB and its last 64 KiB\) ==\nx+\nLAST\n== exited 0 after /);
});

test('startHooks: the run cancelled kills the job-failed hook running and drops those waiting; a cancelled run still runs run-finished, briefly, and hookStop kills it', async () => {
  await using dir = await tmpDir();
  const bus = new EventBus();
  const notes: string[] = [];
  bus.on((e) => e.type === 'note' && notes.push(e.text));
  const out = join(dir.path, 'out');
  const run = new AbortController();
  const hookStop = new AbortController();
  const runner = startHooks({
    hooks: { runFinished: [`echo "fin $KILN_RUN_STATE" >> ${out}; sleep 30; echo "fin end" >> ${out}`], jobFailed: [`echo "start $KILN_JOB_ID" >> ${out}; sleep 30; echo "end $KILN_JOB_ID" >> ${out}`] },
    cwd: dir.path, stateRoot: dir.path, bus, env: { PATH: process.env['PATH'] }, signal: run.signal, hookStop: hookStop.signal,
  })!;
  for (const jobId of ['a', 'b', 'c']) bus.emit(failed({ jobId }));
  const started = performance.now();
  while (!existsSync(out)) await new Promise((r) => setTimeout(r, 20));
  run.abort(new Error('SIGINT'));
  const finishing = runner.runFinished({ runId: 'R', state: 'cancelled', counts: COUNTS, reportDir: join(dir.path, 'runs/R') });
  while (!(await readFile(out, 'utf8')).includes('fin')) await new Promise((r) => setTimeout(r, 20));
  hookStop.abort();
  await finishing;
  assert.ok(performance.now() - started < 10_000, `the hooks took ${performance.now() - started} ms`);
  assert.deepEqual((await readFile(out, 'utf8')).trim().split('\n'), ['start a', 'fin cancelled']);
  const log = join(dir.path, 'runs/R/hooks.log');
  assert.deepEqual(notes, [
    `hook \`${`echo "start $KILN_JOB_ID" >> ${out}; sleep 30; echo "end $KILN_JOB_ID" >> ${out}`.slice(0, 57)}...\` (job-failed) was killed: kiln was stopped: see ${log}`,
    `hook \`${`echo "fin $KILN_RUN_STATE" >> ${out}; sleep 30; echo "fin end" >> ${out}`.slice(0, 57)}...\` (run-finished) was killed: kiln was stopped: see ${log}`,
    'hooks: 2 job-failed hook(s) not run: kiln was stopped',
  ]);
});

test("startHooks: a cancelled run's run-finished hooks get 10 s at most in all (less with a shorter limit); the job-failed hooks of a run share a budget", async () => {
  await using dir = await tmpDir();
  const bus = new EventBus();
  const notes: string[] = [];
  bus.on((e) => e.type === 'note' && notes.push(e.text));
  const run = new AbortController();
  run.abort();
  const cancelled = startHooks({ hooks: { runFinished: ['sleep 30', 'sleep 31'], jobFailed: [] }, cwd: dir.path, stateRoot: dir.path, bus, env: { PATH: process.env['PATH'] }, signal: run.signal, timeoutMs: 400 })!;
  await cancelled.runFinished({ runId: 'R', state: 'cancelled', counts: COUNTS, reportDir: join(dir.path, 'runs/R') });
  assert.deepEqual(notes.splice(0).map((n) => n.replace(/: see .*/, '')), ["hook `sleep 30` (run-finished) was killed: a cancelled run's run-finished hooks get 400 ms in all", "hooks: 1 run-finished hook(s) not run: a cancelled run's run-finished hooks get 400 ms in all"]);

  const budget = startHooks({ hooks: { runFinished: [], jobFailed: ['sleep 30'] }, cwd: dir.path, stateRoot: dir.path, bus, env: { PATH: process.env['PATH'] }, timeoutMs: 5000, budgetMs: 500 })!;
  const started = performance.now();
  for (const jobId of ['a', 'b', 'c']) bus.emit(failed({ jobId, runId: 'S' }));
  await budget.close();
  assert.ok(performance.now() - started < 4000, `the job-failed hooks took ${performance.now() - started} ms`);
  assert.deepEqual(notes.map((n) => n.replace(/: see .*/, '')), ['hook `sleep 30` (job-failed) was killed: the job-failed hooks of this run had used their 500 ms', 'hooks: 2 job-failed hook(s) not run: the job-failed hooks of this run had used their 500 ms']);
});
