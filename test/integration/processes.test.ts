// Processes and resources through the real CLI: daemons a build leaves behind, cancelling
// a run with SIGINT, and a build that prints 50 MiB while kiln's memory stays flat.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventually, marker, pidsWithCmdline, reap } from '../helpers/proc.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { eventsOf, explain, fixtureTree, instantiateTree, pkgOf, readReport, REPO_ROOT, runKiln, spawnKiln } from '../helpers/run-kiln.ts';

/** Job workspaces (work/<run>/<job>) left under the state dir. */
async function workspacesLeft(state: string): Promise<string[]> {
  const work = join(state, 'work');
  if (!existsSync(work)) return [];
  const left: string[] = [];
  for (const run of await readdir(work)) {
    const runDir = join(work, run);
    if (!(await stat(runDir)).isDirectory()) {
      left.push(run);
      continue;
    }
    for (const job of await readdir(runDir)) left.push(join(run, job));
  }
  return left;
}

test('daemonized grandchildren: a build that leaves daemons behind (setsid, double fork, open stdout) does not hang kiln, and none survive it', async () => {
  await using dir = await tmpDir();
  const m = marker();
  try {
    const tree = await instantiateTree('daemonized-grandchild', join(dir.path, 'tree'), { MARKER: m });
    const state = join(dir.path, 'state');
    const r = await runKiln(['build', '--tree', tree, '--state', state, '--jobs', '2', '--json'], { timeoutMs: 20_000 });
    assert.notEqual(r.signal, 'SIGKILL', `kiln hung (killed by the test after 20 s)\n${explain(r)}`);
    // The script itself checked that all three daemons ran before it exited 0.
    const report = await readReport(r);
    const p = pkgOf(report, 'daemons');
    assert.equal(p.state, 'built', `${p.cause}\n${explain(r)}`);
    assert.equal(r.code, 0, explain(r));
    assert.deepEqual(await pidsWithCmdline(m), [], 'processes started by the build outlived kiln');
    assert.deepEqual(await workspacesLeft(state), []);
  } finally {
    await reap(m);
  }
});

/** A process and all its descendants (from /proc), for signalling a whole tree at once as a CI runner does. */
async function processTree(root: number): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const parent = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid > 0) parent.set(Number(name), ppid);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, pp] of parent) if (pp === tree[i] && !tree.includes(pid)) tree.push(pid);
  return tree;
}

// SIGINT to kiln alone (kill), to kiln's whole process group, as Ctrl-C on a terminal
// does, and to every process of its tree at once, as a CI runner stopping a job does:
// kiln's launcher helpers get it too, and the builds must still count as cancelled.
for (const to of ['kiln', 'its process group', 'every process of its tree'] as const) test(`cancel midway: one SIGINT to ${to} stops the run: exit 130, every package cancelled, no process and no workspace left`, async () => {
  await using dir = await tmpDir();
  const m = marker();
  try {
    const tree = await instantiateTree('cancel-midway', join(dir.path, 'tree'), { MARKER: m });
    const state = join(dir.path, 'state');
    const k = spawnKiln(['build', '--tree', tree, '--state', state, '--jobs', '2', '--json'], { timeoutMs: 20_000, ownGroup: to !== 'kiln' });
    // Wait until two builds are really inside their scripts (their sleeps run).
    const running = await eventually(async () => (await pidsWithCmdline(`sleeping-${m}`)).length >= 2, 10_000);
    assert.ok(running, `two builds never reached their sleep; events: ${k.events.map((e) => e.type).join(', ')}`);
    if (to === 'every process of its tree') {
      for (const pid of await processTree(k.pid)) {
        try {
          process.kill(pid, 'SIGINT');
        } catch (e) {
          // Ended since the tree was listed (a short-lived helper command).
          if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
        }
      }
    }
    else process.kill(to === 'kiln' ? k.pid : -k.pid, 'SIGINT');
    const r = await k.done;
    assert.equal(r.code, 130, explain(r));
    assert.ok(r.durationMs < 15_000, `cancelling took until ${r.durationMs}ms`);
    assert.equal(r.summary?.state, 'cancelled', explain(r));
    assert.equal(eventsOf(r.events, 'job-started').length, 2, 'with --jobs 2 exactly two builds had started');
    const report = await readReport(r);
    assert.equal(report.counts.cancelled, 5, JSON.stringify(report.counts));
    for (const p of report.packages) assert.equal(p.state, 'cancelled', `${p.name} is ${p.state}`);
    const started = new Set(eventsOf(r.events, 'job-started').map((e) => e.name));
    for (const p of report.packages) {
      assert.equal(p.cause, started.has(p.name) ? 'killed: the run was cancelled (SIGINT)' : 'not started: the run was cancelled (SIGINT)', p.name);
    }
    assert.ok(report.end !== null, 'the report of a cancelled run has its end time');
    assert.deepEqual(await pidsWithCmdline(m), [], 'build processes outlived the cancelled run');
    assert.deepEqual(await workspacesLeft(state), [], 'workspaces left under <state>/work');

    const status = await runKiln(['status', '--state', state, '--json']);
    assert.equal(status.code, 0, explain(status));
    assert.equal((JSON.parse(status.stdout) as { state: string }).state, 'cancelled');
  } finally {
    await reap(m);
  }
});

