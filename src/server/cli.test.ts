// `kiln token` and `kiln serve` through their commander verbs: a created token works and is
// stored only as a hash, revoke by id or tenant, flag parsing, and a serve process that
// answers on its socket and exits cleanly on SIGTERM.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cliStreams } from '../../test/helpers/cli-streams.ts';
import { Command } from 'commander';
import type { CliContext } from '../cli/main.ts';
import { isLoopback, maxConcurrentFromEnv, parseSize, registerServe, treesFrom } from '../cli/serve.ts';
import { registerToken } from '../cli/token.ts';
import { KilnError } from '../errors.ts';
import { openServerRecords } from '../records/server-records.ts';
import { parseListen } from './listen.ts';

const NODE = resolve(import.meta.dirname, '../../node_modules/.bin/node');

function stateDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-server-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function kiln(args: string[]): Promise<{ out: string; err: string; code: number }> {
  const io = cliStreams();
  const ctx: CliContext = { exitCode: 0, stdout: io.stdout, stderr: io.stderr };
  const program = new Command('kiln').exitOverride();
  registerToken(program, ctx);
  registerServe(program, ctx);
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (e instanceof KilnError) return { out: io.out(), err: io.err() + e.message, code: 2 };
    throw e;
  }
  return { out: io.out(), err: io.err(), code: ctx.exitCode };
}

test('token create prints a token stored only as its hash; revoke by id and by tenant', async (t) => {
  const state = stateDir(t);
  const a = await kiln(['token', 'create', 'alice', '--state', state]);
  const token = a.out.trim();
  assert.match(token, /^kiln_[0-9a-f]{8}_[A-Za-z0-9_-]{32}$/);
  for (const f of readdirSync(state).filter((n) => n.startsWith('kiln.db'))) {
    assert.ok(!readFileSync(join(state, f)).includes(token), `the secret is not in ${f}`);
  }
  const admin = (await kiln(['token', 'create', 'ops', '--admin', '--state', state])).out.trim();
  const b = (await kiln(['token', 'create', 'alice', '--state', state])).out.trim();
  {
    using r = openServerRecords(state);
    assert.equal(r.tokenFor(token)?.tenant, 'alice');
    assert.equal(r.tokenFor(admin)?.admin, true);
  }
  const id = token.split('_')[1]!;
  assert.match((await kiln(['token', 'revoke', id, '--state', state])).out, /revoked 1 token/);
  {
    using r = openServerRecords(state);
    assert.equal(r.tokenFor(token), undefined);
    assert.equal(r.tokenFor(b)?.tenant, 'alice', 'the other token of alice still works');
  }
  assert.match((await kiln(['token', 'revoke', 'alice', '--state', state])).out, /revoked 1 token/);
  const none = await kiln(['token', 'revoke', 'alice', '--state', state]);
  assert.equal(none.code, 2);
  assert.match(none.err, /no live token/);
  assert.match((await kiln(['token', 'list', '--state', state])).out, /alice .*revoked/);
  const bad = await kiln(['token', 'create', 'Not A Name', '--state', state]);
  assert.equal(bad.code, 2);
  // --expires: valid until then, said at creation and in the list; a bad duration is a usage error.
  const dated = await kiln(['token', 'create', 'carol', '--expires', '90d', '--state', state]);
  assert.match(dated.err, /valid until \d{4}-\d\d-\d\dT/);
  {
    using r = openServerRecords(state);
    const exp = r.listTokens().find((x) => x.tenant === 'carol')?.expiresAt ?? 0;
    assert.ok(Math.abs(exp - (Date.now() + 90 * 86_400_000)) < 60_000, String(exp));
    assert.equal(r.tokenFor(dated.out.trim(), exp + 1), undefined);
  }
  assert.match((await kiln(['token', 'list', '--state', state])).out, /carol .*expires \d{4}-/);
  const never = await kiln(['token', 'create', 'dave', '--expires', 'soon', '--state', state]);
  assert.equal(never.code, 2);
  assert.match(never.err, /--expires: /);
});

test('what counts as loopback for the plain-http warning', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopback(h), true, h);
  for (const h of ['0.0.0.0', '::', '10.0.0.5', 'builder.example']) assert.equal(isLoopback(h), false, h);
});

