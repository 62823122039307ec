import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { oldRuns, pruneWorkerLogs } from './worker-logs.ts';
import { workerLogDir } from './worker-build.ts';

test('oldRuns: the runs last written longer ago than kept', () => {
  const runs = [{ name: 'a', mtimeMs: 0 }, { name: 'b', mtimeMs: 500 }, { name: 'c', mtimeMs: 1000 }];
  assert.deepEqual(oldRuns(runs, 600, 1000), ['a']);
  assert.deepEqual(oldRuns(runs, 2000, 1000), []);
  assert.deepEqual(oldRuns(runs, 100, 1000, new Set(['a'])), ['b'], 'a run with a job building now keeps its logs');
});

test('pruneWorkerLogs removes the run folders past --keep-logs, keeps the rest and any file', async () => {
  await using dir = await tmpDir('kiln-worker-logs-');
  const day = 24 * 3600;
  const now = Date.now();
  for (const [name, age] of [['old-run', 10 * day], ['new-run', 1 * day]] as const) {
    await mkdir(join(dir.path, name));
    await writeFile(join(dir.path, name, 'a@amd64.log'), 'log');
    await utimes(join(dir.path, name), now / 1000 - age, now / 1000 - age);
  }
  await writeFile(join(dir.path, 'stray.txt'), 'x');
  assert.equal(await pruneWorkerLogs(dir.path, 7 * day * 1000, now), 1);
  assert.equal(existsSync(join(dir.path, 'old-run')), false);
  assert.equal(existsSync(join(dir.path, 'new-run', 'a@amd64.log')), true);
  assert.equal(existsSync(join(dir.path, 'stray.txt')), true);
  assert.equal(await pruneWorkerLogs(join(dir.path, 'missing'), 1), 0, 'no folder yet: nothing to do');
});

test('workerLogDir: a later attempt of a job keeps its own copy of the log, beside the first, and goes with its run', async () => {
  await using dir = await tmpDir('kiln-worker-logs-');
  const first = join(workerLogDir(dir.path, 'run-1', 1), 'poison_amd64.log');
  const again = join(workerLogDir(dir.path, 'run-1', 2), 'poison_amd64.log');
  assert.notEqual(first, again);
  assert.equal(workerLogDir(dir.path, 'run-1', 3), join(dir.path, 'run-1', 'attempt-3'));
  for (const f of [first, again]) {
    await mkdir(join(f, '..'), { recursive: true });
    await writeFile(f, 'x');
  }
  const old = (Date.now() - 10 * 24 * 3600_000) / 1000;
  await utimes(join(dir.path, 'run-1'), old, old);
  assert.equal(await pruneWorkerLogs(dir.path, 7 * 24 * 3600_000), 1);
  assert.ok(!existsSync(again));
});
