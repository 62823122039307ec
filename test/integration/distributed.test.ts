// kiln build --nats and kiln worker, for real: a nats-server with JetStream on a free port
// (started per test, 0.1 s), real worker processes, a real tree; the reliability cases of
// the distributed mode (../shared/research): a worker SIGKILLed mid-job loses the job to
// another after the ack wait, both attempts on record in the job's log (case 3); a build
// longer than the ack wait is delivered once, its worker saying it works (case 4); a job
// whose every worker dies is given up after MAX_DELIVER deliveries and fails, the rest of
// the run going on (case 8); the artifacts a worker sends are checked before they are
// stored (case 24, through importEntry's tests); Ctrl-C of the coordinator stops the
// worker's build; a worker stopped past the ack wait has its late result ignored (case 5);
// the NATS server SIGKILLed with hundreds of jobs queued loses none and duplicates none
// (case 6); a worker low on disk takes no job (case 11).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, pkgOf, readReport, runKiln, spawnKiln, statesOf } from '../helpers/run-kiln.ts';

import { ACK_WAIT_MS, natsServer, natsServerWithAccounts, noNats, startNats, startWorker, until } from '../helpers/nats.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';

/** A recipe that says it started, then waits for the file `gate` before it installs one file. */
function gatedRecipe(name: string, gate: string): string {
  return recipeText({ name, script: `echo started; while [ ! -e '${gate}' ]; do sleep 0.1; done; mkdir -p "$DESTDIR/usr/share/${name}"; echo done > "$DESTDIR/usr/share/${name}/done"` });
}

async function writeTree(tree: string, recipes: Readonly<Record<string, string>>): Promise<string> {
  for (const [name, text] of Object.entries(recipes)) {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), text);
  }
  return tree;
}

test('kiln build --nats: workers build the tree, the artifacts come back checked, the run is recorded and reported here; a second run is up to date', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const tree = await writeTree(join(dir.path, 'tree'), {
    base: recipeText({ name: 'base', script: 'mkdir -p "$DESTDIR/usr/include"\necho "#define BASE 42" > "$DESTDIR/usr/include/base.h"' }),
    app: recipeText({ name: 'app', deps: ['base'], script: 'grep -q "BASE 42" "$SYSROOT/usr/include/base.h"\nmkdir -p "$DESTDIR/usr/bin"\necho "echo app" > "$DESTDIR/usr/bin/app"\nchmod 755 "$DESTDIR/usr/bin/app"' }),
    empty: recipeText({ name: 'empty', script: 'echo nothing to install' }),
  });
  await mkdir(join(tree, 'base', 'patches'));
  await writeFile(join(tree, 'base', 'patches', 'a.patch'), 'a file of the package folder travels with it\n');
  // One cache for both (as workers of one machine may share): whichever takes a job later finds what the other built.
  startWorker(t, url, join(dir.path, 'w1'), 'w1', join(dir.path, 'workers-cache'));
  startWorker(t, url, join(dir.path, 'w2'), 'w2', join(dir.path, 'workers-cache'));
  const state = join(dir.path, 'coordinator');
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--nats', url, '--keep-failed', '--json'], { timeoutMs: 90_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  assert.equal(r.code, 0, explain(r));
  // --keep-failed does nothing with workers: said, not silently ignored.
  assert.ok(r.events.some((e) => e.type === 'note' && /^--keep-failed: not with --nats/.test(e.text)), explain(r));
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { app: 'built', base: 'built', empty: 'built' });
  // The artifact is in this state dir's cache, and holds what the worker built.
  const app = pkgOf(report, 'app');
  // The report names the worker whose result each package is (as Koji names a task's host).
  for (const name of ['app', 'base', 'empty']) assert.ok(['w1', 'w2'].includes((pkgOf(report, name) as { worker?: string }).worker ?? ''), `${name}: ${JSON.stringify(pkgOf(report, name))}`);
  const listing = spawnSync('tar', ['--zstd', '-tf', app.artifact!], { encoding: 'utf8' });
  assert.match(listing.stdout, /usr\/bin\/app/);
  // The job's log here: who took it, then the worker's own log.
  const log = await readFile(app.log!, 'utf8');
  assert.match(log, /queued for the workers of \S+ in host:[0-9a-f]+ \(nats:/);
  assert.match(log, /taken by worker w[12]/);
  assert.match(log, /stage base@/);
  assert.match(log, /result from worker w[12] \(attempt 1\): built/);
  // Up to date the second time, without the workers.
  const again = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 60_000 });
  assert.equal(again.code, 0, explain(again));
  assert.equal(again.summary?.counts['up-to-date'], 3, explain(again));
  // A new state dir here, the same workers: up to date there, said so.
  const fresh = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'fresh'), '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 60_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  assert.equal(fresh.code, 0, explain(fresh));
  const base = pkgOf(await readReport(fresh), 'base');
  assert.equal(base.state, 'up-to-date');
  assert.match(base.cause ?? '', /^found up to date in the cache of worker w[12]$/);
  // A NATS server that is not there: said before the run starts (no run left behind).
  const gone = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'gone'), '--sandbox', 'host', '--nats', 'nats://127.0.0.1:1', '--force', 'base'], { timeoutMs: 60_000 });
  assert.equal(gone.code, 1, explain(gone));
  assert.match(gone.stderr, /error \[server-unreachable\]: cannot reach NATS at nats:\/\/127\.0\.0\.1:1/);
  assert.doesNotMatch(gone.stderr + gone.stdout, /kiln: run \S+:/, 'no run started');
});

