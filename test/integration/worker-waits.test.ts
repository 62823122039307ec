// `kiln worker` started before its NATS server (a machine booting, a service started
// before nats-server): it says it waits, tries again until the server answers, then takes
// jobs; SIGTERM while it waits ends it at once (exit 130). A server that answers without
// JetStream still ends it at once (src/distributed/wait-for-server.ts).

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, readReport, spawnKiln, statesOf } from '../helpers/run-kiln.ts';
import { ACK_WAIT_MS, noNats, startWorker, until } from '../helpers/nats.ts';

/** A port nothing listens on (one the system just gave out, closed again). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** nats-server on `port` (`args` besides), killed after the test; resolves once it listens. */
function natsServerOn(t: TestContext, port: number, args: readonly string[]): Promise<void> {
  const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  return new Promise((resolve, reject) => {
    const seen = (d: Buffer): void => {
      out += d.toString();
      if (/Listening for client connections on/.test(out)) resolve();
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.on('exit', (code) => reject(new Error(`nats-server exited ${code}: ${out}`)));
  });
}

const WAITING = /kiln worker: cannot reach NATS at nats:\/\/127\.0\.0\.1:\d+ \(connection refused\): trying again every 1 s, backing off to every 30 s, until it answers \(Ctrl-C to stop\)/;

test('a worker started before its NATS server waits for it, says so once, connects when it comes and takes the job of a build', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const w = startWorker(t, url, join(dir.path, 'w'), 'w');
  await until('the worker to say it waits', () => (WAITING.test(w.output()) ? true : undefined), 30_000);
  // A few tries later it is still there, waiting, and has said so only once.
  await new Promise((r) => setTimeout(r, 3_500));
  assert.equal(w.child.exitCode, null, w.output());
  assert.equal(w.output().match(/cannot reach NATS/g)?.length, 1, w.output());
  await natsServerOn(t, port, ['-js', '-sd', join(dir.path, 'nats')]);
  await until('the worker to connect', () => (/kiln worker: connected to NATS at nats:\/\/127\.0\.0\.1:\d+ after \d+ s/.test(w.output()) && /taking jobs for/.test(w.output()) ? true : undefined), 30_000);
  const tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'one'), { recursive: true });
  await writeFile(join(tree, 'one', 'recipe.toml'), recipeText({ name: 'one', script: 'mkdir -p "$DESTDIR/usr/share/one"; echo one > "$DESTDIR/usr/share/one/one"' }));
  const r = await spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'c'), '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 100_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } }).done;
  assert.equal(r.code, 0, `${explain(r)}\n${w.output()}`);
  assert.deepEqual(statesOf(await readReport(r)), { one: 'built' });
  assert.match(w.output(), /one@\S+: taken \(attempt 1\)/);
});

test('SIGTERM to a worker waiting for a NATS server that never comes ends it within 2 s, exit 130', { skip: noNats, timeout: 60_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const w = startWorker(t, `nats://127.0.0.1:${await freePort()}`, join(dir.path, 'w'), 'w');
  await until('the worker to say it waits', () => (WAITING.test(w.output()) ? true : undefined), 30_000);
  // Into its backoff (the waits grow: 1 s, 2 s, 4 s …).
  await new Promise((r) => setTimeout(r, 2_500));
  const sent = Date.now();
  w.child.kill('SIGTERM');
  const code = await Promise.race([w.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 10_000).unref())]);
  assert.equal(code, 130, w.output());
  assert.ok(Date.now() - sent < 2_000, `it took ${Date.now() - sent} ms\n${w.output()}`);
  assert.match(w.output(), /kiln worker: stopped while waiting for NATS at nats:\/\/127\.0\.0\.1:\d+ to answer/);
});

test('a NATS server that answers without JetStream ends a worker at once: no waiting for what will not change', { skip: noNats, timeout: 60_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const port = await freePort();
  await natsServerOn(t, port, []);
  const w = startWorker(t, `nats://127.0.0.1:${port}`, join(dir.path, 'w'), 'w');
  const code = await Promise.race([w.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 30_000).unref())]);
  assert.equal(code, 1, w.output());
  assert.match(w.output(), /error \[server-unreachable\]: NATS at nats:\/\/127\.0\.0\.1:\d+ answered, but not as kiln needs/);
  assert.doesNotMatch(w.output(), /trying again/);
});
