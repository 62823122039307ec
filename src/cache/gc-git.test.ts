// kiln cache gc and du for git mirrors (CACHE/git/<sha256>.git, git-mirror.ts): their age
// is that of their kiln-used stamp; never removed during a fetch (its lock) or while a
// running build relies on them; counted against --max-size; an aside clone of a killed
// kiln in tmp/ goes after ten minutes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { createDownloads } from './downloads.ts';
import { cacheUsage, walkStat } from './du.ts';
import { gcCache } from './gc.ts';
import { GIT_USED_STAMP, gitLockName, gitMirrorPath } from './git-mirror.ts';
import { registerInUse } from './in-use.ts';
import { takeLock } from './lock.ts';

const DAY = 86_400_000;
const GIT_ENV = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org' };
const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();

/** A repository with one commit, mirrored into `cacheDir`; the mirror's path. */
async function mirrored(root: string, cacheDir: string, name: string): Promise<string> {
  const repo = join(root, name);
  await mkdir(repo, { recursive: true });
  git(repo, 'init', '--quiet', '-b', 'main');
  await writeFile(join(repo, 'a.txt'), `${name}\n`);
  git(repo, 'add', '.');
  git(repo, 'commit', '--quiet', '-m', name);
  const url = `git+file://${repo}`;
  await createDownloads({ cacheDir, mirrors: {} }).git(url, git(repo, 'rev-parse', 'HEAD'));
  return gitMirrorPath(cacheDir, url);
}

async function usedAgo(mirror: string, ms: number): Promise<void> {
  const t = new Date(Date.now() - ms);
  await utimes(join(mirror, GIT_USED_STAMP), t, t);
}

test('git mirrors: du counts them; gc removes one unused for --older-than, but not during a fetch (its lock) nor while a running build relies on it', async () => {
  await using dir = await tmpDir();
  const cacheDir = join(dir.path, 'cache');
  const mirror = await mirrored(dir.path, cacheDir, 'one');
  assert.ok(existsSync(join(mirror, GIT_USED_STAMP)), 'a fetch marks the mirror used');
  const u = await cacheUsage(cacheDir);
  assert.deepEqual(u.git, { count: 1, bytes: (await walkStat(mirror)).bytes });
  assert.ok(u.git.bytes > 0);

  // Used recently: stays.
  assert.deepEqual((await gcCache(cacheDir, { keep: new Set(), olderThanMs: 30 * DAY })).removed, []);
  await usedAgo(mirror, 40 * DAY);
  // Being fetched into: stays.
  const lock = await takeLock(join(cacheDir, 'locks'), gitLockName(mirror));
  assert.deepEqual((await gcCache(cacheDir, { keep: new Set(), olderThanMs: 30 * DAY })).removed, []);
  await lock.release();
  assert.ok(existsSync(mirror));
  // Used by a running build (since it started): stays.
  const run = await registerInUse(cacheDir, 'r1', [], Date.now() - 50 * DAY);
  assert.deepEqual((await gcCache(cacheDir, { keep: new Set(), olderThanMs: 30 * DAY })).removed, []);
  await run.release();
  const r = await gcCache(cacheDir, { keep: new Set(), olderThanMs: 30 * DAY });
  assert.deepEqual(r.removed.map((x) => [x.kind, x.path]), [['git', mirror]]);
  assert.ok(!existsSync(mirror));
  assert.deepEqual((await cacheUsage(cacheDir)).git, { count: 0, bytes: 0 });
});

test('git mirrors: --max-size counts them and removes the least recently used first; an export marks a mirror used', async () => {
  await using dir = await tmpDir();
  const cacheDir = join(dir.path, 'cache');
  const older = await mirrored(dir.path, cacheDir, 'older');
  const newer = await mirrored(dir.path, cacheDir, 'newer');
  await usedAgo(older, 3 * 3_600_000);
  await usedAgo(newer, 2 * 3_600_000);
  const bytes = (await walkStat(newer)).bytes;
  const r = await gcCache(cacheDir, { keep: new Set(), olderThanMs: 30 * DAY, maxBytes: bytes });
  assert.deepEqual(r.removed.map((x) => [x.kind, x.path]), [['git', older]]);
  assert.equal(r.sizeAfter, bytes);
  // An export from it (archiveCommit) is a use.
  const { archiveCommit } = await import('./git-mirror.ts');
  const head = execFileSync('git', [`--git-dir=${newer}`, 'rev-parse', 'main'], { env: GIT_ENV, encoding: 'utf8' }).trim();
  await archiveCommit({ mirror: newer, url: 'git+file:///newer', rev: head, tarFile: join(dir.path, 't.tar'), signal: new AbortController().signal, tmpDir: dir.path });
  const r2 = await gcCache(cacheDir, { keep: new Set(), olderThanMs: 30 * DAY, maxBytes: 0 });
  assert.deepEqual(r2.removed, []);
  assert.deepEqual(r2.held?.map((h) => h.reason), ['recent']);
});

test('git mirrors: the aside clone and git home of a kiln killed during a first fetch go from tmp/ ten minutes later', async () => {
  await using dir = await tmpDir();
  const cacheDir = join(dir.path, 'cache');
  // A git whose fetch never ends, so that the kiln is killed with its clone aside.
  const bin = join(dir.path, 'bin');
  await mkdir(bin);
  const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  await writeFile(join(bin, 'git'), `#!/bin/sh\nfor a; do [ "$a" = fetch ] && exec sleep 5; done\nexec ${realGit} "$@"\n`);
  await chmod(join(bin, 'git'), 0o755);
  const script = `import { createDownloads } from ${JSON.stringify(new URL('./downloads.ts', import.meta.url).pathname)};
await createDownloads({ cacheDir: ${JSON.stringify(cacheDir)}, mirrors: {} }).git('git+file://${dir.path}/repo', '${'e'.repeat(40)}');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}` }, stdio: 'ignore', detached: true });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const tmp = join(cacheDir, 'tmp');
  const aside = async (): Promise<string[]> => (await readdir(tmp).catch(() => [] as string[])).filter((n) => n.endsWith('.git'));
  for (let i = 0; (await aside()).length === 0; i++) {
    assert.ok(i < 500, 'the child made no clone aside');
    await delay(20);
  }
  // The kiln and its git together (its own process group): a git still writing into the
  // aside clone would race with the gc below (ENOTEMPTY), which ten minutes later it cannot.
  process.kill(-child.pid!, 'SIGKILL');
  await exited;
  const left = await readdir(tmp);
  assert.equal(left.length, 2, `an aside clone and a git home: ${left.join(', ')}`);
  const r = await gcCache(cacheDir, { keep: new Set(), now: Date.now() + 11 * 60_000 });
  assert.deepEqual(r.removed.map((x) => x.kind), ['tmp', 'tmp']);
  assert.deepEqual(await readdir(tmp), []);
});