test('a worker SIGKILLed mid-job loses it to another after the ack wait (case 3)', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const gate = join(dir.path, 'gate');
  const tree = await writeTree(join(dir.path, 'tree'), {
    // Waits for the test's gate: long enough to kill its first worker in the middle.
    slow: gatedRecipe('slow', gate),
  });
  const first = startWorker(t, url, join(dir.path, 'w1'), 'w1');
  const state = join(dir.path, 'coordinator');
  const build = spawnKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 100_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  await until('w1 to take slow', () => (/slow@\S+: taken/.test(first.output()) ? true : undefined), 60_000);
  first.child.kill('SIGKILL');
  await first.exited;
  const second = startWorker(t, url, join(dir.path, 'w2'), 'w2');
  await until('w2 to take slow', () => (/slow@\S+: taken \(attempt 2\)/.test(second.output()) ? true : undefined), 60_000);
  // The worker's log reaches the coordinator's while the job runs (kiln logs -f there follows it).
  const liveLog = (): string => {
    const runs = readdirSync(join(state, 'logs'));
    return runs.length === 0 ? '' : readFileSync(join(state, 'logs', runs[0]!, 'slow_' + (/slow@(\S+):/.exec(second.output())?.[1] ?? '') + '.log'), 'utf8');
  };
  await until('attempt 2\'s output in the coordinator\'s log, live', () => (/attempt 2: taken by worker w2[\s\S]*\bstarted$/m.test(liveLog()) ? true : undefined), 30_000);
  await writeFile(gate, 'go');
  const r = await build.done;
  assert.equal(r.code, 0, explain(r));
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { slow: 'built' });
  const slowLog = await readFile(pkgOf(report, 'slow').log!, 'utf8');
  assert.match(slowLog, /taken by worker w1\n(.*\n)*.*attempt 2: taken by worker w2 \(w1 stopped answering, or gave it back\)/);
  assert.match(slowLog, /result from worker w2 \(attempt 2\): built/);
});

test('a build three ack waits long is delivered once, with an idle worker beside its own: its worker says it works on it (case 4)', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const tree = await writeTree(join(dir.path, 'tree'), {
    long: recipeText({ name: 'long', script: `sleep ${(3 * ACK_WAIT_MS) / 1000}; mkdir -p "$DESTDIR/usr/share/long"; echo done > "$DESTDIR/usr/share/long/done"` }),
  });
  const a = startWorker(t, url, join(dir.path, 'w1'), 'w1');
  const b = startWorker(t, url, join(dir.path, 'w2'), 'w2');
  await until('both workers waiting', () => (/taking jobs for/.test(a.output()) && /taking jobs for/.test(b.output()) ? true : undefined), 30_000);
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'c'), '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 60_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  assert.equal(r.code, 0, explain(r));
  const log = await readFile(pkgOf(await readReport(r), 'long').log!, 'utf8');
  assert.doesNotMatch(log, /attempt 2/, log);
  assert.equal(((a.output() + b.output()).match(/long@\S+: taken/g) ?? []).length, 1, 'taken once, by one of the two\n' + a.output() + b.output());
});

test('a job whose every worker dies is given up after its deliveries and fails, and is not handed to the next worker', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const tree = await writeTree(join(dir.path, 'tree'), {
    // Its workers are killed by the test as soon as they take it.
    poison: recipeText({ name: 'poison', script: 'echo "taking my worker down"; sleep 600' }),
  });
  const state = join(dir.path, 'coordinator');
  // The coordinator makes the consumer when no worker has yet: with the tests' ack wait.
  const build = spawnKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 100_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS), KILN_UNCLAIMED_NOTE_MS: '500' } });
  // No worker yet: the run says so, and what to start.
  await build.waitForEvent((e) => e.type === 'note' && /poison@\S+: no worker has taken it in 0\.5 s \(no worker answers at all\): start one for \S+ in host:[0-9a-f]+ \(kiln worker --nats nats:/.test(e.text), 30_000);
  // Each worker dies as soon as it takes the job, three times.
  for (let i = 1; i <= 3; i++) {
    const w = startWorker(t, url, join(dir.path, `w${i}`), `w${i}`);
    await until(`w${i} to take the job`, () => (/poison@\S+: taken/.test(w.output()) ? true : undefined), 60_000);
    w.child.kill('SIGKILL');
    await w.exited;
  }
  // A live worker asking for work makes the server try a 4th delivery, which it refuses
  // (JetStream then says so to the coordinator): the job is not handed to it.
  const alive = startWorker(t, url, join(dir.path, 'w4'), 'w4');
  const r = await build.done;
  assert.doesNotMatch(alive.output(), /poison@\S+: taken/);
  assert.equal(r.code, 1, explain(r));
  const poison = pkgOf(await readReport(r), 'poison');
  assert.equal(poison.state, 'failed');
  assert.match(poison.cause ?? '', /no worker finished it in 3 deliveries/);
  assert.match(await readFile(poison.log!, 'utf8'), /attempt 3: taken by worker w3[\s\S]*given up after 3 deliveries/);
});

test('Ctrl-C of the coordinator stops the build on its worker: exit 130, the job cancelled there too, no process left', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const mark = `kiln-nats-cancel-${process.pid}`;
  const tree = await writeTree(join(dir.path, 'tree'), {
    stuck: recipeText({ name: 'stuck', script: `exec -a ${mark} sleep 600` }),
  });
  const w = startWorker(t, url, join(dir.path, 'w1'), 'w1');
  const state = join(dir.path, 'coordinator');
  const build = spawnKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 100_000 });
  await until('the worker to start it', () => (spawnSync('pgrep', ['-f', mark]).status === 0 ? true : undefined), 60_000);
  build.child.kill('SIGINT');
  const r = await build.done;
  assert.equal(r.code, 130, explain(r));
  assert.equal(pkgOf(await readReport(r), 'stuck').state, 'cancelled');
  await until('the worker to say it', () => (/stuck@\S+: cancelled/.test(w.output()) ? true : undefined), 30_000);
  assert.equal(spawnSync('pgrep', ['-f', mark]).status, 1, 'no build process left on the worker');
});

