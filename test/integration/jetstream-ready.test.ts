// A kiln worker whose NATS server answers before its JetStream is ready (a cluster still
// electing its leader at boot) waits for it instead of exiting (src/distributed/
// jetstream-ready.ts), with two real clustered nats-servers: the first alone has no
// quorum; once the second starts, JetStream is ready and the worker takes jobs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.ts';
import { noNats, startNats, startWorker, until } from '../helpers/nats.ts';

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
