// The disk and storage cases of the reliability list (research/distributed-and-reliability.md,
// "Test cases for kiln"), through the real CLI and a real `kiln serve`:
// - 9, a full build disk (state work/ on a 64 MiB tmpfs): nothing is stored under the
//   failed package's key, and through a daemon the build's report says disk-full while the
//   daemon lives on and /healthz answers;
// - 10, a full artifact cache (--cache on a 1 MiB tmpfs, an output of 4 MiB): the job fails
//   with reason disk-full naming the cache, nothing truncated lies under a final name, and
//   `kiln cache verify` is clean;
// - 12, SIGKILL while a 200 MB artifact is being packed: no visible artifact (the next plan
//   says to-build), `kiln doctor` finds the leftover, the next build builds it and removes
//   the leftover (so do `kiln doctor --fix` and `kiln cache gc`);
// - 13, a flipped byte in a stored archive: the next build that stages it builds it again
//   in the same run (saying why), and the package built on it gets the right content.
// Builds run on the host sandbox. The tmpfs cases need root (mount).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openServerRecords } from '../../src/records/server-records.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { eventsOf, explain, pkgOf, readReport, runKiln, spawnKiln, type KilnResult } from '../helpers/run-kiln.ts';
import { eventually, pidsWithCmdline } from '../helpers/proc.ts';
import { readResponse } from '../helpers/read-response.ts';
import { tmpDir } from '../helpers/tmp.ts';

const notRoot = process.getuid?.() !== 0 ? 'needs root (mounts a tmpfs)' : undefined;

/** A tree of recipes: name → build script (and build-depends). */
async function writeTree(tree: string, pkgs: Readonly<Record<string, string | { script: string; deps: string[] }>>): Promise<string> {
  for (const [name, p] of Object.entries(pkgs)) {
    await mkdir(join(tree, name), { recursive: true });
    const { script, deps } = typeof p === 'string' ? { script: p, deps: [] } : p;
    await writeFile(join(tree, name, 'recipe.toml'), recipeText({ name, script, deps, summary: `storage case: ${name}` }));
  }
  return tree;
}

const install = (name: string, text = name): string => `mkdir -p "$DESTDIR/usr/share/${name}" && echo ${text} > "$DESTDIR/usr/share/${name}/${name}.txt"`;

/** A tmpfs of `size` at `dir`, lazily unmounted when disposed (`using`, after the temp dir's `await using`: before it is removed). */
function mountTmpfs(dir: string, size: string): Disposable {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'kiln-test-storage', dir]);
  return { [Symbol.dispose]: () => void execFileSync('umount', ['-l', dir]) };
}

const entryDir = (cache: string, key: string): string => join(cache, 'artifacts', key.slice(0, 2), key);

/** The key a run's job-finished event gave package `name`. */
function keyOf(r: KilnResult, name: string): string {
  const f = eventsOf(r.events, 'job-finished').find((e) => e.name === name);
  assert.ok(f !== undefined, `no job-finished for ${name}\n${explain(r)}`);
  return f.key;
}

/** Every artifact key stored in `cache`. */
function storedKeys(cache: string): string[] {
  const root = join(cache, 'artifacts');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((fan) => readdirSync(join(root, fan))).sort();
}

const tmpEntries = (cache: string): string[] => (existsSync(join(cache, 'tmp')) ? readdirSync(join(cache, 'tmp')) : []);