test('a forged result is refused: a success without its artifact, or for another key, fails the job and stores nothing', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const { openCluster, JOBS_STREAM, consumerName, eventsSubject } = await import('../../src/distributed/cluster.ts');
  const { hostArch } = await import('../../src/run/host-env.ts');
  const tree = await writeTree(join(dir.path, 'tree'), {
    a: recipeText({ name: 'a', script: 'mkdir -p "$DESTDIR/usr/share/a"; echo a > "$DESTDIR/usr/share/a/a"' }),
    b: recipeText({ name: 'b', script: 'mkdir -p "$DESTDIR/usr/share/b"; echo b > "$DESTDIR/usr/share/b/b"' }),
    c: recipeText({ name: 'c', script: 'mkdir -p "$DESTDIR/usr/share/c"; echo c > "$DESTDIR/usr/share/c/c"' }),
  });
  const state = join(dir.path, 'coordinator');
  const build = spawnKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 100_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  // A "worker" that takes both jobs and answers each with a lie.
  const { hostEnvId } = await import('../../src/run/host-env.ts');
  const cluster = await openCluster(url, [{ arch: hostArch(), envId: hostEnvId() }]);
  t.after(() => cluster.close());
  const consumer = await cluster.js.consumers.get(JOBS_STREAM, consumerName(hostArch(), hostEnvId()));
  for (let i = 0; i < 3; i++) {
    const msg = await consumer.next({ expires: 30_000 });
    assert.ok(msg !== null && msg !== undefined, 'a job was queued');
    const m = JSON.parse(msg.string()) as { runId: string; jobId: string; key: string };
    const lie = m.jobId.startsWith('a@')
      ? { state: 'built', key: m.key, outputHash: 'f'.repeat(64), startedAt: 1, endedAt: 2 }
      : m.jobId.startsWith('b@')
        ? { state: 'built', key: 'cd'.repeat(32), startedAt: 1, endedAt: 2 }
        // What another kiln version might send: a field this one does not know.
        : { state: 'failed', key: m.key, phase: 'build', startedAt: 1, endedAt: 2 };
    await cluster.js.publish(eventsSubject(m.runId), JSON.stringify({ type: 'claimed', jobId: m.jobId, attempt: 1, worker: 'liar', at: Date.now() }));
    await cluster.js.publish(eventsSubject(m.runId), JSON.stringify({ type: 'result', jobId: m.jobId, attempt: 1, worker: 'liar', outcome: lie, artifact: null, log: null }));
    msg.ack();
  }
  const r = await build.done;
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { a: 'failed', b: 'failed', c: 'failed' });
  assert.match(pkgOf(report, 'c').cause ?? '', /the result of worker liar could not be read \(outcome: .*\): is it another kiln version\?/);
  assert.match(pkgOf(report, 'a').cause ?? '', /the result of worker liar was refused: it says built but sends no artifact/);
  assert.match(pkgOf(report, 'b').cause ?? '', /the result of worker liar was refused: it is for the key cdcdcdcdcdcdcdcd, not the job's/);
  assert.equal(pkgOf(report, 'a').artifact ?? null, null);
});

test('kiln serve --nats: the daemon\'s builds are built by workers', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const tree = await writeTree(join(dir.path, 'tree'), {
    one: recipeText({ name: 'one', script: 'mkdir -p "$DESTDIR/usr/share/one"; echo 1 > "$DESTDIR/usr/share/one/x"' }),
    two: recipeText({ name: 'two', deps: ['one'], script: 'test -e "$SYSROOT/usr/share/one/x"; mkdir -p "$DESTDIR/usr/share/two"; echo 2 > "$DESTDIR/usr/share/two/x"' }),
  });
  // A source on the daemon's network: the workers fetch it for the daemon's tenants, and may not either.
  const { createServer } = await import('node:http');
  const { createHash } = await import('node:crypto');
  const secret = 'what only the machines behind the daemon reach\n';
  const http = createServer((_req, res) => res.end(secret));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  t.after(() => http.close());
  const loot = await writeTree(join(dir.path, 'loot'), {
    loot: `${recipeText({ name: 'loot', script: 'mkdir -p "$DESTDIR/usr/share/loot"; cp secret.txt "$DESTDIR/usr/share/loot/"' })}\n[[sources]]\nurl = "http://127.0.0.1:${(http.address() as { port: number }).port}/secret.txt"\nsha256 = "${createHash('sha256').update(secret).digest('hex')}"\n`,
  });
  const state = join(dir.path, 'daemon');
  const { openServerRecords } = await import('../../src/records/server-records.ts');
  const records = openServerRecords(state);
  const token = records.createToken('alice').token;
  records.close();
  const daemon = spawnKiln(['serve', '--listen', '127.0.0.1:0', '--state', state, '--sandbox', 'host', '--tree', `main=${tree}`, '--tree', `loot=${loot}`, '--nats', url], { timeoutMs: 100_000, env: { KILN_ENVS: '', KILN_ACK_WAIT_MS: String(ACK_WAIT_MS), KILN_UNCLAIMED_NOTE_MS: '500' } });
  let err = '';
  daemon.child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  t.after(() => daemon.child.kill('SIGKILL'));
  const base = await until('kiln serve to listen', () => /listening on (http:\/\/\S+) /.exec(err)?.[1]);
  // Said after "listening" (once the cluster is open): waited for, not expected at once.
  await until('the daemon to say it hands jobs to workers', () => /jobs built by kiln workers through nats:/.test(err) || undefined);
  const call = async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return res.json();
  };
  const submitted = await call('POST', '/api/v1/builds', { tree: 'main' });
  assert.equal(typeof submitted.id, 'string', JSON.stringify(submitted));
  // No worker yet: the daemon's operator hears it (a daemon keeps no run notes).
  await until('the daemon to say no worker took it', () => (/no worker has taken it in 0\.5 s \(no worker answers at all\): start one for/.test(err) ? true : undefined), 30_000);
  const w = startWorker(t, url, join(dir.path, 'w1'), 'w1');
  let build: any;
  for (const end = Date.now() + 60_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    build = await call('GET', `/api/v1/builds/${submitted.id}`);
    if (build.state !== 'queued' && build.state !== 'running') break;
  }
  assert.equal(build.state, 'done', JSON.stringify(build));
  assert.match(w.output(), /one@\S+: built[\s\S]*two@\S+: built/);
  const looted = await call('POST', '/api/v1/builds', { tree: 'loot' });
  for (const end = Date.now() + 60_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    build = await call('GET', `/api/v1/builds/${looted.id}`);
    if (build.state !== 'queued' && build.state !== 'running') break;
  }
  assert.equal(build.state, 'failed', JSON.stringify(build));
  const report = await call('GET', `/api/v1/builds/${looted.id}/report.json`);
  const pkg = report.packages.find((p: { name: string }) => p.name === 'loot');
  assert.match(pkg.cause, /refused: a daemon fetches only from public addresses and its own mirrors: 127\.0\.0\.1 is not a public address/, JSON.stringify(pkg));
  daemon.child.kill('SIGTERM');
  await daemon.done;
});

