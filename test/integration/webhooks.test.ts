// kiln serve --webhook through a real socket: a build that ends is POSTed once to each
// webhook, signed with --webhook-secret-file's secret, with its final state; a webhook that
// answers 500 twice gets three tries. A tenant's tree with kiln.toml [hooks] is refused at
// submit (through the API and through `kiln build --server`), and its hook never runs.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServerRecords } from '../../src/records/server-records.ts';
import { runKiln, spawnKiln, explain } from '../helpers/run-kiln.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { readResponse } from '../helpers/read-response.ts';

const DEADLINE_MS = 60_000;

async function until<T>(what: string, fn: () => T | undefined, ms = DEADLINE_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Received {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  readonly status: number;
}

/** A webhook receiver: /flaky answers 500 twice, then 200; anything else 200. */
async function receiver(t: TestContext): Promise<{ url: string; got: Received[] }> {
  const got: Received[] = [];
  let flaky = 0;
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const status = req.url === '/flaky' && flaky++ < 2 ? 500 : 200;
      got.push({ path: req.url ?? '', headers: req.headers, body, status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => srv.close());
  return { url: `http://127.0.0.1:${(srv.address() as { port: number }).port}`, got };
}

function pkgTree(dir: string, toml?: string): string {
  mkdirSync(join(dir, 'hello'), { recursive: true });
  writeFileSync(join(dir, 'hello', 'recipe.toml'), recipeText({ name: 'hello', script: 'mkdir -p "$DESTDIR/usr/share/hello"\necho hi > "$DESTDIR/usr/share/hello/hi"' }));
  if (toml !== undefined) writeFileSync(join(dir, 'kiln.toml'), toml);
  return dir;
}

async function serve(t: TestContext, state: string, args: readonly string[]): Promise<{ url: string; stderr(): string }> {
  const proc = spawnKiln(['serve', '--listen', '127.0.0.1:0', '--state', state, '--sandbox', 'host', ...args], { timeoutMs: 120_000, env: { KILN_ENVS: '' } });
  let err = '';
  proc.child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  t.after(() => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  });
  const url = await until('kiln serve to listen', () => /listening on (http:\/\/\S+) /.exec(err)?.[1]);
  return { url, stderr: () => err };
}

function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-webhook-it-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'state');
  const records = openServerRecords(state);
  const token = records.createToken('alice').token;
  records.close();
  return { dir, state, token };
}

const post = async (url: string, token: string, body: unknown) =>
  readResponse(await fetch(`${url}/api/v1/builds`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }));

function validSignature(r: Received, secret: string): boolean {
  const got = String(r.headers['x-kiln-signature'] ?? '');
  const want = `sha256=${createHmac('sha256', secret).update(r.body).digest('hex')}`;
  return got.length === want.length && timingSafeEqual(Buffer.from(got), Buffer.from(want));
}

test('a build that ends is POSTed once to each --webhook, signed, with its final state; a webhook answering 500 twice gets 3 tries', async (t) => {
  const s = setup(t);
  const hook = await receiver(t);
  const secretFile = join(s.dir, 'secret');
  writeFileSync(secretFile, 'it-is-a-secret\n');
  const tree = pkgTree(join(s.dir, 'tree'));
  const srv = await serve(t, s.state, ['--tree', `main=${tree}`, '--webhook', `${hook.url}/ok`, '--webhook', `${hook.url}/flaky`, '--webhook-secret-file', secretFile]);
  // serve.ts prints this line after "listening" (and an await): wait for it.
  await until('the webhook line', () => (/builds that end are POSTed to 2 webhook\(s\), signed/.test(srv.stderr()) ? true : undefined), 10_000);
  const b = await post(srv.url, s.token, { tree: 'main' });
  assert.equal(b.status, 201, b.text);
  await until('three tries of /flaky', () => (hook.got.filter((r) => r.path === '/flaky').length >= 3 ? true : undefined), 30_000);
  await new Promise((r) => setTimeout(r, 500)); // nothing more comes
  const ok = hook.got.filter((r) => r.path === '/ok');
  assert.equal(ok.length, 1, 'one POST per webhook');
  const r = ok[0]!;
  assert.equal(r.headers['content-type'], 'application/json');
  assert.ok(validSignature(r, 'it-is-a-secret'), `signature ${String(r.headers['x-kiln-signature'])}`);
  assert.equal(validSignature(r, 'another-secret'), false);
  const body = JSON.parse(r.body);
  const view = await readResponse(await fetch(`${srv.url}/api/v1/builds/${b.json.id}`, { headers: { authorization: `Bearer ${s.token}` } }));
  assert.equal(view.json.state, 'done');
  assert.deepEqual(body.build, { id: b.json.id, tenant: 'alice', tree: 'main', state: 'done', runId: view.json.runId, counts: view.json.counts, error: null });
  assert.equal(body.build.counts.built, 1);
  assert.equal(body.event, 'build-finished');
  assert.equal(body.report, `/api/v1/builds/${b.json.id}/report.json`);
  assert.ok(!Number.isNaN(Date.parse(body.at)));
  const flaky = hook.got.filter((x) => x.path === '/flaky');
  assert.deepEqual(flaky.map((x) => x.status), [500, 500, 200]);
  assert.ok(flaky.every((x) => x.body === r.body && validSignature(x, 'it-is-a-secret')));
  assert.doesNotMatch(srv.stderr(), /not delivered/);
});

test("a tenant's tree with kiln.toml [hooks] is refused at submit, named tree or uploaded; its hook never runs on the daemon", async (t) => {
  const s = setup(t);
  const mark = join(s.dir, 'pwned');
  const toml = `[hooks]\nrun-finished = ["touch '${mark}'"]\njob-failed = ["touch '${mark}'"]\n`;
  const named = pkgTree(join(s.dir, 'named'), toml);
  const uploaded = pkgTree(join(s.dir, 'uploaded'), toml);
  const srv = await serve(t, s.state, ['--tree', `hooked=${named}`]);
  const b = await post(srv.url, s.token, { tree: 'hooked' });
  assert.equal(b.status, 400, b.text);
  assert.equal(b.json.error.code, 'config-invalid');
  assert.match(b.json.error.message, /^kiln\.toml: \[hooks\]: a daemon runs no hooks of a tree/);
  assert.match(b.json.error.hint, /--webhook/);
  const cli = await runKiln(['build', '--tree', uploaded, '--server', srv.url, '--token', s.token, '--state', join(s.dir, 'client')], { timeoutMs: 60_000 });
  assert.equal(cli.code, 2, explain(cli));
  assert.match(cli.stderr, /\[hooks\]: a daemon runs no hooks/);
  assert.equal(existsSync(mark), false);
});
