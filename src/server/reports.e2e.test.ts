// GET /api/v1/builds/{id}/report.json, report.html and junit.xml: a real build (runBuild on
// the host sandbox) of a tree where one package builds, one fails and one is skipped; the
// reports name its logs and artifacts by the URLs the jobs endpoint gives, never by the
// daemon's paths; tenant scoping as for every build endpoint; a build with no run is a 404
// saying so.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServerRecords } from '../records/server-records.ts';
import { createApp, type KilnServerApp } from './app.ts';
import type { BuildRunner } from './queue.ts';
import { recipeText } from '../../test/helpers/recipe-text.ts';
import { readResponse } from '../../test/helpers/read-response.ts';

function tokens(state: string) {
  const records = openServerRecords(state);
  const t = { alice: records.createToken('alice').token, bob: records.createToken('bob').token, ops: records.createToken('ops', { admin: true }).token };
  records.close();
  return t;
}

async function get(kiln: KilnServerApp, path: string, token: string) {
  const res = await kiln.app.request(path, { headers: { Authorization: `Bearer ${token}` } });
  return readResponse(res);
}

function makeTree(dir: string): string {
  const tree = join(dir, 'tree');
  const pkg = (name: string, script: string, deps: string[] = []): void => {
    mkdirSync(join(tree, name), { recursive: true });
    writeFileSync(join(tree, name, 'recipe.toml'), recipeText({ name, script, deps }));
  };
  pkg('good', 'echo good-building\nmkdir -p "$DESTDIR/usr/lib"\necho good > "$DESTDIR/usr/lib/good.txt"');
  pkg('bad', 'echo the-last-words-of-bad\nexit 3');
  pkg('after', 'echo never', ['bad']);
  return tree;
}

const REPORTS = ['report.json', 'report.html', 'junit.xml'] as const;

