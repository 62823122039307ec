// nats-access.ts: which flag or variable names each file, the pairs and conflicts, the
// creds and seed files as read, and the hints when NATS refuses kiln.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KilnError } from '../errors.ts';
import { checkAccessPaths, connectRefusal, credsOf, loadNatsAccess, looseSecretFiles, natsAccessOf, natsAccessPathsOf, seedOf, type AccessFile, type NatsAccess } from './nats-access.ts';

// A user's seed and public key (made by nkeys.createUser(); nothing trusts them).
const SEED = 'SUABJGPRLNJYJ6HIQDB2P2ZCVUISFDGKMUHWYF3BESHPJLJVSYOU3JWY6A';
const PUBLIC = 'UAQ2336DNBHBTD7S6AK5G4P5RMKHETZCGHD5NNJTPXNLDFSJRZXWC2JY';
const JWT = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVQUJDIn0.c2lnbmF0dXJl';
const CREDS = `-----BEGIN NATS USER JWT-----\n${JWT}\n------END NATS USER JWT------\n\n************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\n\n-----BEGIN USER NKEY SEED-----\n${SEED}\n------END USER NKEY SEED------\n\n*************************************************************\n`;

const file = (flag: string, path = '/etc/kiln/x', env?: string): AccessFile => ({ flag, path, env });
const usage = (re: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof KilnError, String(e));
  assert.equal(e.code, 'usage');
  assert.match(e.message, re);
  assert.ok((e.hint ?? '') !== '', 'a hint says what to do');
  return true;
};

test('natsAccessPathsOf: the flag wins over its variable; an empty variable is none', () => {
  const env = { KILN_NATS_CREDS: '/env/kiln.creds', KILN_NATS_TLS_CA: ' ', KILN_NATS_TLS_CERT: '/env/c.pem', KILN_NATS_TLS_KEY: '/env/k.pem' };
  assert.deepEqual(natsAccessPathsOf({ natsCreds: '/flag/kiln.creds', natsTlsKey: '/flag/k.pem' }, env), {
    natsCreds: { path: '/flag/kiln.creds', flag: '--nats-creds', env: undefined },
    natsTlsCert: { path: '/env/c.pem', flag: '--nats-tls-cert', env: 'KILN_NATS_TLS_CERT' },
    natsTlsKey: { path: '/flag/k.pem', flag: '--nats-tls-key', env: undefined },
  });
  assert.deepEqual(natsAccessPathsOf({}, {}), {});
});

test('without a NATS URL, access flags are a usage error naming them; their variables alone are not looked at', () => {
  assert.throws(() => natsAccessOf({ natsTlsCa: 'ca.pem', natsNkey: 'u.nk' }, undefined, {}), usage(/^--nats-nkey, --nats-tls-ca apply only with --nats URL/));
  assert.equal(natsAccessOf({}, undefined, { KILN_NATS_CREDS: '/nowhere/kiln.creds' }), undefined);
  // With a URL and no file: nothing to give the client.
  assert.equal(natsAccessOf({}, 'nats://h:4222', {}), undefined);
});

test('checkAccessPaths: cert and key go together, creds or nkey, not with credentials in the URL', () => {
  const cases: [Record<string, AccessFile>, string, RegExp | undefined][] = [
    [{ natsTlsCert: file('--nats-tls-cert', 'c.pem') }, 'nats://h', /^--nats-tls-cert and --nats-tls-key go together: --nats-tls-cert c.pem was given without --nats-tls-key$/],
    [{ natsTlsKey: file('--nats-tls-key', 'k.pem', 'KILN_NATS_TLS_KEY') }, 'nats://h', /^--nats-tls-cert and --nats-tls-key go together: --nats-tls-key k.pem \(from \$KILN_NATS_TLS_KEY\) was given without --nats-tls-cert$/],
    [{ natsCreds: file('--nats-creds', 'a.creds'), natsNkey: file('--nats-nkey', 'u.nk') }, 'nats://h', /^--nats-creds a\.creds and --nats-nkey u\.nk: both say who kiln is to NATS, choose one$/],
    [{ natsCreds: file('--nats-creds', 'a.creds') }, 'nats://alice:secret@h:4222', /^--nats-creds a\.creds and a user and password in the NATS URL both say who kiln is to NATS: choose one$/],
    [{ natsNkey: file('--nats-nkey', 'u.nk') }, 'tls://s3cr3t@h:4222', /^--nats-nkey u\.nk and a token in the NATS URL both say who kiln is to NATS: choose one$/],
    [{ natsTlsCa: file('--nats-tls-ca', 'ca.pem') }, 'nats://alice:secret@h:4222', undefined],
    [{ natsNkey: file('--nats-nkey', 'u.nk'), natsTlsCert: file('--nats-tls-cert'), natsTlsKey: file('--nats-tls-key') }, 'nats://h', undefined],
  ];
  for (const [paths, url, re] of cases) {
    if (re === undefined) assert.doesNotThrow(() => checkAccessPaths(paths, url));
    else assert.throws(() => checkAccessPaths(paths, url), usage(re), re.source);
  }
  // The URL's password is never in the message.
  assert.throws(() => checkAccessPaths({ natsCreds: file('--nats-creds') }, 'nats://alice:secret@h'), (e: Error) => !e.message.includes('secret'));
});

