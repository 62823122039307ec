// How long a job is expected to take, when this arch never built it but another arch did:
// the other arch's duration times how much slower (or faster) this arch builds. Under
// QEMU user emulation (riscv64 on an amd64 machine) that is 10–20 times, and it differs
// per machine, so it is learned: for each pair of archs, the median over the packages
// built on both of the ratio of their durations. With no such package yet, an emulated
// arch is taken to be DEFAULT_EMULATION_FACTOR times slower than a native one (and archs
// alike to build alike). Pure: the caller gives the learned durations (job id NAME@ARCH →
// ms) and which archs this machine emulates.
//
// The scheduler's priorities (longest path), the live view's ETA and `kiln plan
// --forecast` then weigh a package's first riscv64 build by its amd64 history instead of
// the tree's median.

import { estimateOf } from './priority.ts';

/** An emulated arch against a native one, before any package was built on both (measured here: zlib 15×, hello 16×). */
export const DEFAULT_EMULATION_FACTOR = 15;

/** Where a duration came from. */
export type DurationSource =
  | { readonly kind: 'learned' }
  /** `from`'s learned duration × factor; `pairs`: packages the factor was learned from (0: the default). */
  | { readonly kind: 'other-arch'; readonly from: string; readonly factor: number; readonly pairs: number }
  /** Never built on any arch: the median of this arch (or of all, scaled to it). */
  | { readonly kind: 'estimate' };

export interface DurationModel {
  durationOf(id: string): number;
  sourceOf(id: string): DurationSource;
  /** The factor from arch `from` to arch `to`, and how many packages it was learned from (0: the default). */
  factor(from: string, to: string): { factor: number; pairs: number };
}

function split(id: string): { name: string; arch: string } {
  const at = id.lastIndexOf('@');
  return at === -1 ? { name: id, arch: '' } : { name: id.slice(0, at), arch: id.slice(at + 1) };
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function durationModel(learned: ReadonlyMap<string, number>, emulated: (arch: string) => boolean): DurationModel {
  // name → arch → ms, and arch → every ms learned on it.
  const byName = new Map<string, Map<string, number>>();
  const byArch = new Map<string, number[]>();
  for (const [id, ms] of learned) {
    if (!(ms > 0)) continue;
    const { name, arch } = split(id);
    if (arch === '') continue;
    let m = byName.get(name);
    if (m === undefined) byName.set(name, (m = new Map()));
    m.set(arch, ms);
    let a = byArch.get(arch);
    if (a === undefined) byArch.set(arch, (a = []));
    a.push(ms);
  }
  /** The factor before any package was built on both: emulated against native, or 1. */
  const defaultFactor = (from: string, to: string): number =>
    emulated(to) === emulated(from) ? 1 : emulated(to) ? DEFAULT_EMULATION_FACTOR : 1 / DEFAULT_EMULATION_FACTOR;
  const factors = new Map<string, { factor: number; pairs: number }>();
  const factor = (from: string, to: string): { factor: number; pairs: number } => {
    const k = `${from}\0${to}`;
    const known = factors.get(k);
    if (known !== undefined) return known;
    const ratios: number[] = [];
    for (const archs of byName.values()) {
      const a = archs.get(from);
      const b = archs.get(to);
      if (a !== undefined && b !== undefined) ratios.push(b / a);
    }
    const f = ratios.length > 0 ? { factor: median(ratios), pairs: ratios.length } : { factor: defaultFactor(from, to), pairs: 0 };
    factors.set(k, f);
    return f;
  };
  // Never built on any arch: the arch's own median; else every arch's, each scaled to it.
  const archEstimate = new Map<string, number>();
  const estimateFor = (arch: string): number => {
    const known = archEstimate.get(arch);
    if (known !== undefined) return known;
    const own = byArch.get(arch);
    const ms = own !== undefined ? median(own)
      : byArch.size === 0 ? estimateOf([])
      : median([...byArch].flatMap(([a, v]) => v.map((x) => x * defaultFactor(a, arch))));
    archEstimate.set(arch, ms);
    return ms;
  };
  const sourceOf = (id: string): DurationSource => {
    if (learned.has(id) && learned.get(id)! > 0) return { kind: 'learned' };
    const { name, arch } = split(id);
    const others = byName.get(name);
    if (others === undefined || arch === '') return { kind: 'estimate' };
    // The arch it is best told from: a learned factor first, then a native arch, then by name.
    const ranked = [...others.keys()].filter((a) => a !== arch).map((from) => ({ from, ...factor(from, arch) }))
      .sort((x, y) => Number(y.pairs > 0) - Number(x.pairs > 0) || Number(emulated(x.from)) - Number(emulated(y.from)) || y.pairs - x.pairs || (x.from < y.from ? -1 : 1));
    const best = ranked[0];
    return best === undefined ? { kind: 'estimate' } : { kind: 'other-arch', from: best.from, factor: best.factor, pairs: best.pairs };
  };
  return {
    sourceOf,
    factor,
    durationOf(id) {
      const s = sourceOf(id);
      if (s.kind === 'learned') return learned.get(id)!;
      if (s.kind === 'other-arch') return Math.round(byName.get(split(id).name)!.get(s.from)! * s.factor);
      return estimateFor(split(id).arch);
    },
  };
}
