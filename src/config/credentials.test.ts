import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basicAuth, credentialFor, hasUserinfo, loadCredentials, parseMachine, parseNetrc, refuseUserinfo, withCredentials, type Credential } from './credentials.ts';
import { KilnError } from '../errors.ts';
import { withoutUserinfo } from './mirrors.ts';

test('parseNetrc: entries with machine, login and password; default, account, macdef and comments', () => {
  const text = `# a comment
machine one.example login alice password "pa ss\\"word"
machine two.example:8443/debian
  login bob   # who
  password hunter2
  account ignored
default login anyone password anything
machine half.example login nobody
macdef init
machine inside.macro login m password m

machine three.example login carol password c3
`;
  const got = parseNetrc(text, '/f').map((c) => [c.host, c.port, c.path, c.login, c.password]);
  assert.deepEqual(got, [
    ['one.example', undefined, '', 'alice', 'pa ss"word'],
    ['two.example', '8443', '/debian', 'bob', 'hunter2'],
    ['three.example', undefined, '', 'carol', 'c3'],
  ]);
});

test('parseMachine: scheme, host, port and path', () => {
  const cases: [string, ReturnType<typeof parseMachine>][] = [
    ['Mirror.Example', { scheme: undefined, host: 'mirror.example', port: undefined, path: '' }],
    ['mirror.example:8080', { scheme: undefined, host: 'mirror.example', port: '8080', path: '' }],
    ['https://mirror.example/debian/', { scheme: 'https', host: 'mirror.example', port: undefined, path: '/debian' }],
    ['http://127.0.0.1:9/a/b', { scheme: 'http', host: '127.0.0.1', port: '9', path: '/a/b' }],
    ['[::1]:8080', { scheme: undefined, host: '[::1]', port: '8080', path: '' }],
    ['ftp://x', undefined],
    ['', undefined],
  ];
  for (const [machine, want] of cases) assert.deepEqual(parseMachine(machine), want, machine);
});

test('credentialFor: https only unless the machine says http://; port, path prefix at a / boundary; first match wins', () => {
  const creds = [
    ...parseNetrc('machine mirror.example/private login a password 1', 'f1'),
    ...parseNetrc('machine mirror.example login b password 2', 'f1'),
    ...parseNetrc('machine http://plain.example:8080 login c password 3', 'f2'),
    ...parseNetrc('machine ported.example:8443 login d password 4', 'f2'),
  ];
  const who = (url: string): string | undefined => credentialFor(new URL(url), creds)?.login;
  const cases: [string, string | undefined][] = [
    ['https://mirror.example/private/pool/x.tar.gz', 'a'],
    ['https://mirror.example/private', 'a'],
    ['https://mirror.example/privateer/x', 'b'],
    ['https://MIRROR.example/debian/x', 'b'],
    ['http://mirror.example/debian/x', undefined],
    ['http://plain.example:8080/x', 'c'],
    ['http://plain.example/x', undefined],
    ['https://plain.example:8080/x', undefined],
    ['https://ported.example:8443/x', 'd'],
    ['https://ported.example/x', undefined],
    ['https://other.example/x', undefined],
  ];
  for (const [url, want] of cases) assert.equal(who(url), want, url);
});

test('loadCredentials: KILN_NETRC (else ~/.netrc), then auth.conf and auth.conf.d in name order, then apt source uris', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-creds-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const apt = join(dir, 'apt');
  await mkdir(join(apt, 'auth.conf.d'), { recursive: true });
  await mkdir(join(apt, 'sources.list.d'), { recursive: true });
  await writeFile(join(dir, '.netrc'), 'machine h login home password p\n');
  await writeFile(join(dir, 'named'), 'machine h login named password p\n');
  await writeFile(join(apt, 'auth.conf'), 'machine h login auth password p\n');
  await writeFile(join(apt, 'auth.conf.d', 'b.conf'), 'machine h login b password p\n');
  await writeFile(join(apt, 'auth.conf.d', 'a.conf'), 'machine h login a password p\n');
  await writeFile(join(apt, 'auth.conf.d', 'c.disabled'), 'machine h login c password p\n');
  await writeFile(join(apt, 'sources.list'), 'deb https://u%40x:s%3Acret@apt.example:8443/debian/ bookworm main\n');

  const logins = (cs: readonly Credential[]): string[] => cs.map((c) => c.login);
  assert.deepEqual(logins(await loadCredentials({ netrc: undefined, home: dir, aptDir: apt })), ['home', 'auth', 'a', 'b', 'u@x']);
  const all = await loadCredentials({ netrc: join(dir, 'named'), home: dir, aptDir: apt });
  assert.deepEqual(logins(all), ['named', 'auth', 'a', 'b', 'u@x']);
  const fromUri = credentialFor(new URL('https://apt.example:8443/debian/pool/x'), all);
  assert.equal(fromUri?.password, 's:cret');
  assert.equal(credentialFor(new URL('https://apt.example:8443/other'), all), undefined);

  // A daemon does not read ~/.netrc: KILN_NETRC and apt's files only.
  assert.deepEqual(logins(await loadCredentials({ netrc: undefined, home: dir, aptDir: apt, homeNetrc: false })), ['auth', 'a', 'b', 'u@x']);
  assert.deepEqual(logins(await loadCredentials({ netrc: join(dir, 'named'), home: dir, aptDir: apt, homeNetrc: false })), ['named', 'auth', 'a', 'b', 'u@x']);

  // No file at all is no credential; a KILN_NETRC that names nothing is an error naming it.
  assert.deepEqual(await loadCredentials({ netrc: undefined, home: join(dir, 'none'), aptDir: join(dir, 'none') }), []);
  await assert.rejects(loadCredentials({ netrc: join(dir, 'missing'), home: dir, aptDir: apt }), (e: unknown) => {
    assert.ok(e instanceof KilnError && e.code === 'config-invalid' && e.message.includes(join(dir, 'missing')) && /KILN_NETRC/.test(e.hint ?? ''), String(e));
    return true;
  });
});

