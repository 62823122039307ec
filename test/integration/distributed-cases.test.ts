// More reliability cases of kiln's many-machines mode (../shared/research/distributed-and-
// reliability.md), with a real nats-server and real `kiln worker` processes
// (test/helpers/nats.ts), beside distributed.test.ts:
// - case 8: a poison job, whose build SIGKILLs the worker that runs it, every time, is
//   given up after MAX_DELIVER deliveries and fails with its log, while the other jobs of
//   its run and of a second run at the same time keep being built on the same queue;
// - case 3, timed: with two workers idle, the one building a job is SIGKILLed; the other
//   takes it (attempt 2) within the ack wait and a margin, both attempts in the job's log;
// - case 26: a `kiln worker` given wrong NATS credentials is refused as unauthorized.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, pkgOf, readReport, spawnKiln, statesOf } from '../helpers/run-kiln.ts';
import { ACK_WAIT_MS, natsServer, natsServerWithAccounts, noNats, startWorker, until, type Worker } from '../helpers/nats.ts';
import { MAX_DELIVER } from '../../src/distributed/cluster.ts';

async function writeTree(tree: string, recipes: Readonly<Record<string, string>>): Promise<string> {
  for (const [name, text] of Object.entries(recipes)) {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), text);
  }
  return tree;
}

const quick = (name: string): string => recipeText({ name, script: `sleep 1; mkdir -p "$DESTDIR/usr/share/${name}"; echo ${name} > "$DESTDIR/usr/share/${name}/${name}"` });

/** A build that finds the `kiln worker` above it and SIGKILLs it: the worker crashes each time it runs this job. */
const POISON_SCRIPT = [
  'echo "taking my worker down"',
  'p=$$',
  'while [ "$p" -gt 1 ]; do',
  // (cmdline's arguments one a line with grep -z; no backslash, which a TOML string would read)
  '  if grep -qaz "kiln.js$" /proc/$p/cmdline && grep -qaz "^worker$" /proc/$p/cmdline; then kill -KILL "$p"; exit 1; fi',
  '  p=$(awk \'{print $4}\' /proc/$p/stat)',
  'done',
  'echo "no kiln worker above this build"; exit 1',
].join('\n');

