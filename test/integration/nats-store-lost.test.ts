// The NATS server comes back without its JetStream store (a new machine, a wiped disk, a
// memory store): kiln's streams, the queue and the run's events are gone. The run fails
// its jobs in flight, saying so, instead of waiting for ever (it hung); the worker, still
// running, builds the next run (src/distributed/stream-watch.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, pkgOf, readReport, spawnKiln } from '../helpers/run-kiln.ts';
import { ACK_WAIT_MS, noNats, startNats, startWorker, until } from '../helpers/nats.ts';
import { openCluster } from '../../src/distributed/cluster.ts';

test('the NATS server restarted without its store mid-job: the run fails its jobs in flight, saying why, instead of hanging; the same worker builds the next run', { skip: noNats, timeout: 240_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const { url, port, child: first } = await startNats(t, ['-js', '-sd', join(dir.path, 'nats1'), '-a', '127.0.0.1', '-p', '-1']);
  const gate = join(dir.path, 'gate');
  await mkdir(join(dir.path, 'tree', 'slow'), { recursive: true });
  await writeFile(join(dir.path, 'tree', 'slow', 'recipe.toml'), recipeText({ name: 'slow', script: `while [ ! -e '${gate}' ]; do sleep 0.1; done; mkdir -p "$DESTDIR/usr/share/slow"; echo ok > "$DESTDIR/usr/share/slow/ok"` }));
  await mkdir(join(dir.path, 'tree', 'after'), { recursive: true });
  await writeFile(join(dir.path, 'tree', 'after', 'recipe.toml'), recipeText({ name: 'after', script: `mkdir -p "$DESTDIR/usr/share/after"; echo ok > "$DESTDIR/usr/share/after/ok"` }));
  const w = startWorker(t, url, join(dir.path, 'w1'), 'w1');
  const build = spawnKiln(['build', '--tree', join(dir.path, 'tree'), '--state', join(dir.path, 'coordinator'), '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 220_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  await until('the worker to take it', () => (/slow@\S+: taken/.test(w.output()) ? true : undefined), 60_000);
  first.kill('SIGKILL');
  await build.waitForEvent((e) => e.type === 'note' && /lost the NATS server at nats:/.test(e.text), 90_000);
  await startNats(t, ['-js', '-sd', join(dir.path, 'nats2'), '-a', '127.0.0.1', '-p', port]);
  // Another kiln (a new run, a worker starting) makes the streams again at once, before
  // this run looks: the same names, not the streams its jobs went to.
  await (await openCluster(url)).close();
  await build.waitForEvent((e) => e.type === 'note' && /the NATS server at nats:\S+ is back/.test(e.text), 90_000);
  await until('the worker to be back', () => (/is back/.test(w.output()) ? true : undefined), 90_000);
  await writeFile(gate, 'go');
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([build.done, new Promise<undefined>((res) => (timer = setTimeout(() => res(undefined), 60_000)))]);
  clearTimeout(timer);
  assert.ok(r !== undefined, `the run hangs\nworker:\n${w.output()}`);
  assert.equal(r.code, 1, explain(r));
  const slow = pkgOf(await readReport(r), 'slow');
  assert.equal(slow.state, 'failed');
  assert.match(slow.cause ?? '', /the NATS server at nats:\S+ no longer has kiln's streams KILN_JOBS and KILN_EVENTS as this run found them \(it came back without its JetStream store, or they were deleted, maybe made anew since\): the jobs queued or building there are lost; build again/, explain(r));
  const cpu = (): number => readFileSync(`/proc/${w.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ').slice(11, 13).reduce((a, b) => a + Number(b), 0);
  const before = cpu();
  await new Promise((res) => setTimeout(res, 3_000));
  const ticks = cpu() - before;
  assert.ok(ticks < 100, `the worker, its queue gone, used ${ticks} ticks of CPU in 3 s: it spins`);
  // The next run makes the streams again, and the worker that stayed up builds it.
  const second = spawnKiln(['build', '--tree', join(dir.path, 'tree'), '--state', join(dir.path, 'coordinator'), '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 100_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  // What the queue looked like, should the run hang (it did, rarely, under load: a job
  // neither taken nor pending anywhere visible); taken at 60 s, while the run still waits.
  let queue = '';
  const look = setTimeout(() => void queueState(url).then((text) => (queue = text)), 60_000);
  const again = await second.done;
  clearTimeout(look);
  assert.equal(again.code, 0, `${explain(again)}\nworker:\n${w.output()}\nqueue at 60 s:\n${queue}`);
  // (Built again, or found in the worker's cache if its build of the lost job ended there.)
  assert.match(pkgOf(await readReport(again), 'slow').state, /^(built|up-to-date)$/);
});

/** The jobs stream and its consumers, as the server sees them (for a failure's message). */
async function queueState(url: string): Promise<string> {
  const cluster = await openCluster(url);
  try {
    const stream = await cluster.jsm.streams.info('KILN_JOBS');
    const lines = [`KILN_JOBS: ${stream.state.messages} message(s), first seq ${stream.state.first_seq}, last seq ${stream.state.last_seq}`];
    for await (const c of cluster.jsm.consumers.list('KILN_JOBS')) {
      lines.push(`consumer ${c.name}: pending ${c.num_pending}, ack pending ${c.num_ack_pending}, redelivered ${c.num_redelivered}, waiting pulls ${c.num_waiting}, delivered seq ${c.delivered.stream_seq}, ack floor ${c.ack_floor.stream_seq}, ack wait ${(c.config.ack_wait ?? 0) / 1e6} ms, max deliver ${c.config.max_deliver}`);
    }
    return lines.join('\n');
  } catch (e) {
    return `(could not read the queue: ${(e as Error).message})`;
  } finally {
    await cluster.close();
  }
}
