import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KilnError } from '../errors.ts';
import { isInternalAddress, makeGuardedFetch, originKey, parseFetchAllow, refusal, refusedIn, urlRefusal, type FetchPolicy } from './fetch-guard.ts';

test('isInternalAddress: loopback, private, link-local, shared, reserved and mapped addresses are internal; public ones are not', () => {
  const rows: [string, boolean][] = [
    ['127.0.0.1', true], ['127.8.9.10', true], ['10.1.2.3', true], ['172.16.0.1', true], ['172.31.255.255', true], ['172.32.0.1', false],
    ['192.168.1.1', true], ['169.254.169.254', true], ['100.64.0.1', true], ['0.0.0.0', true], ['224.0.0.1', true], ['255.255.255.255', true],
    ['8.8.8.8', false], ['151.101.2.132', false], ['::1', true], ['::', true], ['fe80::1', true], ['fd12:3456::1', true], ['ff02::1', true],
    ['::ffff:127.0.0.1', true], ['::ffff:8.8.8.8', false], ['2a00:1450:4001::1', false], ['64:ff9b::7f00:1', true], ['2002:7f00:1::1', true],
  ];
  for (const [a, want] of rows) assert.equal(isInternalAddress(a), want, a);
});

test('parseFetchAllow: networks and single addresses; anything else is a usage error naming the entry', () => {
  const l = parseFetchAllow(['10.20.0.0/16', '192.168.1.5', 'fd00::/8']);
  assert.ok(l.check('10.20.3.4', 'ipv4'));
  assert.ok(!l.check('10.21.0.1', 'ipv4'));
  assert.ok(l.check('192.168.1.5', 'ipv4'));
  assert.ok(!l.check('192.168.1.6', 'ipv4'));
  assert.ok(l.check('fd00::9', 'ipv6'));
  for (const bad of ['mirror.example', '10.0.0.0/33', '1.2.3', '::1/129', '']) {
    assert.throws(() => parseFetchAllow([bad]), (e: unknown) => e instanceof KilnError && e.code === 'usage' && e.message.includes(`--fetch-allow ${bad}`), bad);
  }
});

test('refusal: internal addresses refused unless allowed; originKey: host and port of a url, the scheme\'s port by default', () => {
  const p: FetchPolicy = { trustedHosts: new Set(['mirror.example:80']), allowed: parseFetchAllow(['10.5.0.0/16']), allowedText: ['10.5.0.0/16'] };
  assert.match(refusal(p, '127.0.0.1', '127.0.0.1') ?? '', /127\.0\.0\.1 is not a public address/);
  assert.match(refusal(p, 'evil.example', '169.254.169.254') ?? '', /evil\.example resolves to 169\.254\.169\.254/);
  assert.equal(refusal(p, '10.5.1.1', '10.5.1.1'), undefined, 'an allowed network');
  assert.equal(originKey('http://Mirror.Example/debian'), 'mirror.example:80');
  assert.equal(originKey('https://mirror.example/debian'), 'mirror.example:443');
  assert.equal(originKey('http://127.0.0.1:3142/debian'), '127.0.0.1:3142');
  assert.equal(originKey('http://[::1]:8080/x'), '::1:8080');
  assert.equal(originKey('file:///srv/mirror'), undefined);
  assert.equal(refusal(p, 'pool.example', '93.184.216.34'), undefined, 'a public address');
});

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

test('the guarded fetch, for real: refuses 127.0.0.1 by address, by name (localhost) and through a redirect; fetches once allowed', async (t) => {
  const secret = createServer((_req, res) => res.end('secret'));
  const port = await listen(secret);
  t.after(() => secret.close());
  const closed: FetchPolicy = { trustedHosts: new Set(), allowed: parseFetchAllow([]), allowedText: [] };
  const guarded = await makeGuardedFetch(closed);
  for (const url of [`http://127.0.0.1:${port}/`, `http://localhost:${port}/`, `http://[::ffff:127.0.0.1]:${port}/`]) {
    const e = await guarded(url).then(() => undefined, (err: unknown) => err);
    assert.equal(refusedIn(e)?.code, 'fetch-refused', `${url}: ${String(e)}`);
    assert.match(refusedIn(e)?.hint ?? '', /--fetch-allow/);
  }
  const open: FetchPolicy = { trustedHosts: new Set(), allowed: parseFetchAllow(['127.0.0.1']), allowedText: ['127.0.0.1'] };
  const allowedFetch = await makeGuardedFetch(open);
  assert.equal(await (await allowedFetch(`http://127.0.0.1:${port}/`)).text(), 'secret');
  assert.equal(await (await allowedFetch(`http://localhost:${port}/`)).text(), 'secret');
  // A redirect is a new connection, checked again: allowed 127.0.0.1 redirecting to 127.0.0.2 (not allowed).
  const redirector = createServer((_req, res) => {
    res.writeHead(302, { location: `http://127.0.0.2:${port}/` });
    res.end();
  });
  const rport = await listen(redirector);
  t.after(() => redirector.close());
  const e = await allowedFetch(`http://127.0.0.1:${rport}/`).then(() => undefined, (err: unknown) => err);
  assert.match(refusedIn(e)?.message ?? String(e), /127\.0\.0\.2 is not a public address/);
  // A trusted mirror origin (an apt-cacher on loopback) is reached, on its port only.
  const mirror: FetchPolicy = { trustedHosts: new Set([`localhost:${port}`]), allowed: parseFetchAllow([]), allowedText: [] };
  const viaMirror = await makeGuardedFetch(mirror);
  assert.equal(await (await viaMirror(`http://localhost:${port}/`)).text(), 'secret');
  const other = await viaMirror(`http://localhost:${rport}/`).then(() => undefined, (err: unknown) => err);
  assert.equal(refusedIn(other)?.code, 'fetch-refused', 'another port of that host is not the mirror');
});

test('urlRefusal (a url apt will read): refused by address or by what the name resolves to; a trusted origin or an allowed network passes', async () => {
  const p: FetchPolicy = { trustedHosts: new Set(['127.0.0.1:3142']), allowed: parseFetchAllow(['10.5.0.0/16']), allowedText: ['10.5.0.0/16'] };
  assert.match(await urlRefusal(p, 'http://127.0.0.1:8080/debian') ?? '', /127\.0\.0\.1 is not a public address/);
  assert.match(await urlRefusal(p, 'http://localhost/debian') ?? '', /localhost resolves to (127\.0\.0\.1|::1)/);
  assert.match(await urlRefusal(p, 'http://[::1]/x') ?? '', /::1 is not a public address/);
  assert.equal(await urlRefusal(p, 'http://127.0.0.1:3142/debian'), undefined, 'the daemon\'s own apt-cacher');
  assert.equal(await urlRefusal(p, 'http://10.5.2.3/repo'), undefined);
  assert.equal(await urlRefusal(p, 'http://93.184.216.34/repo'), undefined);
});
