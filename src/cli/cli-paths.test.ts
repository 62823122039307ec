// Ordinary path mistakes through main(), the way the kiln command runs them: a --state that
// is a file, `key export -o` into a missing directory or onto a directory, `repo publish
// --repo` under a file or on a read-only mount, and any other fs error with a path that
// reaches main() end as `path-unusable` (exit 2) naming the path, not as an internal error.
// And `env create` prints nothing before refusing a bad or taken name.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runMain as kiln } from '../../test/helpers/cli-streams.ts';
import { KilnError } from '../errors.ts';
import { pathErrorOf } from '../path-error.ts';
import { createSigningKey } from '../publish/signing.ts';

const EXAMPLES = resolve(import.meta.dirname, '../../examples');

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-cli-paths-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function assertPathError(r: { err: string; code: number }, path: string, reason: RegExp, what: string): void {
  assert.equal(r.code, 2, `${what}: ${r.err}`);
  assert.doesNotMatch(r.err, /internal error|this is a bug/, what);
  const line = r.err.split('\n')[0] ?? '';
  assert.match(line, /^kiln: error \[path-unusable\]: /, what);
  assert.ok(line.includes(`${path}: `), `${what}: the message names ${path}: ${line}`);
  assert.match(line, reason, what);
  assert.match(r.err, /^ {2}hint: /m, what);
}

test('a --state that is a file, or lies under one, is path-unusable naming it', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'afile');
  writeFileSync(file, 'not a directory');
  assertPathError(await kiln(['build', '--tree', EXAMPLES, '--state', file]), file, /state directory.*\(EEXIST\)/, 'state is a file');
  assertPathError(await kiln(['build', '--tree', EXAMPLES, '--state', join(file, 'sub')]), join(file, 'sub'), /\(ENOTDIR\)/, 'state under a file');
  // Verbs that do not wrap the error themselves reach main()'s fallback: key create here.
  assertPathError(await kiln(['key', 'create', '--state', join(file, 'st')]), join(file, 'st'), /\(ENOTDIR\)/, 'key create under a file');
});

test('key export -o into a missing directory or onto a directory is path-unusable; a good -o writes the key', async (t) => {
  const dir = tmp(t);
  const state = join(dir, 'state');
  await createSigningKey(state, { name: 'kiln test' });
  const missing = join(dir, 'nonexist', 'dir', 'k.gpg');
  assertPathError(await kiln(['key', 'export', '--binary', '-o', missing, '--state', state]), missing, /public key.*no such file or directory \(ENOENT\)/, 'missing dir');
  assertPathError(await kiln(['key', 'export', '-o', dir, '--state', state]), dir, /is a directory .*\(EISDIR\)/, 'onto a directory');
  const good = join(dir, 'k.asc');
  const ok = await kiln(['key', 'export', '-o', good, '--state', state]);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(existsSync(good), true);
});

test('repo publish --repo under a file or on a read-only file system is path-unusable', async (t) => {
  const dir = tmp(t);
  const state = join(dir, 'state');
  await createSigningKey(state, { name: 'kiln test' });
  mkdirSync(join(dir, 'pkg', 'DEBIAN'), { recursive: true });
  writeFileSync(join(dir, 'pkg', 'DEBIAN', 'control'), 'Package: hello-kiln\nVersion: 1.0\nArchitecture: all\nMaintainer: kiln <kiln@example.org>\nDescription: test\n');
  const deb = join(dir, 'hello.deb');
  execFileSync('dpkg-deb', ['--build', '--root-owner-group', join(dir, 'pkg'), deb], { stdio: 'ignore' });
  writeFileSync(join(dir, 'file'), 'x');
  const underFile = join(dir, 'file', 'repo');
  assertPathError(await kiln(['repo', 'publish', '--repo', underFile, deb, '--state', state]), underFile, /repository.*\(ENOTDIR\)/, 'repo under a file');

  const ro = join(dir, 'ro');
  mkdirSync(ro);
  let mounted = false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro], { stdio: 'ignore' });
    mounted = true;
  } catch {
    t.diagnostic('cannot mount a read-only tmpfs here (not root?): read-only case skipped');
  }
  if (mounted) {
    try {
      const repo = join(ro, 'repo');
      assertPathError(await kiln(['repo', 'publish', '--repo', repo, deb, '--state', state]), repo, /read-only file system \(EROFS\)/, 'read-only repo');
    } finally {
      execFileSync('umount', [ro]);
    }
  }
});

