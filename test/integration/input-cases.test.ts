// Hostile input through the real CLI (the audit of ../shared/research/distributed-and-reliability.md):
// - case 16: a recipe's `file:` tarball with a hard link out (to an absolute path, or
//   climbing with `..`), an absolute member, a `..` member, a symlink then a file through
//   it: `kiln build` fails that package's whole extraction (unsafe-path, its script never
//   runs), and no file outside the extraction folder changes: neither the folder the test
//   aims the members at, nor /etc/passwd, nor the job's $SRCDIR (the extraction folder's
//   parent, kept by --keep-failed), which holds what an earlier source put there, the
//   same as a package without the hostile archive;
// - case 26: a bearer token past its `kiln token create --expires` gets 401 from a real
//   `kiln serve` on GET and POST /api/v1/builds (it worked before it expired), and POST
//   queued nothing.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { writeTarball, type FakeMember } from '../../src/envs/test-tarballs.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, pkgOf, readReport, runKiln, spawnKiln } from '../helpers/run-kiln.ts';
import { readResponse } from '../helpers/read-response.ts';

/** Every entry under `root` (itself excluded): a file's sha256 and mode, a link's text, a directory's mode. */
function treeHash(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(root)) return out;
  for (const name of readdirSync(root, { recursive: true }) as string[]) {
    const abs = join(root, name);
    const st = lstatSync(abs);
    const rel = relative(root, abs);
    if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(abs)}`;
    else if (st.isDirectory()) out[rel] = `dir ${(st.mode & 0o7777).toString(8)}`;
    else if (st.isFile()) out[rel] = `file ${(st.mode & 0o7777).toString(8)} nlink ${st.nlink} ${createHash('sha256').update(readFileSync(abs)).digest('hex')}`;
    else out[rel] = `special ${st.mode.toString(8)}`;
  }
  return out;
}

const fileHash = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex') + ` nlink ${lstatSync(path).nlink}`;

test('a recipe\'s file: tarball with a hard link out, an absolute or `..` member, or a write through its own symlink fails its whole extraction; nothing outside changes (case 16)', { timeout: 60_000 }, async () => {
  await using dir = await tmpDir('kiln-tar-');
  // What the hostile members aim at: a folder of the test's, reached by absolute names and
  // by climbing to / (as many `..` as any depth needs).
  const victim = join(dir.path, 'victim');
  mkdirSync(victim);
  writeFileSync(join(victim, 'secret'), 'the real secret\n');
  const climb = '../'.repeat(40) + victim.slice(1);
  // From the extraction folder ($SRCDIR/.kiln-unpack-*), `..` is $SRCDIR: where the first source put secret.txt.
  const attacks: Record<string, FakeMember[]> = {
    'hardlink-abs': [{ name: 'ok.txt', type: 'file', data: 'fine\n' }, { name: 'hl', type: 'hardlink', target: join(victim, 'secret') }, { name: 'hl', type: 'file', data: 'pwned\n' }],
    'hardlink-passwd': [{ name: 'ok.txt', type: 'file', data: 'fine\n' }, { name: 'passwd', type: 'hardlink', target: '/etc/passwd' }],
    'hardlink-dotdot': [{ name: 'ok.txt', type: 'file', data: 'fine\n' }, { name: 'hl', type: 'hardlink', target: '../secret.txt' }, { name: 'hl2', type: 'hardlink', target: `${climb}/secret` }, { name: 'hl3', type: 'hardlink', target: '../../../../../../../../../../../../../../etc/passwd' }],
    // A `..` inside the target, not at its start: tar strips `top/../../` and says so.
    'hardlink-inner-dotdot': [{ name: 'ok.txt', type: 'file', data: 'fine\n' }, { name: 'top/x', type: 'file', data: 'x\n' }, { name: 'hl', type: 'hardlink', target: 'top/../../secret.txt' }],
    'absolute': [{ name: 'ok.txt', type: 'file', data: 'fine\n' }, { name: join(victim, 'abs-pwned'), type: 'file', data: 'pwned\n' }, { name: join(victim, 'secret'), type: 'file', data: 'pwned\n' }],
    'dotdot': [{ name: 'ok.txt', type: 'file', data: 'fine\n' }, { name: '../secret.txt', type: 'file', data: 'pwned\n' }, { name: `${climb}/dotdot-pwned`, type: 'file', data: 'pwned\n' }],
    'symlink-then-file': [{ name: 'ok.txt', type: 'file', data: 'fine\n' }, { name: 'up', type: 'symlink', target: '..' }, { name: 'up/secret.txt', type: 'file', data: 'pwned\n' }, { name: 'out', type: 'symlink', target: victim }, { name: 'out/secret', type: 'file', data: 'pwned\n' }, { name: 'out/link-pwned', type: 'file', data: 'pwned\n' }],
  };
  const tree = join(dir.path, 'tree');
  const script = (name: string): string => `touch '${join(dir.path, `ran-${name}`)}'; exit 1`;
  const pkg = (name: string, archive: FakeMember[] | undefined): void => {
    mkdirSync(join(tree, name), { recursive: true });
    writeFileSync(join(tree, name, 'secret.txt'), `what the first source of ${name} brings\n`.replace(name, 'p'));
    let text = recipeText({ name, script: script(name) }) + '\n[[sources]]\nurl = "file:secret.txt"\n';
    if (archive !== undefined) {
      writeTarball(join(tree, name, 'evil.tar'), archive);
      text += '\n[[sources]]\nurl = "file:evil.tar"\nstrip = 0\n';
    }
    writeFileSync(join(tree, name, 'recipe.toml'), text);
  };
  // The control: the same first source, no archive; its script fails so that --keep-failed keeps its $SRCDIR too.
  pkg('control', undefined);
  for (const [name, members] of Object.entries(attacks)) pkg(name, members);
  const victimBefore = treeHash(victim);
  const passwdBefore = fileHash('/etc/passwd');
  const state = join(dir.path, 'state');
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--keep-failed', '--json', '-j', '2'], { timeoutMs: 50_000 });
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  assert.deepEqual(treeHash(victim), victimBefore, 'nothing in the folder the members aim at changed');
  assert.equal(fileHash('/etc/passwd'), passwdBefore, '/etc/passwd is untouched (and gained no hard link)');
  assert.ok(existsSync(join(dir.path, 'ran-control')), 'the control package got to its script');
  const srcOf = (name: string): string => {
    const runs = readdirSync(join(state, 'work'));
    const run = runs.find((r) => readdirSync(join(state, 'work', r)).some((j) => j.startsWith(`${name}_`)));
    assert.ok(run !== undefined, `${name}: its workspace was kept (${runs.join(', ')})`);
    const job = readdirSync(join(state, 'work', run)).find((j) => j.startsWith(`${name}_`))!;
    return join(state, 'work', run, job, 'src');
  };
  const control = treeHash(srcOf('control'));
  assert.deepEqual(Object.keys(control), ['secret.txt']);
  for (const name of Object.keys(attacks)) {
    const p = pkgOf(report, name);
    assert.equal(p.state, 'failed', `${name}: ${JSON.stringify(p)}`);
    const log = readFileSync(p.log!, 'utf8');
    assert.match(p.cause ?? '', /recipe\.toml: source file:evil\.tar: the archive has members outside the extraction directory \(.+\) \(the archive is malformed or malicious/, `${name}: ${p.cause}\n${log}`);
    assert.ok((p.cause ?? '').startsWith(`${join(tree, name, 'recipe.toml')}: `), `${name}: the recipe is named, not kiln's private copy of its file: ${p.cause}`);
    assert.doesNotMatch(p.cause ?? '', /\.kiln-|\/work\//, `${name}: no path of kiln's own: ${p.cause}`);
    if (name === 'symlink-then-file') assert.match(p.cause ?? '', /member up\/secret\.txt is written through its link up -> \.\./, 'not "one path is two different things"');
    assert.match(log, /evil\.tar/, `${name}: the log names the archive`);
    assert.equal(existsSync(join(dir.path, `ran-${name}`)), false, `${name}: its build script never ran`);
    // $SRCDIR, the extraction folder's parent: what the first source put there, nothing more, nothing changed.
    assert.deepEqual(treeHash(srcOf(name)), control, `${name}: $SRCDIR is as the earlier source left it (not even ok.txt: the whole extraction failed)`);
  }
});

