// kiln shell: a shell in the root of a failed chroot build kept by --keep-failed (the
// overlay's upper layer mounted again over the env), with the build's environment, in its
// src dir, offline; nothing of it stays mounted on the host, even when kiln is SIGKILLed;
// while it runs it leases the env version it lies over; a version removed meanwhile is
// named; kiln doctor --fix removes the kept workspace. The same for a failed rootless
// build, entered in a user namespace as the rootless sandbox runs it. Root and a real env only.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { rootlessUnavailable } from '../../src/sandbox/rootless/probe.ts';
import { SHARED_ENVS, sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { explain, pkgOf, readReport, runKiln, spawnKiln } from '../helpers/run-kiln.ts';

const recipe = (name: string, script: string): string => `name = "${name}"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = '''\n${script}\n'''\n`;

/** Mount points of this (the host's) mount namespace at or under `dir`. */
async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m === dir || m.startsWith(`${dir}/`));
}

/** Host pids whose command line is exactly `argv`. */
function pidsRunning(argv: readonly string[]): number[] {
  const want = `${argv.join('\0')}\0`;
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8') === want) out.push(Number(p));
    } catch { /* gone */ }
  }
  return out;
}

test('kiln shell enters the root of a failed chroot build as it failed; nothing stays mounted, even after SIGKILL; doctor --fix removes it', { skip: sharedEnvSkip(), timeout: 8 * 60_000 }, async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  for (const [name, script] of Object.entries({
    // /var/tmp is the root's (1777 in a Debian root): the file lands in the overlay's upper layer.
    broken: 'echo in-the-root > /var/tmp/kiln-left-here\necho in-src > "$SRCDIR/left-in-src"\nexit 3',
    fine: 'mkdir -p "$DESTDIR/usr/share/fine" && echo ok > "$DESTDIR/usr/share/fine/ok"',
  })) {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), recipe(name, script));
  }
  await writeFile(join(tree, 'kiln.toml'), 'env = "bookworm-{arch}"\nsandbox = "chroot"\n');
  const env = await sharedEnv();
  const built = await runKiln(['build', '--tree', tree, '--state', state, '--keep-failed', '--json'], { env, timeoutMs: 5 * 60_000 });
  assert.equal(built.code, 1, explain(built));
  const report = await readReport(built);
  const broken = pkgOf(report, 'broken');
  assert.equal(broken.state, 'failed', explain(built));
  const runDir = join(state, 'work', report.runId);
  assert.ok(existsSync(runDir), `${runDir} is kept`);
  // The env version the build ran in, and the leases a kiln process holds on it.
  const shellJson = join(runDir, 'broken_amd64', 'kiln', 'shell.json');
  const versionId = /\/versions\/([^/]+)\/root$/.exec(JSON.parse(readFileSync(shellJson, 'utf8')).env.layers[0])?.[1] ?? '';
  const leasesDir = join(SHARED_ENVS, 'bookworm-amd64', 'leases');
  const leasesOf = (pid: number): string[] => readdirSync(leasesDir).filter((n) => n.startsWith(`${versionId}.${pid}.`));

  const checks = [
    'set -e',
    'echo "ROOT=$(cat /var/tmp/kiln-left-here)"',
    'echo "SRC=$(cat "$SRCDIR/left-in-src")"',
    'echo "PWD=$(pwd) SRCDIR=$SRCDIR"',
    'echo "VARS=$KILN_PACKAGE $KILN_VERSION $DESTDIR $HOME"',
    'echo "UID=$(id -u)"',
    'echo "NET=$(ls /sys/class/net | tr "\\n" " ")"',
    'exit 7',
  ].join('\n');
  const first = spawnKiln(['shell', 'broken', '--state', state, '--', 'sh', '-c', checks], { env, timeoutMs: 60_000 });
  const shell = await first.done;
  assert.equal(shell.code, 7, explain(shell));
  assert.match(shell.stdout, /^ROOT=in-the-root$/m, explain(shell));
  assert.match(shell.stdout, /^SRC=in-src$/m, explain(shell));
  assert.match(shell.stdout, /^PWD=\/kiln\/src SRCDIR=\/kiln\/src$/m, explain(shell));
  assert.match(shell.stdout, /^VARS=broken 1 \/kiln\/dest \/kiln\/home$/m, explain(shell));
  assert.match(shell.stdout, /^UID=64000$/m, explain(shell));
  assert.match(shell.stdout, /^NET=lo $/m, `only loopback: ${explain(shell)}`);
  assert.deepEqual(await mountsUnder(dir.path), [], 'nothing of the shell is mounted on the host');
  assert.deepEqual(leasesOf(first.pid), [], 'the shell dropped its lease on the env version when it ended');

  // A package that did not fail has no root to enter: the error says what to do.
  const fine = await runKiln(['shell', 'fine', '--state', state, '--', 'true'], { env });
  assert.equal(fine.code, 2, explain(fine));
  assert.match(fine.stderr, /did not fail/, explain(fine));
  assert.match(fine.stderr, /--keep-failed/, explain(fine));

  // SIGKILL of kiln while the shell runs: its command dies with it, nothing stays mounted.
  const sleeper = ['sleep', '3017'];
  const started = join(runDir, 'broken_amd64', 'kiln', 'tmp', 'started');
  const p = spawnKiln(['shell', 'broken', '--state', state, '--', 'sh', '-c', `touch "$TMPDIR/started"; exec ${sleeper.join(' ')}`], { env });
  for (let i = 0; i < 300 && !existsSync(started); i++) await sleep(100);
  assert.ok(existsSync(started), 'the shell started');
  assert.equal(pidsRunning(sleeper).length, 1, 'the shell\'s command runs');
  // While it runs, it holds the env version it lies over, as a build does (no env update's gc removes it).
  assert.equal(leasesOf(p.pid).length, 1, `the shell leases ${versionId}`);
  // One shell at a time over the kept upper layer.
  const second = await runKiln(['shell', 'broken', '--state', state, '--', 'true'], { env });
  assert.equal(second.code, 1, explain(second));
  assert.match(second.stderr, /another kiln shell is open/, explain(second));
  const exited = new Promise((resolve) => p.child.once('exit', resolve));
  process.kill(p.pid, 'SIGKILL');
  // Not p.done: a command that outlived kiln would hold its output pipes open.
  await exited;
  for (let i = 0; i < 50 && pidsRunning(sleeper).length > 0; i++) await sleep(100);
  const survivors = pidsRunning(sleeper);
  for (const pid of survivors) process.kill(pid, 'SIGKILL');
  assert.deepEqual(survivors, [], 'the shell\'s command died with kiln');
  await p.done;
  assert.deepEqual(await mountsUnder(dir.path), [], 'nothing mounted on the host after SIGKILL');

  // The killed shell's lock and run dir do not stand in the way of the next one.
  const again = await runKiln(['shell', 'broken', '--state', state, '--', 'sh', '-c', 'cat /var/tmp/kiln-left-here'], { env });
  assert.equal(again.code, 0, explain(again));
  assert.equal(again.stdout, 'in-the-root\n', explain(again));

  // The env version the build ran in was removed meanwhile: the shell says which, and what to do.
  const kept = readFileSync(shellJson, 'utf8');
  await writeFile(shellJson, kept.replaceAll(`/versions/${versionId}/`, '/versions/20000101T000000-00000000/'));
  const removed = await runKiln(['shell', 'broken', '--state', state, '--', 'true'], { env });
  await writeFile(shellJson, kept);
  assert.equal(removed.code, 2, explain(removed));
  assert.match(removed.stderr, /version 20000101T000000-00000000 of env "bookworm-amd64" that job broken@amd64 built in was removed/, explain(removed));
  assert.match(removed.stderr, /kiln build broken --keep-failed/, explain(removed));

  const doctor = await runKiln(['doctor', '--fix', '--state', state], { env });
  assert.ok(!existsSync(runDir), `doctor --fix removed the kept workspace: ${explain(doctor)}`);
  const after = await runKiln(['shell', 'broken', '--state', state, '--', 'true'], { env });
  assert.equal(after.code, 2, explain(after));
  assert.match(after.stderr, /was not kept/, explain(after));
});

