// What kiln connects to NATS with besides the URL (src/distributed/nats-access.ts), against a
// real nats-server: mutual TLS with a private CA made by openssl (a `kiln build --nats`
// through a `kiln worker`, both over it; refused, saying why, without the CA), an nkey user
// (a wrong seed is unauthorized), a .creds file of an operator-mode server (JWTs minted
// here with nkeys), and the usage errors of the flags, which need no server.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, pkgOf, readReport, runKiln, statesOf } from '../helpers/run-kiln.ts';
import { ACK_WAIT_MS, noNats, spawnNats, startWorker, until, type Worker } from '../helpers/nats.ts';

const noOpenssl = spawnSync('openssl', ['version']).status === 0 ? false : 'openssl is not installed';
/** A developer's own KILN_NATS* never reach these tests. */
const CLEAN = { KILN_NATS: '', KILN_NATS_CREDS: '', KILN_NATS_NKEY: '', KILN_NATS_TLS_CA: '', KILN_NATS_TLS_CERT: '', KILN_NATS_TLS_KEY: '' };

/** nats-server with `conf` (and JetStream in `dir`), stopped after the test; resolves to `nats://127.0.0.1:PORT`. */
async function natsWith(t: TestContext, dir: string, conf: string): Promise<string> {
  const file = join(dir, `nats-${Date.now()}.conf`);
  await writeFile(file, `host: 127.0.0.1\nport: -1\njetstream { store_dir: ${JSON.stringify(join(dir, 'nats'))} }\n${conf}\n`);
  return spawnNats(t, ['-c', file]);
}

