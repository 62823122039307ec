// A restricted package (recipe key `restricted`, pkgsrc's RESTRICTED) on the daemon: a real
// build (runBuild on the host sandbox) builds it and stages it for what needs it, but
// neither GET /api/v1/artifacts/{key}/… (what `kiln build --substitute` asks) nor a build's
// GET …/jobs/{job}/artifact hands it out; a free package beside it is served as before.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServerRecords } from '../../records/server-records.ts';
import { createApp } from '../app.ts';
import { recipeText } from '../../../test/helpers/recipe-text.ts';
import { readResponse } from '../../../test/helpers/read-response.ts';

test('a restricted package is built and staged for its dependents, but not served: not by key to a substituter (404), not as a job\'s artifact (403)', async (t: TestContext) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-server-restricted-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tree = join(dir, 'tree');
  const pkg = (name: string, script: string, extra = '', deps: string[] = []): void => {
    mkdirSync(join(tree, name), { recursive: true });
    writeFileSync(join(tree, name, 'recipe.toml'), `${extra}${recipeText({ name, script, deps })}`);
  };
  pkg('fw', 'mkdir -p "$DESTDIR/usr/share/fw"\necho blob > "$DESTDIR/usr/share/fw/blob"', 'restricted = "the vendor forbids redistribution"\n');
  pkg('free', 'mkdir -p "$DESTDIR/usr/share/free"\necho free > "$DESTDIR/usr/share/free/f"');
  pkg('app', 'test -f "$SYSROOT/usr/share/fw/blob"\nmkdir -p "$DESTDIR/usr/share/app"\necho app > "$DESTDIR/usr/share/app/f"', '', ['fw']);
  const state = join(dir, 'state');
  const records = openServerRecords(state);
  const alice = records.createToken('alice').token;
  records.close();
  const kiln = createApp({ stateDir: state, trees: { main: tree }, sandbox: 'host', slots: 2, maxConcurrentBuilds: 1 });
  t.after(() => kiln.close());
  const get = async (path: string) => readResponse(await kiln.app.request(path, { headers: { Authorization: `Bearer ${alice}` } }));
  const created = await kiln.app.request('/api/v1/builds', { method: 'POST', headers: { Authorization: `Bearer ${alice}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ tree: 'main' }) });
  assert.equal(created.status, 201);
  const id = ((await created.json()) as { id: string }).id;
  assert.equal((await kiln.queue.settled(id))?.state, 'done', 'app found fw staged in its sysroot');

  // Each artifact's key, from the cache's entries.
  const keys = new Map<string, string>();
  const artifacts = join(state, 'cache', 'artifacts');
  for (const fan of readdirSync(artifacts)) {
    for (const key of readdirSync(join(artifacts, fan))) {
      const meta = JSON.parse(readFileSync(join(artifacts, fan, key, 'meta.json'), 'utf8')) as { name: string; restricted?: string; license?: string };
      keys.set(meta.name, key);
      if (meta.name === 'fw') assert.equal(meta.restricted, 'the vendor forbids redistribution', 'its meta.json says so');
      assert.equal(meta.license, 'MIT');
    }
  }
  assert.deepEqual([...keys.keys()].sort(), ['app', 'free', 'fw'], 'kept in the cache');

  for (const file of ['meta.json', 'pkg.tar.zst', 'manifest.json', 'meta.json.asc']) {
    const r = await get(`/api/v1/artifacts/${keys.get('fw')!}/${file}`);
    assert.equal(r.status, 404, `${file}: ${r.text}`);
    assert.equal(r.json.error.code, 'not-found');
    assert.match(r.json.error.message, /is restricted: the vendor forbids redistribution; this kiln does not hand it out/);
  }
  assert.equal((await get(`/api/v1/artifacts/${keys.get('free')!}/meta.json`)).status, 200);
  assert.equal((await get(`/api/v1/artifacts/${keys.get('free')!}/pkg.tar.zst`)).status, 200);

  const jobs = (await get(`/api/v1/builds/${id}/jobs`)).json.jobs as Array<{ name: string; jobId: string }>;
  const jobOf = (name: string): string => encodeURIComponent(jobs.find((j) => j.name === name)!.jobId);
  const refused = await get(`/api/v1/builds/${id}/jobs/${jobOf('fw')}/artifact`);
  assert.equal(refused.status, 403, refused.text);
  assert.equal(refused.json.error.code, 'forbidden');
  assert.match(refused.json.error.message, /is not handed out: restricted: the vendor forbids redistribution/);
  assert.equal((await get(`/api/v1/builds/${id}/jobs/${jobOf('app')}/artifact`)).status, 200, 'what needs it is served');
  // An entry whose meta.json cannot be read is refused too: whether it is restricted cannot be told.
  const freeMeta = join(artifacts, keys.get('free')!.slice(0, 2), keys.get('free')!, 'meta.json');
  renameSync(freeMeta, `${freeMeta}.aside`);
  const unknown = await get(`/api/v1/builds/${id}/jobs/${jobOf('free')}/artifact`);
  assert.equal(unknown.status, 403, unknown.text);
  assert.match(unknown.json.error.message, /is not handed out: its cache entry's meta.json cannot be read \(ENOENT\), so whether it is restricted cannot be told/);
  renameSync(`${freeMeta}.aside`, freeMeta);

  // The report marks it; the package index leaves it out.
  const report = (await get(`/api/v1/builds/${id}/report.json`)).json as { packages: Array<{ name: string; restricted?: string; license?: string; summary?: string }> };
  assert.deepEqual(report.packages.map((p) => [p.name, p.restricted, p.license, p.summary]), [['app', undefined, 'MIT', 'test package app'], ['free', undefined, 'MIT', 'test package free'], ['fw', 'the vendor forbids redistribution', 'MIT', 'test package fw']]);
  const index = JSON.parse(readFileSync(join(state, 'packages', 'index.json'), 'utf8')) as { packages: Array<{ name: string }> };
  assert.deepEqual(index.packages.map((p) => p.name), ['app', 'free']);
});
