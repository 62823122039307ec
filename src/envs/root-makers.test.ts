import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KilnError } from '../errors.ts';
import { checkSuiteOnMirror } from './root-makers.ts';

test('env create names a suite the mirror lacks before mmdebstrap runs; other answers are left to mmdebstrap', async (t) => {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url === '/debian/dists/bookworm/InRelease') res.writeHead(200).end();
    else if (req.url === '/debian/dists/oldstyle/Release') res.writeHead(200).end();
    else if (req.url === '/debian/dists/flaky/InRelease') res.writeHead(503).end();
    else res.writeHead(404).end();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  t.after(() => server.close());
  const mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}/debian`;

  await checkSuiteOnMirror(mirror, 'bookworm');
  await assert.rejects(checkSuiteOnMirror(`${mirror}/`, 'bookwrm'), (e: unknown) => {
    assert.ok(e instanceof KilnError);
    assert.equal(e.code, 'usage');
    assert.match(e.message, /^--suite: the mirror .* has no suite "bookwrm" \(.*\/debian\/dists\/bookwrm\/InRelease and Release: HTTP 404\)$/);
    assert.match(e.hint ?? '', /did you mean "bookworm"\?/);
    return true;
  });
  await checkSuiteOnMirror(mirror, 'flaky');
  // A repository with a Release file only is a suite too.
  await checkSuiteOnMirror(mirror, 'oldstyle');
  // Nothing listening: mmdebstrap will say what is wrong with the network.
  await checkSuiteOnMirror('http://127.0.0.1:9/debian', 'bookworm');
  // A file: mirror is not asked.
  await checkSuiteOnMirror('file:///srv/mirror', 'nosuch');
  assert.deepEqual(seen, [
    'HEAD /debian/dists/bookworm/InRelease',
    'HEAD /debian/dists/bookwrm/InRelease', 'HEAD /debian/dists/bookwrm/Release',
    'HEAD /debian/dists/flaky/InRelease',
    'HEAD /debian/dists/oldstyle/InRelease', 'HEAD /debian/dists/oldstyle/Release',
  ]);
});