/** A daemon on a free port, stopped after the test; its base url. */
async function serve(t: TestContext, state: string, tree: string): Promise<string> {
  const proc = spawnKiln(['serve', '--listen', '127.0.0.1:0', '--state', state, '--sandbox', 'host', '--tree', `main=${tree}`], { timeoutMs: 60_000, env: { KILN_ENVS: '' } });
  let err = '';
  proc.child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  t.after(() => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  });
  const end = Date.now() + 30_000;
  for (;;) {
    const m = /listening on (http:\/\/\S+) /.exec(err);
    if (m !== null) return m[1]!;
    if (Date.now() > end || proc.child.exitCode !== null) throw new Error(`kiln serve did not start:\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('an expired bearer token gets 401 unauthorized on GET and POST /api/v1/builds of a real kiln serve, and queues nothing; it worked before (case 26)', { timeout: 60_000 }, async (t) => {
  await using dir = await tmpDir('kiln-expired-');
  const state = join(dir.path, 'state');
  const tree = join(dir.path, 'tree');
  mkdirSync(join(tree, 'one'), { recursive: true });
  writeFileSync(join(tree, 'one', 'recipe.toml'), recipeText({ name: 'one', script: 'mkdir -p "$DESTDIR/usr/share/one"; echo 1 > "$DESTDIR/usr/share/one/one"' }));
  const ops = await runKiln(['token', 'create', 'ops', '--admin', '--state', state]);
  assert.equal(ops.code, 0, explain(ops));
  const url = await serve(t, state, tree);
  // Made while the daemon runs (it looks each token up per request), valid for 4 s.
  const made = await runKiln(['token', 'create', 'alice', '--expires', '4s', '--state', state]);
  assert.equal(made.code, 0, explain(made));
  const expiresAt = Date.parse(/valid until (\S+);/.exec(made.stderr)?.[1] ?? '');
  assert.ok(Number.isFinite(expiresAt), made.stderr);
  const call = async (token: string, method: string, body?: unknown) => readResponse(await fetch(`${url}/api/v1/builds`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }));
  const alice = made.stdout.trim();
  const admin = ops.stdout.trim();
  const live = await call(alice, 'GET');
  assert.ok(Date.now() < expiresAt, 'the machine was too slow to use the token before it expired: raise --expires');
  assert.equal(live.status, 200, `before it expires: ${live.text}`);
  await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 200));
  for (const [method, body] of [['GET', undefined], ['POST', { tree: 'main' }]] as const) {
    const res = await fetch(`${url}/api/v1/builds`, {
      method,
      headers: { authorization: `Bearer ${alice}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const got = await readResponse(res);
    assert.equal(got.status, 401, `${method} with the expired token: ${got.text}`);
    assert.match(res.headers.get('www-authenticate') ?? '', /Bearer .*error="invalid_token"/, method);
    assert.equal(got.json?.error?.code, 'unauthorized', got.text);
    assert.match(got.json?.error?.message ?? '', /^the bearer token expired at \d{4}-\d\d-\d\dT/, got.text);
    assert.match(got.json?.error?.hint ?? '', /kiln token create/, got.text);
  }
  const all = await call(admin, 'GET');
  assert.equal(all.status, 200, all.text);
  assert.deepEqual(all.json?.builds, [], `the expired token's POST queued nothing: ${all.text}`);
});
