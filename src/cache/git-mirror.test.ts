import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { BlockList } from 'node:net';
import { join } from 'node:path';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { guardFetches } from '../lib/fetch-guard.ts';
import { createDownloads } from './downloads.ts';
import { gitHint, gitMirrorPath } from './git-mirror.ts';
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

/** A repository under `root` with one commit (top/a.txt = "one"), and a downloads store over `root`/cache. */
async function repoAndCache(root: string): Promise<{ repo: string; rev: string; cacheDir: string; url: string; dl: ReturnType<typeof createDownloads> }> {
  const repo = join(root, 'repo');
  const rev = await makeRepo(repo, 'one\n');
  const cacheDir = join(root, 'cache');
  return { repo, rev, cacheDir, url: `git+file://${repo}`, dl: createDownloads({ cacheDir, mirrors: {} }) };
}

test('git mirror: fetched once into the cache, then served from it without the repository; a later commit is fetched into it', async () => {
  await using dir = await tmpDir();
  const { repo, rev: first, cacheDir, url, dl } = await repoAndCache(dir.path);
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
  const { repo, cacheDir, dl } = await repoAndCache(dir.path);
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

/** The text of $SRCDIR/dest/FILE after fetchSources exported `rev` of `url`. */
async function exported(dir: string, cacheDir: string, url: string, rev: string, file: string): Promise<string | undefined> {
  const spec = { name: 'p', file: join(dir, 'tree/p/recipe.toml'), dir: join(dir, 'tree/p'), sources: [{ url, sha256: undefined, rev, dest: 'd', strip: 0 }] } as unknown as PackageSpec;
  const srcDir = join(dir, 'src');
  await rm(srcDir, { recursive: true, force: true });
  await fetchSources(spec, { srcDir, downloads: createDownloads({ cacheDir, mirrors: {} }), note: () => {}, signal: new AbortController().signal });
  return readFile(join(srcDir, 'd', file), 'utf8').catch(() => undefined);
}

test('git export: export-subst placeholders stay as committed (they would name the refs the mirror holds that day), in new and in older mirrors; export-ignore applies', async () => {
  await using dir = await tmpDir();
  const repo = join(dir.path, 'repo');
  await mkdir(repo);
  git(repo, 'init', '--quiet', '-b', 'main');
  await writeFile(join(repo, 'version.txt'), '$Format:%D$\n');
  await writeFile(join(repo, 'secret.txt'), 'x\n');
  await writeFile(join(repo, '.gitattributes'), 'version.txt export-subst\nsecret.txt export-ignore\n');
  git(repo, 'add', '.');
  git(repo, 'commit', '--quiet', '-m', 'one');
  const rev = git(repo, 'rev-parse', 'HEAD');
  const cacheDir = join(dir.path, 'cache');
  const url = `git+file://${repo}`;
  assert.equal(await exported(dir.path, cacheDir, url, rev, 'version.txt'), '$Format:%D$\n');
  assert.equal(await exported(dir.path, cacheDir, url, rev, 'secret.txt'), undefined, 'export-ignore still applies');
  // A mirror an older kiln made has no info/attributes: it gets it before the export.
  await rm(join(gitMirrorPath(cacheDir, url), 'info'), { recursive: true });
  git(repo, 'tag', 'v1');
  await writeFile(join(repo, 'more.txt'), 'more\n');
  git(repo, 'add', '.');
  git(repo, 'commit', '--quiet', '-m', 'two');
  await createDownloads({ cacheDir, mirrors: {} }).git(url, git(repo, 'rev-parse', 'HEAD'));
  assert.equal(await exported(dir.path, cacheDir, url, rev, 'version.txt'), '$Format:%D$\n');
});

test('git mirror: a git+file repository of another user is refused naming the owner problem (git\'s own line kept); a cache mirror another user made is used', { skip: process.getuid?.() !== 0 && 'needs root (chown)' }, async () => {
  await using dir = await tmpDir();
  const { repo, rev, cacheDir, url, dl } = await repoAndCache(dir.path);
  await dl.git(url, rev);
  // A mirror of a cache shared between users: made by another one.
  execFileSync('chown', ['-R', '65534', gitMirrorPath(cacheDir, url)]);
  assert.equal((await dl.git(url, rev)).fetched, false);
  assert.equal(await exported(dir.path, cacheDir, url, rev, 'top/a.txt'), 'one\n');
  execFileSync('chown', ['-R', '65534', repo]);
  await assert.rejects(dl.git(url, 'e'.repeat(40)), (e: unknown) => {
    const err = e as Error & { code?: string; hint?: string };
    assert.equal(err.code, 'download-failed');
    assert.match(err.message, /fatal: detected dubious ownership in repository at/);
    assert.match(err.hint ?? '', new RegExp(`${repo}/\\.git belongs to another user \\(uid 65534; kiln runs as uid 0\\)`));
    return true;
  });
});

test('git mirror: lock files a killed git left in the mirror are removed before the next fetch, which then works', async () => {
  await using dir = await tmpDir();
  const { repo, rev: first, cacheDir, url, dl } = await repoAndCache(dir.path);
  await dl.git(url, first);
  const mirror = gitMirrorPath(cacheDir, url);
  const locks = [join(mirror, 'refs', 'heads', 'main.lock'), join(mirror, 'packed-refs.lock'), join(mirror, 'shallow.lock')];
  for (const l of locks) await writeFile(l, '');
  await writeFile(join(repo, 'top', 'a.txt'), 'two\n');
  git(repo, 'commit', '--quiet', '-am', 'two');
  const second = git(repo, 'rev-parse', 'HEAD');
  assert.equal((await dl.git(url, second)).fetched, true);
  for (const l of locks) assert.equal(existsSync(l), false, `${l} removed`);
  // Without that, the fetch fails; what git then says gets a hint naming the file.
  const hint = await gitHint(`error: cannot lock ref 'refs/heads/main': Unable to create '${locks[0]}': File exists.`, mirror, 'fallback');
  assert.match(hint, new RegExp(`^${locks[0]} was left by a git stopped .*: remove that lock file, or the whole mirror ${mirror}`));
  assert.match(await gitHint('fatal: unable to write loose object file: No space left on device', mirror, 'fallback'), new RegExp(`^the disk of ${mirror} is full: free space there`));
});

test('git mirror: git dies with the kiln that runs it (SIGKILL): no orphan goes on writing into the mirror', async () => {
  await using dir = await tmpDir();
  const bin = join(dir.path, 'bin');
  await mkdir(bin);
  const pidFile = join(dir.path, 'git.pid');
  await writeFile(join(bin, 'git'), `#!/bin/sh\necho $$ > ${pidFile}.tmp && mv ${pidFile}.tmp ${pidFile}\nexec sleep 60\n`);
  await chmod(join(bin, 'git'), 0o755);
  const script = `import { createDownloads } from ${JSON.stringify(join(import.meta.dirname, 'downloads.ts'))};
await createDownloads({ cacheDir: ${JSON.stringify(join(dir.path, 'cache'))}, mirrors: {} }).git('git+file://${dir.path}/repo', '${'e'.repeat(40)}');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}` }, stdio: 'ignore' });
  try {
    while (!existsSync(pidFile)) await new Promise((r) => setTimeout(r, 20));
    const pid = Number(await readFile(pidFile, 'utf8'));
    child.kill('SIGKILL');
    const gone = (): boolean => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    };
    for (let i = 0; i < 100 && !gone(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(gone(), `git (pid ${pid}) ended with the kiln that ran it`);
  } finally {
    child.kill('SIGKILL');
  }
});

