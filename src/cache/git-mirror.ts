// Git sources (recipe `url = "git+https://…"`, `rev = "<commit id>"`): one bare mirror per
// repository in the cache, and the tree of a commit exported from it.
//
//   git/<sha256 of the url as written>.git   a bare repository holding every branch and
//                                            tag fetched so far (and commits fetched by id)
//
// A mirror is made aside in tmp/ (init --bare, fetch) and renamed into place whole, so an
// interrupted first fetch leaves nothing that is later trusted. An existing mirror is
// fetched into only when it lacks the commit, under the cache's cross-process lock
// (`git-<hash>`); git itself writes objects before the refs that name them, and a commit is
// used only once `git cat-file -e REV^{commit}` finds it. Nothing ever runs git gc on a
// mirror, so a commit a force-push orphaned stays; `kiln cache gc` removes whole mirrors
// not used for long (their `kiln-used` stamp, touched on every use, under the same lock).
// Every mirror's info/attributes says `* -export-subst`: an export is the commit's tree,
// not placeholders filled from whatever refs the mirror holds that day. Git runs with a
// fixed environment: no system or user config, an empty HOME, no prompt, only the url's
// own protocol, a stall limit, and in its own process group, stopped on abort (SIGTERM,
// so that it removes its lock files; SIGKILL 2 s later). Kiln's own mirrors are trusted
// whoever made them (a cache shared between users); a git+file:// repository of another
// user is not (its configuration could run that user's commands). Loaded for git sources
// and by kiln cache gc.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { atomicWrite } from '../lib/atomic-write.ts';
import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import { fetchPolicy, urlRefusal } from '../lib/fetch-guard.ts';
import { withLock } from './lock.ts';
import { CAN_DIE_WITH_KILN, dieWithKiln } from '../lib/die-with-kiln.ts';

/** What git prints on stderr, kept for messages. */
const STDERR_LIMIT = 8192;
/** Give up when a transfer runs below 1 KB/s for this long (git's low-speed limit). */
const STALL_SECONDS = 60;
/** After SIGTERM on abort, SIGKILL follows this much later. */
const KILL_GRACE_MS = 2000;
/** Touched on each use of a mirror: its mtime is the mirror's last use (kiln cache gc). */
export const GIT_USED_STAMP = 'kiln-used';
/** A mirror's folder name. */
export const GIT_MIRROR_RE = /^[0-9a-f]{64}\.git$/;
/** What kiln writes into every mirror's info/attributes (above the tree's .gitattributes). */
const MIRROR_ATTRIBUTES = '# kiln: exports do not depend on the refs the mirror holds\n* -export-subst\n';

/** The cross-process lock (in CACHE/locks/) of the mirror folder `<sha256>.git`: fetches into it, and cache gc removing it. */
export function gitLockName(mirrorDir: string): string {
  return `git-${basename(mirrorDir).slice(0, 32)}`;
}

/** The mirror of `url` (as written in the recipe) under `cacheDir`. */
export function gitMirrorPath(cacheDir: string, url: string): string {
  return join(cacheDir, 'git', `${sha256(url)}.git`);
}

/**
 * `git+https://…`, `git+http://…`, `git+file:///abs` → the url git fetches (mirror://
 * already resolved by the caller); the protocol to allow.
 */
export function gitRemote(resolved: string): { remote: string; protocol: 'https' | 'http' | 'file' } {
  const m = /^(https?|file):\/\//.exec(resolved);
  if (m === null) throw new KilnError('download-failed', `cannot fetch ${resolved} with git: only https://, http:// and file:/// repositories are fetched`, { hint: 'write the url as git+https://HOST/REPO.git' });
  return { remote: resolved, protocol: m[1] as 'https' | 'http' | 'file' };
}

interface GitRun {
  readonly args: readonly string[];
  readonly home: string;
  readonly protocol: string;
  readonly signal: AbortSignal;
  /** A repository of kiln's cache: trusted whoever owns it (safe.directory). */
  readonly trusted?: string;
}

