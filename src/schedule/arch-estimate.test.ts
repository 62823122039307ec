import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_EMULATION_FACTOR, durationModel } from './arch-estimate.ts';
import { DEFAULT_ESTIMATE_MS } from './priority.ts';

const emulated = (arch: string): boolean => arch === 'riscv64' || arch === 'arm64';

test('durationModel: learned, another arch times the learned or default factor, or an estimate', () => {
  const rows: Array<{ what: string; learned: Record<string, number>; id: string; ms: number; source: string }> = [
    { what: 'learned wins', learned: { 'zlib@riscv64': 90_000, 'zlib@amd64': 6_000 }, id: 'zlib@riscv64', ms: 90_000, source: 'learned' },
    { what: 'no pair yet: the default factor', learned: { 'zlib@amd64': 6_000 }, id: 'zlib@riscv64', ms: 6_000 * DEFAULT_EMULATION_FACTOR, source: 'other-arch amd64 x15 (0)' },
    { what: 'the factor learned from packages built on both (median)', learned: { 'a@amd64': 1_000, 'a@riscv64': 10_000, 'b@amd64': 2_000, 'b@riscv64': 40_000, 'c@amd64': 1_000, 'c@riscv64': 12_000, 'zlib@amd64': 6_000 }, id: 'zlib@riscv64', ms: 72_000, source: 'other-arch amd64 x12 (3)' },
    { what: 'the other way: native from emulated', learned: { 'zlib@riscv64': 90_000 }, id: 'zlib@amd64', ms: 6_000, source: 'other-arch riscv64 x0.0667 (0)' },
    { what: 'two native archs build alike', learned: { 'zlib@i386': 7_000 }, id: 'zlib@amd64', ms: 7_000, source: 'other-arch i386 x1 (0)' },
    { what: 'a native arch is told from before an emulated one', learned: { 'zlib@arm64': 80_000, 'zlib@amd64': 6_000 }, id: 'zlib@riscv64', ms: 90_000, source: 'other-arch amd64 x15 (0)' },
    { what: 'a learned factor before a native arch with none', learned: { 'a@arm64': 10_000, 'a@riscv64': 20_000, 'zlib@arm64': 80_000, 'zlib@amd64': 6_000 }, id: 'zlib@riscv64', ms: 160_000, source: 'other-arch arm64 x2 (1)' },
    { what: 'never built: the arch\'s median', learned: { 'a@riscv64': 10_000, 'b@riscv64': 30_000, 'c@riscv64': 50_000, 'd@amd64': 1 }, id: 'new@riscv64', ms: 30_000, source: 'estimate' },
    { what: 'never built, nothing on its arch: the others scaled to it', learned: { 'a@amd64': 1_000, 'b@amd64': 2_000, 'c@amd64': 3_000 }, id: 'new@riscv64', ms: 2_000 * DEFAULT_EMULATION_FACTOR, source: 'estimate' },
    { what: 'nothing learned at all: the default', learned: {}, id: 'new@riscv64', ms: DEFAULT_ESTIMATE_MS, source: 'estimate' },
  ];
  for (const r of rows) {
    const m = durationModel(new Map(Object.entries(r.learned)), emulated);
    const s = m.sourceOf(r.id);
    const said = s.kind === 'other-arch' ? `other-arch ${s.from} x${Number(s.factor.toPrecision(3))} (${s.pairs})` : s.kind;
    assert.equal(said, r.source, r.what);
    assert.equal(m.durationOf(r.id), r.ms, r.what);
  }
});

test('durationModel: the factor between two archs', () => {
  const m = durationModel(new Map([['a@amd64', 1_000], ['a@riscv64', 14_000], ['b@amd64', 500]]), emulated);
  assert.deepEqual(m.factor('amd64', 'riscv64'), { factor: 14, pairs: 1 });
  assert.deepEqual(m.factor('riscv64', 'amd64'), { factor: 1 / 14, pairs: 1 });
  assert.deepEqual(m.factor('amd64', 'i386'), { factor: 1, pairs: 0 });
});
