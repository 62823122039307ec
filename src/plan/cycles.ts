// Find dependency cycles: strongly connected components (Tarjan, iterative so that
// long chains cannot overflow the stack), each printed as one cycle in order. Pure.
//
// One core works on nodes numbered 0..n-1 with typed arrays (the planner numbers its
// nodes by sorted id); the string forms number their input and map the answer back.

export type Edges = ReadonlyMap<string, readonly string[]>;

/**
 * Tarjan over nodes 0..n-1 (adj[i] = successors of i), roots in numeric order: emits each
 * strongly connected component, members in the order they leave the stack. With
 * `cyclesOnly`, a single node without a self-loop is skipped without making an array.
 */
function tarjan(n: number, adj: readonly (readonly number[])[], emit: (comp: number[]) => void, cyclesOnly: boolean): void {
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const stack: number[] = [];
  // The explicit call stack: node and next successor position, in two parallel arrays.
  const workNode = new Int32Array(n);
  const workNext = new Int32Array(n);
  let counter = 0;
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue;
    let top = 0;
    workNode[0] = root;
    workNext[0] = 0;
    index[root] = low[root] = counter++;
    stack.push(root);
    onStack[root] = 1;
    while (top >= 0) {
      const v = workNode[top]!;
      const succ = adj[v]!;
      const next = workNext[top]!;
      if (next < succ.length) {
        workNext[top] = next + 1;
        const w = succ[next]!;
        if (index[w] === -1) {
          index[w] = low[w] = counter++;
          stack.push(w);
          onStack[w] = 1;
          top++;
          workNode[top] = w;
          workNext[top] = 0;
        } else if (onStack[w] === 1 && index[w]! < low[v]!) {
          low[v] = index[w]!;
        }
        continue;
      }
      top--;
      if (top >= 0) {
        const parent = workNode[top]!;
        if (low[v]! < low[parent]!) low[parent] = low[v]!;
      }
      if (low[v] !== index[v]) continue;
      if (cyclesOnly && stack[stack.length - 1] === v && !succ.includes(v)) {
        stack.pop();
        onStack[v] = 0;
        continue;
      }
      const comp: number[] = [];
      let w: number;
      do {
        w = stack.pop()!;
        onStack[w] = 0;
        comp.push(w);
      } while (w !== v);
      emit(comp);
    }
  }
}

/**
 * The cycles among nodes 0..n-1 numbered in name order (each successor list ascending),
 * in components of more than one node or with a self-loop: each closed, and together
 * passing through every member of such a component.
 */
export function findCyclesIndexed(n: number, adj: readonly (readonly number[])[]): number[][] {
  const out: number[][] = [];
  tarjan(
    n,
    adj,
    (comp) => {
      // Every member is on some cycle of its component: one cycle from the smallest node,
      // then one through each member that cycle missed (a -> b -> a, c -> b -> c).
      const members = new Set(comp);
      const covered = new Set<number>();
      for (const start of [...comp].sort((a, b) => a - b)) {
        if (covered.has(start)) continue;
        const cycle = cycleThrough(start, members, adj);
        for (const c of cycle) covered.add(c);
        out.push(cycle);
      }
    },
    true,
  );
  return out;
}

/** Every strongly connected component, single nodes included (edges to unknown nodes are followed). */
export function stronglyConnected(nodes: readonly string[], edges: Edges): string[][] {
  const { ids, adj } = numbered(nodes, edges, false);
  const out: string[][] = [];
  tarjan(ids.length, adj, (comp) => out.push(comp.map((i) => ids[i]!)), false);
  return out;
}

/** findCyclesIndexed over names: components of more than one node, or one node that depends on itself. */
export function findCycles(nodes: readonly string[], edges: Edges): string[][] {
  const { ids, adj } = numbered(nodes, edges, true);
  return findCyclesIndexed(ids.length, adj).map((c) => c.map((i) => ids[i]!));
}

/**
 * Number the nodes (and any unknown node an edge leads to, after them) and their edges.
 * byName: in name order with ascending successor lists, as findCyclesIndexed wants.
 */
function numbered(nodes: readonly string[], edges: Edges, byName: boolean): { ids: string[]; adj: number[][] } {
  const ids = [...new Set(nodes)];
  if (byName) {
    const all = new Set(ids);
    for (const n of nodes) for (const w of edges.get(n) ?? []) all.add(w);
    ids.splice(0, ids.length, ...[...all].sort());
  }
  const at = new Map(ids.map((n, i) => [n, i]));
  const num = (s: string): number => {
    let i = at.get(s);
    if (i === undefined) {
      i = ids.length;
      ids.push(s);
      at.set(s, i);
    }
    return i;
  };
  const adj: number[][] = [];
  // ids grows while unknown targets are numbered: they get (empty or known) lists too.
  for (let i = 0; i < ids.length; i++) {
    const succ = (edges.get(ids[i]!) ?? []).map(num);
    adj.push(byName ? succ.sort((a, b) => a - b) : succ);
  }
  return { ids, adj };
}

/** A shortest cycle from start back to it within the component, breadth-first along ascending edges, closed. */
function cycleThrough(start: number, members: ReadonlySet<number>, adj: readonly (readonly number[])[]): number[] {
  const prev = new Map<number, number>();
  const queue: number[] = [start];
  let found = false;
  for (let i = 0; i < queue.length && !found; i++) {
    const v = queue[i]!;
    for (const w of adj[v]!) {
      if (!members.has(w)) continue;
      if (w === start) {
        prev.set(start, v);
        found = true;
        break;
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  const path: number[] = [start];
  let cur = prev.get(start)!;
  while (cur !== start) {
    path.push(cur);
    cur = prev.get(cur)!;
  }
  path.push(start);
  // path runs backwards (start <- ... <- start); flip it to read along the edges.
  return path.reverse();
}
