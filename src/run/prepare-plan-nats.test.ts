// With --nats the workers build: an `all` job goes to the run's first arch's workers
// (run-execution.ts), so the plan resolves it for that arch, whatever this machine's sandbox.

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { recipeText } from '../../test/helpers/recipe-text.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { openRecords } from '../records/records.ts';
import { hostArch } from './host-env.ts';
import { preparePlan } from './prepare-plan.ts';

test("--nats: an 'all' package stages the build of the run's first arch (its workers build it), not this machine's", async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  for (const [name, top] of [['tool', ''], ['data', 'archs = ["all"]\n']] as const) {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), top + recipeText({ name, script: 'true', ...(name === 'data' ? { deps: ['tool'] } : {}) }));
  }
  const host = hostArch();
  const foreign = host === 'riscv64' ? 'arm64' : 'riscv64';
  const state = join(dir.path, 'state');
  using records = openRecords(state);
  const waits = async (nats: string | undefined): Promise<readonly string[]> => {
    const p = await preparePlan({ treeDir: tree, stateDir: state, cacheDir: join(state, 'cache'), sandbox: 'host', env: undefined, lease: false, targets: [], archs: [foreign, host], force: [], ...(nats === undefined ? {} : { nats }) }, records);
    try {
      return p.plan.nodes.find((n) => n.id === 'data@all')!.waitsFor;
    } finally {
      await p.envs.release();
    }
  };
  assert.deepEqual(await waits(undefined), [`tool@${host}`], 'on the host sandbox here: this machine\'s');
  assert.deepEqual(await waits('nats://127.0.0.1:4222'), [`tool@${foreign}`], "with --nats: the first arch's");
});