test('the NATS server restarted in the middle of a job: both sides say so, the job goes on, the run ends built', { skip: noNats, timeout: 240_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const { url, port, child: first } = await startNats(t, ['-js', '-sd', join(dir.path, 'nats'), '-a', '127.0.0.1', '-p', '-1']);
  const gate = join(dir.path, 'gate');
  const tree = await writeTree(join(dir.path, 'tree'), {
    slow: gatedRecipe('slow', gate),
  });
  const w = startWorker(t, url, join(dir.path, 'w1'), 'w1');
  const build = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'coordinator'), '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 220_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  await until('the worker to take it', () => (/slow@\S+: taken/.test(w.output()) ? true : undefined), 60_000);
  first.kill('SIGKILL');
  await build.waitForEvent((e) => e.type === 'note' && /lost the NATS server at nats:/.test(e.text), 90_000);
  const second = spawn('nats-server', ['-js', '-sd', join(dir.path, 'nats'), '-a', '127.0.0.1', '-p', port], { stdio: 'ignore' });
  t.after(() => second.kill('SIGKILL'));
  await build.waitForEvent((e) => e.type === 'note' && /the NATS server at nats:\S+ is back/.test(e.text), 90_000);
  await until('the worker to be back', () => (/is back/.test(w.output()) ? true : undefined), 90_000);
  await writeFile(gate, 'go');
  const r = await build.done;
  assert.equal(r.code, 0, explain(r));
  assert.equal(pkgOf(await readReport(r), 'slow').state, 'built');
  assert.match(w.output(), /lost the NATS server at nats:\S+: waiting for it to come back/);
});

test('blobs expire KILN_BLOB_TTL_MS after their last put (a bucket of an older kiln is given the TTL); a run after that puts them again and builds', { skip: noNats, timeout: 60_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const TTL_MS = 5_000;
  const env = { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS), KILN_BLOB_TTL_MS: String(TTL_MS) };
  // The bucket as an older kiln made it: no TTL. Read here without opening it as kiln does (which would set the TTL).
  const { connect } = await import('@nats-io/transport-node');
  const { Objm } = await import('@nats-io/obj');
  const nc = await connect({ servers: url });
  t.after(() => nc.close());
  const bucket = await new Objm(nc).create('kiln_blobs', {});
  assert.equal((await bucket.status()).ttl, 0);
  const blobNames = async (): Promise<string[]> => (await bucket.list()).map((i) => i.name).sort();
  const tree = await writeTree(join(dir.path, 'tree'), {
    base: recipeText({ name: 'base', script: 'mkdir -p "$DESTDIR/usr/include"; echo "#define BASE 1" > "$DESTDIR/usr/include/base.h"' }),
    app: recipeText({ name: 'app', deps: ['base'], script: 'grep -q "BASE 1" "$SYSROOT/usr/include/base.h"; mkdir -p "$DESTDIR/usr/share/app"; echo app > "$DESTDIR/usr/share/app/x"' }),
  });
  const first = startWorker(t, url, join(dir.path, 'w1'), 'w1', undefined, env);
  const state = join(dir.path, 'coordinator');
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 40_000, env });
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(statesOf(await readReport(r)), { app: 'built', base: 'built' });
  assert.equal((await bucket.status()).ttl, TTL_MS * 1_000_000, 'the bucket has the TTL now');
  // Two folders, two artifacts (archive and manifest each), two logs: all put in this run.
  const put = await blobNames();
  assert.ok(put.length >= 4, `blobs of the run in the bucket: ${put.join(' ')}`);
  // Gone after the TTL (the server's own expiry), none left behind.
  const end = Date.now() + TTL_MS + 5_000;
  let left = put;
  while (left.length > 0 && Date.now() < end) {
    await new Promise((res) => setTimeout(res, 250));
    left = await blobNames();
  }
  assert.deepEqual(left, [], 'every blob expired');
  // A new worker (nothing in its cache): app's folder and base's artifact must come again.
  first.child.kill('SIGKILL');
  await first.exited;
  const second = startWorker(t, url, join(dir.path, 'w2'), 'w2', undefined, env);
  const again = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--nats', url, '--json', '--force', 'app'], { timeoutMs: 40_000, env });
  assert.equal(again.code, 0, explain(again) + second.output());
  const report = await readReport(again);
  assert.deepEqual(statesOf(report), { app: 'built', base: 'up-to-date' });
  assert.match(await readFile(pkgOf(report, 'app').log!, 'utf8'), /result from worker w2 \(attempt 1\): built/);
  // The same blobs as before (app's folder, base's artifact), put again.
  const after = await blobNames();
  assert.ok(put.filter((n) => after.includes(n)).length >= 2, `put again: ${after.join(' ')}`);
});

