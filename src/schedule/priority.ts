// Priorities for pick-next: the longest remaining path from a job to the end of the
// graph, each job weighted by its learned duration (unknown: an estimate, the median of
// what is known, else a default). Like BitBake's "speed" scheduler, but duration-weighted.

export interface PriorityNode {
  readonly id: string;
  readonly waitsFor: readonly string[];
}

export const DEFAULT_ESTIMATE_MS = 60_000;

export function estimateOf(known: Iterable<number>): number {
  const v = [...known].filter((x) => x > 0).sort((a, b) => a - b);
  if (v.length === 0) return DEFAULT_ESTIMATE_MS;
  return v[Math.floor(v.length / 2)]!;
}

/**
 * nodes must be in dependency order (each after what it waits for); edges to ids not in
 * `nodes` are ignored. Returns id → priority in ms.
 */
export function computePriorities(nodes: readonly PriorityNode[], durationOf: (id: string) => number): Map<string, number> {
  const prio = new Map<string, number>();
  for (const n of nodes) prio.set(n.id, durationOf(n.id));
  // Walk in reverse dependency order: a node's dependents are final before it is.
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    const mine = prio.get(n.id)!;
    for (const w of n.waitsFor) {
      const cur = prio.get(w);
      if (cur === undefined) continue;
      const viaMe = durationOf(w) + mine;
      if (viaMe > cur) prio.set(w, viaMe);
    }
  }
  return prio;
}