test('size flags take K, M, G and T, and decimals', () => {
  assert.equal(parseSize('--min-free')('100T'), 100 * 1024 ** 4);
  assert.equal(parseSize('--min-free')('1.5G'), 1.5 * 1024 ** 3);
  assert.equal(parseSize('--min-free')('65536'), 65536);
  assert.throws(() => parseSize('--min-free')('lots'), /--min-free: expected a size such as/);
});

test('--listen and --tree parsing', (t) => {
  assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseListen('[::1]:9000'), { host: '::1', port: 9000 });
  assert.deepEqual(parseListen(':0'), { host: '127.0.0.1', port: 0 });
  assert.throws(() => parseListen('8080'), /HOST:PORT/);
  assert.throws(() => parseListen('host:99999'), /HOST:PORT/);
  const dir = stateDir(t);
  assert.equal(treesFrom([`main=${dir}`]).get('main'), dir);
  assert.throws(() => treesFrom(['=x']), /NAME=DIR/);
  assert.throws(
    () => treesFrom([`main=${join(dir, 'missing')}`]),
    (e: KilnError) => e.code === 'tree-not-found' && /missing does not exist/.test(e.message) && /--tree NAME=DIR/.test(e.hint ?? ''),
  );
  assert.throws(() => treesFrom([`a=${dir}`, `a=${dir}`]), /twice/);
});

for (const [extra, healthy] of [[[], 200], [['--min-free', '999999G'], 503]] as const) test(`kiln serve answers on its socket${extra.length > 0 ? ' (/healthz 503 under --min-free above the free space)' : ''} and exits 0 on SIGTERM`, async (t) => {
  const state = stateDir(t);
  const script = `
    import { Command } from 'commander';
    import { registerServe } from ${JSON.stringify(resolve(import.meta.dirname, '../cli/serve.ts'))};
    const ctx = { exitCode: 0, stdout: process.stdout, stderr: process.stderr };
    const program = new Command('kiln');
    registerServe(program, ctx);
    await program.parseAsync(['serve', '--listen', '127.0.0.1:0', '--state', ${JSON.stringify(state)}, '--tree', 'main=${state}', ...${JSON.stringify(extra)}], { from: 'user' });
    process.exitCode = ctx.exitCode;
  `;
  const child = spawn(NODE, ['--input-type=module', '-e', script], { cwd: resolve(import.meta.dirname, '../..'), stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let err = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m !== null) resolveUrl(m[1]!);
    });
    child.once('exit', () => reject(new Error(`serve exited early: ${err}`)));
  });
  const health = await fetch(`${url}/healthz`);
  assert.equal(health.status, healthy, await health.clone().text());
  if (healthy === 503) assert.match(((await health.json()) as { problems: string[] }).problems[0]!, /under --min-free 976\.6 TiB: queued builds wait/);
  assert.equal((await fetch(`${url}/api/v1/builds`)).status, 401);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, err);
  assert.match(err, /SIGTERM: no longer accepting/);
  assert.match(err, /stopped/);
  // The start line and /healthz say --min-free alike (one byte formatter).
  if (healthy === 503) assert.match(err, /--min-free 976\.6 TiB;/);
});

test('KILN_MAX_CONCURRENT_BUILDS: a whole number of at least 1, else config-invalid with a hint saying what to set', () => {
  assert.equal(maxConcurrentFromEnv({}), undefined);
  assert.equal(maxConcurrentFromEnv({ KILN_MAX_CONCURRENT_BUILDS: '' }), undefined);
  assert.equal(maxConcurrentFromEnv({ KILN_MAX_CONCURRENT_BUILDS: '3' }), 3);
  for (const v of ['abc', '0', '1.5', '-2']) {
    assert.throws(
      () => maxConcurrentFromEnv({ KILN_MAX_CONCURRENT_BUILDS: v }),
      (e: KilnError) => e.code === 'config-invalid' && e.message.includes(`got "${v}"`) && /whole number such as 2, or unset it/.test(e.hint ?? ''),
      v,
    );
  }
});