async function verifyClean(state: string, cache: string, artifacts: number): Promise<void> {
  const v = await runKiln(['cache', 'verify', '--state', state, '--cache', cache]);
  assert.equal(v.code, 0, explain(v));
  assert.match(v.stdout, new RegExp(`: \\d+ downloads and ${artifacts} artifacts checked, 0 damaged`), explain(v));
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const DISK_FULL_TREE = { big: 'dd if=/dev/zero of="$SRCDIR/fill" bs=1M count=100', ok: install('ok') };

test('case 9: a build that fills its build disk stores nothing under its key; the other package is stored', { skip: notRoot, timeout: 60_000 }, async () => {
  await using dir = await tmpDir();
  const tree = await writeTree(join(dir.path, 'tree'), DISK_FULL_TREE);
  const state = join(dir.path, 'state');
  const cache = join(state, 'cache');
  await mkdir(join(state, 'work'), { recursive: true });
  using _mount = mountTmpfs(join(state, 'work'), '64m');
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--jobs', '1', '--json', '--min-free', '0'], { timeoutMs: 50_000 });
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  assert.equal(pkgOf(report, 'big').reason, 'disk-full', explain(r));
  assert.equal(pkgOf(report, 'big').artifact, null);
  assert.equal(pkgOf(report, 'ok').state, 'built', explain(r));
  const big = keyOf(r, 'big');
  assert.equal(existsSync(entryDir(cache, big)), false, `an entry was stored under the failed package's key ${big}`);
  assert.deepEqual(storedKeys(cache), [keyOf(r, 'ok')], 'only the built package is in the cache');
  assert.deepEqual(tmpEntries(cache), [], 'nothing half-stored');
  // Nor was it published.
  assert.deepEqual(readdirSync(join(state, 'packages', 'All')).filter((f) => f.startsWith('big')), []);
  await verifyClean(state, cache, 1);
});

test('case 9, staging: a dependency that does not fit the build disk fails the job as disk-full, not as a stage failure', { skip: notRoot, timeout: 60_000 }, async () => {
  await using dir = await tmpDir();
  const tree = await writeTree(join(dir.path, 'tree'), {
    lib: 'mkdir -p "$DESTDIR/usr/share/lib" && head -c 48M /dev/urandom > "$DESTDIR/usr/share/lib/blob"',
    app: { script: 'true', deps: ['lib'] },
  });
  const state = join(dir.path, 'state');
  const args = ['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--jobs', '1', '--json', '--min-free', '0'];
  const first = await runKiln(args, { timeoutMs: 50_000 });
  assert.equal(first.code, 0, explain(first));
  await mkdir(join(state, 'work'), { recursive: true });
  using _mount = mountTmpfs(join(state, 'work'), '32m');
  const r = await runKiln([...args, '--force', 'app'], { timeoutMs: 50_000 });
  assert.equal(r.code, 1, explain(r));
  const app = pkgOf(await readReport(r), 'app');
  assert.equal(app.reason, 'disk-full', explain(r));
  assert.match(app.cause ?? '', /staging its build dependencies failed with the disk of its workspace full/);
});

test('case 9, fetch: a source that does not fit the build disk fails the job as disk-full, not as fetch-failed', { skip: notRoot, timeout: 60_000 }, async () => {
  await using dir = await tmpDir();
  const tree = await writeTree(join(dir.path, 'tree'), { big: 'true' });
  await writeFile(join(tree, 'big', 'data.bin'), Buffer.alloc(4 << 20, 7));
  await writeFile(join(tree, 'big', 'recipe.toml'), `${await readFile(join(tree, 'big', 'recipe.toml'), 'utf8')}\n[[sources]]\nurl = "file:data.bin"\n`);
  const state = join(dir.path, 'state');
  await mkdir(join(state, 'work'), { recursive: true });
  using _mount = mountTmpfs(join(state, 'work'), '2m');
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--json', '--min-free', '0'], { timeoutMs: 50_000 });
  assert.equal(r.code, 1, explain(r));
  const big = pkgOf(await readReport(r), 'big');
  assert.equal(big.reason, 'disk-full', explain(r));
  assert.match(big.cause ?? '', /no space left on device|ENOSPC/i, explain(r));
});

test('case 9 through kiln serve: the build fails with disk-full, nothing is stored for it, the daemon lives on and /healthz answers', { skip: notRoot, timeout: 60_000 }, async (t) => {
  await using dir = await tmpDir();
  const tree = await writeTree(join(dir.path, 'tree'), DISK_FULL_TREE);
  const state = join(dir.path, 'state');
  const records = openServerRecords(state);
  const token = records.createToken('alice').token;
  records.close();
  await mkdir(join(state, 'work'), { recursive: true });
  using _mount = mountTmpfs(join(state, 'work'), '64m');
  // --min-free 0: the guard would hold every build on a 64 MiB disk; here the disk fills mid-build.
  const daemon = spawnKiln(['serve', '--listen', '127.0.0.1:0', '--state', state, '--sandbox', 'host', '--tree', `main=${tree}`, '--min-free', '0', '-j', '1'], { timeoutMs: 55_000, env: { KILN_ENVS: '' } });
  let err = '';
  daemon.child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  t.after(() => {
    if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill('SIGKILL');
  });
  const url = await until('kiln serve to listen', () => /listening on (http:\/\/\S+) /.exec(err)?.[1]);
  const call = async (method: string, path: string, body?: unknown) =>
    readResponse(await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }));

  const posted = await call('POST', '/api/v1/builds', { tree: 'main' });
  assert.equal(posted.status, 201, posted.text);
  const id = posted.json.id as string;
  const build = await until('the build to end', async () => {
    const b = await call('GET', `/api/v1/builds/${id}`);
    return b.json?.state === 'queued' || b.json?.state === 'running' ? undefined : b.json;
  });
  assert.equal(build.state, 'failed', JSON.stringify(build));
  const report = await call('GET', `/api/v1/builds/${id}/report.json`);
  assert.equal(report.status, 200, report.text);
  const pkgs = report.json.packages as { name: string; state: string; reason?: string; cause: string | null }[];
  const big = pkgs.find((p) => p.name === 'big');
  assert.equal(big?.reason, 'disk-full', report.text);
  assert.match(big?.cause ?? '', /with the disk of its workspace full/, report.text);
  assert.equal(pkgs.find((p) => p.name === 'ok')?.state, 'built', report.text);
  const jobs = (await call('GET', `/api/v1/builds/${id}/jobs`)).json.jobs as { name: string; artifact: string | null }[];
  assert.equal(jobs.find((j) => j.name === 'big')?.artifact, null, JSON.stringify(jobs));

  // The daemon is alive and healthy, and still takes builds.
  assert.equal(daemon.child.exitCode, null, err);
  assert.equal(daemon.child.signalCode, null, err);
  const health = await fetch(`${url}/healthz`);
  assert.equal(health.status, 200, await health.text());
  const again = await call('POST', '/api/v1/builds', { tree: 'main', targets: ['ok'] });
  assert.equal(again.status, 201, again.text);
  const second = await until('the second build to end', async () => {
    const b = await call('GET', `/api/v1/builds/${again.json.id}`);
    return b.json?.state === 'queued' || b.json?.state === 'running' ? undefined : b.json;
  });
  assert.equal(second.state, 'done', JSON.stringify(second));
  // Only ok's artifact is in the daemon's cache: nothing under big's key, nothing half-stored.
  const cache = join(state, 'cache');
  const stored = storedKeys(cache).map((k) => JSON.parse(readFileSync(join(entryDir(cache, k), 'meta.json'), 'utf8')).name as string);
  assert.deepEqual(stored, ['ok']);
  assert.deepEqual(tmpEntries(cache), []);

  daemon.child.kill('SIGTERM');
  const ended = await daemon.done;
  assert.equal(ended.code, 0, err);
});