/** Run git (stdout ignored); resolves with its exit code and the tail of its stderr. */
function runGit(o: GitRun): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    o.signal.throwIfAborted();
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: o.home,
      LC_ALL: 'C',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: 'true',
      SSH_ASKPASS: 'true',
      GIT_ALLOW_PROTOCOL: o.protocol,
      GIT_HTTP_LOW_SPEED_LIMIT: '1000',
      GIT_HTTP_LOW_SPEED_TIME: String(STALL_SECONDS),
    };
    // A proxy and CA bundle of the host are its network's, not a user's git config.
    for (const k of ['http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'GIT_SSL_CAINFO']) {
      const v = process.env[k];
      if (v !== undefined) env[k] = v;
    }
    const trust = o.trusted === undefined ? [] : ['-c', `safe.directory=${o.trusted}`];
    const argv = ['git', ...trust, '-c', 'gc.auto=0', '-c', 'maintenance.auto=false', '-c', `http.followRedirects=${fetchPolicy() === undefined ? 'initial' : 'false'}`, ...o.args];
    // Killed with kiln (SIGKILL, out of memory): an orphaned fetch would go on writing into
    // a mirror whose lock the next kiln takes as a dead process's (its lock files are then
    // stale: removeStaleLocks).
    const [cmd, ...args] = dieWithKiln(argv);
    const child = spawn(cmd!, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
      env,
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr = (stderr + s).slice(-STDERR_LIMIT);
    });
    const send = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    // SIGTERM first: git removes its *.lock files on it; one SIGKILLed mid-fetch leaves them.
    let hard: NodeJS.Timeout | undefined;
    const kill = (): void => {
      send('SIGTERM');
      hard = setTimeout(() => send('SIGKILL'), KILL_GRACE_MS);
    };
    o.signal.addEventListener('abort', kill, { once: true });
    child.on('error', (e) => {
      clearTimeout(hard);
      o.signal.removeEventListener('abort', kill);
      reject(new KilnError('tool-missing', `cannot run git: ${e.message}`, { hint: 'install git (a recipe with a git+ source needs it)', cause: e }));
    });
    child.on('close', (code, sig) => {
      clearTimeout(hard);
      o.signal.removeEventListener('abort', kill);
      if (o.signal.aborted) return reject(o.signal.reason);
      // Started through setpriv: a missing git is its exit 127, not a spawn error.
      if (code === 127 && /^setpriv: failed to execute git/m.test(stderr)) {
        return reject(new KilnError('tool-missing', `cannot run git: ${stderr.trim().replace(/^setpriv: failed to execute git: /, '')}`, { hint: 'install git (a recipe with a git+ source needs it)' }));
      }
      resolve({ code: code ?? (sig === null ? 1 : 128), stderr: stderr.trim() });
    });
  });
}

/** git's first `fatal:`/`error:` lines (the cause) and its last lines, on one line. */
export function gitMessage(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const first = lines.filter((l) => /^(fatal|error):/.test(l)).slice(0, 2);
  return [...new Set([...first, ...lines.slice(-3)])].join(' | ') || 'no message';
}

/** What to do about a failed git command, when its stderr says: another user's repository, a lock file left behind; else `fallback`. */
export async function gitHint(stderr: string, mirror: string, fallback: string): Promise<string> {
  const dubious = /detected dubious ownership in repository at '([^']+)'/.exec(stderr);
  if (dubious !== null) {
    const uid = await stat(dubious[1]!).then((s) => String(s.uid), () => '?');
    return `${dubious[1]} belongs to another user (uid ${uid}; kiln runs as uid ${process.getuid?.() ?? '?'}), and git refuses to read a repository another user owns (its configuration could run that user's commands as you; kiln ignores safe.directory settings). Clone it into a repository of your own (\`git clone --mirror ${dubious[1]} ~/repo.git\`) and point the url at that, or have its owner serve it as git+https://`;
  }
  if (/No space left on device|ENOSPC|Disk quota exceeded/.test(stderr)) {
    return `the disk of ${mirror} is full: free space there (\`kiln cache gc\` removes what was not used lately), then run again`;
  }
  const lock = /Unable to create '([^']+\.lock)': File exists/.exec(stderr);
  if (lock !== null) {
    return `${lock[1]} was left by a git stopped in the middle of a write (no kiln writes to ${mirror} now: kiln holds its lock while git runs): remove that lock file, or the whole mirror ${mirror} (the next build fetches it anew), then run again`;
  }
  return fallback;
}

async function hasCommit(gitDir: string, rev: string, home: string, signal: AbortSignal): Promise<boolean> {
  const r = await runGit({ args: [`--git-dir=${gitDir}`, 'cat-file', '-e', `${rev}^{commit}`], home, protocol: 'file', signal, trusted: gitDir });
  return r.code === 0;
}