for (const ending of ['the second attempt ends', 'the second attempt\'s worker dies'] as const) test(`fencing: a worker stopped (SIGSTOP) past the ack wait loses its job to another; its late result, once it runs again, is ignored and it does not ack (${ending}: ${ending === 'the second attempt ends' ? 'the artifact is the second attempt\'s' : 'the job is delivered again and built'})`, { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const gate = join(dir.path, 'gate');
  const counter = join(dir.path, 'attempts');
  const tree = await writeTree(join(dir.path, 'tree'), {
    // Each attempt takes the next number, waits for its own gate, and installs its number.
    fenced: recipeText({ name: 'fenced', script: `n=$(( $(cat '${counter}' 2>/dev/null || echo 0) + 1 )); echo $n > '${counter}'; echo "attempt $n started"; while [ ! -e '${gate}'$n ]; do sleep 0.1; done; mkdir -p "$DESTDIR/usr/share/fenced"; echo $n > "$DESTDIR/usr/share/fenced/attempt"` }),
  });
  const first = startWorker(t, url, join(dir.path, 'w1'), 'w1');
  const state = join(dir.path, 'coordinator');
  const build = spawnKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 100_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  await until('w1 to start attempt 1', () => (/fenced@\S+: taken/.test(first.output()) && existsSync(counter) ? true : undefined), 60_000);
  first.child.kill('SIGSTOP');
  t.after(() => first.child.kill('SIGCONT'));
  const second = startWorker(t, url, join(dir.path, 'w2'), 'w2');
  await until('w2 to take it after the ack wait', () => (/fenced@\S+: taken \(attempt 2\)/.test(second.output()) ? true : undefined), 60_000);
  await until('attempt 2 to start', () => (readFileSync(counter, 'utf8').trim() === '2' ? true : undefined), 30_000);
  // w1 runs again and finishes attempt 1 while attempt 2 still builds: its result comes first.
  first.child.kill('SIGCONT');
  await writeFile(`${gate}1`, 'go');
  // Told its result came late, w1 does not ack: acking that old delivery would take the job off the queue.
  await until('w1 to hear its attempt 1 came late', () => (/fenced@\S+: attempt 1 came late: the job went to another worker meanwhile/.test(first.output()) ? true : undefined), 30_000);
  const log = (): string => {
    const runs = readdirSync(join(state, 'logs'));
    const name = runs.length === 0 ? undefined : readdirSync(join(state, 'logs', runs[0]!)).find((f) => f.startsWith('fenced_') && f.endsWith('.log'));
    return name === undefined ? '' : readFileSync(join(state, 'logs', runs[0]!, name), 'utf8');
  };
  // (The coordinator says its verdict first and writes its note after: waited for, not raced.)
  await until('the coordinator to note the late result', () => (/late result from worker w1 \(attempt 1\): ignored, attempt 2 is building on worker w2/.test(log()) ? true : undefined), 10_000).catch((e: unknown) => assert.fail(`${String(e)}\n${log()}`));
  let want = '2';
  if (ending === 'the second attempt ends') await writeFile(`${gate}2`, 'go');
  else {
    // The worker of the attempt that counts dies: the job must still be on the queue.
    second.child.kill('SIGKILL');
    // (It hung: w1 had acked its old delivery, which took the job off the queue.)
    await until('w1 to take it again (attempt 3)', () => (/fenced@\S+: taken \(attempt 3\)/.test(first.output()) ? true : undefined), 30_000);
    // w1's own cache has its build of this key from attempt 1 (a good build of the same
    // inputs): attempt 3 finds it there, or builds again.
    await writeFile(`${gate}3`, 'go');
    want = '3';
  }
  const r = await build.done;
  assert.equal(r.code, 0, explain(r));
  const report = await readReport(r);
  const finalLog = await readFile(pkgOf(report, 'fenced').log!, 'utf8');
  assert.doesNotMatch(finalLog, /^\[kiln [^\]]*\] result from worker w1 \(attempt 1\)/m, 'w1\'s late result is not taken');
  if (want === '2') {
    assert.equal(pkgOf(report, 'fenced').state, 'built');
    const attempt = spawnSync('tar', ['--zstd', '-xOf', pkgOf(report, 'fenced').artifact!, '--wildcards', '*usr/share/fenced/attempt'], { encoding: 'utf8' });
    assert.equal(attempt.stdout.trim(), '2', `the stored artifact is attempt 2's\n${attempt.stderr}`);
    assert.match(finalLog, /result from worker w2 \(attempt 2\): built/);
  } else {
    assert.match(finalLog, /result from worker w1 \(attempt 3\): (built|up-to-date)/);
  }
});

test('a worker low on disk (--min-free above what is free) takes no job and says so; another worker takes it', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const tree = await writeTree(join(dir.path, 'tree'), { small: recipeText({ name: 'small', script: 'mkdir -p "$DESTDIR/usr/share/small"; echo ok > "$DESTDIR/usr/share/small/ok"' }) });
  const full = startWorker(t, url, join(dir.path, 'w1'), 'full', undefined, {}, ['--sandbox', 'host', '--min-free', '1000000G']);
  await until('the full worker to say it takes nothing', () => (/has [\d.]+ ?\w+ free, less than --min-free [\d.]+ ?\w+: taking no job until there is space/.test(full.output()) ? true : undefined), 30_000);
  const state = join(dir.path, 'coordinator');
  const build = spawnKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 100_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS), KILN_UNCLAIMED_NOTE_MS: '500' } });
  await build.waitForEvent((e) => e.type === 'note' && /small@\S+: no worker has taken it in 0\.5 s \(worker full serves \S+ in \S+ but is low on disk \([\d.]+ ?\w+ free, --min-free [\d.]+ ?\w+\)\)/.test(e.text), 30_000);
  const other = startWorker(t, url, join(dir.path, 'w2'), 'other');
  const r = await build.done;
  assert.equal(r.code, 0, explain(r));
  assert.equal(pkgOf(await readReport(r), 'small').state, 'built');
  assert.match(other.output(), /small@\S+: taken/);
  assert.doesNotMatch(full.output(), /taken/, 'the worker low on disk took nothing');
});

