// A daemon's Debian builds publish into a repository per tenant (STATE/repos/TENANT):
// one tenant's build of a version never replaces what another published under it in a
// shared repository. A real `kiln serve` builds a local source package (debian.toml
// dscs) for two tenants, in the shared bookworm env.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { hostDebianMirror } from '../../src/config/mirrors.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { seededCache } from '../helpers/shared-cache.ts';
import { makeChainSources } from '../helpers/debian-source.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { spawnKiln } from '../helpers/run-kiln.ts';
import { until } from '../helpers/nats.ts';

test('kiln serve: each tenant\'s Debian build publishes into its own repository, never into a shared one', { skip: sharedEnvSkip(), timeout: 20 * 60_000 }, async (t) => {
  if ((await hostDebianMirror({})) === undefined) {
    t.skip('the host has no Debian mirror in its apt sources');
    return;
  }
  const envs = await sharedEnv();
  await using dir = await tmpDir('kiln-daemon-debian-');
  const tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'src'), { recursive: true });
  const { liba } = await makeChainSources(join(tree, 'src'));
  await writeFile(join(tree, 'debian.toml'), `suite = "bookworm"\ndscs = [${JSON.stringify(relative(tree, liba))}]\n`);
  const state = join(dir.path, 'state');
  const cache = await seededCache(dir.path);
  const { openServerRecords } = await import('../../src/records/server-records.ts');
  const records = openServerRecords(state);
  const tokens = { alice: records.createToken('alice').token, bob: records.createToken('bob').token };
  records.close();
  const daemon = spawnKiln(['serve', '--listen', '127.0.0.1:0', '--state', state, '--cache', cache, '--tree', `main=${tree}`], { timeoutMs: 15 * 60_000, env: envs });
  let err = '';
  daemon.child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  t.after(() => daemon.child.kill('SIGTERM'));
  const base = await until('kiln serve to listen', () => /listening on (http:\/\/\S+) /.exec(err)?.[1], 60_000);
  const call = async (who: keyof typeof tokens, method: string, path: string, body?: unknown): Promise<any> => {
    const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${tokens[who]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return res.json();
  };
  for (const who of ['alice', 'bob'] as const) {
    const b = await call(who, 'POST', '/api/v1/builds', { tree: 'main' });
    assert.equal(typeof b.id, 'string', JSON.stringify(b));
    let done: any;
    for (const end = Date.now() + 12 * 60_000; Date.now() < end; await new Promise((r) => setTimeout(r, 1000))) {
      done = await call(who, 'GET', `/api/v1/builds/${b.id}`);
      if (['done', 'failed', 'cancelled'].includes(done.state)) break;
    }
    assert.equal(done.state, 'done', `${who}: ${JSON.stringify(done)}\n${err.slice(-3000)}`);
  }
  for (const who of ['alice', 'bob']) {
    const pool = join(state, 'repos', who, 'pool', 'main', 'k', 'kiln-liba');
    const files = existsSync(pool) ? await readdir(pool) : [];
    assert.ok(files.some((f) => f.endsWith('.deb')), `${who}'s repository has the .deb: ${files.join(' ')}`);
    assert.ok(files.includes('kiln-liba_1.0.dsc'), `${who}'s repository has the source: ${files.join(' ')}`);
    assert.ok(existsSync(join(state, 'repos', who, 'dists', 'bookworm', 'InRelease')), `${who}'s repository is signed`);
  }
  assert.equal(existsSync(join(state, 'repo')), false, 'nothing goes into a repository shared by the tenants');
});
