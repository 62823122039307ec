import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { initRunFiles, startInitRun } from './init-run.ts';

/** Runs `script` as a backend's run argv would be: `sh -c script x ENV_FILE STATUS_FILE CWD USER CMD…`. */
async function statusOf(script: string): Promise<{ exitCode: number | null; signal: string | null }> {
  const runDir = await mkdtemp(join(tmpdir(), 'kiln-init-run-'));
  try {
    const files = await initRunFiles(runDir, 1, { PATH: '/usr/bin:/bin' });
    const run = startInitRun({
      argv: ['/bin/sh', '-c', script, 'init'],
      runDir,
      files,
      spec: { argv: ['true'], cwd: '/kiln/src', env: {}, onOutput: () => {} },
      graceMs: undefined,
      signal: new AbortController().signal,
      timePath: null,
      what: 'the test sandbox',
    });
    return await run.status(await run.running, false);
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
}

test("a run's status: init's exact one; init's own exit when it could not write one (a full disk); a start failure when it never got there", async () => {
  assert.deepEqual(await statusOf('echo "exit 3" > "$2"; exit 3'), { exitCode: 3, signal: null });
  assert.deepEqual(await statusOf('echo "signal 9" > "$2"; exit 137'), { exitCode: null, signal: 'SIGKILL' });
  // Init emptied the file and could not write it (ENOSPC): its exit status stands for the build's.
  assert.deepEqual(await statusOf(': > "$2"; exit 1'), { exitCode: 1, signal: null });
  // Setup failed before init (the file is as kiln left it): never taken for the build's failure.
  await assert.rejects(statusOf('echo "unshare: mount failed" >&2; exit 1'), (e: unknown) => {
    assert.ok(e instanceof KilnError && e.code === 'sandbox-unavailable');
    assert.match(e.message, /the test sandbox failed to start \(status 1\): unshare: mount failed/);
    return true;
  });
});