test('the NATS server SIGKILLed with hundreds of jobs queued: after its restart every job is built, each result taken once (case 6)', { skip: noNats, timeout: 240_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const start = (port: string): { child: ReturnType<typeof spawn>; out: () => string } => {
    const child = spawn('nats-server', ['-js', '-sd', join(dir.path, 'nats'), '-a', '127.0.0.1', '-p', port], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    t.after(() => child.kill('SIGKILL'));
    return { child, out: () => out };
  };
  const first = start('-1');
  const port = await until('nats-server to listen', () => /Listening for client connections on 127\.0\.0\.1:(\d+)/.exec(first.out())?.[1]);
  const url = `nats://127.0.0.1:${port}`;
  const N = 300;
  const recipes: Record<string, string> = {};
  for (let i = 0; i < N; i++) recipes[`p${i}`] = recipeText({ name: `p${i}`, script: `mkdir -p "$DESTDIR/usr/share/p${i}"; echo ${i} > "$DESTDIR/usr/share/p${i}/n"` });
  const tree = await writeTree(join(dir.path, 'tree'), recipes);
  const w = startWorker(t, url, join(dir.path, 'w1'), 'w1');
  const build = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'coordinator'), '--sandbox', 'host', '--nats', url, '--json', '--jobs', String(N)], { timeoutMs: 220_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  // Killed once some jobs are done and most are still queued.
  await until('the worker to build a few', () => ((w.output().match(/: built/g) ?? []).length >= 20 ? true : undefined), 120_000);
  first.child.kill('SIGKILL');
  await build.waitForEvent((e) => e.type === 'note' && /lost the NATS server at nats:/.test(e.text), 90_000);
  start(port);
  const r = await build.done;
  assert.equal(r.code, 0, explain(r));
  const report = await readReport(r);
  const states = statesOf(report);
  assert.equal(Object.keys(states).length, N);
  for (let i = 0; i < N; i++) {
    const p = pkgOf(report, `p${i}`);
    // Built; or, when its result was lost in the outage and it came again, found in the
    // worker's cache (built once, not twice).
    if (p.state === 'up-to-date') assert.match(p.cause ?? '', /found up to date in the cache of worker w1/, `p${i}`);
    else assert.equal(p.state, 'built', `p${i}: ${JSON.stringify(p)}`);
    const log = await readFile(p.log!, 'utf8');
    assert.equal((log.match(/result from worker \S+ \(attempt \d+\): (built|up-to-date)/g) ?? []).length, 1, `p${i}: one result taken\n${log}`);
  }
});

test('two tenants, two NATS accounts: a worker of one never sees the other\'s jobs nor blobs; wrong credentials are refused as such (cases 25, 26)', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const base = await natsServerWithAccounts(t, dir.path, { A: { user: 'alice', password: 'pa' }, B: { user: 'bob', password: 'pb' } });
  const as = (user: string, password: string): string => base.replace('nats://', `nats://${user}:${password}@`);
  const tree = await writeTree(join(dir.path, 'tree'), { mine: recipeText({ name: 'mine', script: 'mkdir -p "$DESTDIR/usr/share/mine"; echo alice > "$DESTDIR/usr/share/mine/owner"' }) });
  const state = join(dir.path, 'coordinator');
  const wrong = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--nats', as('alice', 'nope')], { timeoutMs: 60_000 });
  assert.equal(wrong.code, 2, explain(wrong));
  assert.match(wrong.stderr, /error \[unauthorized\]: NATS at nats:\/\/127\.0\.0\.1:\d+ refused kiln's credentials/, explain(wrong));
  assert.doesNotMatch(wrong.stderr + wrong.stdout, /nope/, 'the password is not printed');
  // Bob's worker is given its server without the scheme (the client's nats://): its user and password still count, and are not printed.
  const bobs = startWorker(t, as('bob', 'pb').replace('nats://', ''), join(dir.path, 'wb'), 'bobs-worker');
  await until('bob\'s worker to wait for jobs', () => (/taking jobs for/.test(bobs.output()) ? true : undefined), 30_000);
  const build = spawnKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--nats', as('alice', 'pa'), '--json'], { timeoutMs: 100_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS), KILN_UNCLAIMED_NOTE_MS: '500' } });
  await build.waitForEvent((e) => e.type === 'note' && /mine@\S+: no worker has taken it in 0\.5 s \(no worker answers at all\)/.test(e.text), 30_000);
  const alices = startWorker(t, as('alice', 'pa'), join(dir.path, 'wa'), 'alices-worker');
  const r = await build.done;
  assert.equal(r.code, 0, explain(r));
  assert.match(alices.output(), /mine@\S+: taken/);
  assert.doesNotMatch(bobs.output(), /taken/, 'bob\'s worker saw none of alice\'s jobs');
  assert.doesNotMatch(bobs.output() + alices.output() + r.stderr + r.stdout, /:pa@|:pb@/, 'no password printed');
  // Each account has its own object store: bob's holds nothing of alice's run.
  const { connect } = await import('@nats-io/transport-node');
  const { Objm } = await import('@nats-io/obj');
  const names = async (user: string, password: string): Promise<string[]> => {
    const nc = await connect({ servers: base, user, pass: password });
    try {
      const os = await new Objm(nc).open('kiln_blobs');
      return (await os.list()).map((o) => o.name);
    } finally {
      await nc.close();
    }
  };
  const alicesBlobs = await names('alice', 'pa');
  assert.ok(alicesBlobs.length > 0, 'alice\'s run put its blobs');
  const bobsBlobs = await names('bob', 'pb');
  assert.deepEqual(bobsBlobs.filter((n) => alicesBlobs.includes(n)), [], 'none of them in bob\'s account');
});

