// Odd package folders through the real CLI: a recipe.toml that is a directory, a package
// folder that is a symlink (to a directory, or to nothing). Each odd folder is one broken
// package with its reason; the rest of the tree plans and builds (it used to exit 70).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { explain, pkgOf, readReport, runKiln, statesOf } from '../helpers/run-kiln.ts';
import { tmpDir } from '../helpers/tmp.ts';

const recipe = (name: string): string => `name = "${name}"\nversion = "1.0"\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = "echo ${name} > $DESTDIR/${name}.txt"\n`;

test('a recipe.toml that is a directory and a dangling package link are broken packages; a linked package folder builds; the rest plans and builds', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  await mkdir(join(tree, 'good'), { recursive: true });
  await writeFile(join(tree, 'good/recipe.toml'), recipe('good'));
  await mkdir(join(tree, 'isdir/recipe.toml'), { recursive: true });
  await mkdir(join(dir.path, 'elsewhere/linked'), { recursive: true });
  await writeFile(join(dir.path, 'elsewhere/linked/recipe.toml'), recipe('linked'));
  await symlink(join(dir.path, 'elsewhere/linked'), join(tree, 'linked'));
  await symlink('../nowhere', join(tree, 'dangling'));

  const plan = await runKiln(['plan', '--tree', tree, '--state', state, '--sandbox', 'host']);
  assert.equal(plan.code, 1, explain(plan));
  assert.match(plan.stdout, /^ {2}broken\s+isdir@\S+\s+\?\s+invalid recipe \(1 problem\):\n {6}\S*isdir\/recipe\.toml: is a directory, not a file/m, explain(plan));
  assert.match(plan.stdout, /^ {2}broken\s+dangling@\S+\s+\?\s+invalid recipe \(1 problem\):\n {6}\S*tree\/dangling: is a symlink to "\.\.\/nowhere", which does not exist/m, explain(plan));
  assert.match(plan.stdout, /^ {2}to-build\s+good@/m, explain(plan));
  assert.match(plan.stdout, /^ {2}to-build\s+linked@/m, explain(plan));

  const build = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host']);
  assert.equal(build.code, 1, explain(build));
  const report = await readReport({ state, runId: /kiln: run (\S+) failed/.exec(build.stdout)?.[1] ?? assert.fail(build.stdout) });
  assert.deepEqual(statesOf(report), { dangling: 'broken', good: 'built', isdir: 'broken', linked: 'built' });
  assert.match(pkgOf(report, 'isdir').diagnostics![0]!, /isdir\/recipe\.toml: is a directory/);
});
