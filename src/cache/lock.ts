// A cross-process lock on a name: `<dir>/<name>.lock`, created with O_EXCL and holding
// `pid hostname startedMs token`. Waiters poll with backoff (20-100 ms plus jitter).
//
// A lock left behind by a dead process (same host, pid gone) is broken by a waiter. Two
// waiters can judge the same lock stale at once; if both simply deleted `<name>.lock`, the
// slower one could delete the lock the faster one has just taken. So breaking happens
// under a second O_EXCL file, `<name>.lock.break`: its holder re-reads the lock, deletes it
// only if it still holds the very content judged stale, and then everyone retries O_EXCL.
// In-process deduplication is the caller's job (downloads/artifacts share one promise per
// key); two withLock calls in one process on one name simply queue like two processes.
import { open, readFile, rm, stat, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { processStartTime, sameProcessAlive } from '../envs/leases.ts';

export interface LockOptions {
  readonly signal?: AbortSignal;
  /** Told once, with the holder's lock content (`pid host startedMs …`), when the lock is busy. */
  readonly onWait?: (holder: string) => void;
  /** The longest pause between two tries (default 100 ms; a lock held for minutes wants more). */
  readonly pollMaxMs?: number;
  /**
   * A lock whose holder cannot be checked (another host, or unreadable content) is
   * broken once it is older than this. Locks of a live pid on this host are never broken.
   * Default: 1 hour.
   */
  readonly staleMs?: number;
}

/** A lock of another host (its holder cannot be checked) is stale after this (LockOptions.staleMs). */
const DEFAULT_STALE_MS = 3_600_000;

/** How long a lock file may stay empty/garbled (between O_EXCL create and write) before it counts as stale. */
const UNREADABLE_GRACE_MS = 10_000;
/** Breaking takes milliseconds; a `.break` file older than this was left by a crashed breaker. */
const BREAK_STALE_MS = 10_000;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Take the lock and hand back its release, for a caller whose critical section is not one
 * function (withLock is); `waited`: another process held it first.
 */
export async function takeLock(dir: string, name: string, options: LockOptions = {}): Promise<{ release(): Promise<void>; waited: boolean }> {
  if (!NAME_RE.test(name)) throw new Error(`takeLock: invalid lock name ${JSON.stringify(name)}`);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.lock`);
  let waited = false;
  const content = await acquire(path, { ...options, onWait: (h) => ((waited = true), options.onWait?.(h)) });
  return { release: () => release(path, content), waited };
}

/** Take the lock if it is free (or stale) now; undefined when another process holds it. */
export async function tryLock(dir: string, name: string): Promise<{ release(): Promise<void> } | undefined> {
  if (!NAME_RE.test(name)) throw new Error(`tryLock: invalid lock name ${JSON.stringify(name)}`);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.lock`);
  const content = lockContent();
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await tryCreate(path, content)) return { release: () => release(path, content) };
    const seen = await readOrUndefined(path);
    if (seen === undefined || !(await isStale(path, seen, DEFAULT_STALE_MS))) return undefined;
    await breakStale(path, seen);
  }
  return undefined;
}

export async function withLock<T>(dir: string, name: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  if (!NAME_RE.test(name)) throw new Error(`withLock: invalid lock name ${JSON.stringify(name)}`);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.lock`);
  const content = await acquire(path, options);
  try {
    return await fn();
  } finally {
    await release(path, content);
  }
}

interface Holder {
  readonly pid: number;
  readonly host: string;
  readonly started: number;
  /** The holder's process start time (/proc/PID/stat), so that a reused pid does not keep the lock; absent in older locks. */
  readonly procStart?: number;
}

export function parseLockContent(text: string): Holder | undefined {
  const [pid, host, started, , procStart] = text.trim().split(' ');
  const p = Number(pid);
  const s = Number(started);
  if (!Number.isInteger(p) || p <= 0 || host === undefined || host === '' || !Number.isFinite(s)) return undefined;
  const ps = procStart === undefined ? NaN : Number(procStart);
  return { pid: p, host, started: s, ...(Number.isFinite(ps) ? { procStart: ps } : {}) };
}

/** A lock's holder on this host still runs: the same process, not another that got its pid. */
export function holderAlive(holder: Holder): boolean {
  return sameProcessAlive(holder.pid, holder.procStart);
}

/** What a lock file of this process holds: `pid host startedMs token procStart`. */
function lockContent(): string {
  return `${process.pid} ${hostname()} ${Date.now()} ${randomBytes(6).toString('hex')} ${processStartTime(process.pid) ?? '-'}\n`;
}


async function acquire(path: string, options: LockOptions): Promise<string> {
  const { signal } = options;
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const content = lockContent();
  let wait = 20;
  let told = false;
  for (;;) {
    signal?.throwIfAborted();
    if (await tryCreate(path, content)) return content;
    const seen = await readOrUndefined(path);
    if (seen !== undefined && (await isStale(path, seen, staleMs))) {
      await breakStale(path, seen);
      continue;
    }
    if (!told && seen !== undefined) {
      told = true;
      options.onWait?.(seen);
    }
    await delay(wait + Math.floor(Math.random() * 20), undefined, { signal });
    wait = Math.min(options.pollMaxMs ?? 100, Math.round(wait * 1.5));
  }
}

async function tryCreate(path: string, content: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    await fh.writeFile(content);
  } catch (e) {
    // A full disk: the empty file made would be an ownerless lock the next taker waits
    // out, and then breaks; it is ours, so it goes at once.
    await fh.close().catch(() => undefined);
    fh = undefined;
    await rm(path, { force: true }).catch(() => undefined);
    throw e;
  } finally {
    await fh?.close();
  }
  return true;
}

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function ageMs(path: string): Promise<number | undefined> {
  try {
    return Date.now() - (await stat(path)).mtimeMs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function isStale(path: string, seen: string, staleMs: number): Promise<boolean> {
  const holder = parseLockContent(seen);
  if (holder === undefined) {
    // Possibly just created and not yet written: judge by the file's age.
    const age = await ageMs(path);
    return age !== undefined && age > UNREADABLE_GRACE_MS;
  }
  if (holder.host === hostname()) return !holderAlive(holder);
  return Date.now() - holder.started > staleMs;
}

async function breakStale(path: string, staleContent: string): Promise<void> {
  const breakPath = `${path}.break`;
  if (!(await tryCreate(breakPath, `${process.pid} ${hostname()} ${Date.now()}\n`))) {
    const age = await ageMs(breakPath);
    if (age !== undefined && age > BREAK_STALE_MS) await rm(breakPath, { force: true });
    return; // someone else is breaking it; retry O_EXCL
  }
  try {
    if ((await readOrUndefined(path)) === staleContent) await rm(path, { force: true });
  } finally {
    await rm(breakPath, { force: true });
  }
}

async function release(path: string, content: string): Promise<void> {
  // Only remove our own lock: if it was (wrongly) judged stale and broken, the file may
  // now belong to another holder.
  if ((await readOrUndefined(path)) === content) await rm(path, { force: true });
}
