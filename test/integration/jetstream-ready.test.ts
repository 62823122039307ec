// A kiln worker whose NATS server answers before its JetStream is ready (a cluster still
// electing its leader at boot) waits for it instead of exiting (src/distributed/
// jetstream-ready.ts), with two real clustered nats-servers: the first alone has no
// quorum; once the second starts, JetStream is ready and the worker takes jobs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.ts';
import { noNats, startNats, startWorker, until } from '../helpers/nats.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, runKiln } from '../helpers/run-kiln.ts';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('a kiln worker whose NATS cluster has no JetStream leader yet waits for it, then takes jobs', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const [clientA, clientB, routeA, routeB] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const conf = async (name: string, client: number, route: number): Promise<string> => {
    const file = join(dir.path, `${name}.conf`);
    await writeFile(file, [
      `server_name: ${name}`,
      'host: 127.0.0.1',
      `port: ${client}`,
      `jetstream { store_dir: ${JSON.stringify(join(dir.path, name))} }`,
      `cluster { name: kiln-test, listen: 127.0.0.1:${route}, routes: [nats://127.0.0.1:${routeA}, nats://127.0.0.1:${routeB}] }`,
    ].join('\n'));
    return file;
  };
  const a = await startNats(t, ['-c', await conf('a', clientA, routeA)]);
  const w = startWorker(t, a.url, join(dir.path, 'w'), 'w');
  await until('the worker to say JetStream is not ready', () => (/its JetStream is not ready .*trying again until it is/.test(w.output()) ? true : undefined), 60_000);
  assert.equal(w.child.exitCode, null, `the worker gave up:\n${w.output()}`);
  await startNats(t, ['-c', await conf('b', clientB, routeB)]);
  await until('the worker to take jobs', () => (/taking jobs for/.test(w.output()) ? true : undefined), 90_000);
  assert.match(w.output(), /the JetStream of NATS at nats:\/\/127\.0\.0\.1:\d+ is ready after \d+ s/);
});

test('kiln build --nats to a port that takes TCP but never speaks NATS (an http port): says so and exits, not left hanging on the socket', { timeout: 90_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const conns: Socket[] = [];
  const silent = createServer((c) => void conns.push(c));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => {
    for (const c of conns) c.destroy();
    silent.close(() => r());
  }));
  const port = (silent.address() as { port: number }).port;
  await mkdir(join(dir.path, 'tree', 'a'), { recursive: true });
  await writeFile(join(dir.path, 'tree', 'a', 'recipe.toml'), recipeText({ name: 'a', script: 'true' }));
  const r = await runKiln(['build', '--tree', join(dir.path, 'tree'), '--state', join(dir.path, 'state'), '--nats', `nats://127.0.0.1:${port}`], { timeoutMs: 60_000 });
  assert.equal(r.code, 1, explain(r));
  assert.match(r.stderr, /error \[server-unreachable\]: NATS at nats:\/\/127\.0\.0\.1:\d+ did not answer: something takes TCP connections there, but does not speak NATS to kiln/);
});