test('workers stopped (SIGTERM) mid-job give it back at once, and their stops are not counted as deliveries: three stops, and the fourth worker builds it', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const gate = join(dir.path, 'gate');
  const tree = await writeTree(join(dir.path, 'tree'), {
    gated: gatedRecipe('gated', gate),
  });
  const build = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'coordinator'), '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 100_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  for (let i = 1; i <= 3; i++) {
    const w = startWorker(t, url, join(dir.path, `w${i}`), `w${i}`);
    await until(`w${i} to take it`, () => (new RegExp(`gated@\\S+: taken \\(attempt ${i}\\)`).test(w.output()) ? true : undefined), 30_000);
    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0, w.output());
    assert.match(w.output(), /gated@\S+: given back \(the worker is stopping\)/);
  }
  const last = startWorker(t, url, join(dir.path, 'w4'), 'w4');
  await until('w4 to take it', () => (/gated@\S+: taken \(attempt 4\)/.test(last.output()) ? true : undefined), 30_000);
  await writeFile(gate, 'go');
  const r = await build.done;
  assert.equal(r.code, 0, explain(r));
  const report = await readReport(r);
  assert.equal(pkgOf(report, 'gated').state, 'built');
  const log = await readFile(pkgOf(report, 'gated').log!, 'utf8');
  assert.match(log, /attempt 3: worker w3 gave it back \(it is stopping\); queued again/);
  assert.match(log, /attempt 4: taken by worker w4/);
  assert.match(log, /result from worker w4 \(attempt 4\): built/);
});

test('a worker SIGKILLed mid-job and started again on the same state takes the job again and builds it (what the dead one left is reaped at start)', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const gate = join(dir.path, 'gate');
  const tree = await writeTree(join(dir.path, 'tree'), {
    again: gatedRecipe('again', gate),
  });
  const build = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'coordinator'), '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 100_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  const state = join(dir.path, 'w1');
  const first = startWorker(t, url, state, 'w1');
  await until('w1 to take it', () => (/again@\S+: taken \(attempt 1\)/.test(first.output()) ? true : undefined), 30_000);
  await until('its build to start', () => (spawnSync('pgrep', ['-f', `while \\[ ! -e '${gate}' \\]`]).status === 0 ? true : undefined), 30_000);
  first.child.kill('SIGKILL');
  await first.exited;
  const restarted = startWorker(t, url, state, 'w1');
  await until('the restarted w1 to take it again', () => (/again@\S+: taken \(attempt 2\)/.test(restarted.output()) ? true : undefined), 60_000);
  await writeFile(gate, 'go');
  const r = await build.done;
  assert.equal(r.code, 0, `${explain(r)}\n--- worker ---\n${restarted.output()}`);
  assert.equal(pkgOf(await readReport(r), 'again').state, 'built');
});

test('kiln build --nats --profiles --option: the job goes to the workers of its env and builds with the profiles and options (it hung: its queue named the profiles, no worker\'s did)', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const tree = await writeTree(join(dir.path, 'tree'), {
    prof: recipeText({ name: 'prof', script: 'test "$KILN_PROFILES" = nocheck; mkdir -p "$DESTDIR/usr/share/prof"; echo ok > "$DESTDIR/usr/share/prof/ok"' }),
    // The worker gets the option values the coordinator planned with, and keys the job alike.
    opt: `${recipeText({ name: 'opt', script: 'test "$KILN_OPTIONS" = docs; test "$KILN_OPTION_SSL" = 0; mkdir -p "$DESTDIR/usr/share/opt"; echo ok > "$DESTDIR/usr/share/opt/ok"' })}\n[options]\nssl = true\ndocs = false\n`,
  });
  startWorker(t, url, join(dir.path, 'w1'), 'w1');
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'coordinator'), '--sandbox', 'host', '--nats', url, '--profiles', 'nocheck', '--option', 'ssl=off', '--option', 'opt:docs=on', '--json'], { timeoutMs: 90_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS), KILN_UNCLAIMED_NOTE_MS: '5000' } });
  assert.equal(r.code, 0, explain(r));
  assert.equal(pkgOf(await readReport(r), 'prof').state, 'built');
  assert.equal(pkgOf(await readReport(r), 'opt').state, 'built');
});

test('a NATS user with the permissions docs/operations.md lists builds through workers; one without them is refused as unauthorized, naming them', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const { NATS_PERMISSIONS } = await import('../../src/distributed/cluster.ts');
  // The lists, as the hint and the docs say them.
  const [pub, sub] = /^publish on (.*), and subscribe on (.*)$/.exec(NATS_PERMISSIONS)!.slice(1).map((l) => l!.split(/, | and /));
  const base = await natsServerWithAccounts(t, dir.path, {
    A: { user: 'kiln', password: 'pk', publish: pub!, subscribe: sub! },
    B: { user: 'narrow', password: 'pn', publish: ['kiln.>', '$JS.API.>'], subscribe: ['kiln.>'] },
  });
  const as = (user: string, password: string): string => base.replace('nats://', `nats://${user}:${password}@`);
  // 30 MB that do not compress: its transfer needs the object store's flow control ($JS.FC.>; it stalled without).
  const tree = await writeTree(join(dir.path, 'tree'), { perm: recipeText({ name: 'perm', script: 'mkdir -p "$DESTDIR/usr/share/perm"; head -c 30000000 /dev/urandom > "$DESTDIR/usr/share/perm/big"' }) });
  const narrow = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'n'), '--sandbox', 'host', '--nats', as('narrow', 'pn')], { timeoutMs: 60_000 });
  assert.equal(narrow.code, 2, explain(narrow));
  assert.match(narrow.stderr, /error \[unauthorized\]: NATS at nats:\S+ refused kiln a subject: Permissions Violation/, explain(narrow));
  assert.match(narrow.stderr, /hint: give kiln's NATS user publish on kiln\.>/);
  startWorker(t, as('kiln', 'pk'), join(dir.path, 'w'), 'w');
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'c'), '--sandbox', 'host', '--nats', as('kiln', 'pk'), '--json'], { timeoutMs: 90_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  assert.equal(r.code, 0, explain(r));
  assert.equal(pkgOf(await readReport(r), 'perm').state, 'built');
});