test('cancel while planning: SIGINT before any package started stops at once, exit 130, and records no run', async () => {
  await using dir = await tmpDir();
  // Enough recipes that planning takes a while: kiln opens its records (kiln.db) before it plans.
  const tree = join(dir.path, 'tree');
  for (let i = 0; i < 3000; i++) {
    await mkdir(join(tree, `p${i}`), { recursive: true });
    await writeFile(join(tree, `p${i}`, 'recipe.toml'), recipeText({ name: `p${i}`, script: 'true' }));
  }
  const state = join(dir.path, 'state');
  const k = spawnKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host'], { timeoutMs: 60_000 });
  const planning = await eventually(async () => existsSync(join(state, 'kiln.db')), 20_000);
  assert.ok(planning, 'kiln never opened its records');
  process.kill(k.pid, 'SIGINT');
  const r = await k.done;
  assert.equal(r.code, 130, explain(r));
  assert.match(r.stderr, /SIGINT: stopped while planning, before any package started; no run was recorded/, explain(r));
  assert.doesNotMatch(r.stdout, /cancelled +p\d/, 'no package is listed cancelled');
  assert.deepEqual(existsSync(join(state, 'runs')) ? await readdir(join(state, 'runs')) : [], [], 'no run report');
  const status = await runKiln(['status', '--state', state]);
  assert.match(status.stderr, /no runs recorded/, explain(status));
});

test('huge log: 50 MiB of build output reaches the log file while kiln stays under 200 MB of memory', async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const r = await runKiln(['build', '--tree', fixtureTree('huge-log'), '--state', state, '--jobs', '2', '--json'], {
    measureRss: true,
    timeoutMs: 30_000,
  });
  assert.equal(r.code, 0, explain(r));
  const report = await readReport(r);
  const p = pkgOf(report, 'loud');
  assert.equal(p.state, 'built');
  assert.ok(p.log !== null);
  // Kept compressed once the job ended: the whole in .zst, an excerpt of it in the log file.
  const whole = (await stat(`${p.log}.zst`)).size;
  assert.ok(whole > 0 && whole < 10 * 1024 * 1024, `${p.log}.zst is ${whole} bytes for 50 MiB of output`);
  const excerpt = await readFile(p.log, 'utf8');
  assert.ok(excerpt.length < 200 * 1024, `the excerpt ${p.log} is ${excerpt.length} bytes`);
  assert.match(excerpt, /k ==> \d+ bytes of this log left out here: the whole log is loud_[a-z0-9]+\.log\.zst beside it/);
  assert.match(excerpt, /loud: done\n/);
  assert.ok(r.peakRssKb !== undefined && r.peakRssKb > 0, 'peak RSS was not measured');
  assert.ok(r.peakRssKb < 200 * 1024, `kiln's peak RSS was ${Math.round(r.peakRssKb / 1024)} MB for a 50 MiB log`);
  // Node and kiln's modules alone take ~100 MB, so the absolute bound leaves room for
  // holding the whole output; growth over a plan of the same tree must stay below it.
  const baseline = await runKiln(['plan', '--tree', fixtureTree('huge-log'), '--state', state], { measureRss: true });
  assert.ok(baseline.peakRssKb !== undefined && baseline.peakRssKb > 0);
  const growthMb = (r.peakRssKb - baseline.peakRssKb) / 1024;
  assert.ok(growthMb < 50, `kiln grew by ${Math.round(growthMb)} MB over its baseline while streaming 50 MiB: it holds the output`);
  const logs = await runKiln(['logs', 'loud', '--state', state]);
  assert.equal(logs.code, 0);
  assert.ok(logs.stdout.length >= 50 * 1024 * 1024, 'kiln logs printed less than the log holds');
  assert.match(logs.stdout.slice(-1024 * 1024), /loud: done/);
});

