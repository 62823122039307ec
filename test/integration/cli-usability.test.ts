// What a new user meets first, through the real CLI: an empty folder is refused before
// anything is written, commander's own errors and kiln's usage errors share one format
// with a hint, an invalid recipe's problems come one per line (plan, build, status,
// report), `kiln status` during a run shows what runs, and the small print (status
// --runs, history --help, packages/index.json, the --keep-failed note).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { eventually } from '../helpers/proc.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { eventsOf, explain, fixtureTree, instantiateTree, KILN_BIN, pkgOf, readReport, runKiln, spawnKiln } from '../helpers/run-kiln.ts';

test('an empty folder: plan and build fail with tree-empty naming it, write nothing there; a missing target is still target-not-found', async () => {
  await using dir = await tmpDir();
  const empty = join(dir.path, 'empty');
  await mkdir(join(empty, 'docs'), { recursive: true });
  await writeFile(join(empty, 'docs', 'README.md'), 'not a recipe\n');
  for (const verb of ['build', 'plan']) {
    const r = await runKiln([verb], { cwd: empty });
    assert.equal(r.code, 2, explain(r));
    assert.match(r.stderr, new RegExp(`^kiln: error \\[tree-empty\\]: ${empty} holds no packages: no sub-folder with a recipe\\.toml`, 'm'));
    assert.match(r.stderr, /^ {2}hint: .*--tree DIR/m);
    assert.deepEqual((await readdir(empty)).sort(), ['docs'], `kiln ${verb} wrote into the empty folder`);
  }
  // --tree pointing at it, with a --state elsewhere: same, and no state dir either.
  const state = join(dir.path, 'state');
  const r = await runKiln(['build', '--tree', empty, '--state', state]);
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /\[tree-empty\]/);
  assert.equal(existsSync(state), false, 'the state dir was created for an empty tree');
  const missing = await runKiln(['plan', 'nothere', '--tree', fixtureTree('diamond'), '--state', state]);
  assert.equal(missing.code, 2, explain(missing));
  assert.match(missing.stderr, /\[target-not-found\]/);
});

