import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile, utimes } from 'node:fs/promises';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { holderAlive, withLock, parseLockContent } from './lock.ts';

const node = process.execPath;
const childScript = new URL('../../test/fixtures/cache/lock-child.ts', import.meta.url).pathname;

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function deadPid(): number {
  const r = spawnSync(node, ['-e', '']);
  assert.equal(r.status, 0);
  return r.pid;
}

/** Runs `n` holders at once and reports the highest number inside the lock at one time. */
async function maxConcurrency(dir: string, n: number): Promise<number> {
  let inside = 0;
  let max = 0;
  await Promise.all(
    Array.from({ length: n }, () =>
      withLock(dir, 'k', async () => {
        inside++;
        max = Math.max(max, inside);
        for (let i = 0; i < 5; i++) await tick();
        inside--;
      }),
    ),
  );
  return max;
}

test('holders on one name never overlap, and the lock file is gone afterwards', async (t) => {
  const dir = await tempDir(t);
  assert.equal(await maxConcurrency(dir, 6), 1);
  assert.deepEqual(await readdir(dir), []);
});

test('the lock file names pid and host while held; released when fn throws', async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(
    withLock(dir, 'x', async () => {
      const holder = parseLockContent(await readFile(join(dir, 'x.lock'), 'utf8'));
      assert.equal(holder?.pid, process.pid);
      assert.equal(holder?.host, hostname());
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.deepEqual(await readdir(dir), []);
});

test('a lock left by a dead process is broken, once, even with many waiters', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'k.lock'), `${deadPid()} ${hostname()} ${Date.now()} abc\n`);
  assert.equal(await maxConcurrency(dir, 8), 1);
  assert.deepEqual(await readdir(dir), []);
});

test('a lock whose pid now belongs to another process (the holder died, the pid was reused) is broken', async (t) => {
  const dir = await tempDir(t);
  // This very pid, but another start time: the holder that wrote it is gone.
  await writeFile(join(dir, 'k.lock'), `${process.pid} ${hostname()} ${Date.now()} abc 12345\n`);
  assert.equal(await maxConcurrency(dir, 2), 1);
  assert.deepEqual(await readdir(dir), []);
  // Its own lock names its start time, and is alive.
  await withLock(dir, 'own', async () => {
    const holder = parseLockContent(await readFile(join(dir, 'own.lock'), 'utf8'))!;
    assert.equal(typeof holder.procStart, 'number');
    assert.equal(holderAlive(holder), true);
  });
});

test('a lock held by a live process is waited for, and the wait can be aborted', async (t) => {
  const dir = await tempDir(t);
  const lockFile = join(dir, 'k.lock');
  // Our own pid is alive, so this lock is never stale.
  await writeFile(lockFile, `${process.pid} ${hostname()} ${Date.now()} other\n`);
  let ran = false;
  const waiting = withLock(dir, 'k', async () => {
    ran = true;
  });
  for (let i = 0; i < 50; i++) await tick();
  assert.equal(ran, false);
  await rm(lockFile);
  await waiting;
  assert.equal(ran, true);

  await writeFile(lockFile, `${process.pid} ${hostname()} ${Date.now()} other\n`);
  const ac = new AbortController();
  const aborted = withLock(dir, 'k', async () => {}, { signal: ac.signal });
  ac.abort();
  await assert.rejects(aborted, { name: 'AbortError' });
  assert.equal((await readFile(lockFile, 'utf8')).trim().split(' ')[3], 'other');
});

test('locks from another host are broken only after staleMs', async (t) => {
  const dir = await tempDir(t);
  const lockFile = join(dir, 'k.lock');
  await writeFile(lockFile, `1 other-host.example ${Date.now() - 5000} x\n`);
  await withLock(dir, 'k', async () => {}, { staleMs: 1000 });
  assert.deepEqual(await readdir(dir), []);

  await writeFile(lockFile, `1 other-host.example ${Date.now()} x\n`);
  const ac = new AbortController();
  const waiting = withLock(dir, 'k', async () => {}, { staleMs: 60_000, signal: ac.signal });
  for (let i = 0; i < 50; i++) await tick();
  ac.abort();
  await assert.rejects(waiting, { name: 'AbortError' });
});

test('an empty lock file counts as being written until it is old', async (t) => {
  const dir = await tempDir(t);
  const lockFile = join(dir, 'k.lock');
  await writeFile(lockFile, '');
  const old = new Date(Date.now() - 60_000);
  await utimes(lockFile, old, old);
  await withLock(dir, 'k', async () => {});
  assert.deepEqual(await readdir(dir), []);
});

test('two OS processes taking the lock alternately never overlap', async (t) => {
  const dir = await tempDir(t);
  const log = join(dir, 'log.txt');
  const children = [0, 1].map(() => spawn(node, [childScript, join(dir, 'locks'), log, '8'], { stdio: 'inherit' }));
  const codes = await Promise.all(children.map(async (c) => (await once(c, 'exit'))[0]));
  assert.deepEqual(codes, [0, 0]);
  const lines = (await readFile(log, 'utf8')).trim().split('\n');
  assert.equal(lines.length, 32);
  for (let i = 0; i < lines.length; i += 2) {
    const [enter, pid] = lines[i]?.split(' ') ?? [];
    assert.equal(enter, 'enter');
    assert.equal(lines[i + 1], `leave ${pid}`, `interleaved at line ${i + 1}`);
  }
  assert.deepEqual(await readdir(join(dir, 'locks')), []);
});

test('a lock that cannot be written (a full disk) leaves no empty lock file behind for the next taker to wait out', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('mounting a small tmpfs needs root');
  const { execFileSync } = await import('node:child_process');
  const { existsSync } = await import('node:fs');
  const dir = await mkdtemp(join(tmpdir(), 'kiln-lock-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', dir]);
  t.after(async () => {
    execFileSync('umount', [dir]);
    await rm(dir, { recursive: true, force: true });
  });
  // Fill it, leaving room for an inode but not a block.
  await writeFile(join(dir, 'fill'), Buffer.alloc(16 * 1024)).catch(() => undefined);
  await assert.rejects(withLock(dir, 'publish', async () => 'ran'), /ENOSPC/);
  assert.equal(existsSync(join(dir, 'publish.lock')), false, 'no empty lock left');
  await rm(join(dir, 'fill'));
  const started = Date.now();
  assert.equal(await withLock(dir, 'publish', async () => 'ran'), 'ran');
  assert.ok(Date.now() - started < 2000, 'taken at once once there is room');
});