test('--log-limit: past it the build goes on, the log stops growing, and its last lines are kept at the end', async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const r = await runKiln(['build', '--tree', fixtureTree('huge-log'), '--state', state, '--json', '--log-limit', '1M'], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, explain(r));
  const p = pkgOf(await readReport(r), 'loud');
  assert.equal(p.state, 'built');
  // The whole log, as `kiln logs` prints it (over 1 MiB, it is kept compressed).
  const logs = await runKiln(['logs', 'loud', '--state', state]);
  assert.equal(logs.code, 0, explain(logs));
  const text = logs.stdout;
  const size = Buffer.byteLength(text);
  // The output written stops within a pipe chunk of the limit; the last lines add a little.
  assert.ok(size > 0.9 * 1024 * 1024 && size < 1.1 * 1024 * 1024, `log of ${size} bytes`);
  assert.match(text, /k ==> the log limit of 1048576 bytes is reached/);
  assert.match(text, /k ==> \d+ bytes of output were not written \(log limit 1048576 bytes\); its last \d+ lines, as they came:\n[\s\S]*e loud: done\n/);
  const bad = await runKiln(['build', '--tree', fixtureTree('huge-log'), '--state', state, '--log-limit', 'lots']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--log-limit: expected a size such as 100M or 1G/);
});

// A loud build: the helper's next frame to the dead kiln fails (EPIPE) before it sees its
// stdin's EOF, and must take the builds down then too.
for (const launcher of ['compiled', 'perl'] as const) for (const loud of [false, true]) test(`kiln killed with SIGKILL mid-build (${launcher} launcher, a build ${loud ? 'printing all the time' : 'printing nothing'}): its builds go too, a daemon that left their process group included`, async () => {
  await using dir = await tmpDir();
  const m = marker();
  try {
    const tree = join(dir.path, 'tree');
    await mkdir(join(tree, 'esc'), { recursive: true });
    // bash -c with the marker in its argv: `exec -a` names each sleep, so it can be found by its command line.
    await writeFile(
      join(tree, 'esc', 'recipe.toml'),
      `name = "esc"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = """\nsetsid bash -c 'exec -a escaped-${m} sleep 300' < /dev/null > /dev/null 2>&1 &\n${loud ? 'while :; do echo loud; done &\n' : ''}exec -a inside-${m} sleep 300\n"""\n`,
    );
    const k = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--sandbox', 'host', '--json'], { timeoutMs: 30_000, ...(launcher === 'perl' ? { env: { KILN_LAUNCHER: 'perl' } } : {}) });
    // (The loud build's printing subshell has the whole script, so both names, in its argv.)
    const both = await eventually(async () => (await pidsWithCmdline(`escaped-${m}`)).length >= 1 && (await pidsWithCmdline(`inside-${m}`)).length >= 1, 15_000);
    assert.ok(both, 'the build never started its two sleeps');
    process.kill(k.pid, 'SIGKILL');
    await k.done;
    const gone = await eventually(async () => (await pidsWithCmdline(m)).length === 0, 5_000);
    assert.ok(gone, `left running after kiln was killed: ${JSON.stringify(await pidsWithCmdline(m))}`);
  } finally {
    await reap(m);
  }
});