/** A private CA, a server certificate for 127.0.0.1 and localhost, and a client certificate, all signed by it. */
function makePki(dir: string): Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string> {
  const ssl = (...args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=kiln test CA');
  for (const [name, ext] of [['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], ['client', 'extendedKeyUsage=clientAuth']] as const) {
    ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=kiln test ${name}`);
    spawnSync('sh', ['-c', `printf '%s\\n' '${ext}' > ${name}.ext`], { cwd: dir });
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  }
  return { ca: join(dir, 'ca.pem'), serverCert: join(dir, 'server.pem'), serverKey: join(dir, 'server.key'), clientCert: join(dir, 'client.pem'), clientKey: join(dir, 'client.key') };
}

/** A worker that must stop at once (refused): its exit status and output. */
async function refused(w: Worker): Promise<{ code: number | null | 'running'; output: string }> {
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([w.exited, new Promise<'running'>((r) => (timer = setTimeout(() => r('running'), 15_000)))]);
  clearTimeout(timer);
  return { code, output: w.output() };
}

const waiting = (w: Worker): Promise<true> => until('the worker to wait for jobs', () => (/taking jobs for/.test(w.output()) ? true : w.child.exitCode !== null ? assert.fail(w.output()) : undefined), 30_000);

test('mutual TLS with a private CA: kiln build --nats (files from the environment) builds through a kiln worker (files as flags); without --nats-tls-ca the worker is refused, saying to give it', { skip: noNats || noOpenssl, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-access-');
  const pki = makePki(dir.path);
  const url = await natsWith(t, dir.path, `tls { cert_file: ${JSON.stringify(pki.serverCert)}, key_file: ${JSON.stringify(pki.serverKey)}, ca_file: ${JSON.stringify(pki.ca)}, verify: true }`);
  const flags = ['--nats-tls-ca', pki.ca, '--nats-tls-cert', pki.clientCert, '--nats-tls-key', pki.clientKey];
  await waiting(startWorker(t, url, join(dir.path, 'w'), 'w-tls', undefined, CLEAN, ['--sandbox', 'host', ...flags]));

  const tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'hello'), { recursive: true });
  await writeFile(join(tree, 'hello', 'recipe.toml'), recipeText({ name: 'hello', script: 'mkdir -p "$DESTDIR/usr/share/hello"; echo hi > "$DESTDIR/usr/share/hello/hi"' }));
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'c'), '--sandbox', 'host', '--nats', url, '--json'], {
    timeoutMs: 90_000,
    env: { ...CLEAN, KILN_ACK_WAIT_MS: String(ACK_WAIT_MS), KILN_NATS_TLS_CA: pki.ca, KILN_NATS_TLS_CERT: pki.clientCert, KILN_NATS_TLS_KEY: pki.clientKey },
  });
  assert.equal(r.code, 0, explain(r));
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { hello: 'built' });
  assert.equal(pkgOf(report, 'hello').worker, 'w-tls');

  // The server's certificate is not signed by a CA of the system's: said, with the flag that fixes it.
  const noCa = await refused(startWorker(t, url, join(dir.path, 'w2'), 'w2', undefined, CLEAN, ['--sandbox', 'host', ...flags.slice(2)]));
  assert.equal(noCa.code, 1, noCa.output);
  assert.match(noCa.output, /error \[server-unreachable\]: cannot reach NATS at nats:\/\/127\.0\.0\.1:\d+: unable to verify the first certificate\n/, noCa.output);
  assert.match(noCa.output, /hint: the server's certificate is not signed by a CA this system trusts: give the CA that signed it with --nats-tls-ca FILE/);
  assert.doesNotMatch(noCa.output, /use-system-ca|taking jobs for/);
});

test('an nkey user: a worker with its seed (--nats-nkey) takes jobs; another seed is unauthorized, the seed not printed; a password in the URL as well is refused', { skip: noNats, timeout: 60_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-access-');
  const user = nkeys.createUser();
  const url = await natsWith(t, dir.path, `authorization { users = [ { nkey: ${user.getPublicKey()} } ] }`);
  const seedFile = join(dir.path, 'kiln.nk');
  await writeFile(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`, { mode: 0o600 });
  await waiting(startWorker(t, url, join(dir.path, 'w'), 'w-nkey', undefined, CLEAN, ['--sandbox', 'host', '--nats-nkey', seedFile]));

  const stranger = new TextDecoder().decode(nkeys.createUser().getSeed());
  const strangerFile = join(dir.path, 'stranger.nk');
  await writeFile(strangerFile, stranger);
  // From the environment this time.
  const wrong = await refused(startWorker(t, url, join(dir.path, 'w2'), 'w2', undefined, { ...CLEAN, KILN_NATS_NKEY: strangerFile }));
  assert.equal(wrong.code, 2, wrong.output);
  assert.match(wrong.output, /error \[unauthorized\]: NATS at nats:\/\/127\.0\.0\.1:\d+ refused kiln's credentials: Authorization Violation/, wrong.output);
  assert.match(wrong.output, /hint: the server lists no user with the public key of the seed in --nats-nkey/);
  assert.ok(!wrong.output.includes(stranger), 'the seed is not printed');

  const both = await refused(startWorker(t, url.replace('nats://', 'nats://alice:pw@'), join(dir.path, 'w3'), 'w3', undefined, CLEAN, ['--sandbox', 'host', '--nats-nkey', seedFile]));
  assert.equal(both.code, 2, both.output);
  assert.match(both.output, /error \[usage\]: --nats-nkey \S+kiln\.nk and a user and password in the NATS URL both say who kiln is to NATS: choose one/);
  assert.doesNotMatch(both.output, /pw@/);
});

test('a .creds file of an operator-mode server: a worker with it takes jobs; one of a user the server does not trust is unauthorized', { skip: noNats, timeout: 60_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-access-');
  // What nsc would make: an operator, its system account, an account with JetStream, a user of it.
  const b64 = (x: string | Uint8Array): string => Buffer.from(x).toString('base64url');
  const jwt = (issuer: nkeys.KeyPair, claims: Record<string, unknown>): string => {
    const head = `${b64(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }))}.${b64(JSON.stringify({ jti: claims['sub'], iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), ...claims }))}`;
    return `${head}.${b64(issuer.sign(new TextEncoder().encode(head)))}`;
  };
  const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
  const operator = nkeys.createOperator();
  const system = nkeys.createAccount();
  const account = nkeys.createAccount();
  const opJwt = jwt(operator, { sub: operator.getPublicKey(), name: 'op', nats: { system_account: system.getPublicKey(), type: 'operator', version: 2 } });
  const accounts = {
    [system.getPublicKey()]: jwt(operator, { sub: system.getPublicKey(), name: 'SYS', nats: { limits: unlimited, type: 'account', version: 2 } }),
    [account.getPublicKey()]: jwt(operator, { sub: account.getPublicKey(), name: 'kiln', nats: { limits: { ...unlimited, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 }, type: 'account', version: 2 } }),
  };
  const url = await natsWith(t, dir.path, `operator: ${opJwt}\nsystem_account: ${system.getPublicKey()}\nresolver: MEMORY\nresolver_preload: { ${Object.entries(accounts).map(([k, v]) => `${k}: ${v}`).join(', ')} }`);
  const credsOf = (issuer: nkeys.KeyPair): string => {
    const user = nkeys.createUser();
    const userJwt = jwt(issuer, { sub: user.getPublicKey(), name: 'kiln', nats: { pub: {}, sub: {}, subs: -1, data: -1, payload: -1, type: 'user', version: 2 } });
    return `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${new TextDecoder().decode(user.getSeed())}\n------END USER NKEY SEED------\n`;
  };
  const good = join(dir.path, 'kiln.creds');
  await writeFile(good, credsOf(account), { mode: 0o600 });
  await waiting(startWorker(t, url, join(dir.path, 'w'), 'w-creds', undefined, CLEAN, ['--sandbox', 'host', '--nats-creds', good]));

  const bad = join(dir.path, 'stranger.creds');
  await writeFile(bad, credsOf(nkeys.createAccount()));
  const wrong = await refused(startWorker(t, url, join(dir.path, 'w2'), 'w2', undefined, CLEAN, ['--sandbox', 'host', '--nats-creds', bad]));
  assert.equal(wrong.code, 2, wrong.output);
  assert.match(wrong.output, /error \[unauthorized\]: NATS at nats:\/\/127\.0\.0\.1:\d+ refused kiln's credentials/, wrong.output);
  assert.match(wrong.output, /hint: the server did not take the user of --nats-creds/);
});

test('the access flags\' usage errors: each names its flag (and path), exit 2, before anything connects', { skip: noOpenssl, timeout: 60_000 }, async () => {
  await using dir = await tmpDir('kiln-nats-access-');
  const pki = makePki(dir.path);
  const state = join(dir.path, 's');
  const cases: [string[], RegExp][] = [
    [['build', '--tree', dir.path, '--state', state, '--nats-tls-ca', pki.ca], /error \[usage\]: --nats-tls-ca applies only with --nats URL \(or \$KILN_NATS\)/],
    [['worker', '--nats', 'nats://127.0.0.1:1', '--state', state, '--nats-tls-cert', pki.clientCert], /error \[usage\]: --nats-tls-cert and --nats-tls-key go together: --nats-tls-cert \S+client\.pem was given without --nats-tls-key/],
    [['worker', '--nats', 'nats://127.0.0.1:1', '--state', state, '--nats-tls-ca', join(dir.path, 'nope.pem')], /error \[usage\]: --nats-tls-ca \S+nope\.pem: cannot read it: no such file/],
    [['worker', '--nats', 'nats://127.0.0.1:1', '--state', state, '--nats-tls-cert', pki.clientCert, '--nats-tls-key', pki.serverKey], /error \[usage\]: --nats-tls-key \S+server\.key is not the private key of --nats-tls-cert \S+client\.pem/],
    [['worker', '--nats', 'nats://127.0.0.1:1', '--state', state, '--nats-creds', pki.ca], /error \[usage\]: --nats-creds \S+ca\.pem: not a NATS \.creds file/],
    [['worker', '--nats', 'nats://127.0.0.1:1', '--state', state, '--nats-creds', pki.ca, '--nats-nkey', pki.ca], /error \[usage\]: --nats-creds \S+ and --nats-nkey \S+: both say who kiln is to NATS, choose one/],
    [['serve', '--listen', '127.0.0.1:0', '--state', state, '--nats-nkey', pki.ca], /error \[usage\]: --nats-nkey applies only with --nats URL/],
    [['serve', '--listen', '127.0.0.1:0', '--state', state, '--nats', 'nats://127.0.0.1:1', '--nats-tls-ca', join(dir.path, 'gone.pem')], /error \[usage\]: --nats-tls-ca \S+gone\.pem: cannot read it: no such file/],
  ];
  for (const [args, re] of cases) {
    const r = await runKiln(args, { timeoutMs: 30_000, env: CLEAN });
    assert.equal(r.code, 2, `${args.join(' ')}\n${explain(r)}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.match(r.stderr, /hint: /, args.join(' '));
  }
});
