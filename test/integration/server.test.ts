// `kiln serve` as a user runs it, through a real socket, with the real CLI as its client:
// - SIGKILL mid-job and restart: two builds (one from a named tree, one uploaded as a
//   bundle by `kiln build --server`) resume; the interrupted job runs again as attempt 2
//   with attempt 1's partial log kept; jobs finished before the kill are not rebuilt; no
//   build is duplicated; no workspace or sandbox entry is left; samples of the running
//   jobs show in GET /builder and GET /builds/{id}/jobs;
// - auth (no, wrong and revoked token, another tenant's build), the upload limit flag and a
//   hostile bundle through the socket, `kiln status`/`logs -f`/`cancel --server`;
// - SIGTERM with --on-stop cancel (the build goes back to the queue) and drain (running
//   builds finish first, queued ones stay queued, nothing new is accepted).
// Builds run on the host sandbox; each "slow" job waits for a gate file the test creates.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRecords } from '../../src/records/records.ts';
import { openServerRecords } from '../../src/records/server-records.ts';
import { tinyRoot, writeTarball } from '../../src/envs/test-tarballs.ts';
import { explain, runKiln, spawnKiln, type KilnProcess } from '../helpers/run-kiln.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { readResponse } from '../helpers/read-response.ts';

const DEADLINE_MS = 60_000;

const recipe = (name: string, script: string, deps: string[] = []): string => recipeText({ name, script, deps, summary: `server test: ${name}` });

/** base → slow (waits for `gate`, bounded at 60 s) → top. */
function makeTree(dir: string, prefix: string, gate: string): string {
  const tree = join(dir, `tree-${prefix}`);
  const pkg = (name: string, script: string, deps: string[] = []): void => {
    mkdirSync(join(tree, name), { recursive: true });
    writeFileSync(join(tree, name, 'recipe.toml'), recipe(name, script, deps));
  };
  const install = (n: string): string => `mkdir -p "$DESTDIR/usr/share/${n}"\necho ${n} > "$DESTDIR/usr/share/${n}/${n}.txt"`;
  pkg(`${prefix}-base`, `echo building-base\n${install(`${prefix}-base`)}`);
  pkg(
    `${prefix}-slow`,
    `echo "first""-line"\nhead -c 3000000 /dev/zero > blob\nfor i in $(seq 1 1200); do test -f '${gate}' && break; sleep 0.05; done\necho "second""-line"\n${install(`${prefix}-slow`)}`,
    [`${prefix}-base`],
  );
  pkg(`${prefix}-top`, `echo top\n${install(`${prefix}-top`)}`, [`${prefix}-slow`]);
  return tree;
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = DEADLINE_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Served {
  readonly proc: KilnProcess;
  readonly url: string;
  stderr(): string;
}

/** A port free now, so a restarted server can listen where its clients expect it. */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function serve(t: TestContext, state: string, args: readonly string[], port = 0): Promise<Served> {
  const proc = spawnKiln(['serve', '--listen', `127.0.0.1:${port}`, '--state', state, '--sandbox', 'host', '--sample-interval', '0.3', ...args], { timeoutMs: 180_000, env: { KILN_ENVS: '' } });
  let err = '';
  proc.child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  t.after(() => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  });
  const url = await until('kiln serve to listen', () => /listening on (http:\/\/\S+) /.exec(err)?.[1]);
  return { proc, url, stderr: () => err };
}

function client(url: string, token: string | undefined) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string }> => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined || body instanceof Uint8Array ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: body instanceof Uint8Array ? body : JSON.stringify(body) }),
    });
    return readResponse(res);
  };
}

function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-serve-it-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'state');
  const records = openServerRecords(state);
  const tokens = { alice: records.createToken('alice').token, bob: records.createToken('bob').token, admin: records.createToken('ops', { admin: true }).token };
  records.close();
  return { dir, state, tokens };
}