test('a package folder past the workers\' limits fails at once, saying why and what to do (it was given back until its deliveries ran out)', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const tree = await writeTree(join(dir.path, 'tree'), { many: recipeText({ name: 'many', script: 'mkdir -p "$DESTDIR/usr/share/many"; echo ok > "$DESTDIR/usr/share/many/ok"' }) });
  await mkdir(join(tree, 'many', 'data'));
  for (let i = 0; i < 20_001; i++) await writeFile(join(tree, 'many', 'data', `f${i}`), '');
  startWorker(t, url, join(dir.path, 'w1'), 'w1');
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'c'), '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 90_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  assert.equal(r.code, 1, explain(r));
  const many = pkgOf(await readReport(r), 'many');
  assert.equal(many.state, 'failed');
  assert.match(many.cause ?? '', /worker w1: the folder of many: member .* over the limit of 20000 members.*: a worker takes no folder past 20000 files or 256 MiB .*build this package without --nats/, many.cause ?? '');
  assert.doesNotMatch(many.cause ?? '', /deliveries/);
});

test('a worker whose own copy of an artifact is damaged removes it: a hit it would send back is built again, a dependency is taken again from the coordinator (both failed the job on every run)', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const tree = await writeTree(join(dir.path, 'tree'), {
    base: recipeText({ name: 'base', script: 'mkdir -p "$DESTDIR/usr/include"\necho "#define BASE 42" > "$DESTDIR/usr/include/base.h"' }),
    app: recipeText({ name: 'app', deps: ['base'], script: 'grep -q "BASE 42" "$SYSROOT/usr/include/base.h"\nmkdir -p "$DESTDIR/usr/bin"\necho "echo app" > "$DESTDIR/usr/bin/app"' }),
  });
  const cache = join(dir.path, 'worker-cache');
  const w1 = startWorker(t, url, join(dir.path, 'w1'), 'w1', cache);
  const env = { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) };
  const build = (state: string) => runKiln(['build', '--tree', tree, '--state', join(dir.path, state), '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 60_000, env });
  const first = await build('a');
  assert.deepEqual(statesOf(await readReport(first)), { app: 'built', base: 'built' }, explain(first));
  // Damage the worker's archives: same size, one byte changed (a bit flip, a bad disk).
  const damage = async (name: string): Promise<void> => {
    const archive = pkgOf(await readReport(first), name).artifact!.replace(join(dir.path, 'a', 'cache'), cache);
    const bytes = await readFile(archive);
    bytes[bytes.length - 2] = (bytes[bytes.length - 2] ?? 0) ^ 0xff;
    await writeFile(archive, bytes);
  };
  await damage('base');
  await damage('app');
  // A coordinator with an empty cache: the worker's hits are damaged, so it builds them again.
  const fresh = await build('b');
  assert.equal(fresh.code, 0, explain(fresh) + w1.output());
  assert.deepEqual(statesOf(await readReport(fresh)), { app: 'built', base: 'built' }, explain(fresh));
  assert.match(w1.output(), /base@\S+: the stored artifact of base@\S+ here is corrupt and was removed \(.*\): the job is built again/);
  // A dependency damaged here, its dependent changed: staged from the coordinator's copy.
  await damage('base');
  await writeFile(join(tree, 'app', 'recipe.toml'), recipeText({ name: 'app', deps: ['base'], script: 'grep -q "BASE 42" "$SYSROOT/usr/include/base.h"\nmkdir -p "$DESTDIR/usr/bin"\necho "echo app 2" > "$DESTDIR/usr/bin/app"' }));
  const changed = await build('a');
  assert.equal(changed.code, 0, explain(changed) + w1.output());
  assert.deepEqual(statesOf(await readReport(changed)), { app: 'built', base: 'up-to-date' }, explain(changed));
  assert.match(w1.output(), /app@\S+: the stored artifact of base@\S+ here is corrupt and was removed \(.*\): the coordinator's copy is used/);
});

test('a worker with a new --state builds in the chroot sandbox: the downloads cache bind-mounted into its roots is made (every job failed to mount it)', { skip: noNats || sharedEnvSkip(), timeout: 300_000 }, async (t) => {
  const envs = await sharedEnv();
  await using dir = await tmpDir('kiln-nats-chroot-');
  const url = await natsServer(t, dir.path);
  const tree = await writeTree(join(dir.path, 'tree'), {
    one: recipeText({ name: 'one', script: 'mkdir -p "$DESTDIR/usr/share/one"\necho one > "$DESTDIR/usr/share/one/one"' }),
  });
  await writeFile(join(tree, 'kiln.toml'), 'env = "bookworm-{arch}"\n');
  // A state dir it has never used, and no --cache: its cache is made under it.
  const workerState = join(dir.path, 'worker');
  const worker = startWorker(t, url, workerState, 'chroot-worker', undefined, envs, ['--sandbox', 'chroot', '--env', 'bookworm-{arch}']);
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'coordinator'), '--nats', url, '--json'], { timeoutMs: 240_000, env: { ...envs, KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  assert.equal(r.code, 0, `${explain(r)}\n--- worker ---\n${worker.output().slice(-4000)}`);
  assert.deepEqual(statesOf(await readReport(r)), { one: 'built' });
  assert.match(worker.output(), /one@\S+: built/);
  assert.ok(existsSync(join(workerState, 'cache', 'downloads')));
});