test('kiln shell enters the root of a failed rootless build the way the rootless sandbox runs it: a user namespace, the build uid, offline', { skip: sharedEnvSkip() ?? rootlessUnavailable(), timeout: 8 * 60_000 }, async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  await mkdir(join(tree, 'broken'), { recursive: true });
  await writeFile(join(tree, 'broken', 'recipe.toml'), recipe('broken', 'echo in-the-root > /var/tmp/kiln-left-here\necho in-src > "$SRCDIR/left-in-src"\nexit 3'));
  await writeFile(join(tree, 'kiln.toml'), 'env = "bookworm-{arch}"\nsandbox = "rootless"\n');
  const env = await sharedEnv();
  const built = await runKiln(['build', '--tree', tree, '--state', state, '--keep-failed', '--json'], { env, timeoutMs: 5 * 60_000 });
  assert.equal(built.code, 1, explain(built));
  const report = await readReport(built);
  assert.equal(pkgOf(report, 'broken').state, 'failed', explain(built));
  const finished = built.events.find((e) => e.type === 'job-finished' && e.jobId === 'broken@amd64');
  assert.ok(finished?.type === 'job-finished' && typeof finished.log === 'string', explain(built));
  assert.match(readFileSync(finished.log, 'utf8'), /kiln shell broken --run/, 'the log says how to enter the kept root');
  const upper = join(state, 'work', report.runId, 'broken_amd64', 'root', 'upper');

  const checks = [
    'set -e',
    'echo "ROOT=$(cat /var/tmp/kiln-left-here)"',
    'echo "SRC=$(cat "$SRCDIR/left-in-src")"',
    'echo "PWD=$(pwd) VARS=$KILN_PACKAGE $DESTDIR $HOME"',
    'echo "UID=$(id -u) NAME=$(id -un)"',
    // A user namespace: uid 64000 inside is not the host's 64000.
    'echo "MAP=$(awk \'{print $1, $2}\' /proc/self/uid_map)"',
    'echo "NET=$(ls /sys/class/net | tr "\\n" " ")"',
    'if mkdir /made-at-top 2>/dev/null; then echo TOP=writable; else echo TOP=read-only; fi',
    'exit 5',
  ].join('\n');
  const shell = await runKiln(['shell', 'broken', '--state', state, '--', 'sh', '-c', checks], { env, timeoutMs: 60_000 });
  assert.equal(shell.code, 5, explain(shell));
  assert.match(shell.stdout, /^ROOT=in-the-root$/m, explain(shell));
  assert.match(shell.stdout, /^SRC=in-src$/m, explain(shell));
  assert.match(shell.stdout, /^PWD=\/kiln\/src VARS=broken \/kiln\/dest \/kiln\/home$/m, explain(shell));
  assert.match(shell.stdout, /^UID=64000 NAME=kiln$/m, explain(shell));
  assert.match(shell.stdout, /^MAP=64000 0$/m, `the shell runs in a user namespace: ${explain(shell)}`);
  assert.match(shell.stdout, /^NET=lo $/m, `only loopback: ${explain(shell)}`);
  assert.match(shell.stdout, /^TOP=read-only$/m, `the build could not make directories at the top of the root, nor can the shell: ${explain(shell)}`);
  assert.deepEqual(await mountsUnder(dir.path), [], 'nothing of the shell is mounted on the host');
  assert.equal((await stat(upper)).mode & 0o777, 0o755, 'the kept upper layer is opened again for its owner\'s rm -rf');

  const doctor = await runKiln(['doctor', '--fix', '--state', state], { env });
  assert.ok(!existsSync(join(state, 'work', report.runId)), `doctor --fix removed the kept workspace: ${explain(doctor)}`);
});