test('git mirror: an abort stops git with SIGTERM (so that it removes its lock files), then SIGKILL when it does not end', async () => {
  await using dir = await tmpDir();
  const bin = join(dir.path, 'bin');
  await mkdir(bin);
  const mark = join(dir.path, 'mark');
  const saved = process.env['PATH'];
  process.env['PATH'] = `${bin}:${saved ?? ''}`;
  try {
    for (const ignoreTerm of [false, true]) {
      await rm(mark, { force: true });
      const trap = ignoreTerm ? "trap '' TERM" : `trap 'echo term > ${mark}; exit 143' TERM`;
      await writeFile(join(bin, 'git'), `#!/bin/sh\n${trap}\necho started > ${mark}.started\nsleep 20 &\nwait\nwait\n`);
      await chmod(join(bin, 'git'), 0o755);
      const ac = new AbortController();
      const p = createDownloads({ cacheDir: join(dir.path, 'cache'), mirrors: {} }).git(`git+file://${dir.path}/repo`, 'e'.repeat(40), { signal: ac.signal });
      while (!existsSync(`${mark}.started`)) await new Promise((r) => setTimeout(r, 20));
      await rm(`${mark}.started`);
      const t0 = Date.now();
      ac.abort(new Error('stop'));
      await assert.rejects(p, /stop/);
      if (ignoreTerm) assert.ok(Date.now() - t0 >= 1900 && Date.now() - t0 < 10_000, 'SIGKILL came after the grace, before git\'s sleep ended');
      else assert.equal(await readFile(mark, 'utf8'), 'term\n', 'git got SIGTERM');
    }
  } finally {
    process.env['PATH'] = saved;
  }
});