test('withCredentials: adds the header of the matching machine, keeps one already given, passes others untouched', async () => {
  const creds = parseNetrc('machine secure.example login u password p', 'f');
  const seen: (string | null)[] = [];
  const base = (async (_input: unknown, init?: RequestInit) => {
    seen.push(new Headers(init?.headers).get('authorization'));
    return new Response('ok');
  }) as typeof fetch;
  const f = withCredentials(base, async () => creds);
  await f('https://secure.example/x');
  await f(new URL('https://secure.example/y'), { headers: { authorization: 'Bearer mine' } });
  await f('https://elsewhere.example/x');
  await f('http://secure.example/x');
  assert.deepEqual(seen, [basicAuth(creds[0]!), 'Bearer mine', null, null]);
  assert.equal(basicAuth(creds[0]!), `Basic ${Buffer.from('u:p').toString('base64')}`);
});

test('user names and passwords in urls: told apart, refused for flags without echoing them, stripped from apt uris', () => {
  assert.equal(hasUserinfo('https://u:p@h/x'), true);
  assert.equal(hasUserinfo('https://u@h/x'), true);
  assert.equal(hasUserinfo('https://h/x@y'), false);
  assert.equal(hasUserinfo('mirror://debian/pool/x'), false);
  assert.throws(() => refuseUserinfo('--mirror', 'https://u:topsecret@h.example/debian'), (e: unknown) => {
    assert.ok(e instanceof KilnError && e.code === 'usage' && e.message.includes('h.example') && !e.message.includes('topsecret') && !(e.hint ?? '').includes('topsecret'), String(e));
    return true;
  });
  refuseUserinfo('--mirror', 'https://h.example/debian');
  refuseUserinfo('--mirror', undefined);
  assert.equal(withoutUserinfo('https://u:p@h.example/debian/'), 'https://h.example/debian/');
  assert.equal(withoutUserinfo('https://h.example/debian'), 'https://h.example/debian');
});

test("loadCredentials: apt's auth.conf that this user may not read (0600 root, as apt wants it) is skipped, not an error", { skip: process.getuid?.() !== 0 ? 'needs root (runs a check as nobody)' : false }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-creds-perm-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'apt'));
  await writeFile(join(dir, 'apt', 'auth.conf'), 'machine h login root-only password p\n', { mode: 0o600 });
  const { chmod } = await import('node:fs/promises');
  await chmod(dir, 0o755);
  await chmod(join(dir, 'apt'), 0o755);
  const { execFileSync } = await import('node:child_process');
  const script = `import('${join(import.meta.dirname, 'credentials.ts')}').then(async (m) => console.log(JSON.stringify((await m.loadCredentials({ netrc: undefined, home: '/nonexistent', aptDir: '${join(dir, 'apt')}' })).length)))`;
  const out = execFileSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '-e', script], { encoding: 'utf8' });
  assert.equal(out.trim(), '0');
});

test('the 401 hint: locally it names the netrc to fix; on a daemon it sends the tenant to the operator (a daemon reads no ~/.netrc)', async () => {
  const { credentialsHint, credentialsForDaemon } = await import('./credentials.ts');
  assert.match(credentialsHint('http://127.0.0.1:8080/x'), /add or fix "machine http:\/\/127\.0\.0\.1:8080 login USER password PASS" in ~\/\.netrc/);
  assert.match(credentialsHint('https://mirror.example/debian/x'), /"machine mirror\.example login/);
  credentialsForDaemon(); // the last test of this file: it switches the module to daemon mode
  assert.match(credentialsHint('https://mirror.example/x'), /this daemon sends only those of the file its operator names with KILN_NETRC .*ask the operator/);
});