test('loadNatsAccess: a file that cannot be read names the flag, the path and why', () => {
  const read = (why: string) => (): Buffer => {
    throw Object.assign(new Error(`${why}: x`), { code: why });
  };
  for (const [code, said] of [['ENOENT', 'no such file'], ['EACCES', 'not readable by this user'], ['EISDIR', 'a folder, not a file']] as const) {
    assert.throws(() => loadNatsAccess({ natsNkey: file('--nats-nkey', '/srv/kiln.nk', 'KILN_NATS_NKEY') }, 'nats://h', read(code)), usage(new RegExp(`^--nats-nkey /srv/kiln\\.nk \\(from \\$KILN_NATS_NKEY\\): cannot read it: ${said}$`)));
  }
});

test('loadNatsAccess: a creds file gives the JWT and seed, an nkey file the seed; the flags are kept for the hints', () => {
  const files: Record<string, string> = { '/a.creds': CREDS, '/u.nk': `${SEED}\n`, '/crlf.creds': CREDS.replace(/\n/g, '\r\n') };
  const read = (p: string): Buffer => Buffer.from(files[p]!);
  const creds = loadNatsAccess({ natsCreds: file('--nats-creds', '/a.creds') }, 'nats://h', read)!;
  assert.deepEqual(creds, { identity: { kind: 'creds', jwt: JWT, seed: new TextEncoder().encode(SEED) }, flags: ['--nats-creds'] });
  assert.deepEqual(loadNatsAccess({ natsCreds: file('--nats-creds', '/crlf.creds') }, 'nats://h', read)!.identity, creds.identity);
  assert.deepEqual(loadNatsAccess({ natsNkey: file('--nats-nkey', '/u.nk') }, 'nats://h', read), { identity: { kind: 'nkey', seed: new TextEncoder().encode(SEED) }, flags: ['--nats-nkey'] });
});

