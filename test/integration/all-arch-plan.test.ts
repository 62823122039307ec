// Where an `archs = ["all"]` package's build dependencies come from, through the real
// `kiln plan --json`: an `all` job builds in the env of the run's first arch, so it stages
// that arch's build of a program of the tree (a checker its build runs), not the build
// machine's; on the host sandbox it runs on this machine, and stages this machine's. The
// envs are tiny roots imported with the arch they claim (a plan only looks them up: nothing
// runs in them, no root filesystem is booted and no QEMU is needed).

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createEnvStore } from '../../src/envs/env-store.ts';
import { tinyRoot, writeTarball } from '../../src/envs/test-tarballs.ts';
import { hostArch } from '../../src/run/host-env.ts';
import { chrootUnavailable } from '../../src/sandbox/chroot/chroot-backend.ts';
import { rootlessUnavailable } from '../../src/sandbox/rootless/rootless-backend.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { runKiln } from '../helpers/run-kiln.ts';
import { tmpDir } from '../helpers/tmp.ts';

interface PlannedPackage {
  readonly id: string;
  readonly state: string;
  readonly reason: string | null;
  readonly waitsFor: readonly string[];
}

// `kiln plan` in an env picks the chroot sandbox as root, rootless otherwise: it must be usable here.
const unusable = process.getuid?.() === 0 ? chrootUnavailable() : rootlessUnavailable();
// The envs' two arches: one foreign to this machine (riscv64, or arm64 on a riscv64 machine) first, then this machine's.
const host = hostArch();
const foreign = host === 'riscv64' ? 'arm64' : 'riscv64';

test('an "all" package stages the build of the arch whose env it builds in (the run\'s first), or this machine\'s on the host sandbox', { skip: unusable }, async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const tree = join(dir.path, 'tree');
  const store = createEnvStore({ stateDir: state });
  for (const arch of [foreign, host]) {
    const tar = join(dir.path, `${arch}.tar`);
    writeTarball(tar, tinyRoot({ codename: 'sid', arch }));
    await store.importTarball(`sid-${arch}`, tar, { suite: 'sid', arch });
  }
  await mkdir(join(tree, 'yamlcheck'), { recursive: true });
  await mkdir(join(tree, 'board-config'), { recursive: true });
  await writeFile(join(tree, 'kiln.toml'), 'env = "sid-{arch}"\n');
  await writeFile(join(tree, 'yamlcheck', 'recipe.toml'), recipeText({ name: 'yamlcheck', script: 'true' }));
  await writeFile(
    join(tree, 'board-config', 'recipe.toml'),
    recipeText({ name: 'board-config', script: 'yamlcheck board.yaml', deps: ['yamlcheck'] }).replace('license = "MIT"', 'license = "MIT"\narchs = ["all"]'),
  );
  const plan = async (...args: string[]): Promise<PlannedPackage> => {
    const r = await runKiln(['plan', '--tree', tree, '--state', state, '--json', ...args]);
    const board = (JSON.parse(r.stdout) as { packages: PlannedPackage[] }).packages.find((p) => p.id === 'board-config@all');
    assert.ok(board !== undefined, `${args.join(' ')}: exit ${r.code}\n${r.stderr}\n${r.stdout}`);
    return board;
  };

  // In the envs: the first arch's env, so its yamlcheck (the one that runs there).
  const both = await plan('--arch', `${foreign},${host}`);
  assert.deepEqual([both.state, both.waitsFor], ['to-build', [`yamlcheck@${foreign}`]]);
  // A run of the foreign arch alone lacks nothing.
  const alone = await plan('--arch', foreign);
  assert.deepEqual([alone.state, alone.reason, alone.waitsFor], ['to-build', null, [`yamlcheck@${foreign}`]]);

  // On the host sandbox the job runs on this machine: this machine's yamlcheck, and without it, why and what to do.
  const onHost = await plan('--arch', `${foreign},${host}`, '--sandbox', 'host');
  assert.deepEqual(onHost.waitsFor, [`yamlcheck@${host}`]);
  const crossOnly = await plan('--arch', foreign, '--sandbox', 'host');
  assert.equal(crossOnly.state, 'broken');
  assert.equal(crossOnly.reason, `needs yamlcheck, which is not built for ${host} (an "all" package builds with the packages of the arch it builds on, ${host}, which this run does not target: add ${host} to --arch)`);
});
