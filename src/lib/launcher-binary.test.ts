import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pidsWithCmdline } from '../../test/helpers/proc.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { buildLauncher, launcherUsed, type LauncherChoice } from './launcher-binary.ts';

/** The helper's first frame: R "rusage reaper". */
async function readyFrame(bin: string): Promise<string> {
  const child = spawn(bin, ['20'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const first = await new Promise<Buffer>((resolve) => child.stdout.once('data', resolve));
  child.stdin.end();
  await new Promise((resolve) => child.once('exit', resolve));
  return `${String.fromCharCode(first[0]!)} ${first.subarray(5, 5 + first.readUInt32BE(1)).toString()}`;
}

const pathOf = (c: LauncherChoice): string => {
  assert.ok('path' in c, 'why' in c ? c.why : '');
  return c.path;
};

/** A fake compiler: answers --version, then runs `build` (sh) for the build. */
function fakeCc(dir: string, name: string, build: string): string {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n[ "$1" = --version ] && { echo ${name} 1.0; exit 0; }\n${build}\n`);
  chmodSync(file, 0o755);
  return file;
}

test('the launcher is built once into a private folder, then reused', async () => {
  await using tmp = await tmpDir();
  const base = join(tmp.path, 'cache');
  const bin = pathOf(await buildLauncher(base, 'cc'));
  assert.equal(statSync(join(base, 'kiln', 'launcher')).mode & 0o777, 0o700);
  assert.match(await readyFrame(bin), /^R 1 [01]$/);
  const mtime = statSync(bin).mtimeMs;
  assert.equal(pathOf(await buildLauncher(base, 'cc')), bin);
  assert.equal(statSync(bin).mtimeMs, mtime, 'not built again');
  assert.deepEqual(readdirSync(join(bin, '..')), ['kiln-launcher'], 'no build leftovers');
});

test('no launcher (perl is used) without a compiler or in a folder others can write, each saying why', async () => {
  await using tmp = await tmpDir();
  const none = await buildLauncher(join(tmp.path, 'a'), join(tmp.path, 'no-such-cc'));
  assert.ok('why' in none && /no working C compiler .*ENOENT/.test(none.why), JSON.stringify(none));
  const open = join(tmp.path, 'open');
  mkdirSync(open, { mode: 0o777 });
  chmodSync(open, 0o777);
  const o = await buildLauncher(open, 'cc');
  assert.ok('why' in o && o.why.includes(`${open} is not a folder of this user that nobody else can write`), JSON.stringify(o));
  // A folder on the way (not just the last one) counts too.
  const base = join(tmp.path, 'b');
  mkdirSync(join(base, 'kiln'), { recursive: true, mode: 0o700 });
  chmodSync(join(base, 'kiln'), 0o777);
  const b = await buildLauncher(base, 'cc');
  assert.ok('why' in b && b.why.includes(join(base, 'kiln')), JSON.stringify(b));
  // A home that does not exist (system users' /nonexistent) is not made.
  const nohome = await buildLauncher(join(tmp.path, 'nonexistent', '.cache'), 'cc');
  assert.ok('why' in nohome && /nonexistent does not exist/.test(nohome.why), JSON.stringify(nohome));
  assert.ok(!readdirSync(tmp.path).includes('nonexistent'));
});

test('a failed build is noted once: later kilns use perl at once, until the note is removed', async () => {
  await using tmp0 = await tmpDir();
  const silent = await buildLauncher(join(tmp0.path, 'cache'), fakeCc(tmp0.path, 'silent-cc', 'exit 0'));
  assert.ok('why' in silent && /failed/.test(silent.why), 'a compiler that exits 0 without writing the program failed too');
  await using tmp = await tmpDir();
  const failing = fakeCc(tmp.path, 'failing-cc', 'echo "error: nope" >&2; exit 1');
  const base = join(tmp.path, 'cache');
  const first = await buildLauncher(base, failing);
  assert.ok('why' in first && /building it failed \(.*build-failed; remove it to try again\)/.test(first.why), JSON.stringify(first));
  const [hash] = readdirSync(join(base, 'kiln', 'launcher'));
  const dir = join(base, 'kiln', 'launcher', hash!);
  assert.deepEqual(readdirSync(dir), ['build-failed'], 'the failed build left only its note');
  // What a kiln killed mid-build leaves: removed by the next build once an hour old.
  const old = new Date(Date.now() - 2 * 3_600_000);
  for (const name of ['.build-1-1', '.build-1-1.c']) {
    writeFileSync(join(dir, name), '');
    utimesSync(join(dir, name), old, old);
  }
  writeFileSync(join(dir, '.build-2-2.c'), ''); // a build going on now
  assert.match(readFileSync(join(dir, 'build-failed'), 'utf8'), /exit 1: error: nope/);
  const again = await buildLauncher(base, failing);
  assert.ok('why' in again && /failed earlier/.test(again.why), JSON.stringify(again));
  rmSync(join(dir, 'build-failed'));
  assert.ok('why' in (await buildLauncher(base, failing)), 'tried again once the note was gone');
  assert.deepEqual(readdirSync(dir).sort(), ['.build-2-2.c', 'build-failed']);
});

test('a compiler that hangs is killed with all its processes, and noted as failed', async () => {
  await using tmp = await tmpDir();
  const marker = `kiln-hang-${process.pid}-${Date.now()}`;
  // The driver starts a child and waits for it, as cc does with cc1.
  const hanging = fakeCc(tmp.path, 'hanging-cc', `bash -c 'exec -a ${marker} sleep 300' & wait`);
  const started = performance.now();
  const r = await buildLauncher(join(tmp.path, 'cache'), hanging, { buildTimeoutMs: 1000 });
  assert.ok('why' in r && /failed/.test(r.why), JSON.stringify(r));
  assert.ok(performance.now() - started < 10_000);
  assert.deepEqual(await pidsWithCmdline(marker), [], "the driver's child is gone too");
});

test("building a launcher removes other kilns' launcher folders unused for 30 days; using one keeps it fresh", async () => {
  await using tmp = await tmpDir();
  const base = join(tmp.path, 'cache');
  const root = join(base, 'kiln', 'launcher');
  const ago = (days: number): Date => new Date(Date.now() - days * 86_400_000);
  const folder = (name: string, days: number): string => {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'kiln-launcher'), '');
    utimesSync(dir, ago(days), ago(days));
    return dir;
  };
  folder('aaaaaaaaaaaaaaaa', 40); // an old kiln's, unused for 40 days
  folder('bbbbbbbbbbbbbbbb', 2); // another kiln's, used two days ago
  folder('not-a-launcher', 40); // not kiln's naming: left alone
  const bin = pathOf(await buildLauncher(base, 'cc'));
  const mine = join(bin, '..');
  assert.deepEqual(readdirSync(root).sort(), ['bbbbbbbbbbbbbbbb', 'not-a-launcher', mine.slice(root.length + 1)].sort());
  // Reusing the launcher refreshes its folder's mtime once it is a day old.
  utimesSync(mine, ago(3), ago(3));
  assert.equal(pathOf(await buildLauncher(base, 'cc')), bin);
  assert.ok(Date.now() - statSync(mine).mtimeMs < 60_000, 'mtime refreshed');
  // Already built: reusing it removes nothing, even when others are old.
  folder('cccccccccccccccc', 40);
  await buildLauncher(base, 'cc');
  assert.ok(readdirSync(root).includes('cccccccccccccccc'));
});

test('a kiln that keeps running says it still uses its launcher when it starts a helper, at most daily', async () => {
  await using tmp = await tmpDir();
  const base = join(tmp.path, 'cache');
  const bin = pathOf(await buildLauncher(base, 'cc'));
  const dir = join(bin, '..');
  const ago = new Date(Date.now() - 3 * 86_400_000);
  utimesSync(dir, ago, ago);
  launcherUsed(bin);
  assert.ok(Date.now() - statSync(dir).mtimeMs > 2 * 86_400_000, 'buildLauncher marked it just now: not again the same day');
  // A day later (as the daemon sees it), the next helper start refreshes it.
  const realNow = Date.now;
  Date.now = () => realNow() + 86_400_001;
  try {
    launcherUsed(bin);
  } finally {
    Date.now = realNow;
  }
  assert.ok(Date.now() - statSync(dir).mtimeMs < 60_000, 'refreshed');
});
