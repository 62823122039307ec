// Git sources through the real CLI: a local repository with two commits, a recipe with
// url = "git+file:///…" pinned to the first; the build installs the first commit's file
// (no .git in $SRCDIR); pinning the second rebuilds with source-changed; a rev the
// repository lacks fails naming url and rev; and kiln fetch then works with the repository
// moved away, served from the cache's mirror.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../helpers/tmp.ts';
import { eventsOf, explain, pkgOf, readReport, runKiln, statesOf, type KilnResult } from '../helpers/run-kiln.ts';

const GIT_ENV = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org' };
const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();

function recipe(url: string, rev: string): string {
  return [
    'name = "p"', 'version = "1.0"', 'summary = "from git"', 'license = "MIT"',
    '[[sources]]', `url = "${url}"`, `rev = "${rev}"`, 'dest = "src"',
    '[build]',
    // No .git folder comes with the tree.
    'script = """\ntest ! -e src/.git\nmkdir -p "$DESTDIR/usr/share/p"\ncp src/hello.txt src/sub/deep.txt "$DESTDIR/usr/share/p/"\n"""',
    '',
  ].join('\n');
}

/** A file of the package a run built, read out of its artifact in the cache. */
function installed(r: KilnResult, cache: string, file: string): string {
  const f = eventsOf(r.events, 'job-finished').find((e) => e.name === 'p');
  assert.ok(f !== undefined, explain(r));
  const archive = join(cache, 'artifacts', f.key.slice(0, 2), f.key, 'pkg.tar.zst');
  return execFileSync('tar', ['-I', 'zstd', '-xOf', archive, `usr/share/p/${file}`], { encoding: 'utf8' });
}

test('git sources: a commit of a git+file:/// repository is built; a new rev rebuilds with source-changed; an unknown rev fails naming url and rev; kiln fetch serves it from the mirror', async () => {
  await using dir = await tmpDir();
  const repo = join(dir.path, 'repo');
  await mkdir(join(repo, 'sub'), { recursive: true });
  git(repo, 'init', '--quiet', '-b', 'main');
  await writeFile(join(repo, 'hello.txt'), 'first\n');
  await writeFile(join(repo, 'sub', 'deep.txt'), 'deep\n');
  git(repo, 'add', '.');
  git(repo, 'commit', '--quiet', '-m', 'one');
  const first = git(repo, 'rev-parse', 'HEAD');
  await writeFile(join(repo, 'hello.txt'), 'second\n');
  git(repo, 'commit', '--quiet', '-am', 'two');
  const second = git(repo, 'rev-parse', 'HEAD');

  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  const cache = join(dir.path, 'cache');
  const url = `git+file://${repo}`;
  await mkdir(join(tree, 'p'), { recursive: true });
  const pin = (rev: string): Promise<void> => writeFile(join(tree, 'p', 'recipe.toml'), recipe(url, rev));
  const build = (): Promise<KilnResult> => runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--json'], { cache });

  await pin(first);
  const one = await build();
  assert.equal(one.code, 0, explain(one));
  assert.equal(installed(one, cache, 'hello.txt'), 'first\n');
  assert.equal(installed(one, cache, 'deep.txt'), 'deep\n');
  const mirrors = readdirSync(join(cache, 'git'));
  assert.equal(mirrors.length, 1, 'one bare mirror per repository');
  assert.ok(mirrors[0]!.endsWith('.git'));

  await pin(second);
  const two = await build();
  assert.equal(two.code, 0, explain(two));
  assert.deepEqual(eventsOf(two.events, 'job-started').map((e) => [e.name, e.why.kind]), [['p', 'source-changed']]);
  assert.equal(installed(two, cache, 'hello.txt'), 'second\n');

  const missing = 'f'.repeat(40);
  await pin(missing);
  const bad = await build();
  assert.notEqual(bad.code, 0, explain(bad));
  const report = await readReport(bad);
  assert.deepEqual(statesOf(report), { p: 'failed' });
  assert.match(pkgOf(report, 'p').cause ?? '', new RegExp(`${url.replace(/[.+]/g, '\\$&')} has no commit ${missing}`), explain(bad));
  // The recipe's key to fix is named.
  assert.match(pkgOf(report, 'p').cause ?? '', /\/p\/recipe\.toml: sources\[0\]\.rev: git repository /, explain(bad));

  // The repository gone: kiln fetch finds the pinned commit in the cache's mirror.
  await pin(first);
  await rename(repo, join(dir.path, 'moved'));
  const fetched = await runKiln(['fetch', '--tree', tree, '--state', state], { cache });
  assert.equal(fetched.code, 0, explain(fetched));
  assert.match(fetched.stdout, new RegExp(`in the cache: ${url.replace(/[.+]/g, '\\$&')}@${first} \\(p\\)`));
  // And a commit it never had is a clear failure, not a hang or a half-made mirror.
  await pin(missing);
  const gone = await runKiln(['fetch', '--tree', tree, '--state', state], { cache });
  assert.equal(gone.code, 1, explain(gone));
  assert.match(gone.stdout, new RegExp(`FAILED: ${url.replace(/[.+]/g, '\\$&')}@${missing} \\(p\\): git fetch of ${url.replace(/[.+]/g, '\\$&')} \\(for commit ${missing}\\) failed`));
  assert.ok(existsSync(join(cache, 'git', mirrors[0]!)), 'the mirror is kept');
});
