// Build the dependency graph of a run from scanned packages: one node per (package,
// arch), resolved build dependencies, the runtime closure that gets staged, cycles and
// broken packages with their reason chain, and target selection. Pure.

import { reduceGroups } from '../debian/relation.ts';
import type { AltGroup } from '../debian/relation-types.ts';
import { jobIdOf } from './job.ts';
import type { InvalidPackage, PackageSpec } from './spec.ts';
import { findCycles } from './cycles.ts';
import { buildIndex, resolveGroup, type Candidate } from './resolve.ts';
import { KilnError } from '../errors.ts';

export interface GraphNode {
  readonly id: string;
  readonly name: string;
  readonly version: string;
  readonly arch: string;
  /** undefined for a package whose recipe is invalid. */
  readonly spec: PackageSpec | undefined;
  /** Direct build dependencies (node ids). */
  readonly buildDeps: readonly string[];
  /** Everything staged into $SYSROOT and waited for: build deps plus their runtime closure, sorted. */
  readonly waitsFor: readonly string[];
  /** Set when the node cannot be built, with the reason chain. */
  readonly broken: string | undefined;
}

export interface Graph {
  /** In dependency order: every node comes after everything it waits for (broken cycles last). */
  readonly nodes: readonly GraphNode[];
  readonly byId: ReadonlyMap<string, GraphNode>;
}

export interface GraphInput {
  readonly specs: readonly PackageSpec[];
  readonly invalid: readonly InvalidPackage[];
  /** Target arches of this run (`all` packages are built once regardless). */
  readonly archs: readonly string[];
  /** The build machine's own arch, for `:native` relations. */
  readonly hostArch: string;
  /** Package names or globs; empty = everything. */
  readonly targets: readonly string[];
  readonly profiles?: readonly string[];
}

/** The arches a package is built for in a run. */
export function archsOf(spec: PackageSpec, runArchs: readonly string[]): string[] {
  if (spec.archs.includes('all')) return ['all'];
  if (spec.archs.includes('any')) return [...runArchs];
  return runArchs.filter((a) => spec.archs.includes(a));
}

