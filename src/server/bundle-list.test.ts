// GET /bundles and DELETE /bundles/{id}: a tenant lists its bundles (with the builds of
// each still to run) and removes one, unless a queued or running build of it waits;
// another tenant's are neither listed nor removable.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTarball } from '../envs/test-tarballs.ts';
import { openServerRecords } from '../records/server-records.ts';
import { createApp } from './app.ts';
import { bundleDir } from './bundles.ts';
import type { BuildRunner } from './queue.ts';
import { readResponse } from '../../test/helpers/read-response.ts';

test('GET /bundles lists the tenant\'s bundles with the builds waiting on each; DELETE removes one no build waits for (409 otherwise, 404 for another tenant\'s)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bundle-list-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'state');
  const tokens = openServerRecords(state);
  const alice = tokens.createToken('alice').token;
  const bob = tokens.createToken('bob').token;
  const admin = tokens.createToken('ops', { admin: true }).token;
  tokens.close();
  // Builds never end by themselves: a build of a bundle stays running or queued.
  const runner: BuildRunner = (_b, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({ runId: 'r', state: 'cancelled' })));
  const kiln = createApp({ stateDir: state, runner, maxConcurrentBuilds: 1 });
  t.after(() => kiln.close());
  const call = async (method: string, path: string, token: string, body?: Uint8Array | object) => {
    const res = await kiln.app.request(path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && !(body instanceof Uint8Array) ? { 'content-type': 'application/json' } : {}) },
      ...(body === undefined ? {} : { body: body instanceof Uint8Array ? body : JSON.stringify(body) }),
    });
    return readResponse(res);
  };
  const tar = join(dir, 'b.tar');
  writeTarball(tar, [{ name: 'hello/recipe.toml', type: 'file', data: 'name = "hello"\nversion = "1.0"\nsummary = "hi"\nlicense = "MIT"\n\n[build]\nscript = "true"\n' }]);
  const body = new Uint8Array(readFileSync(tar));
  for (const id of ['one', 'two']) assert.equal((await call('PUT', `/api/v1/bundles/${id}`, alice, body)).status, 201);
  assert.equal((await call('PUT', '/api/v1/bundles/bobs', bob, body)).status, 201);
  const built = await call('POST', '/api/v1/builds', alice, { bundle: 'one' });
  assert.equal(built.status, 201, built.text);

  const listed = await call('GET', '/api/v1/bundles', alice);
  assert.equal(listed.status, 200, listed.text);
  assert.deepEqual(listed.json.bundles.map((b: { id: string; builds: string[] }) => [b.id, b.builds]), [['one', [built.json.id]], ['two', []]]);
  assert.equal((await call('GET', '/api/v1/bundles', admin)).json.bundles.length, 3, 'an admin sees every tenant\'s');

  const busy = await call('DELETE', '/api/v1/bundles/one', alice);
  assert.equal(busy.status, 409, busy.text);
  assert.match(busy.json.error.message, new RegExp(`bundle "one" is used by build ${built.json.id}, queued or running`));
  assert.ok(existsSync(bundleDir(state, 'alice', 'one')));
  assert.equal((await call('DELETE', '/api/v1/bundles/bobs', alice)).status, 404, 'another tenant\'s is not there for alice');
  assert.ok(existsSync(bundleDir(state, 'bob', 'bobs')));
  const gone = await call('DELETE', '/api/v1/bundles/two', alice);
  assert.equal(gone.status, 204, gone.text);
  assert.ok(!existsSync(bundleDir(state, 'alice', 'two')), 'its folder went too');
  assert.equal((await call('GET', '/api/v1/bundles/two', alice)).status, 404);
  // Once its build is over, the first can go too.
  assert.equal((await call('POST', `/api/v1/builds/${built.json.id}/cancel`, alice)).status, 202);
  await kiln.queue.settled(built.json.id);
  assert.equal((await call('DELETE', '/api/v1/bundles/one', alice)).status, 204);
});
