// A private mirror behind HTTP basic auth (reliability case 27, secrets), through the real
// CLI: a node:http server on 127.0.0.1 answers 401 without the right Authorization header.
// Without credentials the download fails with a hint that says where they go; with them in
// the file KILN_NETRC names, the source is fetched, and the password is nowhere kiln
// writes: not in the state dir (records, logs, reports, the package index), the cache
// (artifacts, downloads), the build's environment or its output. A redirect to another
// origin does not carry the header along.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../helpers/tmp.ts';
import { explain, pkgOf, readReport, runKiln } from '../helpers/run-kiln.ts';
import { filesContaining } from '../helpers/secret-scan.ts';

const PASSWORD = 'pw-7c1e9a4f-never-written';
const LOGIN = 'builder';

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ port: number } & AsyncDisposable> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test('a private mirror: 401 names where credentials go; with KILN_NETRC the source is fetched and the password is written nowhere', async () => {
  await using dir = await tmpDir();
  const content = 'private 1.0: only for those who log in\n';
  const sha = createHash('sha256').update(content).digest('hex');
  const expected = `Basic ${Buffer.from(`${LOGIN}:${PASSWORD}`).toString('base64')}`;
  const elsewhereAuth: (string | undefined)[] = [];
  await using elsewhere = await listen((req, res) => {
    elsewhereAuth.push(req.headers.authorization);
    if (req.url === '/locked') res.writeHead(401).end();
    else res.writeHead(200).end(content);
  });
  const mirrorAuth: (string | undefined)[] = [];
  await using mirror = await listen((req, res) => {
    mirrorAuth.push(req.headers.authorization);
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="private"' }).end('log in\n');
    } else if (req.url === '/base/locked/private-1.0.txt') {
      res.writeHead(302, { location: `http://127.0.0.1:${elsewhere.port}/locked` }).end();
    } else if (req.url === '/base/moved/private-1.0.txt') {
      res.writeHead(302, { location: `http://127.0.0.1:${elsewhere.port}/private-1.0.txt` }).end();
    } else if (req.url === '/base/private-1.0.txt') {
      res.writeHead(200).end(content);
    } else {
      res.writeHead(404).end();
    }
  });

  const tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'private'), { recursive: true });
  await writeFile(join(tree, 'kiln.toml'), `[mirrors]\nprivate = "http://127.0.0.1:${mirror.port}/base"\n`);
  const recipe = (name: string, path: string): string => `name = "${name}"
version = "1.0"
summary = "a source from the private mirror"
license = "MIT"

[[sources]]
url = "mirror://private/${path}"
sha256 = "${sha}"

[build]
script = """
grep -q 'only for those' private-1.0.txt
mkdir -p "$DESTDIR/usr/share/${name}"
env > "$DESTDIR/usr/share/${name}/env.txt"
cat "$HOME/.netrc" /root/.netrc 2>&1 || true
echo "build env follows"; env
"""
`;
  await writeFile(join(tree, 'private', 'recipe.toml'), recipe('private', 'private-1.0.txt'));
  const state = join(dir.path, 'state');
  const cache = join(dir.path, 'cache');
  const netrc = join(dir.path, 'netrc');
  const empty = join(dir.path, 'empty-netrc');
  await writeFile(netrc, `# the private mirror\nmachine http://127.0.0.1:${mirror.port}/base login ${LOGIN} password ${PASSWORD}\n`);
  await writeFile(empty, '');

  // No credentials: a 401, and the hint says where they go.
  const denied = await runKiln(['build', '--tree', tree, '--state', state, '--json'], { cache, env: { KILN_NETRC: empty } });
  assert.equal(denied.code, 1, explain(denied));
  const failed = pkgOf(await readReport(denied), 'private');
  assert.equal(failed.state, 'failed', explain(denied));
  const log = await readFile(failed.log!, 'utf8');
  assert.match(log, /HTTP 401/, log);
  assert.match(log, new RegExp(`machine http://127\\.0\\.0\\.1:${mirror.port} login USER password PASS.*KILN_NETRC`), log);

  // With them: fetched, built.
  const built = await runKiln(['build', '--tree', tree, '--state', state, '--json'], { cache, env: { KILN_NETRC: netrc } });
  assert.equal(built.code, 0, explain(built));
  assert.equal(pkgOf(await readReport(built), 'private').state, 'built', explain(built));
  assert.ok(mirrorAuth.includes(expected), 'the mirror never got the credentials');

  // A second package whose source redirects to another origin: fetched there without the header.
  await mkdir(join(tree, 'moved'));
  await writeFile(join(tree, 'moved', 'recipe.toml'), recipe('moved', 'moved/private-1.0.txt'));
  // Same content as `private`: the download cache already has it, so use a fresh cache.
  const moved = await runKiln(['build', '--tree', tree, '--state', state, '--json', 'moved'], { cache: join(dir.path, 'cache2'), env: { KILN_NETRC: netrc } });
  assert.equal(moved.code, 0, explain(moved));
  assert.deepEqual(elsewhereAuth, [undefined], 'the redirect to another origin carried the Authorization header');

  // Redirected to a server that wants credentials of its own: the error names that one.
  await mkdir(join(tree, 'locked'));
  await writeFile(join(tree, 'locked', 'recipe.toml'), recipe('locked', 'locked/private-1.0.txt'));
  const locked = await runKiln(['build', '--tree', tree, '--state', state, '--json', 'locked'], { cache: join(dir.path, 'cache3'), env: { KILN_NETRC: netrc } });
  assert.equal(locked.code, 1, explain(locked));
  const lockedLog = await readFile(pkgOf(await readReport(locked), 'locked').log!, 'utf8');
  assert.match(lockedLog, new RegExp(`redirected to http://127\\.0\\.0\\.1:${elsewhere.port}/locked, which gets no credentials meant for the first server\\): HTTP 401`), lockedLog);
  assert.match(lockedLog, new RegExp(`machine http://127\\.0\\.0\\.1:${elsewhere.port} login`), lockedLog);

  // The password, and its base64 in the header, are nowhere kiln wrote.
  const needles = [PASSWORD, Buffer.from(`${LOGIN}:${PASSWORD}`).toString('base64')];
  for (const where of [state, cache, join(dir.path, 'cache2'), join(dir.path, 'cache3')]) {
    assert.deepEqual(await filesContaining(where, needles), [], `the password is written under ${where}`);
  }
  for (const r of [denied, built, moved]) {
    assert.ok(!needles.some((n) => r.stdout.includes(n) || r.stderr.includes(n)), `kiln printed the password\n${explain(r)}`);
  }
  // KILN_NETRC itself does not reach the build (whose log has its whole environment).
  const buildLog = await readFile(pkgOf(await readReport(built), 'private').log!, 'utf8');
  assert.match(buildLog, /build env follows/);
  assert.doesNotMatch(buildLog, /KILN_NETRC|empty-netrc|\/netrc/, buildLog);
});