test('a finished build\'s reports: log and artifact URLs as the jobs endpoint gives them, no server path; another tenant gets 404, an admin the same reports', async (t: TestContext) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-server-reports-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tree = makeTree(dir);
  const state = join(dir, 'state');
  const { alice, bob, ops } = tokens(state);
  const kiln = createApp({ stateDir: state, trees: { main: tree }, sandbox: 'host', slots: 2, maxConcurrentBuilds: 1 });
  t.after(() => kiln.close());
  const created = await kiln.app.request('/api/v1/builds', { method: 'POST', headers: { Authorization: `Bearer ${alice}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ tree: 'main' }) });
  assert.equal(created.status, 201);
  const id = ((await created.json()) as { id: string }).id;
  assert.equal((await kiln.queue.settled(id))?.state, 'failed');

  const jobs = (await get(kiln, `/api/v1/builds/${id}/jobs`, alice)).json.jobs as Array<{ name: string; log: string | null; artifact: string | null }>;
  const job = (name: string) => jobs.find((j) => j.name === name)!;

  const json = await get(kiln, `/api/v1/builds/${id}/report.json`, alice);
  assert.equal(json.status, 200, json.text);
  assert.match(json.headers.get('content-type') ?? '', /application\/json/);
  const r = json.json;
  assert.equal(r.runId, (await get(kiln, `/api/v1/builds/${id}`, alice)).json.runId);
  assert.equal(r.tree, 'main', "the build's tree, not the server's folder of it");
  assert.equal(r.state, 'failed');
  assert.deepEqual(
    r.packages.map((p: any) => [p.name, p.state]).sort(),
    [['after', 'skipped'], ['bad', 'failed'], ['good', 'built']],
  );
  for (const p of r.packages) {
    assert.equal(p.log, job(p.name).log, `${p.name}: the log URL of GET …/jobs`);
    assert.equal(p.artifact, job(p.name).artifact, `${p.name}: the artifact URL of GET …/jobs`);
  }
  assert.match(r.packages.find((p: any) => p.name === 'good').artifact, /^\/api\/v1\/builds\/.+\/artifact$/);
  // Each URL in it works, with the same token.
  const log = await get(kiln, r.packages.find((p: any) => p.name === 'bad').log, alice);
  assert.equal(log.status, 200);
  assert.match(log.text, /the-last-words-of-bad/);

  const html = await get(kiln, `/api/v1/builds/${id}/report.html`, alice);
  assert.equal(html.status, 200);
  assert.match(html.headers.get('content-type') ?? '', /text\/html/);
  assert.match(html.text, /the-last-words-of-bad/, "the failure's log tail is on the page");
  assert.ok(html.text.includes(`href="${job('bad').log}"`), 'the failure links to its log URL');
  assert.match(html.headers.get('content-security-policy') ?? '', /script-src 'sha256-/);

  const junit = await get(kiln, `/api/v1/builds/${id}/junit.xml`, alice);
  assert.equal(junit.status, 200);
  assert.match(junit.headers.get('content-type') ?? '', /application\/xml/);
  assert.match(junit.text, /<failure type="exit-status"/);
  assert.ok(junit.text.includes(`log: ${job('bad').log}`), junit.text);
  assert.match(junit.text, /the-last-words-of-bad/);

  for (const [name, body] of [['report.json', json.text], ['report.html', html.text], ['junit.xml', junit.text]] as const) {
    assert.ok(!body.includes(state), `${name} names no file of the daemon's state dir (${state})`);
    assert.ok(!body.includes(tree), `${name} names no server folder of the tree (${tree})`);
  }

  for (const file of REPORTS) {
    const other = await get(kiln, `/api/v1/builds/${id}/${file}`, bob);
    assert.equal(other.status, 404, `${file}: another tenant's build is not there`);
    assert.equal(other.json.error.code, 'run-not-found');
    const admin = await get(kiln, `/api/v1/builds/${id}/${file}`, ops);
    assert.equal(admin.status, 200, `${file}: an admin sees every build's`);
  }
  assert.equal((await get(kiln, `/api/v1/builds/${id}/report.json`, ops)).text, json.text);
  assert.equal((await get(kiln, `/api/v1/builds/nosuch/report.json`, alice)).status, 404);

  // In the API description.
  const doc = (await (await kiln.app.request('/api/v1/openapi.json')).json()) as { paths: Record<string, unknown> };
  for (const file of REPORTS) assert.ok(`/api/v1/builds/{id}/${file}` in doc.paths, file);
});

test('a build no run of has started: its reports are a 404 report-not-found saying why, with a hint', async (t: TestContext) => {
  const state = mkdtempSync(join(tmpdir(), 'kiln-server-reports-'));
  t.after(() => rmSync(state, { recursive: true, force: true }));
  const { alice } = tokens(state);
  // A runner that never starts a run: the first build holds the tenant's turn, the second waits.
  const runner: BuildRunner = (_b, ctx) => new Promise((_ok, fail) => ctx.signal.addEventListener('abort', () => fail(new Error('aborted'))));
  const kiln = createApp({ stateDir: state, trees: { main: state }, runner, slots: 1, maxConcurrentBuilds: 1, onError: () => undefined });
  t.after(() => kiln.close());
  const submit = async (): Promise<string> => {
    const res = await kiln.app.request('/api/v1/builds', { method: 'POST', headers: { Authorization: `Bearer ${alice}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ tree: 'main' }) });
    return ((await res.json()) as { id: string }).id;
  };
  await submit();
  const queued = await submit();
  for (const file of REPORTS) {
    const r = await get(kiln, `/api/v1/builds/${queued}/${file}`, alice);
    assert.equal(r.status, 404, file);
    assert.equal(r.json.error.code, 'report-not-found');
    assert.match(r.json.error.message, new RegExp(`build ${queued} has no report: it is queued`));
    assert.ok(r.json.error.hint);
  }
});

test("a running build's report is live from the records (its running jobs with their log URLs); junit.xml waits for the end", async (t: TestContext) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-server-reports-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tree = join(dir, 'tree');
  const gate = join(dir, 'go');
  mkdirSync(join(tree, 'slow'), { recursive: true });
  // Waits (bounded) for the test to create the gate file, so the test sees it running.
  writeFileSync(join(tree, 'slow', 'recipe.toml'), recipeText({ name: 'slow', script: `echo waiting\nfor i in $(seq 1 600); do test -f '${gate}' && break; sleep 0.05; done` }));
  const state = join(dir, 'state');
  const { alice } = tokens(state);
  const kiln = createApp({ stateDir: state, trees: { main: tree }, sandbox: 'host', slots: 1, maxConcurrentBuilds: 1 });
  t.after(() => kiln.close());
  const created = await kiln.app.request('/api/v1/builds', { method: 'POST', headers: { Authorization: `Bearer ${alice}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ tree: 'main' }) });
  const id = ((await created.json()) as { id: string }).id;
  let live: any;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 25))) {
    const r = await get(kiln, `/api/v1/builds/${id}/report.json`, alice);
    if (r.status === 200 && r.json.running?.length === 1) {
      live = r.json;
      break;
    }
  }
  assert.ok(live !== undefined, 'the report shows slow running');
  assert.equal(live.end, null);
  assert.equal(live.state, 'running');
  assert.deepEqual(live.running.map((r: any) => [r.job, r.log]), [[`slow@${live.archs[0]}`, `/api/v1/builds/${id}/jobs/slow%40${live.archs[0]}/log`]]);
  const html = await get(kiln, `/api/v1/builds/${id}/report.html`, alice);
  assert.equal(html.status, 200);
  assert.match(html.text, /http-equiv="refresh"/, 'the page reloads itself while the run goes');
  const junit = await get(kiln, `/api/v1/builds/${id}/junit.xml`, alice);
  assert.equal(junit.status, 404);
  assert.equal(junit.json.error.code, 'report-not-found');
  assert.match(junit.json.error.message, /still running/);
  writeFileSync(gate, '');
  assert.equal((await kiln.queue.settled(id))?.state, 'done');
  assert.equal((await get(kiln, `/api/v1/builds/${id}/junit.xml`, alice)).status, 200);
  assert.equal((await get(kiln, `/api/v1/builds/${id}/report.json`, alice)).json.end !== null, true);
});
