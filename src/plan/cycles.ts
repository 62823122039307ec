// Find dependency cycles: strongly connected components (Tarjan, iterative so that
// long chains cannot overflow the stack), each printed as one cycle in order. Pure.

export type Edges = ReadonlyMap<string, readonly string[]>;

/** Every strongly connected component (Tarjan, iterative), single nodes included. */
export function stronglyConnected(nodes: readonly string[], edges: Edges): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];

  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: { node: string; next: number }[] = [{ node: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const succ = edges.get(frame.node) ?? [];
      if (frame.next < succ.length) {
        const w = succ[frame.next++]!;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push({ node: w, next: 0 });
        } else if (onStack.has(w)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== frame.node);
        out.push(comp);
      }
    }
  }
  return out;
}

/** Components of more than one node, or one node that depends on itself. */
export function findCycles(nodes: readonly string[], edges: Edges): string[][] {
  const out: string[][] = [];
  for (const comp of stronglyConnected(nodes, edges)) {
    const selfLoop = comp.length === 1 && (edges.get(comp[0]!) ?? []).includes(comp[0]!);
    if (comp.length > 1 || selfLoop) out.push(orderCycle(comp, edges));
  }
  return out;
}

/** A cycle through the component in edge order, starting at its smallest node, closed. */
function orderCycle(comp: readonly string[], edges: Edges): string[] {
  const members = new Set(comp);
  const start = [...comp].sort()[0]!;
  // Breadth-first search from start back to start, inside the component.
  const prev = new Map<string, string>();
  const queue: string[] = [start];
  let found = false;
  for (let i = 0; i < queue.length && !found; i++) {
    const n = queue[i]!;
    for (const w of [...(edges.get(n) ?? [])].sort()) {
      if (!members.has(w)) continue;
      if (w === start) {
        prev.set(start, n);
        found = true;
        break;
      }
      if (!prev.has(w)) {
        prev.set(w, n);
        queue.push(w);
      }
    }
  }
  const path: string[] = [start];
  let cur = prev.get(start)!;
  while (cur !== start) {
    path.push(cur);
    cur = prev.get(cur)!;
  }
  path.push(start);
  // path runs backwards (start <- ... <- start); flip it to read along the edges.
  return path.reverse();
}
