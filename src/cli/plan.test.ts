import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMain as kiln } from '../../test/helpers/cli-streams.ts';
import { recipeText } from '../../test/helpers/recipe-text.ts';
import { hostArch } from '../run/host-env.ts';

test('kiln plan marks a job for a foreign arch with how it builds (on the host sandbox: by its recipe), text and --json; a native one as before', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-plan-mode-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'p'), { recursive: true });
  writeFileSync(join(tree, 'p', 'recipe.toml'), recipeText({ name: 'p', script: 'true' }));
  const host = hostArch();
  const foreign = host === 'riscv64' ? 'arm64' : 'riscv64';
  const args = ['plan', '--tree', tree, '--arch', `${host},${foreign}`, '--sandbox', 'host', '--state', join(dir, 'state')];

  const text = await kiln(args);
  assert.equal(text.code, 0, text.err);
  const rows = text.out.split('\n');
  assert.ok(rows.some((l) => new RegExp(`^  to-build +p@${foreign} \\(cross by recipe\\) +1\\.0 +new`).test(l)), text.out);
  assert.ok(rows.some((l) => new RegExp(`^  to-build +p@${host} +1\\.0 +new`).test(l)), text.out);
  assert.doesNotMatch(text.out, new RegExp(`p@${host} \\(`), 'a native job has no mark');

  const json = await kiln([...args, '--json']);
  assert.equal(json.code, 0, json.err);
  const planned = JSON.parse(json.out) as { packages: { id: string; buildMode?: string }[] };
  assert.deepEqual(planned.packages.map((p) => [p.id, p.buildMode]).sort(), [[`p@${host}`, undefined], [`p@${foreign}`, 'recipe-cross']].sort());
});

test('kiln plan --forecast: packages never built are estimated at the median of their own arch, said per arch when they differ', async () => {
  const { forecastLines } = await import('./plan.ts');
  const base = { toBuild: 11, estimated: 3, estimateMs: 349, estimateFrom: 'median' as const, fromOtherArch: 0, archFactors: [], runs: [{ jobs: 2, makespanMs: 10_000, atOnce: 2 }], criticalPath: { ms: 5000, packages: [] }, lowerBoundMs: 5000, lowerBoundBy: 'critical path' as const };
  const two = forecastLines({ ...base, estimateByArch: [{ arch: 'amd64', jobs: 2, ms: 349 }, { arch: 'riscv64', jobs: 1, ms: 5100 }] }, '/s', (id) => id);
  assert.ok(two.includes('  3 of 11 never built here: estimated at 349ms each for amd64 (2), 5.1s each for riscv64 (1) (the median of the learned ones of each arch)'), two.join('\n'));
  const one = forecastLines({ ...base, estimated: 2, estimateByArch: [{ arch: 'amd64', jobs: 2, ms: 349 }] }, '/s', (id) => id);
  assert.ok(one.includes('  2 of 11 never built here: estimated at 349ms each (the median of the learned ones)'), one.join('\n'));
});
