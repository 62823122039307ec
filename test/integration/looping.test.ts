// The loop watchdog through the real CLI (logs/loop-watch.ts): a build printing one line
// (or a retry loop's two) over and over (their digits aside) past its loop-timeout fails
// with reason `looping` and leaves no process behind; one printing varied lines as fast
// and as long is built; and
// --loop-timeout overrides the recipes' limit (0: off).
// KILN_LOOP_MIN_REPEATS=50 stands in for the 10,000 repetitions a build needs by default.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { marker, pidsWithCmdline, reap } from '../helpers/proc.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { ACK_WAIT_MS, natsServer, noNats, startWorker } from '../helpers/nats.ts';
import { eventsOf, explain, instantiateTree, pkgOf, readReport, runKiln } from '../helpers/run-kiln.ts';

const env = { KILN_LOOP_MIN_REPEATS: '50' };

test('looping: one line printed over and over past loop-timeout fails with reason looping; varied lines at the same rate build', async () => {
  await using dir = await tmpDir();
  const m = marker();
  try {
    const tree = await instantiateTree('looping', join(dir.path, 'tree'), { MARKER: m });
    const state = join(dir.path, 'state');
    const r = await runKiln(['build', '--tree', tree, '--state', state, '--jobs', '2', '--json'], { env, timeoutMs: 40_000 });
    assert.equal(r.code, 1, explain(r));
    const finished = eventsOf(r.events, 'job-finished');
    const looper = finished.find((e) => e.name === 'looper');
    assert.equal(looper?.state, 'failed', explain(r));
    assert.equal(looper?.failure?.reason, 'looping', looper?.failure?.message);
    const message = looper?.failure?.message ?? '';
    assert.match(message, /the same line \d+ times in a row for [\d.]+s \(loop-timeout 2s/);
    assert.match(message, /"retrying \(attempt \d+\)"/);
    assert.match(message, /loop-timeout/);
    // Killed soon after its 2 s, not at some other limit.
    assert.ok(looper!.at - looper!.startedAt < 12_000, `looper ran ${looper!.at - looper!.startedAt} ms`);
    const retrier = finished.find((e) => e.name === 'retrier');
    assert.equal(retrier?.failure?.reason, 'looping', retrier?.failure?.message);
    assert.match(retrier?.failure?.message ?? '', /the same 2 lines \d+ times in a row .*: "connecting to 127\.0\.0\.1:9 \(try \d+\)" \/ "refused; retrying"/);
    const varied = finished.find((e) => e.name === 'varied');
    assert.equal(varied?.state, 'built', `varied printed as fast for longer than 2 s: ${varied?.failure?.message}`);
    assert.deepEqual(await pidsWithCmdline(m), [], 'the looping build left processes behind');
    const report = await readReport(r);
    assert.equal(pkgOf(report, 'looper').reason, 'looping');
    // The log keeps the repetitions, then says why it ended.
    const logs = await runKiln(['logs', 'looper', '--state', state]);
    assert.match(logs.stdout, /retrying \(attempt 5\d\)/);
    assert.match(logs.stdout, /failed: killed for printing the same line/);
  } finally {
    await reap(m);
  }
});

test('--loop-timeout 0: the watchdog is off, whatever the recipe says (the wall-clock limit ends the loop)', async () => {
  await using dir = await tmpDir();
  const m = marker();
  try {
    const tree = await instantiateTree('looping', join(dir.path, 'tree'), { MARKER: m });
    const r = await runKiln(['build', 'looper', '--tree', tree, '--state', join(dir.path, 'state'), '--json', '--loop-timeout', '0', '--job-timeout', '5s'], { env, timeoutMs: 40_000 });
    assert.equal(r.code, 1, explain(r));
    const looper = eventsOf(r.events, 'job-finished').find((e) => e.name === 'looper');
    assert.equal(looper?.failure?.reason, 'timeout', looper?.failure?.message);
    assert.deepEqual(await pidsWithCmdline(m), [], 'the build left processes behind');
  } finally {
    await reap(m);
  }
});

test('--loop-timeout: a bad value is a usage error naming the flag', async () => {
  await using dir = await tmpDir();
  const r = await runKiln(['build', '--tree', join(dir.path, 'none'), '--state', join(dir.path, 'state'), '--loop-timeout', 'soon']);
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /--loop-timeout/);
});

test('--loop-timeout with --nats goes to the workers with the jobs: 0 there turns off the recipe\'s 2 s (the wall-clock limit ends the loop)', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir();
  const m = marker();
  try {
    const tree = await instantiateTree('looping', join(dir.path, 'tree'), { MARKER: m });
    const url = await natsServer(t, dir.path);
    startWorker(t, url, join(dir.path, 'w'), 'w', undefined, env);
    const r = await runKiln(['build', 'looper', '--tree', tree, '--state', join(dir.path, 'state'), '--sandbox', 'host', '--nats', url, '--json', '--loop-timeout', '0', '--job-timeout', '5s'], { env: { ...env, KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) }, timeoutMs: 60_000 });
    assert.equal(r.code, 1, explain(r));
    const looper = eventsOf(r.events, 'job-finished').find((e) => e.name === 'looper');
    assert.equal(looper?.failure?.reason, 'timeout', looper?.failure?.message);
  } finally {
    await reap(m);
  }
});