test('pathErrorOf: fs errors with a path become path-unusable; other errors stay what they are', () => {
  const fsError = (code: string, path?: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: x`), { code, ...(path === undefined ? {} : { path }) });
  const cases: [unknown, RegExp | undefined][] = [
    [fsError('ENOENT', '/nonexist/x'), /^\/nonexist\/x: no such file or directory \(ENOENT\)$/],
    [fsError('EACCES', '/root/x'), /permission denied \(EACCES\)/],
    [fsError('ENOSPC', '/full/x'), /no space left/],
    [fsError('EROFS', '/ro/x'), /read-only/],
    [fsError('ENOENT'), undefined], // no path: not a path the user gave
    // A write through an open file carries no path: a full disk is still no internal error.
    [fsError('ENOSPC'), /^a write failed: no space left on the device \(ENOSPC\)$/],
    [fsError('EDQUOT'), /disk quota exceeded \(EDQUOT\)/],
    [fsError('ECONNRESET', '/x'), undefined],
    [new Error('a bug'), undefined],
    [new KilnError('usage', 'already coded'), undefined],
    ['a string', undefined],
  ];
  for (const [e, message] of cases) {
    const k = pathErrorOf(e);
    if (message === undefined) assert.equal(k, undefined, String(e));
    else {
      assert.equal(k?.code, 'path-unusable');
      assert.match(k.message, message);
      assert.match(k.hint ?? '', /\S/);
    }
  }
  assert.match(pathErrorOf(fsError('EISDIR', '/tmp'), 'cannot write the public key (-o)')?.message ?? '', /^cannot write the public key \(-o\): \/tmp: is a directory/);
  assert.match(pathErrorOf(fsError('ENOSPC'), 'cannot write the public key (-o)', '/full/k.asc')?.message ?? '', /^cannot write the public key \(-o\): \/full\/k\.asc: no space left on the device \(ENOSPC\)$/);
});

test('env create prints nothing before refusing a bad name or a taken one; a braced name hints at {arch}', async (t) => {
  const dir = tmp(t);
  const saved = process.env['KILN_ENVS'];
  delete process.env['KILN_ENVS'];
  t.after(() => {
    if (saved !== undefined) process.env['KILN_ENVS'] = saved;
  });
  const state = join(dir, 'state');
  const common = ['--suite', 'bookworm', '--arch', 'amd64', '--mirror', 'http://127.0.0.1:9/debian', '--state', state];

  const bad = await kiln(['env', 'create', 'Bad_Name', ...common]);
  assert.equal(bad.code, 2, bad.err);
  assert.equal(bad.out, '', 'nothing is announced before the name is checked');
  assert.match(bad.err, /^kiln: error \[usage\]: "Bad_Name" is not a valid environment name \(capital letters are not allowed: "bad_name"\?\)$/m);

  const braced = await kiln(['env', 'create', 'bookworm-{ARCH}', ...common]);
  assert.equal(braced.code, 2, braced.err);
  assert.equal(braced.out, '');
  assert.match(braced.err, /hint: .*`\{arch\}` is expanded .*--env.*kiln env create bookworm-amd64 /);

  // A taken name (env.json is what marks an env as made).
  mkdirSync(join(state, 'envs', 'mini'), { recursive: true });
  writeFileSync(join(state, 'envs', 'mini', 'env.json'), '{}');
  const taken = await kiln(['env', 'create', 'mini', ...common]);
  assert.equal(taken.code, 2, taken.err);
  assert.equal(taken.out, '', 'nothing is announced before the name is found taken');
  assert.match(taken.err, /^kiln: error \[env-exists\]: an environment named "mini" already exists$/m);
});