test('the state dir\'s disk full while a run goes: kiln says its records (and report) could not be written and what to do, exits 2, no crash; a later kiln reads the records', { skip: notRoot, timeout: 60_000 }, async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  await mkdir(state, { recursive: true });
  using _mount = mountTmpfs(state, '8m');
  // The first build fills the state dir's disk (outside its workspace: the host sandbox lets it) and fails.
  const tree = await writeTree(join(dir.path, 'tree'), { fill: `dd if=/dev/zero of=${join(state, 'fill')} bs=1M count=20 || true; sleep 0.5; exit 1`, b: { script: install('b'), deps: ['fill'] } });
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--min-free', '0']);
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stdout, /kiln's records \(\S+kiln\.db\): a write failed \(database or disk is full\); a batch that could not be written is tried again at the next one; free space on that disk/, explain(r));
  assert.match(r.stderr, /error \[path-unusable\]: \S+kiln\.db: \d+ records of run \S+ could not be written \(database or disk is full\)/, explain(r));
  assert.doesNotMatch(r.stdout + r.stderr, /internal error|this is a bug in kiln|Warning: kiln records/, explain(r));
  // With space again, the records open and say what became of the run.
  execFileSync('rm', [join(state, 'fill')]);
  const status = await runKiln(['status', '--state', state]);
  assert.equal(status.code, 0, explain(status));
  assert.match(status.stdout, /cancelled/);
});

