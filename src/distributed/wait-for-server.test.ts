import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KilnError } from '../errors.ts';
import { hostPortOf, retryDelayMs, tcpReachable, waitForServer, worthWaiting } from './wait-for-server.ts';

/** An error as the NATS client throws it: its message, a code, a cause with a code. */
function err(message: string, o: { code?: string; name?: string; cause?: string } = {}): Error {
  const e = new Error(message, o.cause === undefined ? {} : { cause: Object.assign(new Error(message), { code: o.cause }) });
  if (o.name !== undefined) e.name = o.name;
  return o.code === undefined ? e : Object.assign(e, { code: o.code });
}

test('worthWaiting: a server that cannot be reached yet is waited for; one that answers and refuses is not', () => {
  const table: [string, Error, boolean, boolean][] = [
    // Nothing listens yet (nats-server not started, or still booting), with or without TLS.
    ['refused', err('connection refused', { name: 'ConnectionError', cause: 'ECONNREFUSED' }), false, true],
    ['refused, tls://', err('connection refused', { name: 'ConnectionError', cause: 'ECONNREFUSED' }), true, true],
    // The host's name does not resolve yet, the network is not up.
    ['no such name (yet)', err('getaddrinfo ENOTFOUND nats.example', { code: 'ENOTFOUND' }), false, true],
    ['resolver not ready', err('getaddrinfo EAI_AGAIN nats.example', { code: 'EAI_AGAIN' }), true, true],
    ['no route', err('connect EHOSTUNREACH 10.0.0.9:4222', { name: 'ConnectionError', cause: 'EHOSTUNREACH' }), false, true],
    ['network down', err('connect ENETUNREACH 10.0.0.9:4222', { code: 'ENETUNREACH' }), false, true],
    ['plain connect timed out', err('timeout', { name: 'TimeoutError' }), false, true],
    // Answers that will not change by themselves.
    ['bad credentials', err('Authorization Violation', { name: 'AuthorizationError' }), false, false],
    ['bad credentials, tls://', err('Authorization Violation', { name: 'AuthorizationError' }), true, false],
    ['tls:// against a plain server', err("server does not support 'tls'", { name: 'ConnectionError' }), true, false],
    ['plain against a TLS server', err("tls is not available on this server", { name: 'InvalidArgumentError' }), false, false],
    ['certificate not trusted', err('self-signed certificate in certificate chain', { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), true, false],
    ['CA of --nats-tls-ca did not sign it', err('unable to verify the first certificate', { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }), true, false],
    ['certificate expired', err('certificate has expired', { code: 'CERT_HAS_EXPIRED' }), true, false],
    ['client certificate refused', err('tlsv13 alert certificate required', { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' }), true, false],
    // After TLS, a timeout is a server dropping a client without its certificate (connectRefusal).
    ['TLS timeout', err('timeout', { name: 'TimeoutError' }), true, false],
  ];
  for (const [what, e, tls, want] of table) assert.equal(worthWaiting(e, tls), want, what);
});

test('retryDelayMs: 1 s, doubling, at most 30 s', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 100, 10_000].map(retryDelayMs), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
});

const refused = (): Error => err('connection refused', { cause: 'ECONNREFUSED' });
const base = { url: 'nats://nats.example:4222', worth: (e: Error) => worthWaiting(e, false), reason: (e: Error) => e.message, delayMs: () => 1 };

test('waitForServer: says once that it waits and why, tries again, says when the server answers', async () => {
  const said: string[] = [];
  let tries = 0;
  const got = await waitForServer(async () => (++tries < 4 ? Promise.reject(refused()) : 'nc'), { ...base, signal: new AbortController().signal, say: (t) => said.push(t) });
  assert.equal(got, 'nc');
  assert.equal(tries, 4);
  assert.equal(said.length, 2, said.join('\n'));
  assert.match(said[0]!, /^cannot reach NATS at nats:\/\/nats\.example:4222 \(connection refused\): trying again every 1 s, backing off to every 30 s, until it answers \(Ctrl-C to stop\)$/);
  assert.match(said[1]!, /^connected to NATS at nats:\/\/nats\.example:4222 after \d+ s$/);
});

test('waitForServer: reachable at once says nothing; a refusal not worth waiting for is thrown as it is, at once', async () => {
  const said: string[] = [];
  assert.equal(await waitForServer(async () => 'nc', { ...base, signal: new AbortController().signal, say: (t) => said.push(t) }), 'nc');
  const auth = err('Authorization Violation');
  let tries = 0;
  await assert.rejects(waitForServer(async () => { tries++; throw auth; }, { ...base, signal: new AbortController().signal, say: (t) => said.push(t) }), (e) => e === auth);
  assert.equal(tries, 1);
  // After some waiting too.
  tries = 0;
  await assert.rejects(waitForServer(async () => { throw ++tries < 3 ? refused() : auth; }, { ...base, signal: new AbortController().signal, say: (t) => said.push(t) }), (e) => e === auth);
  assert.equal(tries, 3);
});

test('waitForServer: an abort ends the wait at once (KilnError cancelled), in the backoff or in a try; a late connection is discarded', async () => {
  const ac = new AbortController();
  const started = Date.now();
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(waitForServer(async () => Promise.reject(refused()), { ...base, delayMs: () => 60_000, signal: ac.signal, say: () => undefined }), (e) => e instanceof KilnError && e.code === 'cancelled');
  assert.ok(Date.now() - started < 5_000);
  // A try that hangs (a host that drops packets), then connects after all.
  const hung = new AbortController();
  let finish!: (v: string) => void;
  const discarded: string[] = [];
  setTimeout(() => hung.abort(), 20);
  await assert.rejects(waitForServer(() => new Promise<string>((r) => (finish = r)), { ...base, signal: hung.signal, say: () => undefined, discard: (v) => discarded.push(v) }), (e) => e instanceof KilnError && e.code === 'cancelled');
  finish('late nc');
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(discarded, ['late nc']);
  // Aborted already: no try at all.
  let tries = 0;
  await assert.rejects(waitForServer(async () => ++tries, { ...base, signal: AbortSignal.abort(), say: () => undefined }), (e) => e instanceof KilnError && e.code === 'cancelled');
  assert.equal(tries, 0);
});

test('waitForServer: a wait that goes on is said again every 10 tries (a wrong host or port waits for ever)', async () => {
  const said: string[] = [];
  let tries = 0;
  assert.equal(await waitForServer(async () => (++tries < 22 ? Promise.reject(refused()) : 'nc'), { ...base, delayMs: () => 0, signal: new AbortController().signal, say: (t) => said.push(t) }), 'nc');
  assert.equal(said.filter((t) => /^still cannot reach NATS at nats:\/\/nats\.example:4222 after \d+ s \(connection refused\); check the URL if this lasts$/.test(t)).length, 2, said.join('\n'));
});

test('tcpReachable and hostPortOf: a listening port answers, a closed one does not; the default port is 4222', async () => {
  const { createServer } = await import('node:net');
  const server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  assert.equal(await tcpReachable('127.0.0.1', port), true);
  await new Promise<void>((r) => server.close(() => r()));
  assert.equal(await tcpReachable('127.0.0.1', port), false);
  assert.deepEqual(hostPortOf('tls://nats.example'), { host: 'nats.example', port: 4222 });
  assert.deepEqual(hostPortOf('nats://[::1]:4333'), { host: '::1', port: 4333 });
  assert.deepEqual(hostPortOf('nats.example:7422'), { host: 'nats.example', port: 7422 });
});
