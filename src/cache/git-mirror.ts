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
// used only once `git cat-file -e REV^{commit}` finds it. Nothing ever runs gc on a mirror,
// so a commit a force-push orphaned stays. Git runs with a fixed environment: no system or
// user config, an empty HOME, no prompt, only the url's own protocol, a stall limit, and
// in its own process group, killed on abort. Loaded only for recipes with a git source.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import { fetchPolicy, urlRefusal } from '../lib/fetch-guard.ts';
import { withLock } from './lock.ts';

/** What git prints on stderr, kept for messages. */
const STDERR_LIMIT = 8192;
/** Give up when a transfer runs below 1 KB/s for this long (git's low-speed limit). */
const STALL_SECONDS = 60;

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
    const child = spawn('git', ['-c', 'gc.auto=0', '-c', 'maintenance.auto=false', '-c', `http.followRedirects=${fetchPolicy() === undefined ? 'initial' : 'false'}`, ...o.args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
      env,
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr = (stderr + s).slice(-STDERR_LIMIT);
    });
    const kill = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    o.signal.addEventListener('abort', kill, { once: true });
    child.on('error', (e) => {
      o.signal.removeEventListener('abort', kill);
      reject(new KilnError('tool-missing', `cannot run git: ${e.message}`, { hint: 'install git (a recipe with a git+ source needs it)', cause: e }));
    });
    child.on('close', (code, sig) => {
      o.signal.removeEventListener('abort', kill);
      if (o.signal.aborted) return reject(o.signal.reason);
      resolve({ code: code ?? (sig === null ? 1 : 128), stderr: stderr.trim() });
    });
  });
}

/** The last lines of git's stderr, on one line. */
const tail = (stderr: string): string => stderr.split('\n').filter((l) => l.trim() !== '').slice(-3).join(' | ') || 'no message';

async function hasCommit(gitDir: string, rev: string, home: string, signal: AbortSignal): Promise<boolean> {
  const r = await runGit({ args: [`--git-dir=${gitDir}`, 'cat-file', '-e', `${rev}^{commit}`], home, protocol: 'file', signal });
  return r.code === 0;
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
  const home = await mkdtemp(join(tmpDir, 'git-home-'));
  try {
    if ((await exists(mirror)) && (await hasCommit(mirror, o.rev, home, o.signal))) return { mirror, fetched: false };
    const { remote, protocol } = gitRemote(o.resolved);
    await refuseOnDaemon(o.url, remote, protocol);
    await mkdir(join(o.cacheDir, 'git'), { recursive: true });
    const name = `git-${sha256(o.url).slice(0, 32)}`;
    await withLock(join(o.cacheDir, 'locks'), name, async () => {
      // Another process may have fetched it while we waited.
      const there = await exists(mirror);
      if (there && (await hasCommit(mirror, o.rev, home, o.signal))) return;
      if (there) {
        await fetchInto(mirror, remote, protocol, o, home);
        return;
      }
      const aside = join(tmpDir, `${name}-${process.pid}-${randomBytes(4).toString('hex')}.git`);
      try {
        const init = await runGit({ args: ['init', '--quiet', '--bare', '--template=', aside], home, protocol, signal: o.signal });
        if (init.code !== 0) throw new KilnError('download-failed', `cannot make a git mirror of ${o.url} in ${aside}: ${tail(init.stderr)}`, { hint: `check that ${o.cacheDir} is writable and has space, then run again` });
        await fetchInto(aside, remote, protocol, o, home);
        await rename(aside, mirror);
      } finally {
        await rm(aside, { recursive: true, force: true });
      }
    }, { signal: o.signal, pollMaxMs: 500 });
    if (!(await hasCommit(mirror, o.rev, home, o.signal))) throw missingRev(o);
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
  const all = await runGit({ args: [`--git-dir=${gitDir}`, 'fetch', '--quiet', '--no-tags', '--', remote, '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*'], home, protocol, signal: o.signal });
  if (all.code !== 0) {
    throw new KilnError('download-failed', `git fetch of ${where} (for commit ${o.rev}) failed: ${tail(all.stderr)}`, {
      hint: 'check the url, the network or the server, then run again (kiln passes git no credentials: the repository must be readable without them)',
    });
  }
  if (await hasCommit(gitDir, o.rev, home, o.signal)) return;
  // A commit no branch or tag reaches (a pull request's): many servers hand it out by id.
  // Whether it came is the caller's check: the mirror is whole either way.
  await runGit({ args: [`--git-dir=${gitDir}`, 'fetch', '--quiet', '--no-tags', '--', remote, `+${o.rev}:refs/kiln/${o.rev}`], home, protocol, signal: o.signal });
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
 * export-ignore and export-subst apply, as in a release tarball made with it; no .git).
 */
export async function archiveCommit(o: { mirror: string; url: string; rev: string; tarFile: string; signal: AbortSignal; tmpDir: string }): Promise<void> {
  const home = await mkdtemp(join(o.tmpDir, '.kiln-git-home-'));
  try {
    const r = await runGit({ args: [`--git-dir=${o.mirror}`, 'archive', '--format=tar', `--output=${o.tarFile}`, o.rev], home, protocol: 'file', signal: o.signal });
    if (r.code !== 0) throw new KilnError('archive-failed', `exporting commit ${o.rev} of ${o.url} from ${o.mirror} failed: ${tail(r.stderr)}`, { hint: `check that the disk has space; if the mirror is damaged, remove ${o.mirror} (the next build fetches it anew)` });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