test('case 10: the artifact cache on a full disk: the job fails with disk-full naming the cache, nothing truncated is stored, cache verify is clean', { skip: notRoot, timeout: 60_000 }, async () => {
  await using dir = await tmpDir();
  const tree = await writeTree(join(dir.path, 'tree'), {
    big: 'mkdir -p "$DESTDIR/usr/share/big" && head -c 4M /dev/urandom > "$DESTDIR/usr/share/big/blob"',
    small: install('small'),
  });
  const state = join(dir.path, 'state');
  const cache = join(dir.path, 'cache');
  await mkdir(cache, { recursive: true });
  using _mount = mountTmpfs(cache, '1m');
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--cache', cache, '--sandbox', 'host', '--jobs', '1', '--json', '--min-free', '0'], { timeoutMs: 50_000 });
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  const big = pkgOf(report, 'big');
  assert.equal(big.state, 'failed', explain(r));
  // The machine's problem, said as such, with where and what to do.
  assert.equal(big.reason, 'disk-full', explain(r));
  assert.equal(big.cause, `storing its output in the artifact cache failed with the cache's disk full (${cache}): nothing was stored; free space there (kiln cache gc) or give kiln a cache on a larger disk (--cache DIR), then build it again`);
  // The log keeps what the tools said.
  assert.match(await readFile(big.log!, 'utf8'), /No space left on device/);
  assert.equal(existsSync(entryDir(cache, keyOf(r, 'big'))), false, 'an entry under the key of the package that did not fit');
  assert.equal(pkgOf(report, 'small').state, 'built', 'a package that fits is still stored');
  assert.deepEqual(storedKeys(cache), [keyOf(r, 'small')]);
  assert.deepEqual(tmpEntries(cache), [], 'the partial archive was removed');
  await verifyClean(state, cache, 1);
});

test('case 12: SIGKILL while a large artifact is packed: no visible artifact, kiln doctor finds the half-written entry, the next build builds it and removes the entry once it is left unwritten', { timeout: 60_000 }, async () => {
  await using dir = await tmpDir();
  const tree = await writeTree(join(dir.path, 'tree'), { huge: 'mkdir -p "$DESTDIR/usr/share/huge" && head -c 200M /dev/urandom > "$DESTDIR/usr/share/huge/blob"' });
  const state = join(dir.path, 'state');
  const cache = join(state, 'cache');
  const args = ['--tree', tree, '--state', state, '--sandbox', 'host'];
  const first = spawnKiln(['build', ...args, '--jobs', '1', '--json'], { timeoutMs: 60_000 });
  await first.waitForEvent((e) => e.type === 'job-phase' && e.phase === 'pack', 30_000);
  // Kill it once the archive is being written into its private entry under tmp/.
  const leftover = await until('the archive being written', () => tmpEntries(cache).map((e) => join(cache, 'tmp', e)).find((e) => (statSync(join(e, 'pkg.tar.zst'), { throwIfNoEntry: false })?.size ?? 0) > 0), 30_000);
  process.kill(first.pid, 'SIGKILL');
  const killed = await first.done;
  assert.equal(killed.signal, 'SIGKILL', explain(killed));
  // The packers it spawned end on their own (their reader is gone, or they finish the file).
  assert.ok(await eventually(async () => (await pidsWithCmdline(leftover)).length === 0, 20_000), 'tar/zstd still writing the leftover');
  assert.ok(existsSync(leftover), 'killed before the entry was renamed into place');

  // kiln doctor finds it (the kiln named in it is gone), and leaves it to --fix.
  const doctor = await runKiln(['doctor', '--state', state]);
  assert.equal(doctor.code, 1, explain(doctor));
  assert.ok(doctor.stdout.includes(`cache-temp ${leftover}\n`), explain(doctor));
  assert.match(doctor.stdout, new RegExp(`a cache entry kiln pid ${first.pid}, gone from this machine, wrote \\d+ s ago: a kiln killed while it wrote it, or one of another machine sharing this cache`));
  assert.ok(existsSync(leftover), 'doctor without --fix removed it');
  // Just written, it could be another machine's (a shared cache): the next build keeps it until it has been left unwritten for 10 minutes.
  const aged = new Date(Date.now() - 11 * 60_000);
  for (const f of ['', 'pkg.tar.zst']) utimesSync(join(leftover, f), aged, aged);

  const plan = await runKiln(['plan', ...args, '--json']);
  assert.equal(plan.code, 0, explain(plan));
  const planned = JSON.parse(plan.stdout).packages[0] as { state: string; key: string };
  assert.equal(planned.state, 'to-build', plan.stdout);
  assert.equal(existsSync(entryDir(cache, planned.key)), false);

  const second = await runKiln(['build', ...args, '--jobs', '1', '--json'], { timeoutMs: 60_000 });
  assert.equal(second.code, 0, explain(second));
  assert.equal(pkgOf(await readReport(second), 'huge').state, 'built');
  assert.equal(keyOf(second, 'huge'), planned.key);
  const meta = JSON.parse(readFileSync(join(entryDir(cache, planned.key), 'meta.json'), 'utf8')) as { sha256: string };
  assert.equal(sha256(join(entryDir(cache, planned.key), 'pkg.tar.zst')), meta.sha256);
  // The killed run's workspace and its half-written entry were reaped by the next build.
  assert.deepEqual(readdirSync(join(state, 'work')), []);
  assert.deepEqual(tmpEntries(cache), [], 'the next build left the killed kiln\'s cache entry');
  const clean = await runKiln(['doctor', '--state', state]);
  assert.match(clean.stdout, /^nothing left over$/m, explain(clean));
  assert.deepEqual(storedKeys(cache), [planned.key]);
  await verifyClean(state, cache, 1);
});

