// A coordinator killed outright (kill -9) leaves its run's jobs on the queue and one in a
// worker's hands. Nobody would use what they build: the worker stops the build it runs
// for that run and does not build the jobs still queued (src/distributed/liveness.ts),
// with a real nats-server and a real `kiln worker`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { spawnKiln } from '../helpers/run-kiln.ts';
import { ACK_WAIT_MS, natsServer, noNats, startWorker, until } from '../helpers/nats.ts';

const LIVENESS_MS = 500;

test('a coordinator killed with SIGKILL: its worker stops the build it runs for it and builds none of its queued jobs', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const started = join(dir.path, 'started');
  const gate = join(dir.path, 'gate');
  await mkdir(started);
  const names = ['p1', 'p2', 'p3', 'p4', 'p5'];
  for (const name of names) {
    await mkdir(join(dir.path, 'tree', name), { recursive: true });
    // Each says it started, then waits for a gate that never opens.
    await writeFile(join(dir.path, 'tree', name, 'recipe.toml'), recipeText({ name, script: `touch '${started}/${name}'; while [ ! -e '${gate}' ]; do sleep 0.1; done` }));
  }
  const w = startWorker(t, url, join(dir.path, 'w'), 'w', undefined, { KILN_LIVENESS_MS: String(LIVENESS_MS) });
  await until('the worker to wait for jobs', () => (/taking jobs for/.test(w.output()) ? true : undefined), 30_000);
  const build = spawnKiln(['build', '--tree', join(dir.path, 'tree'), '--state', join(dir.path, 'c'), '--sandbox', 'host', '--nats', url, '--json', '--jobs', '8'], { timeoutMs: 100_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  await until('one build to start', () => (spawnSync('pgrep', ['-f', `while \\[ ! -e '${gate}' \\]`]).status === 0 ? true : undefined), 60_000);
  // Every job is queued: the coordinator's log of each says so.
  const queued = (): number => spawnSync('grep', ['-rl', 'queued for the workers', join(dir.path, 'c', 'logs')]).stdout.toString().split('\n').filter((l) => l !== '').length;
  await until('all five jobs queued', () => (queued() === names.length ? true : undefined), 30_000);
  const first = (await readdir(started))[0]!;
  build.child.kill('SIGKILL');
  await build.done;
  // The build stops within two questions of the coordinator's going (and a margin).
  await until('the running build to stop', () => (spawnSync('pgrep', ['-f', `while \\[ ! -e '${gate}' \\]`]).status === 0 ? undefined : true), 3 * LIVENESS_MS + 10_000);
  // And every job of the run leaves the worker unbuilt, said why; none other starts.
  const notBuilt = (): string[] => [...w.output().matchAll(/(p\d)@\S+: not built: nobody answers for run/g)].map((m) => m[1]!);
  await until('the five jobs to leave the worker unbuilt', () => (new Set(notBuilt()).size === names.length ? true : undefined), 30_000);
  assert.deepEqual(await readdir(started), [first], `only the job that was building when the coordinator died started:\n${w.output()}`);
  assert.doesNotMatch(w.output(), /: (built|failed)/, w.output());
  assert.equal(w.child.exitCode, null, 'the worker goes on');
});