/** Note a use of `mirror` (its stamp's mtime); false when the mirror is not there. */
export async function markMirrorUsed(mirror: string): Promise<boolean> {
  const stamp = join(mirror, GIT_USED_STAMP);
  const now = new Date();
  try {
    await utimes(stamp, now, now);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return true; // not ours to touch: gc goes by its age
  }
  try {
    await writeFile(stamp, '');
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** Kiln's info/attributes in `gitDir` (written aside and renamed: a concurrent export reads the old or the new, never none). */
async function writeAttributes(gitDir: string): Promise<void> {
  const file = join(gitDir, 'info', 'attributes');
  if ((await readFile(file, 'utf8').catch(() => undefined)) === MIRROR_ATTRIBUTES) return;
  // Not recursive: a mirror cache gc removed meanwhile must not come back as an empty folder.
  await mkdir(join(gitDir, 'info')).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  await atomicWrite(file, MIRROR_ATTRIBUTES);
}

/** A mirror folder that is a repository (its HEAD there): one without is a leftover, made again. */
async function isRepository(gitDir: string): Promise<boolean> {
  return exists(join(gitDir, 'HEAD'));
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, (e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return false;
    throw e;
  });
}

export interface EnsureOptions {
  readonly cacheDir: string;
  /** As written in the recipe (names the mirror and every message). */
  readonly url: string;
  /** `url` without `git+`, mirror:// resolved: what git fetches. */
  readonly resolved: string;
  readonly rev: string;
  readonly signal: AbortSignal;
}

/**
 * The mirror holding commit `rev` of `url`, fetching only when it lacks it; `fetched`:
 * git had to go to the repository. A repository without that commit, or one git cannot
 * reach, is a KilnError('download-failed') naming url and rev.
 */
export async function ensureGitMirror(o: EnsureOptions): Promise<{ mirror: string; fetched: boolean }> {
  const mirror = gitMirrorPath(o.cacheDir, o.url);
  const tmpDir = join(o.cacheDir, 'tmp');
  await mkdir(tmpDir, { recursive: true });
  // Named `git-<16 hex>-<pid>-…` like the aside clone: cache gc removes what a killed kiln left after ten minutes.
  const owned = `git-${sha256(o.url).slice(0, 16)}-${process.pid}`;
  const home = await mkdtemp(join(tmpDir, `${owned}-home-`));
  try {
    // Before the cache: a daemon's tenant may not use a mirror of a url it may not fetch.
    const { remote, protocol } = gitRemote(o.resolved);
    await refuseOnDaemon(o.url, remote, protocol);
    if ((await markMirrorUsed(mirror)) && (await hasCommit(mirror, o.rev, home, o.signal))) return { mirror, fetched: false };
    await mkdir(join(o.cacheDir, 'git'), { recursive: true });
    const name = gitLockName(mirror);
    await withLock(join(o.cacheDir, 'locks'), name, async () => {
      // Another process may have fetched it while we waited. A folder that is no repository
      // (what an older kiln's export left of a mirror gc removed) is moved away and made anew.
      let there = await exists(mirror);
      if (there && !(await isRepository(mirror))) {
        await rm(mirror, { recursive: true, force: true });
        there = false;
      }
      if (there && (await hasCommit(mirror, o.rev, home, o.signal))) return;
      if (there) {
        // Stale only when no orphaned git can still hold them (git dies with its kiln).
        if (CAN_DIE_WITH_KILN) await removeStaleLocks(mirror);
        await fetchInto(mirror, remote, protocol, o, home);
        return;
      }
      const aside = join(tmpDir, `${owned}-${randomBytes(4).toString('hex')}.git`);
      try {
        const init = await runGit({ args: ['init', '--quiet', '--bare', '--template=', aside], home, protocol, signal: o.signal });
        if (init.code !== 0) throw new KilnError('download-failed', `cannot make a git mirror of ${o.url} in ${aside}: ${gitMessage(init.stderr)}`, { hint: `check that ${o.cacheDir} is writable and has space, then run again` });
        await writeAttributes(aside);
        await fetchInto(aside, remote, protocol, o, home);
        await markMirrorUsed(aside);
        await rename(aside, mirror);
      } finally {
        await rm(aside, { recursive: true, force: true });
      }
    }, { signal: o.signal, pollMaxMs: 500 });
    if (!(await hasCommit(mirror, o.rev, home, o.signal))) throw missingRev(o);
    await markMirrorUsed(mirror);
    return { mirror, fetched: true };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

function missingRev(o: EnsureOptions): KilnError {
  return new KilnError('download-failed', `git repository ${o.url} has no commit ${o.rev}`, {
    hint: `check the rev in the recipe: \`git ls-remote ${o.resolved} REF\` prints the commit of a branch or tag`,
  });
}

/** Every branch and tag of `remote` into `gitDir`; then, if the commit is still missing, the commit itself (from servers that allow it). */
async function fetchInto(gitDir: string, remote: string, protocol: string, o: EnsureOptions, home: string): Promise<void> {
  const where = remote === o.url.replace(/^git\+/, '') ? o.url : `${o.url} (${remote})`;
  const all = await runGit({ args: [`--git-dir=${gitDir}`, 'fetch', '--quiet', '--no-tags', '--', remote, '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*'], home, protocol, signal: o.signal, trusted: gitDir });
  if (all.code !== 0) {
    throw new KilnError('download-failed', `git fetch of ${where} (for commit ${o.rev}) failed: ${gitMessage(all.stderr)}`, {
      hint: await gitHint(all.stderr, gitDir, 'check the url, the network or the server, then run again (kiln passes git no credentials: the repository must be readable without them)'),
    });
  }
  if (await hasCommit(gitDir, o.rev, home, o.signal)) return;
  // A commit no branch or tag reaches (a pull request's): many servers hand it out by id.
  // Whether it came is the caller's check: the mirror is whole either way.
  await runGit({ args: [`--git-dir=${gitDir}`, 'fetch', '--quiet', '--no-tags', '--', remote, `+${o.rev}:refs/kiln/${o.rev}`], home, protocol, signal: o.signal, trusted: gitDir });
}

/**
 * Git's lock files in a mirror (`refs/…/NAME.lock`, `packed-refs.lock`, `shallow.lock`, …),
 * removed before a fetch: kiln holds the mirror's own lock, and git dies with the kiln that
 * ran it, so any there now was left by a git killed in the middle of a write, and would
 * fail every later fetch (`Unable to create '….lock': File exists`).
 */
export async function removeStaleLocks(gitDir: string): Promise<string[]> {
  const removed: string[] = [];
  const walk = async (dir: string, deep: boolean): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return [];
      throw e;
    });
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory() && deep) await walk(path, true);
      else if (e.isFile() && e.name.endsWith('.lock')) {
        await rm(path, { force: true });
        removed.push(path);
      }
    }
  };
  await walk(gitDir, false);
  await walk(join(gitDir, 'refs'), true);
  return removed;
}

