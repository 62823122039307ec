// The compiled launcher helper (launcher-source.ts): built once per machine and user with
// the C compiler, kept at `<XDG_CACHE_HOME or ~/.cache>/kiln/launcher/<hash of source and
// compiler>/kiln-launcher`, and reused by every kiln process after. Without a compiler,
// a writable home or a working build, kiln uses the perl helper instead (same protocol,
// more CPU per job); `KILN_LAUNCHER=perl` asks for perl outright.
//
// The folder is made 0700 and must be owned by this user: a binary another user could
// replace would run every build. The build goes to a temporary name and is renamed into
// place, so kiln processes racing to build it each end up with a complete binary.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LAUNCHER_C } from './launcher-source.ts';

const run = promisify(execFile);

let binary: Promise<string | undefined> | undefined;

/** Path of the compiled launcher, building it on first use; undefined when it cannot be had. */
export function launcherBinary(): Promise<string | undefined> {
  return (binary ??= find().catch(() => undefined));
}

/** The compiled launcher did not start: use perl for the rest of this process. */
export function launcherFailed(): void {
  binary = Promise.resolve(undefined);
}

async function find(): Promise<string | undefined> {
  if (process.env['KILN_LAUNCHER'] === 'perl' || process.env['KILN_PREFORK_PORTABLE'] === '1') return undefined;
  const base = process.env['XDG_CACHE_HOME'] || (homedir() === '' ? undefined : join(homedir(), '.cache'));
  return base === undefined ? undefined : buildLauncher(join(base, 'kiln', 'launcher'), process.env['CC'] ?? 'cc');
}

/**
 * The launcher built with `cc` under `root` (reused when already there); undefined when
 * there is no such compiler, the build fails, or `root` is not a private folder of this user.
 */
export async function buildLauncher(root: string, cc: string): Promise<string | undefined> {
  // The compiler's identity is part of the hash: a new compiler (or libc) builds afresh.
  let version: string;
  try {
    version = (await run(cc, ['--version'], { timeout: 10_000 })).stdout;
  } catch {
    return undefined; // no compiler
  }
  const hash = createHash('sha256').update(LAUNCHER_C).update('\0').update(version).update(process.arch).digest('hex').slice(0, 16);
  const dir = join(root, hash);
  const bin = join(dir, 'kiln-launcher');
  if (!ownedPrivateDir(root) || !ownedPrivateDir(dir)) return undefined;
  try {
    if (statSync(bin).isFile()) return bin;
  } catch {
    // not built yet
  }
  const tmp = join(dir, `.build-${process.pid}-${Date.now()}`);
  try {
    writeFileSync(`${tmp}.c`, LAUNCHER_C, { mode: 0o600 });
    await run(cc, ['-O2', '-o', tmp, `${tmp}.c`], { timeout: 120_000 });
    renameSync(tmp, bin);
    return bin;
  } catch {
    return undefined;
  } finally {
    rmSync(`${tmp}.c`, { force: true });
    rmSync(tmp, { force: true });
  }
}

/** Make `dir` (mode 0700) if needed; true when it is a real directory of this user that nobody else can write. */
function ownedPrivateDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    const uid = process.getuid?.();
    return st.isDirectory() && (uid === undefined || st.uid === uid) && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}
