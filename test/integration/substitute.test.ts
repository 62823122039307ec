// A remote binary cache: `kiln serve` answers GET /api/v1/artifacts/{key}/… from the cache
// a local build filled, and `kiln build --substitute URL` in a fresh state dir takes every
// package from it instead of building it (no job started; the artifacts in its own cache).
// With --substitute-key, a meta.json that is unsigned, signed by another key or altered on
// the way is refused and the package built; a wrong token, and a server that is gone,
// leave the packages built as usual. The same from a tree's kiln.toml [substitutes] (url,
// key, token-file), its flags winning over it and --no-substitute turning it off.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { openServerRecords } from '../../src/records/server-records.ts';
import { createArtifactStore } from '../../src/cache/artifacts.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, runKiln, spawnKiln, type KilnResult } from '../helpers/run-kiln.ts';
import { tmpDir } from '../helpers/tmp.ts';

async function serve(t: TestContext, state: string): Promise<{ url: string; stop(): Promise<void> }> {
  const proc = spawnKiln(['serve', '--listen', '127.0.0.1:0', '--state', state, '--sandbox', 'host'], { timeoutMs: 180_000, env: { KILN_ENVS: '' } });
  let err = '';
  proc.child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const stop = async (): Promise<void> => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await proc.done;
  };
  t.after(stop);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const url = /listening on (http:\/\/\S+) /.exec(err)?.[1];
    if (url !== undefined) return { url, stop };
    if (Date.now() > deadline || proc.child.exitCode !== null) throw new Error(`kiln serve did not listen:\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A proxy in front of `target` that changes every meta.json on the way (a tampering mirror). */
async function tamperingProxy(t: TestContext, target: string): Promise<string> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const up = await fetch(`${target}${req.url}`, { headers: { authorization: req.headers.authorization ?? '' } });
      let body = Buffer.from(await up.arrayBuffer());
      if (req.url!.endsWith('/meta.json')) body = Buffer.from(body.toString('utf8').replace('"version":', '"evil": true, "version":'));
      res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/octet-stream' });
      res.end(body);
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

const started = (r: KilnResult): string[] => r.events.flatMap((e) => (e.type === 'job-started' ? [e.jobId] : []));
const notes = (r: KilnResult): string[] => r.events.flatMap((e) => (e.type === 'note' ? [e.text] : []));

test('kiln serve serves its cache by key; kiln build --substitute takes it, refuses what --substitute-key does not vouch for, and builds when it cannot', { timeout: 600_000 }, async (t) => {
  await using dir = await tmpDir('kiln-substitute-');
  const tree = join(dir.path, 'tree');
  const put = async (name: string, script: string, deps: string[] = []): Promise<void> => {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), recipeText({ name, script, deps }));
  };
  await put('base', 'mkdir -p "$DESTDIR/usr/share/base"; echo base > "$DESTDIR/usr/share/base/f"');
  await put('top', 'test -f "$SYSROOT/usr/share/base/f"; mkdir -p "$DESTDIR/usr/share/top"; echo top > "$DESTDIR/usr/share/top/f"', ['base']);
  await put('meta', 'true', ['top']); // installs nothing: meta.json alone
  const build = (state: string, ...extra: string[]): Promise<KilnResult> => runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--json', ...extra], { timeoutMs: 180_000 });

  // The serving side's cache, filled by a local build.
  const served = join(dir.path, 'served');
  const filled = await build(served);
  assert.equal(filled.code, 0, explain(filled));
  assert.equal(filled.summary?.counts.built, 3);
  const keyOf = (name: string): string => (filled.events.find((e) => e.type === 'job-finished' && e.name === name) as { key: string }).key;
  const records = openServerRecords(served);
  const token = records.createToken('ci').token;
  records.close();
  const server = await serve(t, served);
  const api = (path: string, tok: string | null = token): Promise<Response> => fetch(`${server.url}/api/v1/artifacts/${path}`, { headers: tok === null ? {} : { authorization: `Bearer ${tok}` } });

  // The routes: bytes as stored; auth; 400 for a key that is no key, 404 for one not there.
  const store = createArtifactStore({ cacheDir: join(served, 'cache') });
  const base = keyOf('base');
  assert.equal((await api(`${base}/meta.json`, null)).status, 401);
  const meta = await api(`${base}/meta.json`);
  assert.equal(meta.status, 200);
  assert.equal(await meta.text(), readFileSync(join(store.dir(base), 'meta.json'), 'utf8'));
  assert.deepEqual(Buffer.from(await (await api(`${base}/pkg.tar.zst`)).arrayBuffer()), readFileSync(join(store.dir(base), 'pkg.tar.zst')));
  assert.equal(await (await api(`${base}/manifest.json`)).text(), readFileSync(join(store.dir(base), 'manifest.json'), 'utf8'));
  const bad = await api('not-a-key/meta.json');
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'usage');
  assert.equal((await api(`${'0'.repeat(64)}/meta.json`)).status, 404);
  assert.equal((await api(`${keyOf('meta')}/pkg.tar.zst`)).status, 404, 'a package that installed nothing has no archive');
  assert.equal((await api(`${base}/meta.json.asc`)).status, 404, 'no signing key yet: no signature');
  const openapi = await (await fetch(`${server.url}/api/v1/openapi.json`)).json() as { paths: Record<string, unknown> };
  assert.ok(openapi.paths['/api/v1/artifacts/{key}/pkg.tar.zst'] !== undefined, 'in the OpenAPI document');

  // A fresh state dir takes everything from it: up to date, no job started, in its own cache.
  const fresh = join(dir.path, 'fresh');
  const got = await build(fresh, '--substitute', server.url, '--substitute-token', token);
  assert.equal(got.code, 0, explain(got));
  assert.deepEqual(got.summary?.counts, { built: 0, 'up-to-date': 3, failed: 0, skipped: 0, broken: 0, cancelled: 0 }, explain(got));
  assert.deepEqual(started(got), []);
  const freshStore = createArtifactStore({ cacheDir: join(fresh, 'cache') });
  for (const name of ['base', 'top', 'meta']) assert.ok(await freshStore.get(keyOf(name)), `${name} is in the new cache`);
  assert.ok(notes(got).includes(`base@${(filled.events.find((e) => e.type === 'job-finished') as { arch: string }).arch}: substituted from ${server.url}`), notes(got).join('\n'));
  assert.match(readFileSync((got.events.find((e) => e.type === 'job-finished' && e.name === 'top') as { log: string }).log, 'utf8'), /substituted from http/);
  // The next run there is a plain local hit.
  const again = await build(fresh);
  assert.equal(again.summary?.counts['up-to-date'], 3, explain(again));

  // --substitute-key: an unsigned meta.json is refused, and the package built.
  const keyDir = join(dir.path, 'keys');
  const rightKey = join(keyDir, 'right.asc');
  const wrongKey = join(keyDir, 'wrong.gpg');
  await mkdir(keyDir);
  const unsigned = await build(join(dir.path, 'unsigned'), '--substitute', server.url, '--substitute-token', token, '--substitute-key', join(tree, 'base', 'recipe.toml'));
  assert.equal(unsigned.code, 2, 'a file that is no key is a usage error');
  assert.match(unsigned.stderr + unsigned.stdout, /--substitute-key .*not an OpenPGP public key/);
  assert.equal((await runKiln(['key', 'create', '--state', join(dir.path, 'other')])).code, 0);
  assert.equal((await runKiln(['key', 'export', '--binary', '-o', wrongKey, '--state', join(dir.path, 'other')])).code, 0);
  const noSig = await build(join(dir.path, 'nosig'), '--substitute', server.url, '--substitute-token', token, '--substitute-key', wrongKey);
  assert.equal(noSig.code, 0, explain(noSig));
  assert.equal(noSig.summary?.counts.built, 3, explain(noSig));
  assert.ok(notes(noSig).some((n) => /not substituted from .*its meta\.json is not signed/.test(n)), notes(noSig).join('\n'));

  // Signed by the server's key: taken with that key, refused with another, refused when altered on the way.
  assert.equal((await runKiln(['key', 'create', '--state', served])).code, 0);
  assert.equal((await runKiln(['key', 'export', '-o', rightKey, '--state', served])).code, 0);
  const signed = await build(join(dir.path, 'signed'), '--substitute', server.url, '--substitute-token', token, '--substitute-key', rightKey);
  assert.equal(signed.summary?.counts['up-to-date'], 3, explain(signed));
  assert.deepEqual(started(signed), []);
  // The same from the tree's kiln.toml: url, key and token-file (paths relative to it).
  await mkdir(join(tree, 'secrets'));
  await writeFile(join(tree, 'secrets', 'token'), `${token}\n`);
  await writeFile(join(tree, 'kiln.toml'), `[substitutes]\nurl = "${server.url}"\nkey = "../keys/right.asc"\ntoken-file = "secrets/token"\n`);
  const fromToml = await build(join(dir.path, 'toml'));
  assert.equal(fromToml.summary?.counts['up-to-date'], 3, explain(fromToml));
  assert.deepEqual(started(fromToml), []);
  // --substitute-key wins over kiln.toml's key (another key: refused, built); --no-substitute asks nobody.
  const flagKey = await build(join(dir.path, 'toml-flag-key'), '--substitute-key', wrongKey);
  assert.equal(flagKey.summary?.counts.built, 3, explain(flagKey));
  assert.ok(notes(flagKey).some((n) => /its meta\.json is refused: it is signed only by keys other than the one given/.test(n)), notes(flagKey).join('\n'));
  const off = await build(join(dir.path, 'toml-off'), '--no-substitute');
  assert.equal(off.summary?.counts.built, 3, explain(off));
  assert.ok(!notes(off).some((n) => /substituted|--substitute /.test(n)), notes(off).join('\n'));
  // A token-file that is not there: a config error naming kiln.toml, before anything is built.
  await writeFile(join(tree, 'kiln.toml'), `[substitutes]\nurl = "${server.url}"\ntoken-file = "secrets/gone"\n`);
  const noFile = await build(join(dir.path, 'toml-gone'));
  assert.equal(noFile.code, 2, explain(noFile));
  assert.match(noFile.stderr, /kiln\.toml \[substitutes\] token-file \S+secrets\/gone: cannot read it \(ENOENT\)/, noFile.stderr);
  assert.deepEqual(started(noFile), []);
  await rm(join(tree, 'kiln.toml'));

  const wrong = await build(join(dir.path, 'wrong'), '--substitute', server.url, '--substitute-token', token, '--substitute-key', wrongKey);
  assert.equal(wrong.summary?.counts.built, 3, explain(wrong));
  assert.ok(notes(wrong).some((n) => /its meta\.json is refused: it is signed only by keys other than the one given/.test(n)), notes(wrong).join('\n'));
  const proxy = await tamperingProxy(t, server.url);
  const tampered = await build(join(dir.path, 'tampered'), '--substitute', proxy, '--substitute-token', token, '--substitute-key', rightKey);
  assert.equal(tampered.summary?.counts.built, 3, explain(tampered));
  assert.ok(notes(tampered).some((n) => /its meta\.json is refused: BAD signature/.test(n)), notes(tampered).join('\n'));

  // A wrong token: said once, naming how to fix it; built.
  const denied = await build(join(dir.path, 'denied'), '--substitute', server.url, '--substitute-token', 'kiln_nope_nope');
  assert.equal(denied.summary?.counts.built, 3, explain(denied));
  assert.equal(notes(denied).filter((n) => /answered 401 unauthorized: the token of --substitute-token was refused/.test(n)).length, 1, notes(denied).join('\n'));

  // The server gone: built as usual.
  await server.stop();
  const gone = await build(join(dir.path, 'gone'), '--substitute', server.url, '--substitute-token', token);
  assert.equal(gone.code, 0, explain(gone));
  assert.equal(gone.summary?.counts.built, 3, explain(gone));
  assert.ok(notes(gone).some((n) => n.includes('cannot be reached')), notes(gone).join('\n'));
});