test("usage errors, commander's and kiln's own, print kiln's format with a hint and exit 2", async () => {
  await using dir = await tmpDir();
  const cases: [string[], RegExp, RegExp][] = [
    [['build', '--colour'], /^kiln: error \[usage\]: unknown option '--colour'$/m, /^ {2}hint: see `kiln build --help`$/m],
    [['build', '--jbos', '2'], /^kiln: error \[usage\]: unknown option '--jbos' \(did you mean --jobs\?\)$/m, /^ {2}hint: see `kiln build --help`$/m],
    [['build', '--sandbox', 'foo'], /^kiln: error \[usage\]: option '--sandbox <kind>' argument 'foo' is invalid/m, /^ {2}hint: see `kiln build --help`$/m],
    [['plan', '--jobs', '2'], /^kiln: error \[usage\]: unknown option '--jobs'$/m, /^ {2}hint: see `kiln plan --help`$/m],
    [['build', '--jobs', 'two'], /^kiln: error \[usage\]: --jobs: expected a whole number of at least 1, got "two"$/m, /^ {2}hint: give digits, e\.g\. --jobs 4$/m],
    [['cache', 'gc', '--older-than', '3x'], /^kiln: error \[usage\]: --older-than: invalid duration "3x"$/m, /^ {2}hint: .*ms, s, m, h, d or w/m],
    [['plan', '--arch', 'AMD64'], /^kiln: error \[usage\]: --arch: "AMD64" is not a Debian architecture name/m, /^ {2}hint: .*lowercase.*amd64/m],
    [['history', '--limit', 'lots', 'x'], /^kiln: error \[usage\]: --limit: expected a whole number/m, /^ {2}hint: /m],
    [['frobnicate'], /^kiln: error \[usage\]: unknown command 'frobnicate'$/m, /^ {2}hint: see `kiln --help`/m],
    [['plan', '--arch', 'amd64,amd65'], /^kiln: error \[usage\]: --arch: "amd65" is not a Debian architecture name/m, /^ {2}hint: .*riscv64/m],
    [['env', 'create', 'x', '--suite', 'bookworm', '--arch', 'x86_64'], /^kiln: error \[usage\]: --arch: "x86_64" is not a Debian architecture name \(did you mean "amd64"\?\)$/m, /^ {2}hint: .*dpkg-architecture -L/m],
    [['verify', 'x', '--arch', 'aarch64'], /^kiln: error \[usage\]: --arch: "aarch64" is not a Debian architecture name \(did you mean "arm64"\?\)$/m, /^ {2}hint: .*dpkg-architecture -L/m],
    [['status', '--runs', '99999999999999999999'], /^kiln: error \[usage\]: --runs: 99999999999999999999 is too large \(at most 1000000\)$/m, /^ {2}hint: give a number from 1 to 1000000/m],
    [['build', '--jobs', '99999999999999999999'], /^kiln: error \[usage\]: --jobs: 99999999999999999999 is too large/m, /^ {2}hint: /m],
    [['cache', 'gc', '--keep-last-runs', '1.5'], /^kiln: error \[usage\]: --keep-last-runs: expected a whole number of at least 0, got "1\.5"$/m, /^ {2}hint: give digits/m],
    [['plan', '--tree', 'examples', '--cache', ''], /^kiln: error \[usage\]: --cache: the path is empty$/m, /^ {2}hint: give a directory/m],
    [['cache', 'frobnicate'], /^kiln: error \[usage\]: unknown command 'frobnicate'$/m, /^ {2}hint: see `kiln cache --help` for the commands$/m],
    // A mistyped cache is said, not reported as an empty, sound one.
    [['cache', 'verify', '--cache', '/nonexistent/kiln-cache'], /^kiln: error \[path-unusable\]: no cache at \/nonexistent\/kiln-cache: the folder does not exist$/m, /^ {2}hint: check --cache /m],
    // Another tool's verb: what kiln calls it.
    [['clean'], /^kiln: error \[usage\]: unknown command 'clean': `kiln cache gc` removes old runs' artifacts and logs; `kiln doctor --fix` removes what a killed run left/m, /^ {2}hint: see `kiln --help` for the commands$/m],
    [['why'], /^kiln: error \[usage\]: unknown command 'why': `kiln plan` says why each package would be built/m, /hint: see `kiln --help`/m],
    [['cache', 'clean'], /^kiln: error \[usage\]: unknown command 'clean'$/m, /hint: see `kiln cache --help`/m],
    [['build', '--jobs', '1e3'], /^kiln: error \[usage\]: --jobs: expected a whole number of at least 1, got "1e3"$/m, /^ {2}hint: give digits/m],
    [['build', '--overcommit-cpus', '0x1'], /^kiln: error \[usage\]: --overcommit-cpus: expected a whole number of at least 0, got "0x1"$/m, /^ {2}hint: give digits/m],
  ];
  for (const [args, message, hint] of cases) {
    const r = await runKiln([...args, '--state', join(dir.path, 'state')]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${explain(r)}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.match(r.stderr, hint, args.join(' '));
    assert.doesNotMatch(r.stderr, /^error: /m, `${args.join(' ')}: commander's own format leaked`);
  }
  // history is local only: with KILN_SERVER set, its hint says so.
  await using nowhere = await tmpDir();
  const local = await runKiln(['history', 'x', '--state', nowhere.path], { env: { KILN_SERVER: 'http://127.0.0.1:9' } });
  assert.equal(local.code, 2, explain(local));
  assert.match(local.stderr, /^ {2}hint: .*reads the local records only, not the daemon's at KILN_SERVER/m);
  // Help is still help: exit 0, no error line.
  const help = await runKiln(['history', '--help']);
  assert.equal(help.code, 0, explain(help));
  assert.doesNotMatch(help.stderr, /error/);
  assert.match(help.stdout, /--limit <n>\s+at most N entries \(default: 20\)/, 'the default is a number, not "20"');
});

test('an invalid recipe: one problem per indented line in plan, build, status and report.html; data in JSON; a valid version is shown', async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const tree = fixtureTree('invalid-recipes');
  const plan = await runKiln(['plan', '--tree', tree, '--state', state, '--sandbox', 'host']);
  assert.equal(plan.code, 1, explain(plan));
  const lines = plan.stdout.split('\n');
  assert.ok(!lines.some((l) => l.includes('build.cpus') && l.includes('build.memory')), `two problems on one line:\n${plan.stdout}`);
  const head = lines.findIndex((l) => /^ {2}broken\s+bad-cpus@\S+\s+1\.0\s+invalid recipe \(2 problems\):$/.test(l));
  assert.ok(head >= 0, plan.stdout);
  assert.match(lines[head + 1]!, /^ {6}\S*bad-cpus\/recipe\.toml: build\.cpus: expected a whole number, got "two"$/);
  assert.match(lines[head + 2]!, /^ {6}\S*bad-cpus\/recipe\.toml: build\.memory: invalid size "lots": use a number with K, M, G or T/);
  // Only another key is wrong: the version parsed and is shown; bad TOML has none.
  assert.match(plan.stdout, /^ {2}broken\s+unknown-key@\S+\s+1\.0\s+invalid recipe \(1 problem\):\n {6}\S*unknown-key\/recipe\.toml: unknown key "colour"$/m);
  assert.match(plan.stdout, /^ {2}broken\s+bad-toml@\S+\s+\?\s/m);
  assert.match(plan.stdout, /^ {2}broken\s+needs-invalid@\S+\s+1\.0\s+needs bad-cpus, which is broken: invalid recipe \(2 problems\)$/m);

  const json = await runKiln(['plan', '--tree', tree, '--state', state, '--sandbox', 'host', '--json']);
  const packages = (JSON.parse(json.stdout) as { packages: { name: string; version: string; diagnostics?: { file: string; key: string | null; message: string }[] }[] }).packages;
  const cpus = packages.find((p) => p.name === 'bad-cpus');
  assert.deepEqual(cpus?.diagnostics?.map((d) => [d.key, d.message]), [['build.cpus', 'expected a whole number, got "two"'], ['build.memory', 'invalid size "lots": use a number with K, M, G or T (powers of 1024), e.g. "512M" or "2G"']]);
  assert.equal(packages.find((p) => p.name === 'good')?.diagnostics, undefined);

  const build = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host']);
  assert.equal(build.code, 1, explain(build));
  assert.match(build.stdout, /broken\s+bad-cpus@\S+: invalid recipe \(2 problems\):\n\s+\S*bad-cpus\/recipe\.toml: build\.cpus: [^\n]*\n\s+\S*bad-cpus\/recipe\.toml: build\.memory: /);
  const runId = /kiln: run (\S+) failed/.exec(build.stdout)?.[1];
  assert.ok(runId !== undefined, build.stdout);
  const report = await readReport({ state, runId });
  assert.equal(pkgOf(report, 'unknown-key').version, '1.0');
  assert.equal(pkgOf(report, 'bad-cpus').diagnostics?.length, 2);
  assert.match(pkgOf(report, 'bad-cpus').diagnostics![1]!, /bad-cpus\/recipe\.toml: build\.memory: invalid size "lots": use a number with K, M, G or T/);
  assert.equal(pkgOf(report, 'good').diagnostics, undefined, 'a package without problems keeps the old shape');
  const html = readFileSync(join(state, 'runs', runId, 'report.html'), 'utf8');
  assert.match(html, /<li><code>[^<]*bad-cpus\/recipe\.toml: build\.cpus: [^<]*<\/code><\/li><li><code>[^<]*build\.memory: /);

  const status = await runKiln(['status', '--state', state]);
  assert.equal(status.code, 0, explain(status));
  assert.match(status.stdout, /broken\s+bad-cpus@\S+\s+invalid recipe \(2 problems\):\n {6}\S*bad-cpus\/recipe\.toml: build\.cpus: [^\n]*\n {6}\S*bad-cpus\/recipe\.toml: build\.memory: /);

  // The package index holds the release as the recipes do: an integer.
  const index = JSON.parse(readFileSync(join(state, 'packages', 'index.json'), 'utf8')) as { packages: { name: string; release: unknown }[] };
  assert.equal(index.packages.find((p) => p.name === 'good')?.release, 1);
  // status --runs: counts as words, not JSON.
  const runs = await runKiln(['status', '--runs', '--state', state]);
  assert.equal(runs.code, 0, explain(runs));
  assert.match(runs.stdout, new RegExp(`^${runId}\\s+failed\\s+\\S+\\s+\\S+\\s+1 built, 8 broken$`, 'm'));
  assert.doesNotMatch(runs.stdout, /[{}"]/);
  // A hint naming a command to run keeps the --state it was given.
  const noLog = await runKiln(['logs', 'bad-cpus', '--state', state]);
  assert.equal(noLog.code, 2, explain(noLog));
  assert.match(noLog.stderr, new RegExp(`hint: only packages that ran have logs .*; see \`kiln status --state ${state.replace(/[.]/g, '\\.')}\``));
});

test('kiln status during a run: the running job with its start, what settled so far, the report path only once written', async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const gate = join(dir.path, 'gate');
  const tree = await instantiateTree('status-midway', join(dir.path, 'tree'), { GATE: gate });
  const k = spawnKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--jobs', '2', '--json'], { timeoutMs: 60_000 });
  try {
    const started = await k.waitForEvent((e) => e.type === 'job-started' && e.name === 'gated', 20_000);
    assert.equal(started.type, 'job-started');
    await k.waitForEvent((e) => e.type === 'job-finished' && e.name === 'fast', 20_000);
    // The records are written in batches: ask until both rows are there.
    let out = '';
    const seen = await eventually(async () => {
      const s = await runKiln(['status', '--state', state]);
      out = s.stdout + s.stderr;
      return /^ {2}running\s+gated@/m.test(out) && /1 built/.test(out);
    }, 10_000);
    assert.ok(seen, out);
    assert.match(out, /^run \S+: running, started /m);
    assert.match(out, /^ {2}1 of 2 settled, 1 running$/m);
    assert.match(out, /^ {2}running\s+gated@\S+\s+since \d\d:\d\d:\d\dZ \(/m);
    assert.match(out, /^ {2}built\s+fast@/m);
    assert.match(out, /^report: written 30 s after the run started, and again every 30 s until it ends$/m);
    assert.doesNotMatch(out, /^report: \//m);
    const json = await runKiln(['status', '--state', state, '--json']);
    const live = JSON.parse(json.stdout) as { state: string; running: { name: string; since: string }[]; counts: { built: number } };
    assert.equal(live.state, 'running');
    assert.deepEqual(live.running.map((j) => j.name), ['gated']);
    assert.equal(live.counts.built, 1);
  } finally {
    await writeFile(gate, '');
  }
  const r = await k.done;
  assert.equal(r.code, 0, explain(r));
  assert.equal(eventsOf(r.events, 'job-finished').length, 2);
  const after = await runKiln(['status', '--state', state]);
  assert.match(after.stdout, new RegExp(`^report: ${join(state, 'runs', r.summary!.runId, 'report.html')}$`, 'm'));
  assert.ok(existsSync(join(state, 'runs', r.summary!.runId, 'report.html')));
});

test('--keep-failed: the job log names the kept workspace as a normalized path', async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const r = await runKiln(['build', '--tree', fixtureTree('failing-middle'), '--state', state, '--sandbox', 'host', '--keep-failed', '--json']);
  assert.equal(r.code, 1, explain(r));
  const logs = await runKiln(['logs', 'mid', '--state', state]);
  const kept = /workspace kept at (\S+)/.exec(logs.stdout)?.[1];
  assert.ok(kept !== undefined, logs.stdout);
  assert.doesNotMatch(kept, /\/\.\.?(\/|$)/);
  const arch = eventsOf(r.events, 'run-started')[0]!.archs[0]!;
  assert.equal(kept, join(state, 'work', r.summary!.runId, `mid_${arch}`));
  assert.ok(existsSync(kept));
});

test('output piped into `head -1`: kiln ends without a stack trace; a build cancels cleanly (exit 130, nothing left)', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  // Enough packages that the output overflows the pipe (64 KiB) after head has gone.
  for (let i = 0; i < 2000; i++) {
    const name = `p${String(i).padStart(4, '0')}`;
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), `name = "${name}"\nversion = "1.0"\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = ":"\n`);
  }
  const state = join(dir.path, 'state');
  const piped = async (args: string): Promise<{ status: string; stderr: string }> => {
    const { execFile } = await import('node:child_process');
    const script = `"${process.execPath}" "${KILN_BIN}" ${args} 2>"${dir.path}/err" | head -1 >/dev/null; echo \${PIPESTATUS[0]}`;
    const status = await new Promise<string>((resolve, reject) => execFile('bash', ['-c', script], (e, out) => (e === null ? resolve(out.trim()) : reject(e))));
    return { status, stderr: readFileSync(join(dir.path, 'err'), 'utf8') };
  };
  const plan = await piped(`plan --tree "${tree}" --state "${state}"`);
  assert.doesNotMatch(plan.stderr, /EPIPE|Unhandled|at .*\.ts:\d+/, plan.stderr);
  assert.equal(plan.status, '0', 'plan finishes, printing nothing more (a command that changes state is never cut off midway)');
  const build = await piped(`build --tree "${tree}" --state "${state}" --jobs 2`);
  assert.doesNotMatch(build.stderr, /EPIPE|Unhandled|at .*\.ts:\d+/, build.stderr);
  assert.equal(build.status, '130', build.stderr);
  const report = JSON.parse(readFileSync(join(state, 'runs', (await readdir(join(state, 'runs')))[0]!, 'report.json'), 'utf8')) as { counts: Record<string, number> };
  assert.ok((report.counts['cancelled'] ?? 0) > 0, JSON.stringify(report.counts));
  assert.deepEqual(await readdir(join(state, 'work')).catch(() => []), [], 'no workspace left');
  // A command that changes state finishes what it does: a new key, the index signed with it.
  const one = await runKiln(['build', 'p0000', '--tree', tree, '--state', state]);
  assert.equal(one.code, 0, explain(one));
  const key = await piped(`key create --force --state "${state}"`);
  assert.equal(key.status, '0', key.stderr);
  const signed = spawnSync('bash', ['-c', `"${process.execPath}" "${KILN_BIN}" key export --state "${state}" --binary -o "${dir.path}/k.gpg" && gpgv --keyring "${dir.path}/k.gpg" --output /dev/null - < "${state}/packages/index.json.asc"`], { encoding: 'utf8' });
  assert.equal(signed.status, 0, signed.stderr);
});

test('kiln plan says what the build would about where it runs: --sandbox host with an env', async () => {
  await using dir = await tmpDir();
  const r = await runKiln(['plan', '--tree', fixtureTree('diamond'), '--state', join(dir.path, 'state'), '--sandbox', 'host', '--env', 'nosuch']);
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stderr, /^kiln: sandbox host \(--sandbox, or sandbox = "host" in kiln\.toml\): builds run on this machine, not in the env "nosuch"$/m);
});

// The guard of bin/kiln.js: an older Node (the system's, reached by npx from another
// folder) is refused before any TypeScript loads, naming the way to the pinned Node.
const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => existsSync(p));
const oldNode = systemNode === undefined ? undefined : Number(spawnSync(systemNode, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).stdout.trim());
test('an older Node is refused with exit 2, naming this checkout\'s scripts/kiln', { skip: oldNode === undefined || oldNode >= 24 ? 'no Node older than 24 on this machine' : undefined }, () => {
  const r = spawnSync(systemNode!, [KILN_BIN, '--help'], { encoding: 'utf8', cwd: '/' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^kiln: needs Node\.js 24 or newer, but this is v\d+/);
  const root = resolve(dirname(KILN_BIN), '..');
  assert.ok(r.stderr.includes(`${root}/scripts/kiln ...`), r.stderr);
  assert.equal(r.stdout, '');
});
