// The compiled launcher helper (launcher-source.ts): built once per machine and user with
// the C compiler, kept at `<XDG_CACHE_HOME or ~/.cache>/kiln/launcher/<hash of source and
// compiler>/kiln-launcher`, and reused by every kiln process after. Without a compiler,
// a private cache folder or a working build, kiln uses the perl helper instead (same
// protocol, more CPU per job); `KILN_LAUNCHER=perl` asks for perl outright.
//
// Every folder from the cache base down must be a real directory owned by this user (or
// root) that nobody else can write: a binary another user could replace would run every
// build. The build goes to a temporary name and is renamed into place, so kiln processes
// racing to build it each end up with a complete binary. A failed build leaves a
// `build-failed` file saying why, so later kiln processes do not try (and wait) again;
// a new kiln or compiler has a new hash and tries afresh. Each kiln refreshes its
// folder's mtime (daily at most), and building a new launcher removes the folders no kiln
// has used for 30 days, so upgrades do not pile up old programs.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { LAUNCHER_C } from './launcher-source.ts';

/** What kiln has: the compiled launcher's path, or why it uses perl. */
export type LauncherChoice = { readonly path: string } | { readonly why: string };

let choice: Promise<LauncherChoice> | undefined;

/** The compiled launcher, building it on first use, or why there is none (then perl is used). */
export function launcherChoice(): Promise<LauncherChoice> {
  return (choice ??= find().catch((e: unknown) => ({ why: `could not build it: ${String(e)}` })));
}

/** Path of the compiled launcher, building it on first use; undefined when it cannot be had. */
export async function launcherBinary(): Promise<string | undefined> {
  const c = await launcherChoice();
  return 'path' in c ? c.path : undefined;
}

/** The compiled launcher did not start: use perl for the rest of this process. */
export function launcherFailed(): void {
  choice = Promise.resolve({ why: 'the compiled helper would not start' });
}

async function find(): Promise<LauncherChoice> {
  if (process.env['KILN_LAUNCHER'] === 'perl') return { why: 'asked for by KILN_LAUNCHER=perl' };
  if (process.env['KILN_PREFORK_PORTABLE'] === '1') return { why: 'asked for by KILN_PREFORK_PORTABLE=1' };
  const base = process.env['XDG_CACHE_HOME'] || (homedir() === '' ? undefined : join(homedir(), '.cache'));
  if (base === undefined) return { why: 'no home folder to keep the compiled helper in' };
  return buildLauncher(base, process.env['CC'] ?? 'cc');
}

const VERSION_TIMEOUT_MS = 10_000;
const BUILD_TIMEOUT_MS = 60_000;

/**
 * The launcher built with `cc` under `<base>/kiln/launcher/<hash>/` (reused when already
 * there), or why not: no such compiler, a failed build (now or earlier), or a folder on
 * the way that is not private to this user.
 */
