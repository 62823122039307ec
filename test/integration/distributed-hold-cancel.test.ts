// A job a `kiln worker` holds (taken, but it does not fit beside the running jobs yet:
// src/distributed/worker-hold.ts) is cancelled as a running one is: Ctrl-C of its
// coordinator ends the hold, the job is never built there, and the worker goes on taking
// other runs' jobs at once instead of waiting for room for a job nobody wants.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, readReport, spawnKiln, statesOf } from '../helpers/run-kiln.ts';
import { ACK_WAIT_MS, natsServer, noNats, until, startWorker } from '../helpers/nats.ts';

test('Ctrl-C of the coordinator of a job held on a worker: the job is not built there, and the worker takes the next run\'s jobs', { skip: noNats, timeout: 150_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const w = startWorker(t, url, join(dir.path, 'w1'), 'w1', undefined, {}, ['--sandbox', 'host', '--jobs', '4', '--overcommit-cpus', '2']);
  const release = join(dir.path, 'release');
  const marker = join(dir.path, 'held-was-built');
  const build = async (tree: string, name: string, script: string, extra: string, timeoutMs: number): Promise<ReturnType<typeof spawnKiln>> => {
    await mkdir(join(dir.path, tree, name), { recursive: true });
    await writeFile(join(dir.path, tree, name, 'recipe.toml'), `${recipeText({ name, script: `${script}\nmkdir -p "$DESTDIR/usr/share/${name}"; echo ok > "$DESTDIR/usr/share/${name}/ok"` })}${extra}\n`);
    return spawnKiln(['build', '--tree', join(dir.path, tree), '--state', join(dir.path, `coordinator-${tree}`), '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  };
  // Each reserves more than half the memory: the second waits for the first to end.
  const memory = `cpus = 1\nmemory = ${Math.ceil(totalmem() * 0.6)}`;
  // Run 1: a job that builds until the test lets it end.
  // (Bounded: a test that fails leaves nothing running for long; released when it fails too.)
  const run1 = await build('one', 'runner', `for i in $(seq 900); do [ -e '${release}' ] && break; sleep 0.1; done`, memory, 120_000);
  try {
    await until('the worker to take runner', () => (/runner@\S+: taken/.test(w.output()) ? true : undefined), 60_000);
    // Run 2: its job is taken and held beside it; then the run is stopped.
    const run2 = await build('two', 'held', `touch '${marker}'`, memory, 60_000);
    await until('the worker to hold held', () => (/held@\S+: waits for room here/.test(w.output()) ? true : undefined), 60_000);
    run2.child.kill('SIGINT');
    const r2 = await run2.done;
    assert.equal(r2.code, 130, explain(r2));
    assert.equal(statesOf(await readReport(r2))['held'], 'cancelled');
    // Run 3: a small job, taken while runner still builds (a worker still holding the
    // cancelled job would take nothing until runner ends, which it does not here).
    const run3 = await build('three', 'small', 'true', 'cpus = 1', 40_000);
    const r3 = await run3.done;
    assert.equal(r3.code, 0, `${explain(r3)}\nworker:\n${w.output()}`);
    assert.deepEqual(statesOf(await readReport(r3)), { small: 'built' });
    assert.ok(!existsSync(release), 'runner was still building');
    await writeFile(release, '');
    const r1 = await run1.done;
    assert.equal(r1.code, 0, `${explain(r1)}\nworker:\n${w.output()}`);
    await until('the worker to say runner built', () => (/runner@\S+: built/.test(w.output()) ? true : undefined), 30_000);
    // Room now: the cancelled job still is not built.
    await new Promise((r) => setTimeout(r, 3_000));
    assert.match(w.output(), /held@\S+: not built: cancelled by the coordinator while it waited for room/, w.output());
    assert.doesNotMatch(w.output(), /held@\S+: (taken|built)/, w.output());
    assert.equal(existsSync(marker), false, 'the held job was built after its run was cancelled');
  } finally {
    await writeFile(release, '');
    run1.child.kill('SIGKILL'); // (gone already unless the test failed)
  }
});