test('a recipe asking for more cpus than the machine has runs, alone, with JOBS at the machine\'s cores', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'wide'), { recursive: true });
  await writeFile(
    join(tree, 'wide', 'recipe.toml'),
    'name = "wide"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\n[build]\ncpus = 512\nscript = """\nmkdir -p "$DESTDIR/usr/share"\necho "$JOBS" > "$DESTDIR/usr/share/jobs"\n"""\n',
  );
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--sandbox', 'host', '--json']);
  assert.equal(r.code, 0, explain(r));
  const wide = pkgOf(await readReport(r), 'wide');
  assert.equal(wide.state, 'built');
  const listed = execFileSync('tar', ['--zstd', '--wildcards', '-xOf', wide.artifact!, '*usr/share/jobs'], { encoding: 'utf8' });
  assert.equal(listed.trim(), String(availableParallelism()));
  // --overcommit-cpus lets builds reserve more together, not one build use more cores than there are.
  const over = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--sandbox', 'host', '--json', '--force', 'wide', '--overcommit-cpus', '6']);
  assert.equal(over.code, 0, explain(over));
  const again = pkgOf(await readReport(over), 'wide');
  assert.equal(execFileSync('tar', ['--zstd', '--wildcards', '-xOf', again.artifact!, '*usr/share/jobs'], { encoding: 'utf8' }).trim(), String(availableParallelism()));
});

// npm does not pass SIGTERM on to what it runs: kiln run through npx must notice that its
// parent is gone and stop as on SIGTERM (a CI runner or `timeout` signals npx alone).
for (const sig of ['SIGTERM', 'SIGKILL'] as const) test(`kiln run through npx stops as on SIGTERM when npx is killed (${sig}): its build is cancelled and recorded, no process left`, async () => {
  await using dir = await tmpDir();
  const m = marker();
  try {
    const tree = join(dir.path, 'tree');
    await mkdir(join(tree, 'slow'), { recursive: true });
    await writeFile(join(tree, 'slow', 'recipe.toml'), `name = "slow"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = "exec -a slow-${m} sleep 300"\n`);
    const state = join(dir.path, 'state');
    // npm's own environment marks it as npm's child; the test runner's (npm test) must not leak in.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_')));
    const npx = spawn('npx', ['--no-install', 'kiln', 'build', '--tree', tree, '--state', state, '--sandbox', 'host'], { cwd: REPO_ROOT, env, stdio: 'ignore' });
    const exited = new Promise<void>((done) => npx.once('exit', () => done()));
    assert.ok(await eventually(async () => (await pidsWithCmdline(`slow-${m}`)).length === 1, 30_000), 'the build never started');
    npx.kill(sig);
    await exited;
    assert.ok(await eventually(async () => (await pidsWithCmdline(`slow-${m}`)).length === 0 && !(await pidsWithCmdline(state)).length, 10_000), 'kiln or its build outlived npx');
    const runs = await readdir(join(state, 'runs'));
    assert.equal(runs.length, 1);
    const report = await readReport({ state, runId: runs[0]! });
    assert.equal(pkgOf(report, 'slow').state, 'cancelled');
    assert.equal(pkgOf(report, 'slow').cause, 'killed: the run was cancelled (SIGTERM)');
  } finally {
    await reap(m);
  }
});

// tar runs in a process group of its own (so that cancelling kills its zstd too): a kiln
// killed while packing must still take it along, or it goes on writing a large archive
// nobody will use.
test('kiln killed with SIGKILL while packing a large artifact: its tar goes too (and zstd, at the end of its input)', { timeout: 120_000 }, async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'big'), { recursive: true });
  await writeFile(join(tree, 'big', 'recipe.toml'), `name = "big"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = '''\nmkdir -p "$DESTDIR/usr/share/big"\nhead -c 1000M /dev/urandom > "$DESTDIR/usr/share/big/data"\n'''\n`);
  const state = join(dir.path, 'state');
  const packing = (): Promise<number[]> => pidsWithCmdline(`--directory=${state}`);
  const k = spawnKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--json'], { timeoutMs: 100_000 });
  assert.ok(await eventually(async () => (await packing()).length > 0, 90_000), 'tar never started packing');
  process.kill(k.pid, 'SIGKILL');
  await k.done;
  assert.ok(await eventually(async () => (await packing()).length === 0, 500), `tar outlived kiln: ${JSON.stringify(await packing())}`);
});

