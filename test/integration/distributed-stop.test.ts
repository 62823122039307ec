// `kiln worker` stopped while its NATS server is gone: one holding no job stops at once
// (it has nothing to give back, so nothing to wait for the server for); one holding a job
// waits for the server to give it back, and a second SIGTERM stops it anyway, saying which
// jobs it abandons (the server delivers them again after the ack wait).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, spawnKiln } from '../helpers/run-kiln.ts';
import { ACK_WAIT_MS, noNats, startNats, startWorker, until } from '../helpers/nats.ts';

/** Resolves to the exit code, or 'hung' when the process has not exited within `ms`. */
function exitWithin(exited: Promise<number | null>, ms: number): Promise<number | null | 'hung'> {
  return Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), ms).unref())]);
}

test('a worker holding no job, told to stop (SIGTERM) as its NATS server dies, stops at once instead of waiting for the server', { skip: noNats, timeout: 60_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const nats = await startNats(t, ['-js', '-sd', join(dir.path, 'nats'), '-a', '127.0.0.1', '-p', '-1']);
  const w = startWorker(t, nats.url, join(dir.path, 'w1'), 'w1');
  // One job built first: the worker is then in its loop, holding nothing.
  const tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'quick'), { recursive: true });
  await writeFile(join(tree, 'quick', 'recipe.toml'), recipeText({ name: 'quick', script: 'mkdir -p "$DESTDIR/usr/share/quick"; echo ok > "$DESTDIR/usr/share/quick/ok"' }));
  const build = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'coordinator'), '--sandbox', 'host', '--nats', nats.url, '--json'], { timeoutMs: 60_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  const built = await build.done;
  assert.equal(built.code, 0, explain(built));
  await until('the worker to say quick is built', () => (/quick@\S+: built/.test(w.output()) ? true : undefined), 30_000);
  // The same moment: the server goes, the worker is told to stop.
  nats.child.kill('SIGKILL');
  w.child.kill('SIGTERM');
  const code = await exitWithin(w.exited, 10_000);
  assert.notEqual(code, 'hung', `the worker did not stop:\n${w.output()}`);
  assert.doesNotMatch(w.output(), /giving back the jobs it holds/, w.output());
  assert.match(w.output(), /SIGTERM: stopping \(it holds no job\)/, w.output());
});

test('a worker holding a job, stopped while its NATS server is gone: a second SIGTERM stops it, naming the job it abandons', { skip: noNats, timeout: 90_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const nats = await startNats(t, ['-js', '-sd', join(dir.path, 'nats'), '-a', '127.0.0.1', '-p', '-1']);
  const w = startWorker(t, nats.url, join(dir.path, 'w1'), 'w1');
  await until('the worker to take jobs', () => (/taking jobs for/.test(w.output()) ? true : undefined), 30_000);
  const tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'slow'), { recursive: true });
  // Bounded: a test that fails leaves nothing running for long.
  await writeFile(join(tree, 'slow', 'recipe.toml'), recipeText({ name: 'slow', script: 'sleep 30' }));
  const build = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'coordinator'), '--sandbox', 'host', '--nats', nats.url, '--json'], { timeoutMs: 60_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  t.after(() => build.child.kill('SIGKILL'));
  await until('the worker to take slow', () => (/slow@\S+: taken/.test(w.output()) ? true : undefined), 30_000);
  nats.child.kill('SIGKILL');
  build.child.kill('SIGKILL');
  w.child.kill('SIGTERM');
  await until('the worker to say it gives its job back', () => (/SIGTERM: giving back the job it holds/.test(w.output()) ? true : undefined), 10_000);
  // Still waiting for the server to give it back: a second SIGTERM stops it.
  assert.equal(await exitWithin(w.exited, 1_000), 'hung', `the worker stopped before it was told twice:\n${w.output()}`);
  w.child.kill('SIGTERM');
  const code = await exitWithin(w.exited, 10_000);
  assert.notEqual(code, 'hung', `a second SIGTERM did not stop the worker:\n${w.output()}`);
  assert.match(w.output(), /SIGTERM again: stopping now; not given back: \S+ slow@\S+ \(the NATS server delivers it again once its ack wait runs out\)/, w.output());
});
