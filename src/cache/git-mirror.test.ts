import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { createDownloads } from './downloads.ts';
import { gitMirrorPath } from './git-mirror.ts';
import { fetchSources } from '../execute/fetch-sources.ts';
import type { PackageSpec } from '../plan/spec.ts';

const GIT_ENV = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org' };
const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();

/** A repository with one commit holding top/a.txt; its commit id. */
async function makeRepo(repo: string, content: string): Promise<string> {
  await mkdir(join(repo, 'top'), { recursive: true });
  git(repo, 'init', '--quiet', '-b', 'main');
  await writeFile(join(repo, 'top', 'a.txt'), content);
  git(repo, 'add', '.');
  git(repo, 'commit', '--quiet', '-m', content);
  return git(repo, 'rev-parse', 'HEAD');
}

test('git mirror: fetched once into the cache, then served from it without the repository; a later commit is fetched into it', async () => {
  await using dir = await tmpDir();
  const repo = join(dir.path, 'repo');
  const first = await makeRepo(repo, 'one\n');
  const cacheDir = join(dir.path, 'cache');
  const url = `git+file://${repo}`;
  const dl = createDownloads({ cacheDir, mirrors: {} });
  const a = await dl.git(url, first);
  assert.deepEqual(a, { mirror: gitMirrorPath(cacheDir, url), fetched: true });
  await writeFile(join(repo, 'top', 'a.txt'), 'two\n');
  git(repo, 'commit', '--quiet', '-am', 'two');
  const second = git(repo, 'rev-parse', 'HEAD');
  assert.equal((await dl.git(url, second)).fetched, true, 'a commit the mirror lacks is fetched');
  await rename(repo, join(dir.path, 'moved'));
  assert.equal((await dl.git(url, first)).fetched, false);
  assert.equal((await dl.git(url, second)).fetched, false);
  assert.deepEqual(readdirSync(join(cacheDir, 'tmp')), [], 'nothing left aside');
});

test('git mirror: a user\'s git config does not apply (an insteadOf that would send the fetch elsewhere)', async () => {
  await using dir = await tmpDir();
  const repo = join(dir.path, 'repo');
  const rev = await makeRepo(repo, 'one\n');
  const config = join(dir.path, 'gitconfig');
  await writeFile(config, `[url "file:///nonexistent/"]\n\tinsteadOf = file://${repo}\n`);
  const saved = { GIT_CONFIG_GLOBAL: process.env['GIT_CONFIG_GLOBAL'] };
  process.env['GIT_CONFIG_GLOBAL'] = config;
  try {
    const r = await createDownloads({ cacheDir: join(dir.path, 'cache'), mirrors: {} }).git(`git+file://${repo}`, rev);
    assert.equal(r.fetched, true);
  } finally {
    if (saved.GIT_CONFIG_GLOBAL === undefined) delete process.env['GIT_CONFIG_GLOBAL'];
    else process.env['GIT_CONFIG_GLOBAL'] = saved.GIT_CONFIG_GLOBAL;
  }
});

test('git mirror: a rev the repository lacks, or a repository that is not there, is download-failed naming url and rev; no mirror is left half-made', async () => {
  await using dir = await tmpDir();
  const repo = join(dir.path, 'repo');
  await makeRepo(repo, 'one\n');
  const cacheDir = join(dir.path, 'cache');
  const dl = createDownloads({ cacheDir, mirrors: {} });
  const missing = 'e'.repeat(40);
  await assert.rejects(dl.git(`git+file://${repo}`, missing), (e: unknown) => {
    assert.equal((e as { code?: string }).code, 'download-failed');
    assert.match((e as Error).message, new RegExp(`git\\+file://${repo} has no commit ${missing}`));
    return true;
  });
  assert.ok(existsSync(gitMirrorPath(cacheDir, `git+file://${repo}`)), 'the mirror is whole and kept: a fixed rev needs no new clone');
  await assert.rejects(dl.git(`git+file://${dir.path}/nothing`, missing), (e: unknown) => {
    assert.equal((e as { code?: string }).code, 'download-failed');
    assert.match((e as Error).message, new RegExp(`git fetch of git\\+file://${dir.path}/nothing \\(for commit ${missing}\\) failed`));
    return true;
  });
  assert.deepEqual(readdirSync(join(cacheDir, 'tmp')), [], 'nothing left aside');
  // An abort before the fetch ends: the signal's reason, nothing made.
  const aborted = AbortSignal.abort(new Error('stop'));
  await assert.rejects(dl.git(`git+file://${repo}`, missing, { signal: aborted }), /stop/);
});

test('fetchSources: a git source\'s commit tree goes into $SRCDIR/dest, strip applied, without a .git folder', async () => {
  await using dir = await tmpDir();
  const repo = join(dir.path, 'repo');
  const rev = await makeRepo(repo, 'one\n');
  const spec = {
    name: 'p', file: join(dir.path, 'tree/p/recipe.toml'), dir: join(dir.path, 'tree/p'),
    sources: [{ url: `git+file://${repo}`, sha256: undefined, rev, dest: 'vendor', strip: 1 }],
  } as unknown as PackageSpec;
  const srcDir = join(dir.path, 'src');
  const notes: string[] = [];
  await fetchSources(spec, { srcDir, downloads: createDownloads({ cacheDir: join(dir.path, 'cache'), mirrors: {} }), note: (t) => notes.push(t), signal: new AbortController().signal });
  assert.equal(await readFile(join(srcDir, 'vendor', 'a.txt'), 'utf8'), 'one\n');
  assert.deepEqual(readdirSync(srcDir), ['vendor']);
  assert.deepEqual(readdirSync(join(srcDir, 'vendor')), ['a.txt']);
  assert.deepEqual(notes, [`export git+file://${repo} at ${rev} into $SRCDIR/vendor (strip 1)`]);
});

test('git mirror: a git+mirror://NAME/path url is fetched below the mirror\'s base url', async () => {
  await using dir = await tmpDir();
  const rev = await makeRepo(join(dir.path, 'repos', 'lib'), 'one\n');
  const dl = createDownloads({ cacheDir: join(dir.path, 'cache'), mirrors: { here: `file://${dir.path}/repos/` } });
  assert.deepEqual(await dl.git('git+mirror://here/lib', rev), { mirror: gitMirrorPath(join(dir.path, 'cache'), 'git+mirror://here/lib'), fetched: true });
  await assert.rejects(dl.git('git+mirror://elsewhere/lib', rev), { code: 'mirror-unknown' });
});
