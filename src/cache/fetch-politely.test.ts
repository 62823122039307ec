import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTransient, perKeyLimit, PER_SERVER, serverOf, withRetries } from './fetch-politely.ts';
import { createDownloads } from './downloads.ts';
import { sha256 } from '../lib/hash.ts';

const coded = (code: string): Error => Object.assign(new Error(code), { code });

test('isTransient: a connection failure anywhere in the cause chain, or a busy server\'s answer; not another HTTP answer or a checksum', () => {
  const cases: [unknown, boolean][] = [
    [coded('ECONNRESET'), true],
    [new Error('fetch failed', { cause: coded('UND_ERR_CONNECT_TIMEOUT') }), true],
    [new Error('download failed', { cause: new Error('fetch failed', { cause: coded('ECONNREFUSED') }) }), true],
    [coded('ENOENT'), false],
    [new Error('HTTP 404 Not Found'), false],
    // A busy server's answer, as downloads.ts gives it: tried again; another status is not.
    [new Error('download failed: HTTP 503', { cause: coded('HTTP_503') }), true],
    [new Error('download failed: HTTP 429', { cause: coded('HTTP_429') }), true],
    [new Error('download failed: HTTP 500', { cause: coded('HTTP_500') }), false],
    ['a string', false],
  ];
  for (const [e, want] of cases) assert.equal(isTransient(e), want, String(e instanceof Error ? e.message : e));
});

test('serverOf: the origin of an http url; a file url stands for itself', () => {
  assert.equal(serverOf('http://mirror.example:8080/debian/pool/a.deb'), 'http://mirror.example:8080');
  assert.equal(serverOf('https://mirror.example/x'), 'https://mirror.example');
  assert.equal(serverOf('file:///tmp/x'), 'file:///tmp/x');
});

test('perKeyLimit: at most n at once per key, in the order asked; other keys do not wait', async () => {
  const limit = perKeyLimit(2);
  let now = 0;
  let most = 0;
  const order: number[] = [];
  const gates: (() => void)[] = [];
  const task = (i: number) => limit('a', async () => {
    now++;
    most = Math.max(most, now);
    order.push(i);
    await new Promise<void>((resolve) => gates.push(resolve));
    now--;
    return i;
  });
  const all = [0, 1, 2, 3, 4].map(task);
  // Another key runs while key a is full.
  assert.equal(await limit('b', async () => 'b'), 'b');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [0, 1]);
  while (order.length < 5 || gates.length > 0) {
    gates.shift()?.();
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(await Promise.all(all), [0, 1, 2, 3, 4]);
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  assert.equal(most, 2);
  // A failing task frees its place too.
  await assert.rejects(limit('c', async () => { throw new Error('boom'); }), /boom/);
  assert.equal(await limit('c', async () => 1), 1);
});

test('withRetries: a transient failure is tried again after each pause, anything else at once fails; a cancel ends the wait', async () => {
  let tries = 0;
  const told: number[] = [];
  const ok = await withRetries(async () => {
    if (++tries < 3) throw coded('ECONNRESET');
    return 'done';
  }, { signal: new AbortController().signal, pauses: [1, 2], onRetry: (_e, ms) => told.push(ms) });
  assert.equal(ok, 'done');
  assert.deepEqual(told, [1, 2]);

  tries = 0;
  await assert.rejects(withRetries(async () => { tries++; throw coded('ECONNRESET'); }, { signal: new AbortController().signal, pauses: [1, 1] }), /ECONNRESET/);
  assert.equal(tries, 3, 'the first try and one per pause');

  tries = 0;
  await assert.rejects(withRetries(async () => { tries++; throw new Error('HTTP 404'); }, { signal: new AbortController().signal, pauses: [1] }), /404/);
  assert.equal(tries, 1);

  const stop = new AbortController();
  const t0 = Date.now();
  const p = withRetries(async () => { throw coded('ETIMEDOUT'); }, { signal: stop.signal, pauses: [60_000] });
  setTimeout(() => stop.abort(), 20);
  await assert.rejects(p, /ETIMEDOUT/);
  assert.ok(Date.now() - t0 < 10_000, 'the pause ended with the cancel');
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; base: string }> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  assert(addr !== null && typeof addr === 'object');
  return { server, base: `http://127.0.0.1:${addr.port}` };
}

