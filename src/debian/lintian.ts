// `kiln build --debian … --lintian` (sbuild's --run-lintian): lintian over each built
// package's .changes once the run has built it, its tags reported with the run (console,
// report.json and report.html), never failing the build. It is the host's lintian (its
// own tag set, not the target suite's: sbuild runs it inside the suite's chroot instead).
//
// lintian unpacks what the build made. When kiln is root it runs as the user nobody, on a
// copy of the .changes and the files it lists, made by root into a root-owned folder that
// nobody may read but not write: only regular files with plain names are copied (a
// symlink a build left in its output is never followed), and nobody's HOME and TMPDIR are
// a folder of its own beside it.
//
// parseLintian and filesOfChanges are pure (table tests); runLintian spawns lintian.

import { execFile } from 'node:child_process';
import { chmod, chown, copyFile, constants, lstat, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export interface LintianTag {
  /** E error, W warning, I info, P pedantic, X experimental, O overridden, C classification, M masked. */
  readonly code: string;
  readonly package: string;
  readonly tag: string;
  /** What lintian says after the tag (its context), '' when nothing. */
  readonly info: string;
  /** The line as lintian printed it. */
  readonly line: string;
}

/** Tag lines look like `W: hello: some-tag context [path]` or `W: hello changes: some-tag context`. */
const TAG_LINE = /^([EWIPXOCM]): (\S+)(?: (?:source|binary|udeb|changes|buildinfo))?: (\S+)(?: (.*))?$/;

export function parseLintian(output: string): LintianTag[] {
  const tags: LintianTag[] = [];
  for (const line of output.split('\n')) {
    const m = TAG_LINE.exec(line.trimEnd());
    if (m === null) continue;
    tags.push({ code: m[1]!, package: m[2]!, tag: m[3]!, info: m[4] ?? '', line: line.trimEnd() });
  }
  return tags;
}

/** A file name a .changes may list: no path, nothing hidden. */
const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._+~-]*$/;

/** The files a .changes lists (its `Files:` field), plain names only. */
export function filesOfChanges(text: string): string[] {
  const files: string[] = [];
  let inFiles = false;
  for (const line of text.split('\n')) {
    if (/^Files:/.test(line)) {
      inFiles = true;
      continue;
    }
    if (!inFiles) continue;
    if (!line.startsWith(' ')) break;
    const name = line.trim().split(/\s+/).at(-1) ?? '';
    if (PLAIN_NAME.test(name)) files.push(name);
  }
  return files;
}

/** nobody's uid and gid (65534 when /etc/passwd does not say). */
function nobody(): { uid: number; gid: number } {
  try {
    const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:'));
    const [, , uid, gid] = line?.split(':') ?? [];
    if (uid !== undefined && gid !== undefined) return { uid: Number(uid), gid: Number(gid) };
  } catch {
    // no /etc/passwd: the usual ids
  }
  return { uid: 65534, gid: 65534 };
}

/**
 * Copy the .changes `changes` of `dir` and the files it lists into `into` (readable by
 * all): regular files only, so that a symlink a build left in its output is never
 * followed. Returns the names copied.
 */
export async function copyChangesFiles(dir: string, changes: string, into: string): Promise<string[]> {
  const names = [changes, ...filesOfChanges(await readFile(join(dir, changes), 'utf8'))];
  const copied: string[] = [];
  for (const name of new Set(names)) {
    const from = join(dir, name);
    const st = await lstat(from).catch(() => undefined);
    if (st === undefined || !st.isFile()) continue;
    await copyFile(from, join(into, name), constants.COPYFILE_EXCL);
    await chmod(join(into, name), 0o644);
    copied.push(name);
  }
  return copied;
}

export interface LintianResult {
  readonly tags: LintianTag[];
  /** Set when lintian could not run, or did not finish (the tags are then what it printed). */
  readonly error?: string;
}

/** lintian's tags for the .changes `changes` in `dir`; never throws (`error` says what went wrong). */
export async function runLintian(changes: string, o: { dir: string; signal?: AbortSignal; timeoutMs?: number }): Promise<LintianResult> {
  const timeoutMs = o.timeoutMs ?? 30 * 60_000;
  let scratch: string | undefined;
  try {
    const asRoot = process.getuid?.() === 0;
    let target = join(o.dir, changes);
    const env: Record<string, string> = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };
    if (asRoot) {
      scratch = await mkdtemp(join(tmpdir(), 'kiln-lintian-'));
      await chmod(scratch, 0o755);
      const copy = join(scratch, 'in');
      const home = join(scratch, 'home');
      await mkdir(copy, { mode: 0o755 });
      await mkdir(home, { mode: 0o700 });
      const { uid, gid } = nobody();
      await chown(home, uid, gid);
      await copyChangesFiles(o.dir, changes, copy);
      target = join(copy, basename(changes));
      env['HOME'] = home;
      env['TMPDIR'] = home;
    }
    const argv = ['lintian', '--fail-on', 'none', target];
    const [cmd, ...args] = asRoot ? ['runuser', '-u', 'nobody', '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv] : argv;
    return await new Promise<LintianResult>((resolve) => {
      execFile(cmd!, args, { env, maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs, ...(o.signal === undefined ? {} : { signal: o.signal }) }, (err, stdout, stderr) => {
        const tags = parseLintian(stdout);
        if (err === null) return resolve({ tags });
        const e = err as Error & { killed?: boolean; signal?: string | null; code?: string | number | null };
        const said = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/root privileges/.test(l)).at(-1);
        const why =
          o.signal?.aborted === true ? 'stopped: the run was cancelled'
          : e.code === 'ENOENT' || e.code === 127 || /lintian': No such file/.test(stderr) ? 'lintian is not installed (apt-get install lintian; scripts/setup.sh installs it)'
          : e.killed === true && e.signal === 'SIGTERM' ? `timed out after ${Math.round(timeoutMs / 60_000)} min`
          : e.signal != null ? `killed by ${e.signal}`
          : `lintian failed: ${said ?? err.message}`;
        resolve({ tags, error: why });
      });
    });
  } catch (e) {
    return { tags: [], error: `could not run lintian: ${e instanceof Error ? e.message : String(e)}` };
  } finally {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** `2 errors, 1 warning (E: some-tag, W: other-tag …)`, or `clean`. */
export function lintianSummary(tags: readonly LintianTag[]): string {
  const errors = tags.filter((t) => t.code === 'E').length;
  const warnings = tags.filter((t) => t.code === 'W').length;
  const shown = tags.filter((t) => t.code === 'E' || t.code === 'W');
  if (shown.length === 0) return tags.length === 0 ? 'clean' : `no errors or warnings (${tags.length} other tag${tags.length === 1 ? '' : 's'})`;
  const names = [...new Set(shown.map((t) => `${t.code}: ${t.tag}`))];
  return `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'} (${names.slice(0, 4).join(', ')}${names.length > 4 ? ' …' : ''})`;
}
