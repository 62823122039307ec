// The plan of a run: the graph with every node decided (broken, up-to-date, to-build
// and why) and its keys. Nodes are decided in dependency order so a node's full key can
// use its dependencies' output hashes; a node behind a to-build dependency gets its
// full key only once that dependency has built (execute computes it then, and may find
// the artifact already there: early cutoff).

import type { Graph, GraphNode } from './graph.ts';
import { decide, type PreviousInputs } from './decide.ts';
import { fullKeyOf, ownKeyOf } from './keys.ts';
import type { Reason } from './reason.ts';

export type PlanState = 'to-build' | 'up-to-date' | 'broken';

export interface PlanNode extends GraphNode {
  readonly state: PlanState;
  readonly why: Reason | undefined;
  readonly envId: string;
  readonly ownKey: string;
  /** Full key when known at plan time. */
  readonly key: string | undefined;
  readonly outputHash: string | undefined;
  readonly artifact: string | undefined;
}

export interface Plan {
  readonly nodes: readonly PlanNode[];
  readonly byId: ReadonlyMap<string, PlanNode>;
}

export interface PlanFacts {
  envIdOf(node: GraphNode): string;
  /** The stored artifact for a full key, looked up synchronously (this loop runs per node). */
  artifact(key: string): { readonly outputHash: string; readonly path: string } | undefined;
  lastSuccess(nodeId: string): PreviousInputs | undefined;
  lastAttempt(nodeId: string): { readonly state: string; readonly key: string } | undefined;
  /** Names or globs to rebuild regardless. */
  forced(node: GraphNode): boolean;
}

export function makePlan(graph: Graph, facts: PlanFacts): Plan {
  const out: PlanNode[] = [];
  const byId = new Map<string, PlanNode>();
  for (const node of graph.nodes) {
    const envId = facts.envIdOf(node);
    const spec = node.spec;
    const recipeHash = spec?.recipeHash ?? '';
    const sourcesHash = spec?.sourcesHash ?? '';
    const ownKey = ownKeyOf({ recipeHash, sourcesHash, envId, arch: node.arch });
    const depOutputs = new Map<string, string | undefined>();
    for (const w of node.waitsFor) depOutputs.set(w, byId.get(w)?.outputHash);
    const known = [...depOutputs.values()].every((v) => v !== undefined);
    const key = known && node.broken === undefined ? fullKeyOf(ownKey, depOutputs as Map<string, string>) : undefined;
    const last = facts.lastAttempt(node.id);
    const d = decide({
      broken: node.broken,
      recipeHash,
      sourcesHash,
      envId,
      arch: node.arch,
      depOutputs,
      key,
      artifact: key === undefined ? undefined : facts.artifact(key),
      lastSuccess: facts.lastSuccess(node.id),
      failedBefore: last !== undefined && last.state === 'failed' && key !== undefined && last.key === key,
      forced: node.broken === undefined && facts.forced(node),
    });
    const p: PlanNode = {
      ...node,
      state: d.state,
      why: d.state === 'to-build' ? d.why : undefined,
      envId,
      ownKey,
      key: d.state === 'broken' ? undefined : d.key,
      outputHash: d.state === 'up-to-date' ? d.outputHash : undefined,
      artifact: d.state === 'up-to-date' ? d.artifact : undefined,
    };
    out.push(p);
    byId.set(p.id, p);
  }
  return { nodes: out, byId };
}

export function planCounts(plan: Plan): Record<PlanState, number> {
  const c: Record<PlanState, number> = { 'to-build': 0, 'up-to-date': 0, broken: 0 };
  for (const n of plan.nodes) c[n.state]++;
  return c;
}