export function globToRegExp(glob: string): RegExp {
  const esc = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${esc}$`);
}

interface Draft {
  id: string;
  name: string;
  version: string;
  arch: string;
  spec: PackageSpec | undefined;
  buildDeps: string[];
  runtimeDeps: string[];
  problems: string[];
  runtimeProblems: string[];
}

export function buildGraph(input: GraphInput): Graph {
  const drafts = new Map<string, Draft>();
  const candidates: (Candidate & { arch: string })[] = [];
  for (const spec of input.specs) {
    for (const arch of archsOf(spec, input.archs)) {
      const id = jobIdOf(spec.name, arch);
      drafts.set(id, { id, name: spec.name, version: spec.version, arch, spec, buildDeps: [], runtimeDeps: [], problems: [], runtimeProblems: [] });
      candidates.push({ nodeId: id, name: spec.name, version: spec.version, provides: spec.provides, arch });
    }
  }
  for (const bad of input.invalid) {
    const detail = bad.diagnostics.map((d) => `${d.file}: ${d.key === undefined ? '' : `${d.key}: `}${d.message}`).join('; ');
    for (const arch of input.archs) {
      const id = jobIdOf(bad.name, arch);
      drafts.set(id, { id, name: bad.name, version: '?', arch, spec: undefined, buildDeps: [], runtimeDeps: [], problems: [`invalid recipe: ${detail}`], runtimeProblems: [] });
      candidates.push({ nodeId: id, name: bad.name, version: undefined, provides: [], arch });
    }
  }
  const index = buildIndex(candidates);

  for (const d of drafts.values()) {
    if (d.spec === undefined) continue;
    const resolveAll = (groups: readonly AltGroup[], into: string[], problems: string[]): void => {
      const arch = d.arch === 'all' ? input.hostArch : d.arch;
      for (const g of reduceGroups(groups, { hostArch: arch, profiles: input.profiles ?? [] })) {
        const r = resolveGroup(g, { arch, hostArch: input.hostArch, index });
        if (r.ok) {
          if (r.nodeId !== d.id || into === d.buildDeps) into.push(r.nodeId);
        } else problems.push(r.problem);
      }
    };
    resolveAll(d.spec.buildDepends, d.buildDeps, d.problems);
    resolveAll(d.spec.depends, d.runtimeDeps, d.runtimeProblems);
  }

  // waitsFor = each build dep plus its runtime closure.
  const runtimeClosure = new Map<string, { ids: Set<string>; problem: string | undefined }>();
  const closureOf = (id: string): { ids: Set<string>; problem: string | undefined } => {
    const cached = runtimeClosure.get(id);
    if (cached !== undefined) return cached;
    const ids = new Set<string>();
    let problem: string | undefined;
    const todo = [id];
    while (todo.length > 0) {
      const cur = todo.pop()!;
      if (ids.has(cur)) continue;
      ids.add(cur);
      const dd = drafts.get(cur)!;
      if (problem === undefined && dd.runtimeProblems.length > 0) {
        problem = cur === id ? `its runtime dependency: ${dd.runtimeProblems[0]}` : `its runtime dependency ${dd.name}: ${dd.runtimeProblems[0]}`;
      }
      for (const r of dd.runtimeDeps) todo.push(r);
    }
    const res = { ids, problem };
    runtimeClosure.set(id, res);
    return res;
  };
  const waits = new Map<string, string[]>();
  const stageProblems = new Map<string, string>();
  for (const d of drafts.values()) {
    const set = new Set<string>();
    for (const b of d.buildDeps) {
      const c = closureOf(b);
      if (c.problem !== undefined && !stageProblems.has(d.id)) stageProblems.set(d.id, `needs ${drafts.get(b)!.name}, but ${c.problem}`);
      for (const x of c.ids) set.add(x);
    }
    waits.set(d.id, [...set].sort());
  }

  // Selection: targets plus everything they wait for.
  let selected: Set<string>;
  if (input.targets.length === 0) selected = new Set(drafts.keys());
  else {
    selected = new Set();
    const todo: string[] = [];
    for (const t of input.targets) {
      const re = globToRegExp(t);
      const hits = [...drafts.values()].filter((d) => re.test(d.name));
      if (hits.length === 0) {
        throw new KilnError('target-not-found', `target "${t}" matches no package of the tree`, {
          hint: 'name a package folder of the tree, or a glob such as "lib*"; `kiln plan` lists them all',
        });
      }
      for (const h of hits) todo.push(h.id);
    }
    while (todo.length > 0) {
      const id = todo.pop()!;
      if (selected.has(id)) continue;
      selected.add(id);
      for (const w of waits.get(id) ?? []) todo.push(w);
    }
  }
  const ids = [...selected].sort();
  const edges = new Map<string, string[]>(ids.map((id) => [id, waits.get(id) ?? []]));

  // Broken: own problems, cycles, then anything that waits for a broken node.
  const broken = new Map<string, string>();
  for (const id of ids) {
    const d = drafts.get(id)!;
    if (d.problems.length > 0) broken.set(id, d.problems.join('; '));
    else if (stageProblems.has(id)) broken.set(id, stageProblems.get(id)!);
  }
  const cycleMembers = new Set<string>();
  for (const cycle of findCycles(ids, edges)) {
    const text = `dependency cycle: ${cycle.map((c) => drafts.get(c)!.name).join(' -> ')}`;
    for (const id of cycle.slice(0, -1)) {
      cycleMembers.add(id);
      if (!broken.has(id)) broken.set(id, text);
    }
  }
  const order = topoOrder(ids, edges, cycleMembers);
  // One pass suffices in dependency order; nodes behind a cycle have no such order, so
  // repeat until nothing changes.
  for (let changed = true; changed; ) {
    changed = false;
    for (const id of order) {
      if (broken.has(id)) continue;
      const bad = (edges.get(id) ?? []).find((w) => broken.has(w));
      if (bad !== undefined) {
        broken.set(id, `needs ${drafts.get(bad)!.name}, which is broken: ${broken.get(bad)!}`);
        changed = true;
      }
    }
  }

  const nodes: GraphNode[] = order.map((id) => {
    const d = drafts.get(id)!;
    return { id, name: d.name, version: d.version, arch: d.arch, spec: d.spec, buildDeps: d.buildDeps, waitsFor: edges.get(id) ?? [], broken: broken.get(id) };
  });
  return { nodes, byId: new Map(nodes.map((n) => [n.id, n])) };
}

/** Kahn's order; nodes on or behind a cycle come last (they are broken anyway). */
function topoOrder(ids: readonly string[], edges: ReadonlyMap<string, readonly string[]>, cyclic: ReadonlySet<string>): string[] {
  const pending = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const id of ids) {
    const deps = edges.get(id) ?? [];
    pending.set(id, deps.length);
    for (const w of deps) {
      let list = dependents.get(w);
      if (list === undefined) dependents.set(w, (list = []));
      list.push(id);
    }
  }
  const out: string[] = [];
  const ready = ids.filter((id) => pending.get(id) === 0);
  for (let i = 0; i < ready.length; i++) {
    const id = ready[i]!;
    out.push(id);
    for (const dep of dependents.get(id) ?? []) {
      const n = pending.get(dep)! - 1;
      pending.set(dep, n);
      if (n === 0) ready.push(dep);
    }
  }
  if (out.length < ids.length) {
    const seen = new Set(out);
    // Cycle members first, then what waits on them, in a stable order.
    const rest = ids.filter((id) => !seen.has(id));
    rest.sort((a, b) => Number(cyclic.has(b)) - Number(cyclic.has(a)) || (a < b ? -1 : 1));
    out.push(...rest);
  }
  return out;
}
