// Give-backs the coordinator must take whatever attempt they are of (src/distributed/
// remote-executor.ts onReturned), driven by a hand-made worker on a real nats-server and
// a real `kiln build --nats`: a redelivery given back before anyone claimed it is queued
// again (it was ignored: the job was off the queue and the run waited for ever), and a
// job given back again and again by workers that find nobody answering for the run while
// it is there fails, naming kiln.alive, instead of going round for ever.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type Consumer } from '@nats-io/jetstream';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, pkgOf, readReport, spawnKiln } from '../helpers/run-kiln.ts';
import { ACK_WAIT_MS, natsServer, noNats, startWorker } from '../helpers/nats.ts';

async function setUp(t: import('node:test').TestContext, dir: string) {
  const url = await natsServer(t, dir);
  await mkdir(join(dir, 'tree', 'p1'), { recursive: true });
  await writeFile(join(dir, 'tree', 'p1', 'recipe.toml'), recipeText({ name: 'p1', script: 'mkdir -p "$DESTDIR/usr/share/p1"; echo ok > "$DESTDIR/usr/share/p1/ok"' }));
  const build = spawnKiln(['build', '--tree', join(dir, 'tree'), '--state', join(dir, 'c'), '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 100_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  const nc = await connect({ servers: url });
  t.after(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  // The queue the coordinator made for its job.
  let consumer: Consumer | undefined;
  for (const end = Date.now() + 30_000; consumer === undefined && Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    const list = await jsm.consumers.list('KILN_JOBS').next().catch(() => []);
    if (list.length > 0) consumer = await js.consumers.get('KILN_JOBS', list[0]!.name);
  }
  assert.ok(consumer !== undefined, 'the coordinator made a queue');
  const event = (runId: string, e: object): Promise<unknown> => js.publish(`kiln.events.${runId}`, JSON.stringify({ worker: 'hand', at: Date.now(), ...e }));
  return { url, build, consumer, event };
}

test('a redelivery given back before anyone claimed it (its coordinator did not answer for a moment) is queued again, and built', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const { url, build, consumer, event } = await setUp(t, dir.path);
  // Worker A takes it and dies (no ack): delivered again after the ack wait.
  const m1 = (await consumer.next({ expires: 20_000 }))!;
  const job = JSON.parse(m1.string()) as { runId: string; jobId: string; returns?: number };
  await event(job.runId, { type: 'claimed', jobId: job.jobId, attempt: 1 });
  const m2 = (await consumer.next({ expires: 20_000 }))!;
  assert.equal(m2.info.deliveryCount, 2);
  // Worker B found nobody answering for the run: gives attempt 2 back, unclaimed.
  await event(job.runId, { type: 'returned', jobId: job.jobId, attempt: (job.returns ?? 0) + m2.info.deliveryCount, why: 'coordinator-gone' });
  await m2.ackAck();
  // A real worker then builds it: the coordinator queued it again.
  startWorker(t, url, join(dir.path, 'w'), 'w');
  const r = await build.done;
  assert.equal(r.code, 0, explain(r));
  assert.equal(pkgOf(await readReport(r), 'p1').state, 'built');
});

test('a job given back again and again by workers that find nobody answering for the run fails after 3, naming kiln.alive, instead of going round', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const { build, consumer, event } = await setUp(t, dir.path);
  for (let i = 0; i < 3; i++) {
    const m = await consumer.next({ expires: 20_000 });
    if (m === null) break;
    const job = JSON.parse(m.string()) as { runId: string; jobId: string; returns?: number };
    await event(job.runId, { type: 'returned', jobId: job.jobId, attempt: (job.returns ?? 0) + m.info.deliveryCount, why: 'coordinator-gone' });
    await m.ackAck();
  }
  const r = await build.done;
  assert.equal(r.code, 1, explain(r));
  const p1 = pkgOf(await readReport(r), 'p1');
  assert.equal(p1.state, 'failed');
  assert.match(p1.cause ?? '', /workers found nobody answering on kiln\.alive\.\S+ 3 times while this run was there \(may this kiln's NATS user subscribe there\?/, explain(r));
});
