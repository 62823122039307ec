// The plan of a run: the graph with every node decided (broken, up-to-date, to-build
// and why) and its keys. Nodes are decided in dependency order so a node's full key can
// use its dependencies' output hashes; a node behind a to-build dependency gets its
// full key only once that dependency has built (execute computes it then, and may find
// the artifact already there: early cutoff).

import type { Graph, GraphNode } from './graph.ts';
import { decide, type PreviousInputs, type StoredArtifact } from './decide.ts';
import { fullKeyOf, fullKeyOfSorted, ownKeyOf } from './keys.ts';
import type { Reason } from './reason.ts';
import { recipeHashOf } from './spec.ts';
import { inputPartsOf, withChanges, type InputParts } from './input-parts.ts';

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
  /** to-build, dependency-changed: what the last good build staged (execute names the dependency that really changed). */
  readonly previousDepOutputs?: Readonly<Record<string, string>> | undefined;
}

export interface Plan {
  readonly nodes: readonly PlanNode[];
  readonly byId: ReadonlyMap<string, PlanNode>;
}

export interface PlanFacts {
  envIdOf(node: GraphNode): string;
  /** The stored artifact for a full key, looked up synchronously (this loop runs per node). */
  artifact(key: string): StoredArtifact | undefined;
  /** The last successful build of the node to compare with, the one of this env and recipe hash if there is one (a variant: profiles, options). */
  lastSuccess(nodeId: string, want: { readonly envId: string; readonly recipeHash: string }): PreviousInputs | undefined;
  lastAttempt(nodeId: string): { readonly state: string; readonly key: string } | undefined;
  /** What that last successful build's hashes were made of, when it recorded it: a recipe-changed or source-changed reason names the part that changed. */
  inputParts?(nodeId: string, prev: PreviousInputs): InputParts | undefined;
  /** Names or globs to rebuild regardless. */
  forced(node: GraphNode): boolean;
  /** What forces them when it is not --force (kiln build --twice). */
  readonly forcedBy?: 'twice' | undefined;
  /** --fail-on-warnings: artifacts stored with warnings are built again (decide.ts). */
  readonly failOnWarnings?: boolean;
}

/** The staged outputs of a node that decide() never looks at (see makePlan). */
const UNREAD = new Map<string, string | undefined>();

export function makePlan(graph: Graph, facts: PlanFacts): Plan {
  const out: PlanNode[] = [];
  const byId = new Map<string, PlanNode>();
  // Output hashes of the node's staged packages, by index; reused from node to node.
  const outputs: string[] = [];
  for (const node of graph.nodes) {
    const envId = facts.envIdOf(node);
    const spec = node.spec;
    const recipeHash = spec === undefined ? '' : recipeHashOf(spec, node.arch);
    const sourcesHash = spec?.sourcesHash ?? '';
    const ownKey = ownKeyOf({ recipeHash, sourcesHash, envId, arch: node.arch });
    const waits = node.waitsFor;
    let known = true;
    let sorted = true;
    outputs.length = 0;
    for (let i = 0; i < waits.length; i++) {
      const h = byId.get(waits[i]!)?.outputHash;
      if (h === undefined) {
        known = false;
        break;
      }
      outputs.push(h);
      if (i > 0 && !(waits[i - 1]! < waits[i]!)) sorted = false;
    }
    let key: string | undefined;
    if (known && node.broken === undefined) key = sorted ? fullKeyOfSorted(ownKey, waits, outputs) : fullKeyOf(ownKey, depOutputsOf(waits, byId) as Map<string, string>);
    const forced = node.broken === undefined && facts.forced(node);
    const artifact = key === undefined || forced ? undefined : facts.artifact(key);
    // decide() reads the staged outputs, the last success and the last attempt only to
    // say why a node is to be built: gather them for those nodes alone.
    const why = node.broken === undefined && !forced && (key === undefined || artifact === undefined);
    const last = why ? facts.lastAttempt(node.id) : undefined;
    const lastSuccess = why ? facts.lastSuccess(node.id, { envId, recipeHash }) : undefined;
    const d = decide({
      broken: node.broken,
      recipeHash,
      sourcesHash,
      envId,
      arch: node.arch,
      // ... and the staged outputs only to compare them with a last success.
      depOutputs: why && lastSuccess !== undefined ? depOutputsOf(waits, byId) : UNREAD,
      key,
      artifact,
      lastSuccess,
      failedBefore: last !== undefined && last.state === 'failed' && key !== undefined && last.key === key,
      lastAttemptFailed: last?.state === 'failed',
      forced,
      forcedBy: facts.forcedBy,
      failOnWarnings: facts.failOnWarnings === true,
      debian: spec?.debian !== undefined,
    });
    const reason = d.state !== 'to-build' ? undefined
      : (d.why.kind === 'recipe-changed' || d.why.kind === 'source-changed') && lastSuccess !== undefined && spec !== undefined && facts.inputParts !== undefined
        ? withChanges(d.why, facts.inputParts(node.id, lastSuccess), inputPartsOf(spec, node.arch))
        : d.why;
    // Written out field by field (not a spread): one object shape for every node.
    const p: PlanNode = {
      id: node.id,
      name: node.name,
      version: node.version,
      arch: node.arch,
      spec: node.spec,
      buildDeps: node.buildDeps,
      waitsFor: node.waitsFor,
      broken: node.broken,
      ignored: node.ignored,
      unmetDepends: node.unmetDepends,
      state: d.state,
      why: reason,
      envId,
      ownKey,
      key: d.state === 'broken' ? undefined : d.key,
      outputHash: d.state === 'up-to-date' ? d.outputHash : undefined,
      artifact: d.state === 'up-to-date' ? d.artifact : undefined,
      previousDepOutputs: d.state === 'to-build' && d.why.kind === 'dependency-changed' ? lastSuccess?.depOutputs : undefined,
    };
    out.push(p);
    byId.set(p.id, p);
  }
  return { nodes: out, byId };
}

/** Staged node id → its output hash, undefined while that node is still to be built. */
function depOutputsOf(waits: readonly string[], byId: ReadonlyMap<string, PlanNode>): Map<string, string | undefined> {
  const m = new Map<string, string | undefined>();
  for (const w of waits) m.set(w, byId.get(w)?.outputHash);
  return m;
}

export function planCounts(plan: Plan): Record<PlanState, number> {
  const c: Record<PlanState, number> = { 'to-build': 0, 'up-to-date': 0, broken: 0 };
  for (const n of plan.nodes) c[n.state]++;
  return c;
}
