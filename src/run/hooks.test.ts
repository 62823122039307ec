import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EventBus, type KilnEvent } from '../events/events.ts';
import { countsText, hookEnv, hookFailure, hookLabel, hookNote, hooksForRun, jobFailedVars, mergeHooks, runFinishedVars, startHooks } from './hooks.ts';
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