test('case 12, doctor --fix and cache gc: doctor --fix removes a cache tmp/ entry of a dead kiln at once, gc once it is left unwritten; one of a live kiln stays', { timeout: 60_000 }, async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const cache = join(state, 'cache');
  const dead = spawnSync('true').pid!;
  // As a kiln killed while it packed and while it downloaded leaves them; and this live
  // process's own (a kiln writing right now).
  const deadArt = join(cache, 'tmp', `art-0123456789abcdef-${dead}-a1b2c3-1`);
  const deadDl = join(cache, 'tmp', `dl-0123456789abcdef-${dead}-a1b2c3d4`);
  const live = join(cache, 'tmp', `art-fedcba9876543210-${process.pid}-a1b2c3-1`);
  const make = async (): Promise<void> => {
    await mkdir(deadArt, { recursive: true });
    await writeFile(join(deadArt, 'pkg.tar.zst'), 'half');
    await writeFile(deadDl, 'half');
    await mkdir(live, { recursive: true });
  };
  await make();
  const fixed = await runKiln(['doctor', '--fix', '--state', state]);
  assert.ok(fixed.stdout.includes(`fixed  cache-temp ${deadArt}\n`) && fixed.stdout.includes(`fixed  cache-temp ${deadDl}\n`), explain(fixed));
  assert.equal(fixed.code, 0, explain(fixed));
  assert.deepEqual(tmpEntries(cache), [basenameOf(live)]);
  await make();
  const gc = await runKiln(['cache', 'gc', '--state', state]);
  assert.equal(gc.code, 0, explain(gc));
  assert.deepEqual(tmpEntries(cache).sort(), [deadArt, deadDl, live].map(basenameOf).sort(), `written just now, they may be another machine's: ${explain(gc)}`);
  const aged = new Date(Date.now() - 11 * 60_000);
  for (const f of [join(deadArt, 'pkg.tar.zst'), deadArt, deadDl]) utimesSync(f, aged, aged);
  const gc2 = await runKiln(['cache', 'gc', '--state', state]);
  assert.equal(gc2.code, 0, explain(gc2));
  assert.deepEqual(tmpEntries(cache), [basenameOf(live)], explain(gc2));
});

