import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunResult } from '../sandbox/sandbox.ts';
import { DEFAULT_PIDS } from '../sandbox/cgroups/values.ts';
import { describeBuild } from './build-env.ts';
import { fmtMs, runVerdict, type RunVerdict, type VerdictContext } from './run-verdict.ts';

type Ran = Pick<RunResult, 'exitCode' | 'signal' | 'killedFor'>;
const ok: Ran = { exitCode: 0, signal: null };
const base: VerdictContext = { aborted: false, debian: false };

test('runVerdict: how a build run ended, as the job sees it', () => {
  const rows: [string, Ran, Partial<VerdictContext>, RunVerdict][] = [
    ['exit 0', ok, {}, { kind: 'ran' }],
    ['exit 2', { exitCode: 2, signal: null }, {}, { kind: 'failed', reason: 'exit-status', message: 'the build script exited with status 2', maybeDiskFull: true }],
    ['killed by a signal of its own', { exitCode: null, signal: 'SIGSEGV' }, {}, { kind: 'failed', reason: 'signal', message: 'the build script was killed by SIGSEGV', maybeDiskFull: true }],
    ['a Debian build says dpkg-buildpackage', { exitCode: 1, signal: null }, { debian: true }, { kind: 'failed', reason: 'exit-status', message: 'dpkg-buildpackage exited with status 1', maybeDiskFull: true }],
    ['cancelled', { exitCode: null, signal: 'SIGKILL', killedFor: 'cancelled' }, { aborted: true }, { kind: 'cancelled' }],
    ["cancelled by the job's own signal, no loop: cancelled", { exitCode: null, signal: 'SIGKILL', killedFor: 'cancelled' }, {}, { kind: 'cancelled' }],
    ['neither exit status nor signal: a failure, not a success', { exitCode: null, signal: null }, {}, { kind: 'failed', reason: 'exit-status', message: 'the build script exited with status null', maybeDiskFull: true }],
    ['a silent limit not known', { exitCode: null, signal: 'SIGKILL', killedFor: 'silent' }, {}, { kind: 'failed', reason: 'silent', message: 'killed after printing nothing for ?' }],
    ['ended by the loop watchdog', { exitCode: null, signal: 'SIGKILL', killedFor: 'cancelled' }, { loopMessage: 'printed the same line 10000 times' }, { kind: 'failed', reason: 'looping', message: 'printed the same line 10000 times' }],
    ['the loop watchdog, but the run was cancelled too: cancelled', { exitCode: null, signal: 'SIGKILL', killedFor: 'cancelled' }, { loopMessage: 'x', aborted: true }, { kind: 'cancelled' }],
    ["the recipe's timeout", { exitCode: null, signal: 'SIGKILL', killedFor: 'timeout' }, { timeoutMs: 1_800_000 }, { kind: 'failed', reason: 'timeout', message: 'killed after the wall-clock limit of 30m' }],
    ['--job-timeout', { exitCode: null, signal: 'SIGKILL', killedFor: 'timeout' }, { timeoutMs: 7_200_000, fromJobTimeout: true }, { kind: 'failed', reason: 'timeout', message: 'killed after the wall-clock limit of 2h (--job-timeout)' }],
    ['silent', { exitCode: null, signal: 'SIGKILL', killedFor: 'silent' }, { silentTimeoutMs: 1500 }, { kind: 'failed', reason: 'silent', message: 'killed after printing nothing for 1.5s' }],
    ['out of memory', { exitCode: null, signal: 'SIGKILL', killedFor: 'out-of-memory' }, {}, { kind: 'failed', reason: 'out-of-memory', message: 'killed when memory ran out: over its memory limit (what it writes to /tmp counts too), or the machine\'s memory was used up' }],
    ['out of memory, its limit known', { exitCode: null, signal: 'SIGKILL', killedFor: 'out-of-memory' }, { memoryBytes: 256 * 1024 * 1024 }, { kind: 'failed', reason: 'out-of-memory', message: 'killed when memory ran out: over its memory limit of 256.0 MiB (what it writes to /tmp counts too), or the machine\'s memory was used up' }],
    ['the pids limit, even with exit 0 seen', { exitCode: 0, signal: null, killedFor: 'pids-limit' }, {}, { kind: 'failed', reason: 'pids-limit', message: `failed after a fork was refused at the sandbox's limit of processes (${DEFAULT_PIDS}): a runaway fork loop, or more parallel processes than a build may have` }],
  ];
  for (const [name, r, c, want] of rows) assert.deepEqual(runVerdict(r, { ...base, ...c }), want, name);
});

test('fmtMs: limits as a user writes them', () => {
  assert.deepEqual([7_200_000, 1_800_000, 90_000, 1500, undefined].map(fmtMs), ['2h', '30m', '90s', '1.5s', '?']);
});

test('describeBuild: the environment sorted and quoted, then the script, one line each', () => {
  const text = describeBuild({ PATH: '/usr/bin:/bin', CFLAGS: '-O2 -g', A: "it's" }, 'make\nmake install\n', '/build/src');
  assert.deepEqual(text.split('\n'), [
    "environment (nothing else is inherited; kiln adds KILN_JOB_COOKIE, to find the build's processes):",
    "  A='it'\\''s'",
    "  CFLAGS='-O2 -g'",
    "  PATH='/usr/bin:/bin'",
    'script (bash -e, in /build/src):',
    '| make',
    '| make install',
  ]);
});
