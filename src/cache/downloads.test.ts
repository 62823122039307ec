import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDownloads, listedButMissing, resolveUrl } from './downloads.ts';
import { sha256 } from '../lib/hash.ts';
import { gzipSync } from 'node:zlib';
import { utimes } from 'node:fs/promises';
import { KilnError } from '../errors.ts';

const files: Record<string, string> = {
  'a.tar.gz': 'contents of a\n'.repeat(1000),
  'b.tar.gz': 'contents of b\n',
  'c.tar.gz': 'contents of c\n',
  'e.tar.gz': 'contents of e\n',
  'damaged.txt': 'contents of d\n',
  'shared.tar.gz': 'fetched by two processes\n'.repeat(5000),
  'held.tar.gz': 'held until released\n',
  // One content under two names (two recipes, one tarball).
  'good.txt': 'one content, two urls\n',
  'same-1.txt': 'same content behind two urls\n',
  'same-2.txt': 'same content behind two urls\n',
  // More than the small file system of the full-disk test holds.
  'big.bin': 'x'.repeat(2 * 1024 * 1024),
};
const requests = new Map<string, number>();
/** The Accept-Encoding of each request to /gz-if-asked/. */
const acceptEncoding: string[] = [];
/** Responses the test releases by hand (path → release functions). */
const held = new Map<string, (() => void)[]>();
let server: Server;
let base: string;

function count(path: string): number {
  return requests.get(path) ?? 0;
}

