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
  // A kept number (amd64's key built before, --force) is not handed to an arch that gave it
  // to another key: arm64 takes the next.
  assert.deepEqual(await run({ amd64: 'a4', arm64: 'r5' }, ['amd64', 'arm64']), { amd64: '1.0+b3', arm64: '1.0+b4' });
  // Two runs at once: B's amd64 takes +b5 and fails (freed); C takes +b5 on both archs;
  // B's arm64 then cannot take the +b5 of its run: arm64 gave it to C's key.
  const b = binnmuNumbering({ records, repoDir: join(dir, 'no-repo'), stateRoot: dir });
  const c = binnmuNumbering({ records, repoDir: join(dir, 'no-repo'), stateRoot: dir });
  const bAmd = await b.number(job('amd64'), 'b-a');
  assert.equal(binnmuVersionOf(bAmd.job.spec, 'amd64'), '1.0+b5');
  bAmd.settle(false);
  for (const [arch, key] of [['amd64', 'c-a'], ['arm64', 'c-r']] as const) {
    const n = await c.number(job(arch), key);
    assert.equal(binnmuVersionOf(n.job.spec, arch), '1.0+b5');
    n.settle(true);
  }
  const bArm = await b.number(job('arm64'), 'b-r');
  assert.equal(binnmuVersionOf(bArm.job.spec, 'arm64'), '1.0+b6');
  // No arch gave one number to two keys.
  const byArch = new Map<string, Map<string | null, string>>();
  for (const r of records.binnmusOf('kx', '1.0')) {
    const seen = byArch.get(r.arch) ?? new Map<string | null, string>();
    byArch.set(r.arch, seen);
    assert.ok(seen.get(r.binaryVersion) === undefined || seen.get(r.binaryVersion) === r.key, `${r.arch} ${r.binaryVersion}: ${seen.get(r.binaryVersion)} and ${r.key}`);
    seen.set(r.binaryVersion, r.key);
  }
});