test('SIGKILL mid-job, then restart: interrupted jobs re-queued with their partial log as attempt 1, builds resume, nothing duplicated or left behind', async (t) => {
  const s = setup(t);
  const gate = join(s.dir, 'gate');
  const treeA = makeTree(s.dir, 'a', gate);
  const treeB = makeTree(s.dir, 'b', gate);
  const port = await freePort();
  const first = await serve(t, s.state, ['--tree', `main=${treeA}`, '--max-concurrent-builds', '2', '-j', '2'], port);
  const alice = client(first.url, s.tokens.alice);
  const bob = client(first.url, s.tokens.bob);
  const admin = client(first.url, s.tokens.admin);

  // Auth through the socket.
  assert.equal((await client(first.url, undefined)('GET', '/api/v1/builds')).status, 401);
  assert.equal((await client(first.url, 'kiln_nope_nope')('GET', '/api/v1/builds')).status, 401);
  assert.equal((await fetch(`${first.url}/healthz`)).status, 200);

  // Alice builds the named tree; Bob's CLI packs and uploads his tree and follows the build.
  const a = await alice('POST', '/api/v1/builds', { tree: 'main' });
  assert.equal(a.status, 201, a.text);
  const bobCli = spawnKiln(['build', '--tree', treeB, '--server', first.url, '--state', join(s.dir, 'bob-local')], { env: { KILN_TOKEN: s.tokens.bob }, timeoutMs: 180_000 });
  const bobBuild = await until('bob\'s build', async () => (await bob('GET', '/api/v1/builds')).json?.builds?.[0]?.id as string | undefined);
  assert.equal((await alice('GET', `/api/v1/builds/${bobBuild}`)).status, 404, "another tenant's build is a 404");
  assert.equal((await alice('GET', '/metrics')).status, 403);

  // Both slow jobs run, with resource samples in GET /builder and in the jobs list.
  const running = await until('both slow jobs sampled', async () => {
    const r = await admin('GET', '/api/v1/builder');
    const jobs = (r.json?.runningJobs ?? []) as Array<{ jobId: string; sample: { cpuCores: number; memoryBytes: number; diskBytes: number } | null }>;
    const slow = jobs.filter((j) => j.jobId.includes('-slow@') && j.sample !== null && j.sample.diskBytes >= 3_000_000);
    return slow.length === 2 ? slow : undefined;
  });
  for (const j of running) assert.ok(j.sample!.memoryBytes > 0, JSON.stringify(j));
  const aJobs = await alice('GET', `/api/v1/builds/${a.json.id}/jobs`);
  const aSlow = aJobs.json.jobs.find((j: any) => j.name === 'a-slow');
  assert.equal(aSlow.state, 'running');
  assert.ok(aSlow.sample !== null && aSlow.sample.diskBytes >= 3_000_000, JSON.stringify(aSlow));
  // kiln status --server shows the running job with its sample.
  const st = await runKiln(['status', a.json.id, '--server', first.url, '--token', s.tokens.alice]);
  assert.equal(st.code, 0, st.stderr);
  assert.match(st.stdout, /running\s+a-slow@\S+.*cpu [\d.]+ mem [\d.]+MiB disk [\d.]+MiB/);
  // A download while it runs says so, not only what it got so far.
  const midway = await runKiln(['download', a.json.id, '--into', join(s.dir, 'midway'), '--server', first.url, '--token', s.tokens.alice]);
  assert.equal(midway.code, 0, midway.stderr);
  assert.match(midway.stderr, /the build is still running \(\d+ job\(s\) running or waiting\): download again once it has ended/);

  // A follower of the running job's log rides through the kill below: it waits for the
  // daemon, then follows the job's second attempt to its end.
  const followEarly = spawnKiln(['logs', 'a-slow', '-f', '--server', first.url], { env: { KILN_TOKEN: s.tokens.alice }, timeoutMs: 170_000 });
  let earlyOut = '';
  followEarly.child.stdout!.on('data', (chunk: Buffer) => (earlyOut += chunk.toString('utf8')));
  await until('the follower printing the log', async () => (/first-line/.test(earlyOut) ? true : undefined));

  // A second daemon on the same state directory is refused: it would take the first's
  // running builds for interrupted ones and run them again beside it.
  const twin = await runKiln(['serve', '--listen', '127.0.0.1:0', '--state', s.state, '--sandbox', 'host'], { env: { KILN_ENVS: '' } });
  assert.equal(twin.code, 1, explain(twin));
  assert.match(twin.stderr, new RegExp(`^kiln: error \\[conflict\\]: another kiln serve \\(pid ${first.proc.child.pid} on \\S+, since \\S+\\) uses the state directory ${s.state}$`, 'm'));
  assert.doesNotMatch(twin.stderr, /re-queued/);
  assert.equal((await alice('GET', `/api/v1/builds/${a.json.id}`)).json.state, 'running', 'the first daemon\'s build is untouched');

  // Kill the server outright.
  first.proc.child.kill('SIGKILL');
  await first.proc.done;
  // Stay down for a few of the CLI's 500 ms polls, so that it sees the server gone.
  await new Promise((r) => setTimeout(r, 2500));

  // Start again: both builds are re-queued and resume.
  const second = await serve(t, s.state, ['--tree', `main=${treeA}`, '--max-concurrent-builds', '2', '-j', '2'], port);
  assert.match(second.stderr(), /re-queued 2 build\(s\)/);
  const alice2 = client(second.url, s.tokens.alice);
  const admin2 = client(second.url, s.tokens.admin);
  await until('the slow jobs running again', async () => {
    const r = await admin2('GET', '/api/v1/builder');
    return (r.json?.runningJobs ?? []).filter((j: any) => j.jobId.includes('-slow@')).length === 2 ? true : undefined;
  });
  // kiln logs -f --server follows the running job live until it ends.
  const follow = spawnKiln(['logs', 'a-slow', '-f', '--server', second.url], { env: { KILN_TOKEN: s.tokens.alice }, timeoutMs: 120_000 });
  await new Promise((r) => setTimeout(r, 500));
  writeFileSync(gate, 'go');
  const followed = await follow.done;
  assert.equal(followed.code, 0, followed.stderr);
  assert.match(followed.stdout, /first-line[\s\S]*second-line/);
  const early = await followEarly.done;
  assert.equal(early.code, 0, early.stderr);
  assert.match(early.stderr, /the log stream from .* broke before a-slow's build ended .*waiting up to/);
  assert.match(early.stderr, /following a-slow's attempt 2/);
  assert.match(early.stdout, /first-line[\s\S]*first-line[\s\S]*second-line/, 'attempt 1 as far as it got, then attempt 2 to its end');

  const done = await until('both builds to end', async () => {
    const r = await admin2('GET', '/api/v1/builds');
    const builds = r.json?.builds as any[] | undefined;
    return builds !== undefined && builds.every((b) => b.state !== 'queued' && b.state !== 'running') ? builds : undefined;
  });
  assert.equal(done.length, 2, 'no build duplicated');
  for (const b of done) {
    assert.equal(b.state, 'done', JSON.stringify(b));
    assert.equal(b.priorRuns.length, 1, 'one interrupted run');
  }
  const bobResult = await bobCli.done;
  assert.equal(bobResult.code, 0, bobResult.stderr);
  assert.match(bobResult.stdout, new RegExp(`build ${bobBuild} done`));
  assert.match(bobResult.stderr, /waiting up to/, 'the CLI waited for the restarted server');
  assert.match(bobResult.stderr, /kiln: the server is back after [\d.]+m?s/, 'and says when it is back');
  assert.match(bobResult.stderr, new RegExp(`kiln: build ${bobBuild} was interrupted \\(the server stopped\\) and resumes( as run \\S+| once it starts again): jobs done before are up to date`), bobResult.stderr);

  // The interrupted job: attempt 2 now, attempt 1's partial log kept and readable.
  const jobs = (await alice2('GET', `/api/v1/builds/${a.json.id}/jobs`)).json.jobs as any[];
  const byName = new Map(jobs.map((j) => [j.name, j]));
  assert.equal(byName.get('a-base').state, 'up-to-date', 'built before the kill: not built again');
  assert.equal(byName.get('a-slow').state, 'built');
  assert.equal(byName.get('a-slow').attempt, 2);
  assert.equal(byName.get('a-top').state, 'built');
  const earlier = byName.get('a-slow').earlierAttempts;
  assert.equal(earlier.length, 1);
  assert.equal(earlier[0].attempt, 1);
  const partial = await alice2('GET', earlier[0].log);
  assert.equal(partial.status, 200);
  assert.match(partial.text, /first-line/);
  assert.doesNotMatch(partial.text, /second-line/);

  await second.proc.child.kill('SIGTERM');
  const ended = await second.proc.done;
  assert.equal(ended.code, 0, second.stderr());

  // Nothing duplicated: each package built exactly once over both runs of each build.
  const records = openRecords(s.state);
  try {
    for (const name of ['a-base', 'a-slow', 'a-top', 'b-base', 'b-slow', 'b-top']) {
      const built = records.history(name, { limit: 50 }).filter((j) => j.state === 'built');
      assert.equal(built.length, 1, `${name} built ${built.length} times`);
    }
  } finally {
    records.close();
  }
  // Nothing left behind: no workspaces, no sandbox journal entries.
  const left = (d: string): string[] => (existsSync(d) ? readdirSync(d) : []);
  assert.deepEqual(left(join(s.state, 'work')), []);
  assert.deepEqual(left(join(s.state, 'sandboxes')), []);
});

test('through the socket: revoked token, upload limit flag, hostile bundle, kiln cancel --server', async (t) => {
  const s = setup(t);
  const gate = join(s.dir, 'gate');
  const tree = makeTree(s.dir, 'c', gate);
  const srv = await serve(t, s.state, ['--tree', `main=${tree}`, '--bundle-max-bytes', '64K']);
  const alice = client(srv.url, s.tokens.alice);
  // What the operator checks first is said at start.
  await until('the settings line', () => /kiln serve: --sandbox host; envs in \S+: none; --min-free 1\.0 GiB; --log-limit 1\.0 GiB; --job-timeout none; [1-9]\d* live token\(s\)/.exec(srv.stderr())?.[0]);
  assert.match(srv.stderr(), /--sandbox host: clients' build scripts run on this machine without isolation/);
  // What it keeps of its tenants is its own user's only.
  const { statSync } = await import('node:fs');
  assert.equal(statSync(join(s.state, 'kiln.db')).mode & 0o777, 0o600);
  for (const d of ['logs', 'runs', 'bundles', 'scan-cache', 'plan-memo', 'work']) assert.equal(statSync(join(s.state, d)).mode & 0o777, 0o700, d);

  const big = await alice('PUT', '/api/v1/bundles/big', new Uint8Array(100 * 1024));
  assert.equal(big.status, 413, big.text);
  assert.match(big.json.error.message, /over the upload limit of 65536 bytes/);
  assert.equal(big.json.error.code, 'too-large');
  // A build request over the JSON body limit and an unknown endpoint: codes of src/errors.ts, as docs/api.md says.
  const bigRequest = await alice('POST', '/api/v1/builds', { tree: 'main', targets: Array.from({ length: 900 }, () => 'x'.repeat(100)) });
  assert.equal(bigRequest.status, 413, bigRequest.text);
  assert.equal(bigRequest.json.error.code, 'too-large');
  const nowhere = await alice('GET', '/api/v1/nowhere');
  assert.equal(nowhere.status, 404, nowhere.text);
  assert.equal(nowhere.json.error.code, 'not-found');
  const evil = join(s.dir, 'evil.tar');
  writeTarball(evil, [{ name: 'ok', type: 'file', data: 'x' }, { name: 'etc', type: 'symlink', target: '/etc' }, { name: 'etc/cron.d/x', type: 'file', data: 'x' }]);
  const hostile = await alice('PUT', '/api/v1/bundles/evil', new Uint8Array(await (await import('node:fs/promises')).readFile(evil)));
  assert.equal(hostile.status, 400, hostile.text);
  assert.match(hostile.json.error.message, /symlink "etc" -> "\/etc" points outside the bundle/);
  assert.equal(existsSync(join(s.state, 'bundles', 'alice', 'evil')), false);

  // GET /envs lists what `kiln env list --json` lists for the same state dir (one tiny
  // imported root here; $KILN_ENVS cleared so the state dir's own envs are used).
  const rootTar = join(s.dir, 'root.tar');
  writeTarball(rootTar, tinyRoot());
  const imported = await runKiln(['env', 'import', 'tiny', rootTar, '--state', s.state], { env: { KILN_ENVS: '' } });
  assert.equal(imported.code, 0, imported.stderr);
  const envs = await alice('GET', '/api/v1/envs');
  assert.equal(envs.status, 200, envs.text);
  const local = await runKiln(['env', 'list', '--json', '--state', s.state], { env: { KILN_ENVS: '' } });
  assert.equal(local.code, 0, local.stderr);
  assert.deepEqual(envs.json.envs.map((e: any) => e.id), (JSON.parse(local.stdout) as Array<{ id: string }>).map((e) => e.id));
  assert.equal(envs.json.envs.length, 1);
  assert.equal(envs.json.envs[0].name, 'tiny');
  assert.equal(envs.json.envs[0].suite, 'bookworm');
  assert.equal((await client(srv.url, undefined)('GET', '/api/v1/envs')).status, 401);

  // kiln cancel --server stops a running build.
  const b = await alice('POST', '/api/v1/builds', { tree: 'main' });
  await until('the slow job running', async () => ((await alice('GET', `/api/v1/builds/${b.json.id}/jobs`)).json?.jobs ?? []).some((j: any) => j.name === 'c-slow' && j.state === 'running') || undefined);
  const cancel = await runKiln(['cancel', b.json.id, '--server', srv.url, '--token', s.tokens.alice]);
  assert.equal(cancel.code, 0, cancel.stderr);
  assert.match(cancel.stdout, /cancelled/);
  // Said once each: that it stops, then how it ended (not "running" between them, nor the end twice).
  assert.equal(cancel.stderr.trim(), `kiln: build ${b.json.id} is stopping...`);
  assert.equal(cancel.stdout.trim(), `kiln: build ${b.json.id} cancelled`);
  assert.equal((await alice('GET', `/api/v1/builds/${b.json.id}`)).json.state, 'cancelled');
  const again = await runKiln(['cancel', b.json.id, '--server', srv.url, '--token', s.tokens.alice]);
  assert.equal(again.code, 1, 'cancelling an ended build');
  assert.match(again.stderr, new RegExp(`kiln: error \\[build-ended\\]: .*build ${b.json.id} already ended \\(cancelled\\)`));
  assert.match(again.stderr, /hint: .*kiln status/);
  const nosuch = await runKiln(['cancel', 'nosuchbuild', '--server', srv.url, '--token', s.tokens.alice]);
  assert.equal(nosuch.code, 2);
  assert.match(nosuch.stderr, /kiln: error \[run-not-found\]/);
  assert.match(nosuch.stderr, /hint: list your builds with `kiln status --runs --server URL`/);
  // The jobs say why they ran (GET /jobs documents `why`).
  const jobs = (await alice('GET', `/api/v1/builds/${b.json.id}/jobs`)).json.jobs as any[];
  assert.ok(jobs.some((j) => j.name === 'c-base' && typeof j.why === 'string' && j.why.length > 0), JSON.stringify(jobs));

  // kiln build --server fails as a local build would: the error's code and hint, the exit
  // status (2 for usage and configuration errors), and the user's paths, not the server's copy.
  const cli = ['--server', srv.url, '--token', s.tokens.alice, '--state', join(s.dir, 'alice-local')];
  const noTarget = await runKiln(['build', '--tree', tree, ...cli, 'nosuch']);
  assert.equal(noTarget.code, 2, noTarget.stderr);
  assert.match(noTarget.stderr, /kiln: error \[target-not-found\]: .*"nosuch"/);
  // A tree the daemon knows by name: --server-tree, nothing uploaded; a --tree that is not here says so.
  const named = await runKiln(['build', '--server-tree', 'main', ...cli, 'c-base']);
  assert.equal(named.code, 0, named.stderr);
  assert.doesNotMatch(named.stderr, /bundle/);
  // What it made comes back: kiln download, and the artifact URL of GET /jobs.
  const namedId = /kiln: build (\S+) queued/.exec(named.stderr)![1]!;
  // It ends saying where the build's report is; that URL serves it, with the token.
  const reportUrl = /kiln: report: (\S+\/report\.html) /.exec(named.stderr)?.[1];
  assert.equal(reportUrl, `${srv.url}/api/v1/builds/${namedId}/report.html`, named.stderr);
  for (const url of [reportUrl, reportUrl.replace(/report\.html$/, 'report.json'), reportUrl.replace(/report\.html$/, 'junit.xml')]) {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${s.tokens.alice}` } });
    assert.equal(res.status, 200, url);
    assert.match(await res.text(), /c-base/, url);
  }
  const into = join(s.dir, 'got');
  const got = await runKiln(['download', namedId, '--into', into, '--server', srv.url, '--token', s.tokens.alice]);
  assert.equal(got.code, 0, got.stderr);
  const archive = got.stdout.trim();
  assert.match(archive, /c-base_1\.0_\w+\.tar\.zst$/);
  assert.match(execFileSync('tar', ['--zstd', '-tf', archive], { encoding: 'utf8' }), /usr\/share\/c-base\/c-base\.txt/);
  assert.match(got.stderr, /1 artifact\(s\) of build \S+ in /);
  assert.match(got.stderr, /in \S+ \(\d+(\.\d)? (B|KiB)\)/, 'the size is said');
  const other = await runKiln(['download', namedId, '--into', into, '--server', srv.url, '--token', s.tokens.bob]);
  assert.equal(other.code, 2, 'another tenant cannot download it');
  const jobsOfNamed = (await alice('GET', `/api/v1/builds/${namedId}/jobs`)).json.jobs as { name: string; artifact: string | null }[];
  const url = jobsOfNamed.find((j) => j.name === 'c-base')!.artifact!;
  assert.equal((await client(srv.url, s.tokens.bob)('GET', url)).status, 404, "bob reads alice's artifact by its URL");
  assert.equal((await alice('GET', url)).status, 200);
  const notHere = await runKiln(['build', '--tree', join(s.dir, 'not-here'), ...cli]);
  assert.equal(notHere.code, 2, notHere.stderr);
  assert.match(notHere.stderr, /kiln: error \[tree-not-found\]: --tree .*not-here: no such directory here to upload/);
  assert.match(notHere.stderr, /hint: .*--server-tree NAME/);
  const bad = join(s.dir, 'bad-tree');
  mkdirSync(join(bad, 'p'), { recursive: true });
  writeFileSync(join(bad, 'p', 'recipe.toml'), recipe('p', 'true'));
  writeFileSync(join(bad, 'kiln.toml'), 'garbage = [\n');
  const badConfig = await runKiln(['build', '--tree', bad, ...cli]);
  assert.equal(badConfig.code, 2, badConfig.stderr);
  assert.match(badConfig.stderr, /kiln: error \[config-invalid\]/);
  assert.ok(badConfig.stderr.includes(join(bad, 'kiln.toml')), badConfig.stderr);
  assert.doesNotMatch(badConfig.stderr, /bundles\//);
  assert.match(badConfig.stderr, /\n {2}hint: /);
  const locally = await runKiln(['build', '--tree', bad, '--state', join(s.dir, 'alice-local')]);
  assert.equal(locally.code, badConfig.code, 'the same exit status as locally');

  // Revoking the token (from the CLI, while the server runs) takes effect at once.
  const revoke = await runKiln(['token', 'revoke', 'alice', '--state', s.state]);
  assert.equal(revoke.code, 0, revoke.stderr);
  assert.equal((await alice('GET', '/api/v1/builds')).status, 401);
  const st = await runKiln(['status', '--server', srv.url, '--token', s.tokens.alice]);
  assert.equal(st.code, 2);
  assert.match(st.stderr, /the bearer token was revoked at \d{4}-/);
  const unknown = await runKiln(['status', '--server', srv.url, '--token', 'kiln_nope_nope']);
  assert.match(unknown.stderr, /the bearer token is unknown to this server/);
});

test('SIGTERM with --on-stop cancel re-queues the running build; with --on-stop drain it finishes first and the queued one waits', async (t) => {
  const s = setup(t);
  const gate = join(s.dir, 'gate');
  const tree = makeTree(s.dir, 'd', gate);

  // cancel (the default): exits promptly, the build is queued again for the next start.
  const one = await serve(t, s.state, ['--tree', `main=${tree}`]);
  const alice = client(one.url, s.tokens.alice);
  const b1 = await alice('POST', '/api/v1/builds', { tree: 'main' });
  await until('the slow job running', async () => ((await alice('GET', '/api/v1/builder')).json?.runningJobs ?? []).some((j: any) => j.name === 'd-slow') || undefined);
  one.proc.child.kill('SIGTERM');
  const r1 = await one.proc.done;
  assert.equal(r1.code, 0, one.stderr());
  assert.match(one.stderr(), /stopping running builds/);
  let recs = openServerRecords(s.state);
  assert.equal(recs.getBuild(b1.json.id)!.state, 'queued');
  assert.equal(recs.getBuild(b1.json.id)!.priorRuns.length, 1);
  recs.close();

  // drain: the resumed build runs, a second one waits behind it (same tenant, FIFO).
  const two = await serve(t, s.state, ['--tree', `main=${tree}`, '--on-stop', 'drain']);
  const alice2 = client(two.url, s.tokens.alice);
  const b2 = await alice2('POST', '/api/v1/builds', { tree: 'main' });
  await until('the resumed build running its slow job', async () => ((await alice2('GET', '/api/v1/builder')).json?.runningJobs ?? []).some((j: any) => j.name === 'd-slow') || undefined);
  two.proc.child.kill('SIGTERM');
  await until('the drain message', () => (/letting 1 running build\(s\) finish/.test(two.stderr()) ? true : undefined));
  // While draining it still answers: /healthz 503 saying so, a new build 503 server-stopping,
  // and the running build can be followed to its end.
  const health = await fetch(`${two.url}/healthz`);
  assert.equal(health.status, 503);
  assert.match(JSON.stringify(await health.json()), /stopping: the daemon takes no new builds/);
  const refused = await alice2('POST', '/api/v1/builds', { tree: 'main' });
  assert.equal(refused.status, 503, refused.text);
  assert.equal(refused.json.error.code, 'server-stopping');
  assert.equal((await alice2('GET', `/api/v1/builds/${b1.json.id}`)).status, 200);
  assert.equal(two.proc.child.exitCode, null);
  writeFileSync(gate, 'go');
  const r2 = await two.proc.done;
  assert.equal(r2.code, 0, two.stderr());
  recs = openServerRecords(s.state);
  try {
    assert.equal(recs.getBuild(b1.json.id)!.state, 'done', 'drained build finished');
    assert.equal(recs.getBuild(b2.json.id)!.state, 'queued', 'queued build left for the next start');
    assert.equal(recs.listBuilds({}).length, 2, 'the build refused while draining was not queued');
  } finally {
    recs.close();
  }
  assert.deepEqual(existsSync(join(s.state, 'work')) ? readdirSync(join(s.state, 'work')) : [], []);
});

test('kiln build --server: a broken package names the files of the user\'s own tree, one problem per line', async (t) => {
  const s = setup(t);
  const tree = join(s.dir, 'mine');
  mkdirSync(join(tree, 'good'), { recursive: true });
  writeFileSync(join(tree, 'good', 'recipe.toml'), recipe('good', 'true'));
  mkdirSync(join(tree, 'bad'), { recursive: true });
  writeFileSync(join(tree, 'bad', 'recipe.toml'), 'name = "bad"\nversion = "v1"\nsummary = "s"\nlicense = "MIT"\ncolour = "red"\n[build]\nscript = "true"\n');
  mkdirSync(join(tree, 'fails'), { recursive: true });
  writeFileSync(join(tree, 'fails', 'recipe.toml'), recipe('fails', 'seq 1 40 | sed "s/^/line /"; echo "ld: cannot find -lnosuchlib" >&2; exit 1'));
  const srv = await serve(t, s.state, []);
  // An env asked of a --sandbox host daemon: it builds on its own machine, and the client is told so.
  const r = await runKiln(['build', '--tree', tree, '--server', srv.url, '--state', join(s.dir, 'local'), '--env', 'bookworm-amd64'], { env: { KILN_TOKEN: s.tokens.alice }, timeoutMs: 60_000 });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^kiln: note: this daemon builds with --sandbox host: on its own machine as it is, not in the env "bookworm-amd64"$/m);
  assert.doesNotMatch(r.stdout, /bundles/, 'the server\'s copy of the tree is named');
  assert.match(r.stdout, /^ {2}broken {5}bad@\w+ {2}invalid recipe \(2 problems\):$/m);
  assert.match(r.stdout, /^ {6}(\S*\/)?mine\/bad\/recipe\.toml: version: /m);
  assert.match(r.stdout, /^ {6}(\S*\/)?mine\/bad\/recipe\.toml: unknown key "colour"/m);
  // A failed job: the end of its log under its line (GET …/log?tail=15), as a local run prints it.
  const id = /kiln: build (\S+) queued/.exec(r.stderr)![1]!;
  assert.match(r.stdout, new RegExp(`^ {2}failed {5}fails@(\\w+) .*\\n {13}the last 15 lines of its log \\(all of it: kiln logs fails --arch \\1 --run ${id} --server ${srv.url.replace(/[.]/g, '\\.')}\\):\\n`, 'm'), r.stdout);
  assert.match(r.stdout, /^ {13}\| .*line 40$/m);
  assert.match(r.stdout, /^ {13}\| .*ld: cannot find -lnosuchlib$/m);
  assert.doesNotMatch(r.stdout, /\| .*line 20$/m, 'only the last 15 lines');
  const alice = client(srv.url, s.tokens.alice);
  const tail = await alice('GET', `/api/v1/builds/${id}/jobs/fails/log?tail=2`);
  assert.equal(tail.status, 200);
  assert.equal(tail.text.split('\n').filter((l) => l !== '').length, 2, tail.text);
  const badTail = await alice('GET', `/api/v1/builds/${id}/jobs/fails/log?tail=0`);
  assert.equal(badTail.status, 400);
  assert.match(badTail.json.error.message, /\?tail=0: expected a whole number of lines from 1 to 1000/);
  const sseTail = await alice('GET', `/api/v1/builds/${id}/jobs/fails/log?tail=2`, undefined, { accept: 'text/event-stream' });
  assert.equal(sseTail.status, 400);
});

test('a tenant\'s source on the daemon\'s own network (127.0.0.1) is refused, naming --fetch-allow; once the operator allows it, it builds (SSRF)', async (t) => {
  const s = setup(t);
  const { createServer } = await import('node:http');
  const { createHash } = await import('node:crypto');
  const body = 'what only the daemon\'s machine can read\n';
  const http = createServer((_req, res) => res.end(body));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  t.after(() => http.close());
  const port = (http.address() as { port: number }).port;
  const tree = join(s.dir, 'mine');
  mkdirSync(join(tree, 'loot'), { recursive: true });
  writeFileSync(join(tree, 'loot', 'recipe.toml'), `${recipe('loot', 'mkdir -p "$DESTDIR/usr/share/loot"; cp secret.txt "$DESTDIR/usr/share/loot/"')}\n[[sources]]\nurl = "http://127.0.0.1:${port}/secret.txt"\nsha256 = "${createHash('sha256').update(body).digest('hex')}"\n`);
  const build = (srv: Served): Promise<Awaited<ReturnType<typeof runKiln>>> => runKiln(['build', '--tree', tree, '--server', srv.url, '--state', join(s.dir, 'local')], { env: { KILN_TOKEN: s.tokens.alice }, timeoutMs: 60_000 });
  const closed = await serve(t, s.state, []);
  const refused = await build(closed);
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.match(refused.stdout, /download of http:\/\/127\.0\.0\.1:\d+\/secret\.txt refused: a daemon fetches only from public addresses and its own mirrors: 127\.0\.0\.1 is not a public address/);
  closed.proc.child.kill('SIGTERM');
  await closed.proc.done;
  const open = await serve(t, s.state, ['--fetch-allow', '127.0.0.1']);
  // The operator is told where tenants' downloads may go.
  await until('the daemon to say where downloads may go', () => (/tenants' downloads go to public addresses.* and --fetch-allow 127\.0\.0\.1 only/.test(open.stderr()) ? true : undefined), 10_000);
  const built = await build(open);
  assert.equal(built.code, 0, built.stdout + built.stderr);
  // apt fetches an [instance] source itself, outside kiln's fetch: refused when the tree is planned.
  const withInstance = join(s.dir, 'instance');
  mkdirSync(join(withInstance, 'good'), { recursive: true });
  writeFileSync(join(withInstance, 'good', 'recipe.toml'), recipe('good', 'true'));
  writeFileSync(join(withInstance, 'kiln.toml'), `env = "bookworm-{arch}"\n\n[instance]\nname = "x"\npackages = ["hello"]\n\n[[instance.sources]]\nuri = "http://127.0.0.1:${port}/debian"\nsuite = "bookworm"\ncomponents = ["main"]\ntrusted = true\n`);
  // One daemon per state directory: the open one stops first.
  open.proc.child.kill('SIGTERM');
  await open.proc.done;
  const closedAgain = await serve(t, s.state, []);
  const viaApt = await runKiln(['build', '--tree', withInstance, '--server', closedAgain.url, '--state', join(s.dir, 'local')], { env: { KILN_TOKEN: s.tokens.alice }, timeoutMs: 60_000 });
  assert.notEqual(viaApt.code, 0, viaApt.stdout + viaApt.stderr);
  assert.match(viaApt.stdout + viaApt.stderr, /instance\.sources\[0\]\.uri: a daemon fetches only from public addresses and its own mirrors: 127\.0\.0\.1 is not a public address/);
  const bad = await runKiln(['serve', '--state', join(s.dir, 'x'), '--fetch-allow', 'intranet.example']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--fetch-allow intranet\.example: not an IP address or network/);
});

test('a host build that follows an untouched one (whose workspace the host sandbox would recycle) is sampled: its processes and disk are found', async (t) => {
  const s = setup(t);
  const gate = join(s.dir, 'gate');
  const tree = join(s.dir, 'tree-r');
  for (const [name, script, deps] of [
    ['first', 'exit 3', []],
    ['noop', 'true', []],
    ['slowr', `head -c 3000000 /dev/zero > blob\nfor i in $(seq 1 1200); do test -f '${gate}' && break; sleep 0.05; done`, ['noop']],
  ] as const) {
    mkdirSync(join(tree, name), { recursive: true });
    writeFileSync(join(tree, name, 'recipe.toml'), recipe(name, script, [...deps]));
  }
  const served = await serve(t, s.state, ['--tree', `r=${tree}`, '-j', '1']);
  const admin = client(served.url, s.tokens.admin);
  const b = await admin('POST', '/api/v1/builds', { tree: 'r' });
  assert.equal(b.status, 201, b.text);
  const sampled = await until('slowr sampled with its disk', async () => {
    const r = await admin('GET', '/api/v1/builder');
    const job = ((r.json?.runningJobs ?? []) as Array<{ jobId: string; sample: { memoryBytes: number; diskBytes: number } | null }>).find((j) => j.jobId.includes('slowr@'));
    return job?.sample !== null && job?.sample !== undefined && job.sample.diskBytes >= 3_000_000 && job.sample.memoryBytes > 0 ? job : undefined;
  });
  assert.ok(sampled.sample!.memoryBytes > 0);
  writeFileSync(gate, 'go');
});

test('kiln logs -f --server on a job still waiting for its dependencies waits for it to start, then follows it to its end', async (t) => {
  const s = setup(t);
  const gate = join(s.dir, 'gate');
  const tree = join(s.dir, 'tree-w');
  for (const [name, script, deps] of [
    ['w1', `for i in $(seq 1 1200); do test -f '${gate}' && break; sleep 0.05; done`, []],
    ['w2', 'echo "w2""-says-hello"', ['w1']],
  ] as const) {
    mkdirSync(join(tree, name), { recursive: true });
    writeFileSync(join(tree, name, 'recipe.toml'), recipe(name, script, [...deps]));
  }
  const served = await serve(t, s.state, ['--tree', `w=${tree}`]);
  const alice = client(served.url, s.tokens.alice);
  const b = await alice('POST', '/api/v1/builds', { tree: 'w' });
  assert.equal(b.status, 201, b.text);
  await until('w1 running', async () => ((await alice('GET', `/api/v1/builds/${b.json.id}/jobs`)).json?.jobs ?? []).some((j: any) => j.name === 'w1' && j.state === 'running') || undefined);
  const follow = spawnKiln(['logs', 'w2', '-f', '--server', served.url, '--run', b.json.id], { env: { KILN_TOKEN: s.tokens.alice }, timeoutMs: 60_000 });
  let err = '';
  follow.child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  await until('the follower waiting', () => (/waiting for w2 to start/.test(err) ? true : undefined));
  writeFileSync(gate, 'go');
  const r = await follow.done;
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /w2-says-hello/);
});

test('kiln serve cleans up at start what a dead kiln left (its run marked, its workspace gone), not only when the next build starts', async (t) => {
  const state = mkdtempSync(join(tmpdir(), 'kiln-serve-reap-'));
  t.after(() => rmSync(state, { recursive: true, force: true }));
  const dead = execFileSync('/bin/sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim();
  {
    using records = openRecords(state);
    records.createRun({ id: 'run-dead', tree: '.', targets: [], archs: ['amd64'], maxJobs: 1, startedAt: Date.now(), pid: Number(dead), host: (await import('node:os')).hostname() });
  }
  mkdirSync(join(state, 'work', 'run-dead', 'a_amd64'), { recursive: true });
  // Its owner file, as a run writes it: a kiln that is gone.
  writeFileSync(join(state, 'work', 'run-dead', '.owner'), JSON.stringify({ pid: Number(dead), start: null }));
  const s = await serve(t, state, []);
  assert.equal(existsSync(join(state, 'work', 'run-dead')), false, s.stderr());
  {
    using records = openRecords(state);
    assert.notEqual(records.getRun('run-dead')?.state, 'running');
  }
  s.proc.child.kill('SIGTERM');
  await s.proc.done;
});