test('a poison job that kills its worker every time is given up after MAX_DELIVER deliveries, failed with its log, while the other jobs of its run and of another run keep being built (case 8)', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const one: Record<string, string> = { poison: recipeText({ name: 'poison', script: POISON_SCRIPT }) };
  for (let i = 1; i <= 6; i++) one[`a${i}`] = quick(`a${i}`);
  const two: Record<string, string> = {};
  for (let i = 1; i <= 6; i++) two[`b${i}`] = quick(`b${i}`);
  const treeOne = await writeTree(join(dir.path, 'one'), one);
  const treeTwo = await writeTree(join(dir.path, 'two'), two);
  // Two workers at all times: one that dies is replaced, as a service manager would.
  const seen: { at: number; worker: string; line: string }[] = [];
  const pool: { w: Worker; name: string; read: number }[] = [];
  let started = 0;
  const add = (): void => {
    const name = `w${++started}`;
    pool.push({ w: startWorker(t, url, join(dir.path, name), name), name, read: 0 });
  };
  add();
  add();
  const env = { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) };
  const runOne = spawnKiln(['build', '--tree', treeOne, '--state', join(dir.path, 'c1'), '--sandbox', 'host', '--nats', url, '--json', '--jobs', '8'], { timeoutMs: 100_000, env });
  // The second run comes once the poison job went round once: its jobs are then queued
  // while the poison job goes round (queued at once, they could all be built before it).
  let runTwo: ReturnType<typeof spawnKiln> | undefined;
  let finished = 0;
  void runOne.done.then(() => finished++);
  while (finished < 2) {
    if (runTwo === undefined && seen.some((x) => /poison@\S+: taken \(attempt 1\)/.test(x.line))) {
      runTwo = spawnKiln(['build', '--tree', treeTwo, '--state', join(dir.path, 'c2'), '--sandbox', 'host', '--nats', url, '--json', '--jobs', '8'], { timeoutMs: 100_000, env });
      void runTwo.done.then(() => finished++);
    }
    for (const [i, p] of [...pool.entries()].reverse()) {
      const out = p.w.output();
      const end = out.lastIndexOf('\n') + 1;
      for (const line of out.slice(p.read, end).split('\n').filter((l) => l !== '')) seen.push({ at: Date.now(), worker: p.name, line });
      p.read = end;
      if (p.w.child.exitCode !== null || p.w.child.signalCode !== null) {
        pool.splice(i, 1);
        add();
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const [r1, r2] = [await runOne.done, await runTwo!.done];
  const said = seen.map((s) => `${s.at} ${s.worker}: ${s.line}`).join('\n');
  // The poison job: taken MAX_DELIVER times, each time by a worker that then died; never again.
  const takes = seen.filter((s) => /poison@\S+: taken \(attempt \d+\)/.test(s.line));
  assert.deepEqual(takes.map((s) => Number(/attempt (\d+)/.exec(s.line)![1])), Array.from({ length: MAX_DELIVER }, (_, i) => i + 1), said);
  assert.equal(new Set(takes.map((s) => s.worker)).size, MAX_DELIVER, `each delivery killed its worker, the next went to another\n${said}`);
  assert.equal(r1.code, 1, explain(r1));
  const report1 = await readReport(r1);
  const poison = pkgOf(report1, 'poison');
  assert.equal(poison.state, 'failed');
  assert.match(poison.cause ?? '', new RegExp(`no worker finished it in ${MAX_DELIVER} deliveries`));
  const log = await readFile(poison.log!, 'utf8');
  for (let i = 2; i <= MAX_DELIVER; i++) assert.match(log, new RegExp(`attempt ${i}: taken by worker w\\d+ \\(w\\d+ stopped answering`), log);
  assert.match(log, new RegExp(`given up after ${MAX_DELIVER} deliveries`), log);
  // Everything else of both runs was built.
  const { poison: _, ...rest } = statesOf(report1);
  assert.deepEqual(rest, { a1: 'built', a2: 'built', a3: 'built', a4: 'built', a5: 'built', a6: 'built' }, explain(r1));
  assert.equal(r2.code, 0, explain(r2));
  assert.deepEqual(statesOf(await readReport(r2)), { b1: 'built', b2: 'built', b3: 'built', b4: 'built', b5: 'built', b6: 'built' });
  // And the queue kept flowing while the poison job went round: other jobs were built
  // between its first and its last delivery, of both runs.
  const during = seen.filter((s) => s.at > takes[0]!.at && s.at < takes.at(-1)!.at && /(a|b)\d@\S+: built/.test(s.line));
  t.diagnostic(`poison: ${MAX_DELIVER} deliveries over ${takes.at(-1)!.at - takes[0]!.at} ms, ${during.length} other jobs built meanwhile (${during.map((s) => /(\w+)@/.exec(s.line)![1]).join(' ')})`);
  assert.ok(during.length >= 2, `other jobs built during the poison job's deliveries: ${during.length}\n${said}`);
});

test('with two workers idle, the one building a job is SIGKILLed: the other takes it within the ack wait (+2 s), both attempts on record (case 3)', { skip: noNats, timeout: 120_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const gate = join(dir.path, 'gate');
  const tree = await writeTree(join(dir.path, 'tree'), {
    slow: recipeText({ name: 'slow', script: `echo started; while [ ! -e '${gate}' ]; do sleep 0.1; done; mkdir -p "$DESTDIR/usr/share/slow"; echo done > "$DESTDIR/usr/share/slow/done"` }),
  });
  const workers = { w1: startWorker(t, url, join(dir.path, 'w1'), 'w1'), w2: startWorker(t, url, join(dir.path, 'w2'), 'w2') };
  await until('both workers waiting', () => (Object.values(workers).every((w) => /taking jobs for/.test(w.output())) ? true : undefined), 30_000);
  const build = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'c'), '--sandbox', 'host', '--nats', url, '--json'], { timeoutMs: 100_000, env: { KILN_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  const [first, second] = await until('a worker to take slow', () => (/slow@\S+: taken \(attempt 1\)/.test(workers.w1.output()) ? (['w1', 'w2'] as const) : /slow@\S+: taken \(attempt 1\)/.test(workers.w2.output()) ? (['w2', 'w1'] as const) : undefined), 60_000);
  // Mid-build: its script is running.
  await until('its build to start', () => (spawnSync('pgrep', ['-f', `while \\[ ! -e '${gate}' \\]`]).status === 0 ? true : undefined), 30_000);
  const killedAt = performance.now();
  workers[first].child.kill('SIGKILL');
  let takenAt = 0;
  for (const end = killedAt + 30_000; takenAt === 0 && performance.now() < end;) {
    if (/slow@\S+: taken \(attempt 2\)/.test(workers[second].output())) takenAt = performance.now();
    else await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(takenAt > 0, `${second} never took it\n${workers[second].output()}`);
  const ms = Math.round(takenAt - killedAt);
  t.diagnostic(`from SIGKILL of ${first} to ${second} taking the job: ${ms} ms (ack wait ${ACK_WAIT_MS} ms)`);
  assert.ok(ms <= ACK_WAIT_MS + 2_000, `taken ${ms} ms after the kill, more than the ack wait ${ACK_WAIT_MS} ms + 2 s`);
  await writeFile(gate, 'go');
  const r = await build.done;
  assert.equal(r.code, 0, explain(r));
  const report = await readReport(r);
  assert.equal(pkgOf(report, 'slow').state, 'built');
  const log = await readFile(pkgOf(report, 'slow').log!, 'utf8');
  assert.match(log, new RegExp(`taken by worker ${first}\\n(.*\\n)*.*attempt 2: taken by worker ${second} \\(${first} stopped answering, or gave it back\\)`), log);
  assert.match(log, new RegExp(`result from worker ${second} \\(attempt 2\\): built`), log);
});

test('a kiln worker given wrong NATS credentials is refused as unauthorized, without printing the password (case 26)', { skip: noNats, timeout: 60_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const base = await natsServerWithAccounts(t, dir.path, { A: { user: 'alice', password: 'right-pass' } });
  for (const [user, password] of [['alice', 'wrong-pass'], ['mallory', 'right-pass']] as const) {
    const w = startWorker(t, base.replace('nats://', `nats://${user}:${password}@`), join(dir.path, `w-${user}`), `w-${user}`);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([w.exited, new Promise<'running'>((r) => (timer = setTimeout(() => r('running'), 30_000)))]);
    clearTimeout(timer);
    assert.equal(code, 2, `${user}: the worker exits 2 (a usage/auth error), not waiting for jobs\n${w.output()}`);
    assert.match(w.output(), /error \[unauthorized\]: NATS at nats:\/\/127\.0\.0\.1:\d+ refused kiln's credentials/, w.output());
    assert.doesNotMatch(w.output(), /taking jobs for/);
    assert.doesNotMatch(w.output(), /wrong-pass|right-pass/, 'the password is not printed');
  }
  // The right ones are taken: the refusal is the credentials'.
  const ok = startWorker(t, base.replace('nats://', 'nats://alice:right-pass@'), join(dir.path, 'w-ok'), 'w-ok');
  await until('the worker with the right credentials to wait for jobs', () => (/taking jobs for/.test(ok.output()) ? true : undefined), 30_000);
});

test('tls:// means TLS: against a plain NATS server a worker is refused, saying so (it connected in plain text)', { skip: noNats, timeout: 60_000 }, async (t) => {
  await using dir = await tmpDir('kiln-nats-');
  const url = await natsServer(t, dir.path);
  const w = startWorker(t, url.replace('nats://', 'tls://'), join(dir.path, 'w'), 'w');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([w.exited, new Promise<'running'>((r) => (timer = setTimeout(() => r('running'), 30_000)))]);
  clearTimeout(timer);
  assert.notEqual(code, 'running', `the worker took jobs over plain text:\n${w.output()}`);
  assert.match(w.output(), /server-unreachable\]: cannot reach NATS at tls:\/\/127\.0\.0\.1:\d+: server does not support 'tls'/, w.output());
  assert.match(w.output(), /hint: the URL says tls:\/\/ and the server does not speak TLS/);
  assert.doesNotMatch(w.output(), /taking jobs for/);
});