/** A server answering with `handler`, and a downloads store in a cache of its own (short retry pauses), both gone after the test. */
async function servedDownloads(t: { after: (fn: () => Promise<void>) => void }, handler: Parameters<typeof createServer>[1]): Promise<{ base: string; downloads: ReturnType<typeof createDownloads>; cacheDir: string }> {
  const { server, base } = await serve(handler);
  const cacheDir = await mkdtemp(join(tmpdir(), 'kiln-politely-'));
  t.after(async () => {
    server.closeAllConnections();
    server.close();
    await rm(cacheDir, { recursive: true, force: true });
  });
  return { base, cacheDir, downloads: createDownloads({ cacheDir, mirrors: {}, retryPausesMs: [10, 10] }) };
}

test(`downloads: twenty files asked for at once open at most ${PER_SERVER} connections to the server, and a dropped connection is tried again`, async (t) => {
  const body = (i: number): string => `file ${i}\n`.repeat(100);
  let open = 0;
  let most = 0;
  const seen = new Map<string, number>();
  const { base, downloads } = await servedDownloads(t, (req, res) => {
    const path = req.url ?? '/';
    seen.set(path, (seen.get(path) ?? 0) + 1);
    // The first request for /f/7 loses its connection before any answer.
    if (path === '/f/7' && seen.get(path) === 1) {
      req.socket.destroy();
      return;
    }
    open++;
    most = Math.max(most, open);
    setTimeout(() => {
      open--;
      res.writeHead(200).end(body(Number(path.slice(3))));
    }, 30);
  });
  const got = await Promise.all(Array.from({ length: 20 }, (_, i) => downloads.fetch(`${base}/f/${i}`, sha256(body(i)))));
  assert.equal(got.length, 20);
  assert.ok(most <= PER_SERVER, `at most ${PER_SERVER} at once, saw ${most}`);
  assert.ok(most >= 2, 'they do run side by side');
  assert.equal(seen.get('/f/7'), 2, 'the dropped one was asked for again');
});

test('downloads: a connection cut off midway (some bytes written) is tried again from the start, for fetch and for learn (makesum)', async (t) => {
  const body = 'midway '.repeat(20_000);
  const seen = new Map<string, number>();
  const { base, downloads, cacheDir } = await servedDownloads(t, (req, res) => {
    const path = req.url ?? '/';
    seen.set(path, (seen.get(path) ?? 0) + 1);
    if (seen.get(path) === 1) {
      // Headers and a first part, then the connection drops.
      res.writeHead(200, { 'content-length': String(body.length) });
      res.write(body.slice(0, 5000), () => setTimeout(() => req.socket.destroy(), 20));
      return;
    }
    res.writeHead(200).end(body);
  });
  const path = await downloads.fetch(`${base}/a`, sha256(body));
  assert.equal(await readFile(path, 'utf8'), body);
  assert.equal(seen.get('/a'), 2);
  const learned = await downloads.learn(`${base}/b`);
  assert.equal(learned.sha256, sha256(body));
  assert.equal(seen.get('/b'), 2);
  assert.deepEqual(await readdir(join(cacheDir, 'tmp')), [], 'no partial file left');
});

test('downloads: a server answering 503 for a moment is asked again; a 404 is not', async (t) => {
  const seen = new Map<string, number>();
  const { base, downloads } = await servedDownloads(t, (req, res) => {
    const path = req.url ?? '/';
    seen.set(path, (seen.get(path) ?? 0) + 1);
    if (path === '/busy' && seen.get(path) === 1) return void res.writeHead(503, { 'retry-after': '1' }).end('busy');
    if (path === '/busy') return void res.writeHead(200).end('at last\n');
    res.writeHead(404).end();
  });
  assert.equal(await readFile(await downloads.fetch(`${base}/busy`, sha256('at last\n')), 'utf8'), 'at last\n');
  assert.equal(seen.get('/busy'), 2);
  await assert.rejects(downloads.fetch(`${base}/gone`, sha256('x')), /HTTP 404/);
  assert.equal(seen.get('/gone'), 1);
});
