// A `kiln worker` reserves each job's recipe cpus and memory, as a local build does
// (src/distributed/worker-capacity.ts): with --jobs 4, jobs that each reserve every core,
// or more than half the memory, build one at a time on it; one taken that does not fit is
// held (kept in progress past the ack wait), not given back, and is built at attempt 1.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, readReport, runKiln, statesOf } from '../helpers/run-kiln.ts';
import { ACK_WAIT_MS, natsServer, noNats, startWorker } from '../helpers/nats.ts';

test('a worker with --jobs 4 builds jobs that reserve every core, or most of the memory, one at a time; one that waits is held, not given back', { skip: noNats, timeout: 90_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const times = join(dir.path, 'times');
  await mkdir(times);
  // (--jobs 4: this one takes up to 4.)
  const w = startWorker(t, url, join(dir.path, 'w1'), 'w1', undefined, {}, ['--sandbox', 'host', '--jobs', '4']);

  /** Builds a tree of `recipes` (name → extra [build] lines) whose jobs each say when they start and end; asserts none overlapped. */
  const buildApart = async (tree: string, recipes: Readonly<Record<string, string>>, seconds: number): Promise<void> => {
    for (const [name, extra] of Object.entries(recipes)) {
      await mkdir(join(dir.path, tree, name), { recursive: true });
      const script = `date +%s%N > '${times}/${name}.start'; sleep ${seconds}; date +%s%N > '${times}/${name}.end'; mkdir -p "$DESTDIR/usr/share/${name}"; echo ok > "$DESTDIR/usr/share/${name}/ok"`;
      await writeFile(join(dir.path, tree, name, 'recipe.toml'), `${recipeText({ name, script })}${extra}\n`);
    }
    const r = await runKiln(['build', '--tree', join(dir.path, tree), '--state', join(dir.path, 'coordinator'), '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 60_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
    assert.equal(r.code, 0, `${explain(r)}\nworker:\n${w.output()}`);
    assert.deepEqual(statesOf(await readReport(r)), Object.fromEntries(Object.keys(recipes).map((n) => [n, 'built'])));
    const spans: { name: string; start: number; end: number }[] = [];
    for (const name of Object.keys(recipes)) {
      const at = async (what: string): Promise<number> => Number(BigInt((await readFile(join(times, `${name}.${what}`), 'utf8')).trim()) / 1_000_000n);
      spans.push({ name, start: await at('start'), end: await at('end') });
    }
    spans.sort((a, b) => a.start - b.start);
    for (let i = 1; i < spans.length; i++) {
      const [a, b] = [spans[i - 1]!, spans[i]!];
      assert.ok(b.start >= a.end, `${b.name} started ${a.end - b.start} ms before ${a.name} ended: they overlapped on one worker\nworker:\n${w.output()}`);
    }
    // Each built at its first attempt: not given back, nor lost to the ack wait while held.
    for (const name of Object.keys(recipes)) assert.match(w.output(), new RegExp(`${name}@\\S+: taken \\(attempt 1\\)`), w.output());
  };

  // Each reserves every core: the worker takes the next only once the one before has ended.
  const cores = `cpus = ${availableParallelism()}`;
  await buildApart('cpus', { 'cpu-a': cores, 'cpu-b': cores, 'cpu-c': cores }, 1);
  // One cpu each, but more than half the machine's memory each: the second is taken (a cpu
  // is free) and held; 2.5 s each, so it is held past the ack wait (2 s), kept in progress.
  const memory = `cpus = 1\nmemory = ${Math.ceil(totalmem() * 0.6)}`;
  await buildApart('memory', { 'mem-a': memory, 'mem-b': memory }, 2.5);
  assert.match(w.output(), /mem-\w@\S+: waits for room here: it reserves 1 cpu\(s\) and [\d.]+ GiB of memory/, w.output());
  assert.doesNotMatch(w.output(), /attempt 2/, w.output());
});