/** On a daemon (kiln serve), a tenant's git source may not read the daemon's disk or its internal network. */
async function refuseOnDaemon(url: string, remote: string, protocol: string): Promise<void> {
  const policy = fetchPolicy();
  if (policy === undefined) return;
  if (protocol === 'file') {
    throw new KilnError('fetch-refused', `${url}: a git+file:// repository is a directory of the daemon's machine, which a build on a daemon may not read`, { hint: 'give the repository as git+https://' });
  }
  const why = await urlRefusal(policy, remote);
  if (why !== undefined) throw new KilnError('fetch-refused', `git fetch of ${url} refused: ${why}`, { hint: 'use a public repository, or ask the daemon\'s operator to allow its network (kiln serve --fetch-allow)' });
}

/**
 * The tree of commit `rev` as a tar file (`git archive`: the repository's .gitattributes
 * export-ignore applies, as in a release tarball made with it; export-subst does not, see
 * the header; no .git). Marks the mirror used.
 */
export async function archiveCommit(o: { mirror: string; url: string; rev: string; tarFile: string; signal: AbortSignal; tmpDir: string }): Promise<void> {
  const home = await mkdtemp(join(o.tmpDir, '.kiln-git-home-'));
  try {
    if (!(await isRepository(o.mirror))) throw new KilnError('archive-failed', `the mirror of ${o.url} (${o.mirror}) is gone (cache gc removed it meanwhile?)`, { hint: 'run the build again: it fetches the repository anew' });
    await markMirrorUsed(o.mirror);
    // Mirrors made before kiln wrote it get it now.
    await writeAttributes(o.mirror).catch((e: Error) => {
      throw new KilnError('archive-failed', `cannot write ${join(o.mirror, 'info', 'attributes')} (kiln's export settings of the mirror of ${o.url}): ${e.message}`, { hint: `make ${o.mirror} writable for kiln's user, or remove it (the next build fetches it anew)`, cause: e });
    });
    const r = await runGit({ args: [`--git-dir=${o.mirror}`, 'archive', '--format=tar', `--output=${o.tarFile}`, o.rev], home, protocol: 'file', signal: o.signal, trusted: o.mirror });
    if (r.code !== 0) throw new KilnError('archive-failed', `exporting commit ${o.rev} of ${o.url} from ${o.mirror} failed: ${gitMessage(r.stderr)}`, { hint: await gitHint(r.stderr, o.mirror, `check that the disk has space; if the mirror is damaged, remove ${o.mirror} (the next build fetches it anew)`) });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