const basenameOf = (p: string): string => p.slice(p.lastIndexOf('/') + 1);

test('case 13: a flipped byte in a stored archive: the next build that stages it builds it again, says why, and the result is right', { timeout: 60_000 }, async () => {
  await using dir = await tmpDir();
  const tree = await writeTree(join(dir.path, 'tree'), {
    a: install('a', 'hello-from-a'),
    b: { script: 'mkdir -p "$DESTDIR/usr/share/b" && cp "$SYSROOT/usr/share/a/a.txt" "$DESTDIR/usr/share/b/from-a.txt"', deps: ['a'] },
  });
  const state = join(dir.path, 'state');
  const cache = join(state, 'cache');
  const args = ['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--jobs', '1', '--json'];
  const first = await runKiln(args);
  assert.equal(first.code, 0, explain(first));
  const aKey = keyOf(first, 'a');
  const archive = join(entryDir(cache, aKey), 'pkg.tar.zst');
  const good = sha256(archive);
  // Rot in place (the same inode, as a disk would): one bit of one byte in the middle.
  const bytes = readFileSync(archive);
  bytes[bytes.length >> 1]! ^= 0x10;
  await writeFile(archive, bytes);
  assert.notEqual(sha256(archive), good);
  // b must be built again (its recipe changed): it stages a.
  const recipe = join(tree, 'b', 'recipe.toml');
  await writeFile(recipe, (await readFile(recipe, 'utf8')).replace('cp "$SYSROOT', 'echo rebuilt && cp "$SYSROOT'));

  const second = await runKiln(args);
  assert.equal(second.code, 0, explain(second));
  const notes = eventsOf(second.events, 'note').map((n) => n.text);
  assert.ok(
    notes.some((n) => n === `the stored artifact of a@amd64 is corrupt and was removed (${entryDir(cache, aKey)}: has sha256 ${sha256OfFlipped(bytes)} where meta.json says ${good}): it is built again in this run`),
    notes.join('\n'),
  );
  const started = eventsOf(second.events, 'job-started').find((e) => e.name === 'a');
  assert.deepEqual(started?.why, { kind: 'new', artifactGone: true }, explain(second));
  const report = await readReport(second);
  assert.equal(pkgOf(report, 'a').state, 'built');
  assert.equal(pkgOf(report, 'b').state, 'built');
  assert.match(await readFile(pkgOf(report, 'a').log!, 'utf8'), /why: new: built before with these inputs, but its artifact is gone from the cache \(cache gc, or found corrupt and removed\)/);
  // Same inputs, same key: the entry is whole again, and b was built on the good a.
  assert.equal(keyOf(second, 'a'), aKey);
  assert.equal(sha256(archive), JSON.parse(readFileSync(join(entryDir(cache, aKey), 'meta.json'), 'utf8')).sha256);
  const fromA = execFileSync('tar', ['--zstd', '-xOf', pkgOf(report, 'b').artifact!, 'usr/share/b/from-a.txt'], { encoding: 'utf8' });
  assert.equal(fromA, 'hello-from-a\n');
  // The published copy of a is the good one too.
  const published = readdirSync(join(state, 'packages', 'All')).find((f) => f.startsWith('a_'));
  assert.equal(sha256(join(state, 'packages', 'All', published!)), sha256(archive));
  // Rot again, and b forced (same inputs, same output): every index entry stays as it was,
  // and the published copy (a hard link to the rotten file) is linked to the rebuilt one.
  const again = readFileSync(archive);
  again[again.length >> 2]! ^= 0x01;
  await writeFile(archive, again);
  const third = await runKiln([...args, '--force', 'b']);
  assert.equal(third.code, 0, explain(third));
  assert.ok(eventsOf(third.events, 'note').some((n) => /the stored artifact of a@amd64 is corrupt and was removed/.test(n.text)), explain(third));
  assert.equal(sha256(join(state, 'packages', 'All', published!)), sha256(archive), 'packages/All holds the rebuilt archive, not the rotten one');
  assert.equal(sha256(archive), good);
  // a, and b before and after its recipe changed.
  await verifyClean(state, cache, 3);
});

function sha256OfFlipped(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
