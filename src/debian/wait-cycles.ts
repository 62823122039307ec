// Debian sources of one run that wait on each other in a cycle (gcc and glibc, a library
// and its documentation tool…) cannot all use each other's fresh binaries. The way out is
// the one Debian itself takes when bootstrapping: inside a cycle, a wait that the archive
// can satisfy as well is dropped, and the source builds against the archive's binary.
// Waits the archive cannot satisfy stay, so a cycle of them is still reported as one.

import { stronglyConnected } from '../plan/cycles.ts';

export interface Wait {
  /** The binary package waited for (as written in the relation). */
  readonly binary: string;
  /** The source of this run that builds it. */
  readonly producer: string;
  /** Whether the archive also has a binary that satisfies the relation. */
  readonly archiveToo: boolean;
}

export interface BrokenCycles {
  /** Waits kept, per source. */
  readonly kept: ReadonlyMap<string, readonly Wait[]>;
  /** `a -> b (binary)` for each dropped wait, sorted. */
  readonly dropped: readonly string[];
}

export function breakWaitCycles(waits: ReadonlyMap<string, readonly Wait[]>): BrokenCycles {
  const nodes = [...waits.keys()];
  const known = new Set(nodes);
  const edges = new Map(nodes.map((n) => [n, [...new Set((waits.get(n) ?? []).map((w) => w.producer).filter((p) => known.has(p)))]]));
  const compOf = new Map<string, number>();
  stronglyConnected(nodes, edges).forEach((c, i) => {
    if (c.length > 1) for (const n of c) compOf.set(n, i);
  });
  const kept = new Map<string, Wait[]>();
  const dropped: string[] = [];
  for (const [src, list] of waits) {
    const c = compOf.get(src);
    kept.set(src, list.filter((w) => {
      const inCycle = c !== undefined && compOf.get(w.producer) === c;
      if (inCycle && w.archiveToo) {
        dropped.push(`${src} -> ${w.producer} (${w.binary})`);
        return false;
      }
      return true;
    }));
  }
  return { kept, dropped: dropped.sort() };
}