function send(res: ServerResponse, name: string): void {
  const body = files[name];
  if (body === undefined) {
    res.writeHead(404).end('not found');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
}

before(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.set(path, count(path) + 1);
    if (path === '/redirect') {
      res.writeHead(302, { location: '/files/b.tar.gz' }).end();
    } else if (path === '/stall') {
      res.writeHead(200);
      res.write('partial');
    } else if (path === '/files/shared.tar.gz' && count(path) === 1) {
      // Answer the first request only after a while, so the second process is waiting
      // for the lock meanwhile; a second request (no lock) is answered at once.
      setTimeout(() => send(res, 'shared.tar.gz'), 500);
    } else if (path.startsWith('/gz-if-asked/')) {
      // As a server that compresses whatever a client says it takes: a .tar.gz stays as stored only when asked for as it is.
      acceptEncoding.push(String(req.headers['accept-encoding']));
      const body = Buffer.from(files['a.tar.gz']!);
      if (/gzip/.test(String(req.headers['accept-encoding']))) res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(body));
      else res.writeHead(200).end(body);
    } else if (path.startsWith('/files/held.tar.gz')) {
      held.set(path, [...(held.get(path) ?? []), () => send(res, 'held.tar.gz')]);
    } else if (path.startsWith('/files/')) {
      send(res, path.slice('/files/'.length));
    } else {
      res.writeHead(404).end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  assert(addr !== null && typeof addr === 'object');
  base = `http://127.0.0.1:${addr.port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

async function tempCache(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-dl-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function tmpEntries(cacheDir: string): Promise<string[]> {
  return readdir(join(cacheDir, 'tmp')).catch(() => []);
}

const sum = (name: string): string => sha256(files[name] ?? '');

test('a miss downloads and verifies; a hit does not touch the network', async (t) => {
  const cacheDir = await tempCache(t);
  const dl = createDownloads({ cacheDir, mirrors: {} });
  const url = `${base}/files/a.tar.gz`;
  assert.equal(await dl.has(sum('a.tar.gz')), false);
  const path = await dl.fetch(url, sum('a.tar.gz'));
  assert.equal(path, join(cacheDir, 'downloads', sum('a.tar.gz')));
  assert.equal(path, dl.path(sum('a.tar.gz')));
  assert.equal(await readFile(path, 'utf8'), files['a.tar.gz']);
  assert.equal(count('/files/a.tar.gz'), 1);
  assert.equal(await dl.has(sum('a.tar.gz')), true);

  // A fresh instance (another run) sees the cached file too.
  const again = createDownloads({ cacheDir, mirrors: {} });
  assert.equal(await again.fetch(url, sum('a.tar.gz')), path);
  assert.equal(count('/files/a.tar.gz'), 1);
  assert.deepEqual(await tmpEntries(cacheDir), []);
});

test('the bytes are stored as the server stores them: asked for without a Content-Encoding, which fetch would undo', async (t) => {
  const cacheDir = await tempCache(t);
  const path = await createDownloads({ cacheDir, mirrors: {} }).fetch(`${base}/gz-if-asked/a.tar.gz`, sum('a.tar.gz'));
  assert.equal(await readFile(path, 'utf8'), files['a.tar.gz']);
  assert.deepEqual(acceptEncoding, ['identity']);
});

test('a cached file is hashed at its first use by a store, not at every use (its use mark moves its mtime)', async (t) => {
  const cacheDir = await tempCache(t);
  const url = `${base}/files/e.tar.gz`;
  const dl = createDownloads({ cacheDir, mirrors: {} });
  const path = await dl.fetch(url, sum('e.tar.gz'));
  await dl.fetch(url, sum('e.tar.gz'));
  // A change of the same size with the mtime the last use left: only hashing would see it.
  const { mtime } = await import('node:fs').then((fs) => fs.statSync(path));
  await writeFile(path, 'contents of E\n');
  await utimes(path, mtime, mtime);
  assert.equal(await dl.fetch(url, sum('e.tar.gz')), path, 'the same store does not hash it again');
  assert.equal(await readFile(path, 'utf8'), 'contents of E\n');
  // Another store (run) does, and fetches it again.
  const before = count('/files/e.tar.gz');
  await createDownloads({ cacheDir, mirrors: {} }).fetch(url, sum('e.tar.gz'));
  assert.equal(await readFile(path, 'utf8'), files['e.tar.gz']);
  assert.equal(count('/files/e.tar.gz'), before + 1);
});

test('a cached file damaged on disk is never handed out: it is fetched again and replaced, or the error says it was damaged', async (t) => {
  const cacheDir = await tempCache(t);
  const url = `${base}/files/damaged.txt`;
  const path = await createDownloads({ cacheDir, mirrors: {} }).fetch(url, sum('damaged.txt'));
  const before = count('/files/damaged.txt');
  await writeFile(path, 'contents of D\n');
  // Another run: the damaged copy is fetched again, and the good one takes its place.
  assert.equal(await createDownloads({ cacheDir, mirrors: {} }).fetch(url, sum('damaged.txt')), path);
  assert.equal(await readFile(path, 'utf8'), files['damaged.txt']);
  assert.equal(count('/files/damaged.txt'), before + 1);
  assert.deepEqual(await tmpEntries(cacheDir), []);
  // Damaged, and the mirror is gone: the error says both.
  await writeFile(path, 'contents of D\n');
  await assert.rejects(createDownloads({ cacheDir, mirrors: {} }).fetch(`${base}/nothing-here/damaged.txt`, sum('damaged.txt')), (e: unknown) => {
    assert.ok(e instanceof KilnError && e.code === 'download-failed', String(e));
    assert.match(e.message, /the cached copy of .* is damaged \(.* has sha256 [0-9a-f]{64}, not [0-9a-f]{64}\), and fetching it again failed: .*HTTP 404/);
    return true;
  });
});

test('a checksum mismatch names url and both hashes, and stores nothing', async (t) => {
  const cacheDir = await tempCache(t);
  const dl = createDownloads({ cacheDir, mirrors: {} });
  const url = `${base}/files/b.tar.gz`;
  const wrong = sha256('something else');
  await assert.rejects(dl.fetch(url, wrong), (e: unknown) => {
    assert(e instanceof KilnError);
    assert.equal(e.code, 'checksum-mismatch');
    assert.match(e.message, new RegExp(`${url}.*${wrong}.*${sum('b.tar.gz')}`));
    return true;
  });
  assert.equal(await dl.has(wrong), false);
  assert.deepEqual(await readdir(join(cacheDir, 'downloads')), []);
  assert.deepEqual(await tmpEntries(cacheDir), []);
});

test('HTTP errors are download-failed naming url and status', async (t) => {
  const cacheDir = await tempCache(t);
  const dl = createDownloads({ cacheDir, mirrors: {} });
  const url = `${base}/files/nope.tar.gz`;
  await assert.rejects(dl.fetch(url, sha256('x')), (e: unknown) => {
    assert(e instanceof KilnError);
    assert.equal(e.code, 'download-failed');
    assert.match(e.message, new RegExp(`${url}.*404`));
    assert.match(e.hint ?? '', /fix the url in the recipe/);
    // A file a mirror's index listed: the mirror lacks it, there is no recipe to fix.
    const listed = listedButMissing(e);
    assert.ok(listed instanceof KilnError && listed.code === 'download-failed' && listed.message === e.message);
    assert.match(listed.hint ?? '', /index lists this file but the mirror does not have it.*--mirror/);
    return true;
  });
  assert.deepEqual(await tmpEntries(cacheDir), []);
  const other = new KilnError('download-failed', 'download of x failed: HTTP 500 Internal Server Error');
  assert.equal(listedButMissing(other), other, 'only a 404 is the mirror lacking a file');
});

test('redirects are followed', async (t) => {
  const cacheDir = await tempCache(t);
  const dl = createDownloads({ cacheDir, mirrors: {} });
  const path = await dl.fetch(`${base}/redirect`, sum('b.tar.gz'));
  assert.equal(await readFile(path, 'utf8'), files['b.tar.gz']);
});

test('a download that stops sending data fails after the idle timeout', async (t) => {
  const cacheDir = await tempCache(t);
  const dl = createDownloads({ cacheDir, mirrors: {}, idleTimeoutMs: 200 });
  await assert.rejects(dl.fetch(`${base}/stall`, sha256('x')), (e: unknown) => {
    assert(e instanceof KilnError);
    assert.equal(e.code, 'download-failed');
    assert.match(e.message, /\/stall.*no data for 0.2 s/);
    return true;
  });
  assert.deepEqual(await tmpEntries(cacheDir), []);
});

test('concurrent fetches of one file in one process make one request', async (t) => {
  const cacheDir = await tempCache(t);
  const dl = createDownloads({ cacheDir, mirrors: {} });
  const url = `${base}/files/c.tar.gz`;
  const paths = await Promise.all([1, 2, 3, 4].map(() => dl.fetch(url, sum('c.tar.gz'))));
  assert.equal(new Set(paths).size, 1);
  assert.equal(count('/files/c.tar.gz'), 1);
});

test('a waiter that aborts stops waiting; the download goes on for the others', async (t) => {
  const cacheDir = await tempCache(t);
  const dl = createDownloads({ cacheDir, mirrors: {} });
  const url = `${base}/files/held.tar.gz`;
  const ac = new AbortController();
  const first = dl.fetch(url, sum('held.tar.gz'), { signal: ac.signal });
  const second = dl.fetch(url, sum('held.tar.gz'));
  ac.abort();
  await assert.rejects(first, { name: 'AbortError' });
  const deadline = Date.now() + 5000;
  while (held.get('/files/held.tar.gz')?.length !== 1) {
    assert(Date.now() < deadline, 'request never arrived');
    await new Promise((r) => setImmediate(r));
  }
  held.get('/files/held.tar.gz')?.shift()?.();
  assert.equal(await readFile(await second, 'utf8'), files['held.tar.gz']);
  assert.equal(count('/files/held.tar.gz'), 1);
});

test('two OS processes fetching one file at once make one request', async (t) => {
  const cacheDir = await tempCache(t);
  const script = new URL('../../test/fixtures/cache/fetch-child.ts', import.meta.url).pathname;
  const url = `${base}/files/shared.tar.gz`;
  const children = [0, 1].map(() =>
    spawn(process.execPath, [script, cacheDir, url, sum('shared.tar.gz')], { stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  const outputs = children.map((c) => createInterface({ input: c.stdout })[Symbol.asyncIterator]());
  // Start both only once both are loaded, so they really fetch at the same moment.
  for (const out of outputs) assert.equal((await out.next()).value, 'ready');
  for (const c of children) c.stdin.write('go\n');
  const paths = await Promise.all(outputs.map(async (out) => (await out.next()).value as string));
  const codes = await Promise.all(children.map(async (c) => c.exitCode ?? (await once(c, 'exit'))[0]));
  assert.deepEqual(codes, [0, 0]);
  assert.deepEqual(paths, [join(cacheDir, 'downloads', sum('shared.tar.gz')), join(cacheDir, 'downloads', sum('shared.tar.gz'))]);
  assert.equal(count('/files/shared.tar.gz'), 1);
  assert.equal(await readFile(paths[0] ?? '', 'utf8'), files['shared.tar.gz']);
  assert.deepEqual(await tmpEntries(cacheDir), []);
  assert.deepEqual(await readdir(join(cacheDir, 'locks')), []);
});

test('mirror:// urls resolve through the mirrors table', async (t) => {
  const cacheDir = await tempCache(t);
  const dl = createDownloads({ cacheDir, mirrors: { local: `${base}/files/` } });
  const before = count('/files/b.tar.gz');
  const path = await dl.fetch('mirror://local/b.tar.gz', sum('b.tar.gz'));
  assert.equal(await readFile(path, 'utf8'), files['b.tar.gz']);
  assert.equal(count('/files/b.tar.gz'), before + 1);
});

test('resolveUrl: mirrors, plain urls, unknown mirror, unsupported scheme', () => {
  const mirrors = { debian: 'http://deb.example/debian/', gnu: 'https://ftp.example/gnu' };
  assert.equal(resolveUrl('mirror://debian/pool/main/h/hello/hello_2.10.orig.tar.gz', mirrors),
    'http://deb.example/debian/pool/main/h/hello/hello_2.10.orig.tar.gz');
  assert.equal(resolveUrl('mirror://gnu/hello/hello-2.12.tar.gz', mirrors), 'https://ftp.example/gnu/hello/hello-2.12.tar.gz');
  assert.equal(resolveUrl('https://x.example/a.tgz', mirrors), 'https://x.example/a.tgz');
  assert.throws(() => resolveUrl('mirror://cpan/x.tar.gz', mirrors), (e: unknown) => {
    assert(e instanceof KilnError);
    assert.equal(e.code, 'mirror-unknown');
    assert.match(e.message, /"cpan"/);
    assert.match(e.hint ?? '', /\[mirrors\] in kiln\.toml/);
    return true;
  });
  assert.throws(() => resolveUrl('mirror://toString/x', {}), { code: 'mirror-unknown' });
  assert.throws(() => resolveUrl('ftp://x.example/a.tgz', mirrors), { code: 'download-failed' });
  // A local mirror's absolute file:/// url is read from disk; a relative file: never reaches here.
  assert.equal(resolveUrl('file:///srv/mirror/pool/main/h/hello/hello_2.10-3.dsc', mirrors), 'file:///srv/mirror/pool/main/h/hello/hello_2.10-3.dsc');
  assert.throws(() => resolveUrl('file:hello.tar.gz', mirrors), { code: 'download-failed' });
});

test('an unknown mirror fails before any network access', async (t) => {
  const cacheDir = await tempCache(t);
  const dl = createDownloads({ cacheDir, mirrors: {} });
  await assert.rejects(dl.fetch('mirror://nowhere/x.tar.gz', sha256('x')), { code: 'mirror-unknown' });
});

test('when the only waiter aborts, the download stops and leaves nothing behind', async (t) => {
  const cacheDir = await tempCache(t);
  const dl = createDownloads({ cacheDir, mirrors: {} });
  const ac = new AbortController();
  const url = `${base}/files/held.tar.gz?alone`;
  const pending = dl.fetch(url, sum('held.tar.gz'), { signal: ac.signal });
  const deadline = Date.now() + 5000;
  while (count('/files/held.tar.gz?alone') !== 1) {
    assert(Date.now() < deadline, 'request never arrived');
    await new Promise((r) => setImmediate(r));
  }
  ac.abort();
  await assert.rejects(pending, { name: 'AbortError' });
  // The shared download settles after the waiter; poll until its lock is released.
  while ((await readdir(join(cacheDir, 'locks')).catch(() => [])).length > 0) {
    assert(Date.now() < deadline, 'lock never released');
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(await tmpEntries(cacheDir), []);
  assert.equal(await dl.has(sum('held.tar.gz')), false);
});

test('two urls for one sha256: the first url failing does not fail the other', async (t) => {
  const cacheDir = await tempCache(t);
  const dl = createDownloads({ cacheDir, mirrors: {} });
  const bad = `${base}/files/missing.txt`;
  const good = `${base}/files/good.txt`;
  // Asked at once: b-good joins a-bad's download (same sha256), which fails with a 404.
  const [a, b] = await Promise.allSettled([dl.fetch(bad, sum('good.txt')), dl.fetch(good, sum('good.txt'))]);
  assert.equal(a.status, 'rejected');
  const err = (a as PromiseRejectedResult).reason as unknown;
  assert(err instanceof KilnError);
  assert.equal(err.code, 'download-failed');
  assert.match(err.message, new RegExp(`${bad}.*404`));
  assert.equal(b.status, 'fulfilled', `b-good failed: ${String((b as PromiseRejectedResult).reason)}`);
  assert.equal(await readFile((b as PromiseFulfilledResult<string>).value, 'utf8'), files['good.txt']);
  assert.equal(count('/files/missing.txt'), 1);
  assert.equal(count('/files/good.txt'), 1);
  assert.deepEqual(await tmpEntries(cacheDir), []);
});

test('two urls for one sha256: when the first succeeds, the file is fetched once', async (t) => {
  const cacheDir = await tempCache(t);
  const dl = createDownloads({ cacheDir, mirrors: {} });
  const paths = await Promise.all([
    dl.fetch(`${base}/files/same-1.txt`, sum('same-1.txt')),
    dl.fetch(`${base}/files/same-2.txt`, sum('same-1.txt')),
    dl.fetch(`${base}/files/same-1.txt`, sum('same-1.txt')),
  ]);
  assert.deepEqual(new Set(paths), new Set([dl.path(sum('same-1.txt'))]));
  assert.equal(count('/files/same-1.txt') + count('/files/same-2.txt'), 1);
});

test('a full disk: the error names the cache file it could not write', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('mounting a small tmpfs needs root');
  const cacheDir = await mkdtemp(join(tmpdir(), 'kiln-dl-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', cacheDir]);
  t.after(async () => {
    execFileSync('umount', [cacheDir]);
    await rm(cacheDir, { recursive: true, force: true });
  });
  const dl = createDownloads({ cacheDir, mirrors: {} });
  const url = `${base}/files/big.bin`;
  await assert.rejects(dl.fetch(url, sum('big.bin')), (e: unknown) => {
    assert(e instanceof KilnError);
    assert.equal(e.code, 'download-failed');
    assert.match(e.message, /ENOSPC/);
    assert(e.message.includes(url), e.message);
    assert(e.message.includes(join(cacheDir, 'tmp', 'dl-')), e.message);
    assert.match(e.hint ?? '', new RegExp(`free space on the file system of ${cacheDir}`));
    return true;
  });
  assert.deepEqual(await tmpEntries(cacheDir), [], 'the partial file is removed');
  assert.equal(await dl.has(sum('big.bin')), false);
});