test('seedOf / credsOf: what is not a user seed or a creds file is said, without printing a seed', () => {
  const nk = file('--nats-nkey', 'u.nk');
  assert.throws(() => seedOf(nk, PUBLIC, true), usage(/^--nats-nkey u\.nk: holds a user's public key \(U…\), not its seed$/));
  assert.throws(() => seedOf(nk, 'hello', true), usage(/: holds no nkey seed$/));
  const account = `SA${SEED.slice(2)}`;
  assert.throws(() => seedOf(nk, account, true), (e: Error) => usage(/holds the seed of an account \(SA…\), not of a user \(SU…\)$/)(e) && !e.message.includes(account));
  const cr = file('--nats-creds', 'a.creds');
  assert.throws(() => credsOf(cr, SEED), usage(/^--nats-creds a\.creds: not a NATS \.creds file/));
  assert.throws(() => credsOf(cr, CREDS.replace(SEED, 'nope')), usage(/^--nats-creds a\.creds: holds no nkey seed$/));
});

test('connectRefusal: the code, and a hint naming the flag that would fix it', () => {
  const withCa: NatsAccess = { tls: { ca: 'PEM' }, flags: ['--nats-tls-ca'] };
  const mutual: NatsAccess = { tls: { ca: 'PEM', cert: 'PEM', key: 'PEM' }, flags: ['--nats-tls-ca', '--nats-tls-cert', '--nats-tls-key'] };
  const nkey: NatsAccess = { identity: { kind: 'nkey', seed: new Uint8Array() }, flags: ['--nats-nkey'] };
  const creds: NatsAccess = { identity: { kind: 'creds', jwt: JWT, seed: new Uint8Array() }, flags: ['--nats-creds'] };
  const untrusted = { message: 'unable to verify the first certificate; if the root CA is installed locally, try running Node.js with --use-system-ca', code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' };
  const cases: [{ message: string; code?: string }, NatsAccess | undefined, boolean, 'unauthorized' | 'server-unreachable', RegExp][] = [
    [{ message: 'Authorization Violation' }, undefined, false, 'unauthorized', /nats:\/\/USER:PASSWORD@HOST:4222.*--nats-creds FILE.*--nats-nkey FILE/],
    [{ message: 'Authorization Violation' }, nkey, false, 'unauthorized', /public key of the seed in --nats-nkey/],
    [{ message: 'Authorization Violation' }, creds, true, 'unauthorized', /the user of --nats-creds/],
    [untrusted, undefined, false, 'server-unreachable', /give the CA that signed it with --nats-tls-ca FILE/],
    [untrusted, withCa, true, 'server-unreachable', /not signed by the CA of --nats-tls-ca/],
    [{ message: 'self-signed certificate in certificate chain', code: 'SELF_SIGNED_CERT_IN_CHAIN' }, undefined, true, 'server-unreachable', /--nats-tls-ca FILE/],
    [{ message: "Hostname/IP does not match certificate's altnames: IP: 10.0.0.9 is not in the cert's list: 127.0.0.1", code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, withCa, true, 'server-unreachable', /subjectAltName/],
    [{ message: 'certificate has expired', code: 'CERT_HAS_EXPIRED' }, withCa, true, 'server-unreachable', /expired/],
    [{ message: 'C0D7:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required' }, withCa, true, 'server-unreachable', /asks for a client certificate.*--nats-tls-cert FILE and --nats-tls-key FILE/],
    [{ message: 'ssl3_read_bytes:tlsv13 alert unknown ca' }, mutual, true, 'server-unreachable', /refused kiln's client certificate/],
    [{ message: 'timeout' }, withCa, true, 'server-unreachable', /drops a client without one: give --nats-tls-cert FILE and --nats-tls-key FILE/],
    [{ message: 'timeout' }, mutual, true, 'server-unreachable', /does not trust kiln's client certificate/],
    [{ message: 'timeout' }, undefined, false, 'server-unreachable', /^check the URL/],
    [{ message: "server does not support 'tls'" }, withCa, true, 'server-unreachable', /^--nats-tls-ca ask for TLS and the server does not speak it/],
    [{ message: "server does not support 'tls'" }, undefined, true, 'server-unreachable', /^the URL says tls:\/\/ and the server does not speak TLS/],
    [{ message: 'connection refused' }, mutual, true, 'server-unreachable', /^check the URL/],
  ];
  for (const [e, access, tls, code, hint] of cases) {
    const got = connectRefusal(e, access, tls);
    assert.equal(got.code, code, e.message);
    assert.match(got.hint, hint, e.message);
  }
  // Node's advice to restart it with --use-system-ca is not kiln's to give.
  assert.equal(connectRefusal(untrusted, undefined, false).message, 'unable to verify the first certificate');
});

test('looseSecretFiles: a .creds file, an nkey seed or a TLS key other users may read is said (the CA and the certificate are public)', () => {
  const f = (flag: string, path: string) => ({ path, flag, env: undefined });
  const modes: Record<string, number> = { '/k/creds': 0o100644, '/k/seed': 0o100600, '/k/key': 0o100640, '/k/ca': 0o100644, '/k/cert': 0o100644 };
  const said = looseSecretFiles({ natsCreds: f('--nats-creds', '/k/creds'), natsNkey: f('--nats-nkey', '/k/seed'), natsTlsKey: f('--nats-tls-key', '/k/key'), natsTlsCa: f('--nats-tls-ca', '/k/ca'), natsTlsCert: f('--nats-tls-cert', '/k/cert') }, (p) => modes[p]);
  assert.deepEqual(said, [
    "--nats-creds /k/creds can be read by other users (mode 0644): it holds a secret of kiln's NATS user; chmod 600 it",
    "--nats-tls-key /k/key can be read by other users (mode 0640): it holds a secret of kiln's NATS user; chmod 600 it",
  ]);
  assert.deepEqual(looseSecretFiles({ natsCreds: { path: '/gone', flag: '--nats-creds', env: 'KILN_NATS_CREDS' } }, () => undefined), []);
});
