// A build that forks until the sandbox's limit of processes refuses it, and fails for
// that: recorded with reason `pids-limit` (not a bare exit status), the other package of
// the run still built, nothing left running. The chroot sandbox of the shared bookworm env
// (a cgroup counts the refused forks); its memory is raised so that the processes' memory
// does not end the build first (that would be `out-of-memory`).

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventually, pidsWithCmdline } from '../helpers/proc.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { eventsOf, explain, pkgOf, readReport, runKiln } from '../helpers/run-kiln.ts';

test('a build that fails because a fork hit the limit of processes is recorded pids-limit; the rest builds', { skip: sharedEnvSkip(), timeout: 5 * 60_000 }, async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const tag = `60.${String(process.pid).padStart(7, '0')}`;
  const recipes: Record<string, string> = {
    // dash gives up on the first refused fork (bash would retry for minutes).
    forky: `memory = "6G"\nscript = '''\nsh -c 'i=0; while [ $i -lt 5000 ]; do sleep ${tag} & i=$((i+1)); done; wait'\n'''`,
    ok: `script = "true"`,
  };
  for (const [name, build] of Object.entries(recipes)) {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), `name = "${name}"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\n[build]\n${build}\n`);
  }
  await writeFile(join(tree, 'kiln.toml'), 'env = "bookworm-{arch}"\nsandbox = "chroot"\n');
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--json'], { env: await sharedEnv(), timeoutMs: 4 * 60_000 });
  assert.equal(r.code, 1, explain(r));
  const failed = eventsOf(r.events, 'job-finished').find((e) => e.name === 'forky');
  assert.equal(failed?.failure?.reason, 'pids-limit', explain(r));
  assert.match(pkgOf(await readReport(r), 'forky').cause ?? '', /^failed after a fork was refused at the sandbox's limit of processes \(4096\)/);
  assert.equal(pkgOf(await readReport(r), 'ok').state, 'built');
  assert.ok(await eventually(async () => (await pidsWithCmdline(tag)).length === 0, 10_000), 'its sleeps outlived the run');
});