test('git mirror: on a daemon, a git+file url, or a git+https one its policy refuses, is refused even when the cache\'s mirror has the commit', async () => {
  await using dir = await tmpDir();
  const { repo, rev, cacheDir, dl } = await repoAndCache(dir.path);
  await dl.git(`git+file://${repo}`, rev);
  const internal = 'git+https://10.1.2.3/repo.git';
  await cp(gitMirrorPath(cacheDir, `git+file://${repo}`), gitMirrorPath(cacheDir, internal), { recursive: true });
  assert.equal((await dl.git(internal, rev)).fetched, false, 'without a policy, the mirror serves it');
  guardFetches({ trustedHosts: new Set(), allowed: new BlockList(), allowedText: [] });
  try {
    await assert.rejects(dl.git(`git+file://${repo}`, rev), { code: 'fetch-refused' });
    await assert.rejects(dl.git(internal, rev), { code: 'fetch-refused' });
  } finally {
    guardFetches(undefined as never);
  }
});

test('git mirror removed by cache gc while a build wanted it: the export says so and leaves no empty folder; a folder that is no repository is made anew', async () => {
  await using dir = await tmpDir();
  const { rev, cacheDir, url, dl } = await repoAndCache(dir.path);
  const { mirror } = await dl.git(url, rev);
  const { archiveCommit } = await import('./git-mirror.ts');
  await rm(mirror, { recursive: true, force: true });
  await mkdir(join(cacheDir, 'tmp'), { recursive: true });
  await assert.rejects(archiveCommit({ mirror, url, rev, tarFile: join(dir.path, 'x.tar'), signal: new AbortController().signal, tmpDir: join(cacheDir, 'tmp') }), /is gone/);
  assert.ok(!existsSync(mirror), 'no folder made where the mirror was');
  // What an older export left (info/attributes alone): fetched anew, and it works.
  await mkdir(join(mirror, 'info'), { recursive: true });
  await writeFile(join(mirror, 'info', 'attributes'), '* -export-subst\n');
  assert.equal((await dl.git(url, rev)).fetched, true);
  await archiveCommit({ mirror, url, rev, tarFile: join(dir.path, 'y.tar'), signal: new AbortController().signal, tmpDir: join(cacheDir, 'tmp') });
  assert.ok(existsSync(join(dir.path, 'y.tar')));
});
