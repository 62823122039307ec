// Debian sources of one run that wait on each other in a cycle (gcc and glibc, a library
// and its documentation tool…) cannot all use each other's fresh binaries. The way out is
// the one Debian itself takes when bootstrapping: inside a cycle, a wait that the archive
// can satisfy as well is dropped, and the source builds against the archive's binary.
// Waits the archive cannot satisfy stay, so a cycle of them is still reported as one.

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

/** Strongly connected components of the wait graph (Tarjan, iterative). */
export function components(nodes: readonly string[], edges: (n: string) => readonly string[]): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  let next = 0;
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: { node: string; it: number }[] = [{ node: root, it: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const succ = edges(top.node);
      if (top.it < succ.length) {
        const w = succ[top.it++]!;
        if (!index.has(w)) {
          index.set(w, next);
          low.set(w, next++);
          stack.push(w);
          onStack.add(w);
          work.push({ node: w, it: 0 });
        } else if (onStack.has(w)) low.set(top.node, Math.min(low.get(top.node)!, index.get(w)!));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(top.node)!));
      if (low.get(top.node) === index.get(top.node)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== top.node);
        out.push(comp);
      }
    }
  }
  return out;
}

export function breakWaitCycles(waits: ReadonlyMap<string, readonly Wait[]>): BrokenCycles {
  const nodes = [...waits.keys()];
  const known = new Set(nodes);
  const succ = (n: string): string[] => [...new Set((waits.get(n) ?? []).map((w) => w.producer).filter((p) => known.has(p)))];
  const compOf = new Map<string, number>();
  components(nodes, succ).forEach((c, i) => {
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