export async function buildLauncher(base: string, cc: string, o: { buildTimeoutMs?: number } = {}): Promise<LauncherChoice> {
  // The compiler's identity is part of the hash: a new compiler builds afresh.
  const version = await runTool(cc, ['--version'], VERSION_TIMEOUT_MS);
  if (version.code !== 0) return { why: `no working C compiler (${cc} --version: ${version.error ?? `exit ${version.code}`}); install gcc for less CPU per job` };
  const hash = createHash('sha256').update(LAUNCHER_C).update('\0').update(version.stdout).update(process.arch).digest('hex').slice(0, 16);
  const dir = join(base, 'kiln', 'launcher', hash);
  // The cache folder may be made, but not the home above it (system users' HOME is often /nonexistent).
  if (statSync(dirname(base), { throwIfNoEntry: false })?.isDirectory() !== true) return { why: `${dirname(base)} does not exist to keep the compiled helper in` };
  const unsafe = [base, join(base, 'kiln'), join(base, 'kiln', 'launcher'), dir].find((d) => !privateDir(d));
  if (unsafe !== undefined) return { why: `${unsafe} is not a folder of this user that nobody else can write` };
  const bin = join(dir, 'kiln-launcher');
  const failedFile = join(dir, 'build-failed');
  markUsed(dir);
  lastUsed = Date.now();
  if (isFile(bin)) return { path: bin };
  // A new kiln or compiler is about to build its own: the launchers of old ones go.
  try {
    removeUnused(join(base, 'kiln', 'launcher'), hash);
  } catch {
    // a folder that cannot be removed now is tried again at the next build
  }
  if (isFile(failedFile)) return { why: `building it failed earlier (${failedFile}; remove it to try again)` };
  removeStaleBuilds(dir);
  const tmp = join(dir, `.build-${process.pid}-${Date.now()}`);
  try {
    writeFileSync(`${tmp}.c`, LAUNCHER_C, { mode: 0o600 });
    const r = await runTool(cc, ['-O2', '-o', tmp, `${tmp}.c`], o.buildTimeoutMs ?? BUILD_TIMEOUT_MS);
    if (r.code !== 0 || !isFile(tmp)) {
      const why = r.error ?? (r.code !== 0 ? `exit ${r.code}: ${r.stderr.trim().slice(-2000)}` : 'it exited 0 but wrote no program');
      writeFileSync(failedFile, `${cc} -O2 -o kiln-launcher kiln-launcher.c: ${why}\n`);
      return { why: `building it failed (${failedFile}; remove it to try again)` };
    }
    renameSync(tmp, bin);
    return { path: bin };
  } finally {
    rmSync(`${tmp}.c`, { force: true });
    rmSync(tmp, { force: true });
  }
}

const DAY_MS = 86_400_000;
let lastUsed = 0;

/**
 * A kiln that keeps running (the daemon) says it still uses its launcher each time it
 * starts a helper, at most daily, so that another kiln's clean-up never takes it away.
 */
export function launcherUsed(bin: string): void {
  const now = Date.now();
  if (now - lastUsed < DAY_MS) return;
  lastUsed = now;
  markUsed(dirname(bin));
}

/** A launcher folder no kiln has used for this long is removed when another is built. */
export const UNUSED_LAUNCHER_MS = 30 * DAY_MS;

/** A launcher folder's mtime says when a kiln last used it (refreshed at most daily). */
function markUsed(dir: string): void {
  const now = Date.now();
  try {
    if (now - statSync(dir).mtimeMs > DAY_MS) utimesSync(dir, new Date(now), new Date(now));
  } catch {
    // best effort: at worst the folder is rebuilt after a clean-up
  }
}

/**
 * The folders of other kilns' or compilers' launchers (an older kiln, the compiler before
 * an upgrade) that none has used for UNUSED_LAUNCHER_MS. A kiln still in use keeps its
 * folder fresh (markUsed); one removed anyway builds its launcher again (a second or so).
 */
function removeUnused(root: string, keep: string): void {
  for (const name of readdirSync(root)) {
    if (name === keep || !/^[0-9a-f]{16}$/.test(name)) continue;
    const path = join(root, name);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st?.isDirectory() === true && Date.now() - st.mtimeMs > UNUSED_LAUNCHER_MS) rmSync(path, { recursive: true, force: true });
  }
}

/** Leftovers of builds a killed kiln left (an hour old: no build takes that long). */
function removeStaleBuilds(dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name.startsWith('.build-') && Date.now() - (statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 3_600_000) rmSync(path, { force: true });
  }
}

function isFile(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isFile() === true;
}

/** Make `dir` (mode 0700) if needed; true when it is a real directory of this user (or root) that nobody else can write. */
function privateDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    const uid = process.getuid?.();
    return st.isDirectory() && (uid === undefined || st.uid === uid || st.uid === 0) && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/**
 * Run a tool in a process group of its own; past `timeoutMs` the whole group is killed
 * (a compiler driver's children too). Not through runGroup: that needs this launcher.
 */
function runTool(cmd: string, args: readonly string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string; error?: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    let error: string | undefined;
    const timer = setTimeout(() => {
      error = `timed out after ${timeoutMs / 1000} s`;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, stdout: '', stderr: '', error: (e as NodeJS.ErrnoException).code ?? e.message });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: error === undefined ? code : null, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ...(error === undefined ? {} : { error }) });
    });
  });
}

