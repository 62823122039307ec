import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binnmuNumbering } from './binnmu-numbers.ts';
import { binnmuVersionOf } from '../debian/auto-binnmu.ts';
import { lazyPackages } from '../debian/lazy-index.ts';
import { openRecords } from '../records/records.ts';
import type { DebianBuildSpec } from '../debian/debian-spec.ts';
import type { Job } from '../plan/job.ts';

/** A job of the source kx 1.0 (arch any and all) in a run for amd64 and arm64. */
function job(arch: 'amd64' | 'arm64'): Job {
  const universe = lazyPackages('', 'test Packages');
  const debian = {
    suite: { suite: 'bookworm', mirror: 'http://mirror.invalid/debian', release: undefined, packages: () => ({ path: '/nonexistent', universe }) },
    source: { package: 'kx', version: '1.0', binaries: ['kx-bin', 'kx-data'], architecture: ['any', 'all'] },
    options: { profiles: [], nocheck: false, mode: 'binary', autoBinnmu: true },
    modeFor: { amd64: 'binary', arm64: 'binary-arch' },
  } as unknown as DebianBuildSpec;
  return { id: `kx@${arch}`, arch, spec: { name: 'kx', version: '1.0', debian } } as unknown as Job;
}

test('binnmuNumbering: the archs of a source in one run take one number (a first build none, each rebuild the next), whichever starts first; a build that did not succeed frees its number', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-binnmus-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  using records = openRecords(dir);
  // A run: both archs numbered (in `order`), both built unless `failed` says otherwise.
  const run = async (keys: Record<string, string>, order: ('amd64' | 'arm64')[], failed: string[] = []) => {
    const numbering = binnmuNumbering({ records, repoDir: join(dir, 'no-repo'), stateRoot: dir });
    const out: Record<string, string | undefined> = {};
    for (const arch of order) {
      const { job: numbered, settle } = await numbering.number(job(arch), keys[arch]!);
      out[arch] = binnmuVersionOf(numbered.spec, arch) ?? '1.0';
      settle(!failed.includes(arch));
    }
    return out;
  };
  assert.deepEqual(await run({ amd64: 'a1', arm64: 'r1' }, ['amd64', 'arm64']), { amd64: '1.0', arm64: '1.0' });
  assert.deepEqual(await run({ amd64: 'a2', arm64: 'r2' }, ['arm64', 'amd64']), { amd64: '1.0+b1', arm64: '1.0+b1' });
  // arm64 fails: its +b2 is freed; the next run's rebuild is +b3 (amd64 kept its +b2) on both.
  assert.deepEqual(await run({ amd64: 'a3', arm64: 'r3' }, ['amd64', 'arm64'], ['arm64']), { amd64: '1.0+b2', arm64: '1.0+b2' });
  assert.deepEqual(records.binnmusOf('kx', '1.0').filter((r) => r.arch === 'arm64').map((r) => r.binaryVersion), [null, '1.0+b1']);
  assert.deepEqual(await run({ amd64: 'a4', arm64: 'r4' }, ['arm64', 'amd64']), { amd64: '1.0+b3', arm64: '1.0+b3' });
  // Runs at once (two numberings, their jobs interleaved): never one number for two keys.
  const one = binnmuNumbering({ records, repoDir: join(dir, 'no-repo'), stateRoot: dir });
  const two = binnmuNumbering({ records, repoDir: join(dir, 'no-repo'), stateRoot: dir });
  const [x, y] = await Promise.all([one.number(job('amd64'), 'a5'), two.number(job('amd64'), 'a6')]);
  assert.notEqual(binnmuVersionOf(x.job.spec, 'amd64'), binnmuVersionOf(y.job.spec, 'amd64'));
});
