// A build that the memory limit cost a process and that went on to succeed (a background
// compile and `wait`, a `cmd || true`): built, with a `memory` warning that says how many
// processes the limit killed, in the log, the job's warnings (the console's), report.json
// and report.html; with --fail-on-warnings it fails and nothing is stored. The chroot
// sandbox of the shared bookworm env, whose cgroup counts the kills.

import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { eventsOf, explain, pkgOf, readReport, runKiln } from '../helpers/run-kiln.ts';

test('a build that survives a process killed by its memory limit is built with a memory warning; --fail-on-warnings fails it (chroot)', { skip: sharedEnvSkip(), timeout: 5 * 60_000 }, async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'half'), { recursive: true });
  // perl (in every buildd env) really asks for 600 MB, over the 128M limit: the kernel kills it, the script goes on.
  await writeFile(join(tree, 'half', 'recipe.toml'), `name = "half"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\n[build]\nmemory = "128M"\nscript = '''\nperl -e '$x = "a" x 600_000_000' || echo survived\nmkdir -p "$DESTDIR/usr/share/half" && echo half > "$DESTDIR/usr/share/half/half"\n'''\n`);
  await mkdir(join(tree, 'ok'), { recursive: true });
  await writeFile(join(tree, 'ok', 'recipe.toml'), `name = "ok"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = "true"\n`);
  await writeFile(join(tree, 'kiln.toml'), 'env = "bookworm-{arch}"\nsandbox = "chroot"\n');
  const state = join(dir.path, 'state');
  const env = await sharedEnv();
  const want = /^memory: the memory limit \(128M\) killed 1 process during this build \(the build went on: check its output; raise memory = "256M" under \[build\] in the recipe\)$/;

  const r = await runKiln(['build', '--tree', tree, '--state', state, '--json'], { env, timeoutMs: 4 * 60_000 });
  assert.equal(r.code, 0, explain(r));
  const finished = eventsOf(r.events, 'job-finished').find((e) => e.name === 'half');
  assert.equal(finished?.state, 'built', explain(r));
  assert.equal(finished?.warnings?.length, 1, JSON.stringify(finished?.warnings));
  assert.match(finished!.warnings![0]!, want);
  const report = await readReport(r);
  const half = pkgOf(report, 'half');
  assert.equal(half.state, 'built');
  assert.match(half.warnings?.[0] ?? '', want);
  assert.equal(pkgOf(report, 'ok').warnings, undefined, 'a build nothing was killed in has no warning');
  const log = await readFile(half.log!, 'utf8');
  assert.match(log, /o survived/);
  assert.match(log, /k warning \(memory\): the memory limit \(128M\) killed 1 process/);
  const html = await readFile(join(state, 'runs', report.runId, 'report.html'), 'utf8');
  assert.match(html, /Output warnings \(1\)/);
  assert.match(html, /<li>memory: the memory limit \(128M\) killed 1 process/);

  // Its stored build had the warning: --fail-on-warnings builds it again, and refuses it.
  const strict = await runKiln(['build', '--tree', tree, '--state', state, '--json', '--fail-on-warnings'], { env, timeoutMs: 4 * 60_000 });
  assert.equal(strict.code, 1, explain(strict));
  const failed = pkgOf(await readReport(strict), 'half');
  assert.equal(failed.state, 'failed', explain(strict));
  assert.equal(failed.reason, 'pack-failed');
  assert.match(failed.cause ?? '', /^the memory limit \(128M\) killed 1 process during this build .*\(warnings fail the build: --fail-on-warnings\)/);
});