for (const launcher of ['compiled', 'perl'] as const) test(`kiln's launcher killed under a running build (${launcher}): the build runs again in a fresh workspace and is built; the log keeps both attempts`, async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const first = join(dir.path, 'first-attempt');
  await mkdir(join(tree, 'victim'), { recursive: true });
  // The first attempt writes the pid of its parent chain, then waits; the second finds the file and ends.
  await writeFile(join(tree, 'victim', 'recipe.toml'), recipeText({
    name: 'victim',
    script: `if [ -e '${first}' ]; then echo second attempt; exit 0; fi\necho first attempt\np=$$; chain=""; for i in 1 2 3 4 5; do p=$(awk '{print $4}' /proc/$p/stat); chain="$chain $p"; done; echo "$chain" > '${first}.tmp'; mv '${first}.tmp' '${first}'\nsleep 30`,
  }));
  const k = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--sandbox', 'host', '--json'], { timeoutMs: 60_000, ...(launcher === 'perl' ? { env: { KILN_LAUNCHER: 'perl' } } : {}) });
  assert.ok(await eventually(() => existsSync(first), 20_000), 'the first attempt never started');
  // The nearest ancestor that is kiln's helper (the compiled launcher, or perl).
  const chain = (await readFile(first, 'utf8')).trim().split(/\s+/).map(Number);
  const helper = chain.find((pid) => {
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    return launcher === 'perl' ? comm === 'perl' : /launch/.test(comm);
  });
  assert.ok(helper !== undefined, `no helper among ${chain.map((p) => `${p}:${readFileSync(`/proc/${p}/comm`, 'utf8').trim()}`).join(' ')}`);
  process.kill(helper, 'SIGKILL');
  const r = await k.done;
  assert.equal(r.code, 0, explain(r));
  const victim = pkgOf(await readReport(r), 'victim');
  assert.equal(victim.state, 'built', explain(r));
  const log = await readFile(victim.log!, 'utf8');
  assert.match(log, /first attempt[\s\S]*attempt 1 was cut off by kiln, not by the build \(kiln's process helper .* died while it ran this command\)[\s\S]*second attempt/, log);
});

test('a hangup (SIGHUP: the terminal or ssh session gone) and a closed output (kiln build | head) stop the run as cancelled, saying why: exit 130, no process left', { timeout: 60_000 }, async () => {
  for (const how of ['SIGHUP', 'output closed'] as const) {
    await using dir = await tmpDir();
    const m = marker();
    const gate = join(dir.path, 'gate');
    const tree = join(dir.path, 'tree');
    const pkg = async (name: string, script: string): Promise<void> => {
      await mkdir(join(tree, name), { recursive: true });
      await writeFile(join(tree, name, 'recipe.toml'), recipeText({ name, script }));
    };
    // slow runs until killed; quick ends once the gate is there, so that kiln writes a line after it.
    await pkg('slow', `exec -a sleeping-${m} sleep 50`);
    await pkg('quick', `while [ ! -e '${gate}' ]; do sleep 0.05; done`);
    const state = join(dir.path, 'state');
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/kiln.js'), 'build', '--tree', tree, '--state', state, '--sandbox', 'host', '--jobs', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.stdout.on('data', () => {});
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    assert.ok(await eventually(async () => (await pidsWithCmdline(`sleeping-${m}`)).length === 1, 20_000), `slow never started: ${err}`);
    if (how === 'SIGHUP') child.kill('SIGHUP');
    else {
      // The reader goes away; kiln finds out at its next line (quick's end).
      child.stdout.destroy();
      await writeFile(gate, '');
    }
    assert.equal(await exited, 130, err);
    const why = how === 'SIGHUP' ? 'SIGHUP' : 'its output was closed: the reader of the pipe went away';
    assert.match(err, new RegExp(`kiln: ${why}: stopping`), err);
    assert.deepEqual(await pidsWithCmdline(`sleeping-${m}`), [], `${how}: the build outlived the run`);
    assert.deepEqual(await workspacesLeft(state), [], `${how}: workspaces left`);
    const status = await runKiln(['status', '--state', state, '--json']);
    const slow = (JSON.parse(status.stdout) as { packages: { name: string; state: string; cause: string | null }[] }).packages.find((j) => j.name === 'slow');
    assert.equal(slow?.state, 'cancelled', status.stdout);
    assert.equal(slow?.cause, `killed: the run was cancelled (${why})`, status.stdout);
  }
});
