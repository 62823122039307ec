// Build the dependency graph of a run from scanned packages: one node per (package,
// arch), resolved build dependencies, the runtime closure that gets staged, cycles and
// broken packages with their reason chain, and target selection. Pure.

import { reduceGroups } from '../debian/relation.ts';
import type { AltGroup } from '../debian/relation-types.ts';
import { jobIdOf } from './job.ts';
import { formatDiagnostic, type InvalidPackage, type PackageSpec } from './spec.ts';
import { findCyclesIndexed } from './cycles.ts';
import { buildIndex, groupOptions, type Candidate } from './resolve.ts';
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
export function archsOf(spec: Pick<PackageSpec, 'archs'>, runArchs: readonly string[]): string[] {
  if (spec.archs.includes('all')) return ['all'];
  if (spec.archs.includes('any')) return [...runArchs];
  return runArchs.filter((a) => spec.archs.includes(a));
}

/** A shell glob as a whole-name RegExp: `*`, `?` and classes `[abc]`, `[a-z]`, `[!x]` (an unclosed `[` is literal). */
export function globToRegExp(glob: string): RegExp {
  const esc = (c: string): string => c.replace(/[.+^${}()|[\]\\*?-]/g, '\\$&');
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[' && glob.indexOf(']', i + 2) > 0) {
      const end = glob.indexOf(']', i + 2);
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      // Ranges stay ranges; every other character is literal.
      let cls = '';
      for (let j = 0; j < body.length; j++) {
        if (body[j + 1] === '-' && j + 2 < body.length) {
          if (body[j]! > body[j + 2]!) {
            throw new KilnError('usage', `the glob "${glob}" has a reversed range ${body[j]}-${body[j + 2]}`, { hint: `write the range low to high: ${body[j + 2]}-${body[j]}` });
          }
          cls += `${esc(body[j]!)}-${esc(body[j + 2]!)}`;
          j += 2;
        } else cls += esc(body[j]!);
      }
      out += `[${negate ? '^' : ''}${cls}]`;
      i = end;
    } else out += esc(c);
  }
  return new RegExp(`^${out}$`);
}

interface Draft {
  id: string;
  name: string;
  version: string;
  arch: string;
  spec: PackageSpec | undefined;
  buildDeps: string[];
  /** Numbers (see buildGraph) of buildDeps and of the resolved runtime deps. */
  buildIdx: number[];
  /** The four below stay the shared empty array until something is added (most never). */
  runtimeIdx: number[];
  problems: string[];
  runtimeProblems: string[];
  /** Per resolvable build-depends group, the numbers of every candidate that satisfies it. */
  buildOptions: number[][];
  runtimeOptions: number[][];
}

const NONE: never[] = [];

const NO_STRINGS: readonly string[] = [];

export function buildGraph(input: GraphInput): Graph {
  const draftsById = new Map<string, Draft>();
  // num: the node's number (below), so that a resolution needs no lookup by id.
  const candidates: (Candidate & { arch: string; num: number })[] = [];
  const draft = (id: string, name: string, version: string, arch: string, spec: PackageSpec | undefined, problems: string[]): Draft => ({
    id, name, version, arch, spec, buildDeps: [], buildIdx: [], runtimeIdx: NONE, problems, runtimeProblems: NONE, buildOptions: [], runtimeOptions: NONE,
  });
  for (const spec of input.specs) {
    for (const arch of archsOf(spec, input.archs)) {
      const id = jobIdOf(spec.name, arch);
      draftsById.set(id, draft(id, spec.name, spec.version, arch, spec, NONE));
      candidates.push({ nodeId: id, name: spec.name, version: spec.version, provides: spec.provides, arch, num: -1 });
    }
  }
  for (const bad of input.invalid) {
    const lines = bad.diagnostics.map(formatDiagnostic);
    // Several problems: one `FILE: KEY: MESSAGE` per line under a heading (the CLI indents
    // them, the report shows them as lines); what needs the package quotes the heading.
    const cause = lines.length === 1 ? `invalid recipe: ${lines[0]}` : `invalid recipe (${lines.length} problems):\n${lines.join('\n')}`;
    // Its own archs when they parsed; when none of them is a target (or they did not
    // parse), under every target arch: an invalid recipe is always reported.
    const own = bad.archs === undefined ? [] : archsOf({ archs: bad.archs }, input.archs);
    for (const arch of own.length > 0 ? own : input.archs) {
      const id = jobIdOf(bad.name, arch);
      draftsById.set(id, draft(id, bad.name, bad.version ?? '?', arch, undefined, [cause]));
      candidates.push({ nodeId: id, name: bad.name, version: undefined, provides: [], arch, num: -1 });
    }
  }
  const index = buildIndex(candidates);

  // Number the nodes in id order: sorting numbers is then sorting ids, and the rest of the
  // graph work runs on arrays instead of maps and sets of strings.
  const drafts = [...draftsById.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const n = drafts.length;
  const numberOf = new Map<string, number>();
  for (let i = 0; i < n; i++) numberOf.set(drafts[i]!.id, i);
  for (const c of candidates) c.num = numberOf.get(c.nodeId)!;

  const profiles = input.profiles ?? [];
  const reduceOptions = new Map<string, { hostArch: string; profiles: readonly string[] }>();
  const numsOf = (cs: readonly Candidate[]): number[] => cs.map((c) => (c as (typeof candidates)[number]).num);
  // An `all` package resolves for the build machine's arch: in a run that does not build
  // for it (a cross-only --arch), what it needs of the tree is not there; say so.
  const allHint = ` (an "all" package builds with the packages of the build machine's arch, ${input.hostArch}, which this run does not target: add ${input.hostArch} to --arch)`;
  const resolveAll = (d: Draft, groups: readonly AltGroup[], build: boolean): void => {
    const arch = d.arch === 'all' ? input.hostArch : d.arch;
    const allWithoutHost = d.arch === 'all' && !input.archs.includes(input.hostArch);
    let options = reduceOptions.get(arch);
    if (options === undefined) reduceOptions.set(arch, (options = { hostArch: arch, profiles }));
    for (const g of reduceGroups(groups, options)) {
      const r = groupOptions(g, { arch, hostArch: input.hostArch, index });
      if (r.problem === undefined) {
        if (build) d.buildOptions.push(numsOf(r.candidates));
        else (d.runtimeOptions === NONE ? (d.runtimeOptions = []) : d.runtimeOptions).push(numsOf(r.candidates));
      } else if (build) {
        if (d.problems === NONE) d.problems = [];
        d.problems.push(allWithoutHost && r.problem.endsWith(`which is not built for ${arch}`) ? `${r.problem}${allHint}` : r.problem);
      } else {
        if (d.runtimeProblems === NONE) d.runtimeProblems = [];
        d.runtimeProblems.push(r.problem);
      }
    }
  };
  for (const d of drafts) {
    if (d.spec === undefined) continue;
    resolveAll(d, d.spec.buildDepends, true);
    resolveAll(d, d.spec.depends, false);
  }

  // Choose one candidate per group, the first that can be built and staged, and work out
  // what each node waits for, which nodes are selected and which are on a cycle. A cycle
  // that another choice avoids is no cycle: the members of a cycle found in one round avoid
  // each other in the next (outsiders may still choose them). A cycle that persists all
  // the same cannot be built: its members are then out for everyone, and outsiders choose
  // another alternative where they have one. Each round assigns or merges a cycle group or
  // puts nodes out, so this ends.
  const groupOf = new Int32Array(n).fill(-1);
  const out = new Uint8Array(n);
  let groups = 0;
  let round = chooseAndLink(drafts, out, groupOf, input.targets);
  for (let guard = 0; round.cycleGroups.length > 0 && guard <= 2 * n; guard++) {
    let changed = false;
    for (const members of round.cycleGroups) {
      const first = groupOf[members[0]!]!;
      if (first !== -1 && members.every((i) => groupOf[i] === first)) continue;
      const id = groups++;
      for (const i of members) groupOf[i] = id;
      changed = true;
    }
    if (!changed) {
      for (const members of round.cycleGroups) {
        for (const i of members) {
          if (out[i] === 1) continue;
          out[i] = 1;
          changed = true;
        }
      }
    }
    if (!changed) break;
    round = chooseAndLink(drafts, out, groupOf, input.targets);
  }
  const { sel, adj, cycles, stageProblems } = round;
  const m = sel.length;

  // Broken: own problems, cycles, then anything that waits for a broken node.
  const broken: (string | undefined)[] = new Array(m);
  for (let k = 0; k < m; k++) {
    const i = sel[k]!;
    const d = drafts[i]!;
    if (d.problems.length > 0) broken[k] = d.problems.join('; ');
    else if (stageProblems[i] !== undefined) broken[k] = stageProblems[i];
  }
  const cyclic = new Uint8Array(m);
  for (const cycle of cycles) {
    let text = `dependency cycle: ${drafts[sel[cycle[0]!]!]!.name}`;
    for (let j = 1; j < cycle.length; j++) text += hopText(drafts, sel[cycle[j - 1]!]!, sel[cycle[j]!]!);
    for (let j = 0; j < cycle.length - 1; j++) {
      const k = cycle[j]!;
      cyclic[k] = 1;
      if (broken[k] === undefined) broken[k] = text;
    }
  }
  const order = topoOrder(m, adj, cyclic);
  // One pass suffices in dependency order; nodes behind a cycle have no such order, so
  // repeat until nothing changes.
  for (let changed = true; changed; ) {
    changed = false;
    for (const k of order) {
      if (broken[k] !== undefined) continue;
      for (const w of adj[k]!) {
        if (broken[w] !== undefined) {
          broken[k] = `needs ${drafts[sel[w]!]!.name}, which is broken: ${headOf(broken[w])}`;
          changed = true;
          break;
        }
      }
    }
  }

  const idOf = (k: number): string => drafts[sel[k]!]!.id;
  const nodes: GraphNode[] = order.map((k) => {
    const d = drafts[sel[k]!]!;
    const w = adj[k]!;
    return { id: d.id, name: d.name, version: d.version, arch: d.arch, spec: d.spec, buildDeps: d.buildDeps, waitsFor: w.length === 0 ? NO_STRINGS : w.map(idOf), broken: broken[k] };
  });
  const byId = new Map<string, GraphNode>();
  for (const x of nodes) byId.set(x.id, x);
  return { nodes, byId };
}

interface Linked {
  /** Selected draft numbers, in id order; k-th selected node is sel[k]. */
  readonly sel: readonly number[];
  /** What each selected node waits for, as selected numbers. */
  readonly adj: readonly (readonly number[])[];
  /** Cycles among the selected nodes (selected numbers, the first repeated last). */
  readonly cycles: readonly (readonly number[])[];
  /** Draft numbers of the nodes on cycles, one list per set of cycles sharing nodes. */
  readonly cycleGroups: readonly (readonly number[])[];
  /** By draft number: why staging what the node needs cannot work. */
  readonly stageProblems: readonly (string | undefined)[];
}

/** Can node i be chosen: is it built and staged without trouble, as far as choices go? */
function usableNodes(drafts: readonly Draft[], out: Uint8Array): Uint8Array {
  const n = drafts.length;
  const ok = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const d = drafts[i]!;
    ok[i] = d.spec !== undefined && d.problems.length === 0 && d.runtimeProblems.length === 0 && out[i] === 0 ? 1 : 0;
  }
  // The greatest fixed point: a node stays usable while each of its groups has a usable
  // choice (a runtime group may be satisfied by the node itself). One pass over all
  // nodes, then a worklist: only the users of a node that turned unusable are looked at
  // again (linear, where repeated passes were quadratic on long chains).
  const fine = (i: number): boolean => {
    const d = drafts[i]!;
    const has = (options: readonly number[], self: number): boolean => {
      for (const o of options) if (o === self || ok[o] === 1) return true;
      return false;
    };
    for (const g of d.buildOptions) if (!has(g, -1)) return false;
    for (const g of d.runtimeOptions) if (!has(g, i)) return false;
    return true;
  };
  const dropped: number[] = [];
  for (let i = 0; i < n; i++) {
    if (ok[i] === 1 && !fine(i)) {
      ok[i] = 0;
      dropped.push(i);
    }
  }
  if (dropped.length === 0) return ok;
  const users: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) {
    const d = drafts[i]!;
    for (const g of d.buildOptions) for (const o of g) users[o]!.push(i);
    for (const g of d.runtimeOptions) for (const o of g) if (o !== i) users[o]!.push(i);
  }
  while (dropped.length > 0) {
    for (const u of users[dropped.pop()!]!) {
      if (ok[u] === 1 && !fine(u)) {
        ok[u] = 0;
        dropped.push(u);
      }
    }
  }
  return ok;
}

/** Choose for every group (the first usable candidate, else the first: its trouble is then reported), then link. */
function chooseAndLink(drafts: Draft[], out: Uint8Array, groupOf: Int32Array, targets: readonly string[]): Linked {
  const n = drafts.length;
  const ok = usableNodes(drafts, out);
  // The first usable candidate not on a cycle with the chooser; else the first usable one;
  // else the first (whose trouble is then what is reported).
  const pick = (options: readonly number[], self: number, chooser: number): number => {
    const g = groupOf[chooser]!;
    for (const o of options) if (o === self || (ok[o] === 1 && (g === -1 || groupOf[o] !== g))) return o;
    for (const o of options) if (o === self || ok[o] === 1) return o;
    return options[0]!;
  };
  for (let i = 0; i < n; i++) {
    const d = drafts[i]!;
    d.buildDeps = [];
    d.buildIdx = [];
    d.runtimeIdx = NONE;
    for (const g of d.buildOptions) {
      const num = pick(g, -1, i);
      d.buildDeps.push(drafts[num]!.id);
      d.buildIdx.push(num);
    }
    for (const g of d.runtimeOptions) {
      const num = pick(g, i, i);
      if (num === i) continue;
      if (d.runtimeIdx === NONE) d.runtimeIdx = [];
      d.runtimeIdx.push(num);
    }
  }

  // waitsFor = each build dep plus its runtime closure.
  const closures: ({ ids: readonly number[]; problem: string | undefined } | undefined)[] = new Array(n);
  const inClosure = new Int32Array(n).fill(-1);
  const closureOf = (start: number): { ids: readonly number[]; problem: string | undefined } => {
    const cached = closures[start];
    if (cached !== undefined) return cached;
    const ids: number[] = [];
    let problem: string | undefined;
    const todo = [start];
    while (todo.length > 0) {
      const cur = todo.pop()!;
      if (inClosure[cur] === start) continue;
      inClosure[cur] = start;
      ids.push(cur);
      const dd = drafts[cur]!;
      if (problem === undefined && dd.runtimeProblems.length > 0) {
        problem = cur === start ? `its runtime dependency: ${dd.runtimeProblems[0]}` : `its runtime dependency ${dd.name}: ${dd.runtimeProblems[0]}`;
      }
      for (const r of dd.runtimeIdx) todo.push(r);
    }
    const res = { ids, problem };
    closures[start] = res;
    return res;
  };
  const waits: number[][] = new Array(n);
  const stageProblems: (string | undefined)[] = new Array(n);
  const inWaits = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    const d = drafts[i]!;
    const set: number[] = [];
    for (const b of d.buildIdx) {
      const c = closureOf(b);
      if (c.problem !== undefined && stageProblems[i] === undefined) stageProblems[i] = `needs ${drafts[b]!.name}, but ${c.problem}`;
      for (const x of c.ids) {
        if (inWaits[x] !== i) {
          inWaits[x] = i;
          set.push(x);
        }
      }
    }
    waits[i] = set.length > 1 ? set.sort((a, b) => a - b) : set;
  }

  // Selection: targets plus everything they wait for.
  const selected = new Uint8Array(n);
  if (targets.length === 0) selected.fill(1);
  else {
    const todo: number[] = [];
    for (const t of targets) {
      const re = globToRegExp(t);
      let hits = 0;
      for (let i = 0; i < n; i++) {
        if (re.test(drafts[i]!.name)) {
          todo.push(i);
          hits++;
        }
      }
      if (hits === 0) {
        throw new KilnError('target-not-found', `target "${t}" matches no package of the tree`, {
          hint: 'name a package folder of the tree, or a glob such as "lib*"; `kiln plan` lists them all',
        });
      }
    }
    while (todo.length > 0) {
      const i = todo.pop()!;
      if (selected[i] === 1) continue;
      selected[i] = 1;
      for (const w of waits[i]!) todo.push(w);
    }
  }
  // The selected nodes, renumbered 0..m-1 in id order (a selection is closed under waits).
  const sel: number[] = [];
  for (let i = 0; i < n; i++) if (selected[i] === 1) sel.push(i);
  const m = sel.length;
  let adj: number[][];
  if (m === n) adj = waits;
  else {
    const pos = new Int32Array(n).fill(-1);
    for (let k = 0; k < m; k++) pos[sel[k]!] = k;
    adj = sel.map((i) => waits[i]!.map((w) => pos[w]!));
  }

  const cycles = findCyclesIndexed(m, adj);
  return { sel, adj, cycles, cycleGroups: cycleGroupsOf(cycles, sel), stageProblems };
}

/** The nodes of cycles that share nodes, together (a strongly connected part), as draft numbers. */
function cycleGroupsOf(cycles: readonly (readonly number[])[], sel: readonly number[]): number[][] {
  if (cycles.length === 0) return [];
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  for (const cycle of cycles) {
    for (const k of cycle) if (!parent.has(k)) parent.set(k, k);
    for (const k of cycle) parent.set(find(k), find(cycle[0]!));
  }
  const byRoot = new Map<number, number[]>();
  for (const k of parent.keys()) {
    const r = find(k);
    let list = byRoot.get(r);
    if (list === undefined) byRoot.set(r, (list = []));
    list.push(sel[k]!);
  }
  return [...byRoot.values()];
}

/**
 * One step u -> v of a printed cycle. v is a build dependency of u, or is staged for u
 * because a build dependency needs it at run time: then the runtime steps are spelled out,
 * as `-(depends)->`.
 */
function hopText(drafts: readonly Draft[], u: number, v: number): string {
  const name = (i: number): string => drafts[i]!.name;
  const d = drafts[u]!;
  if (d.buildIdx.includes(v)) return ` -> ${name(v)}`;
  for (const b of d.buildIdx) {
    // Breadth-first along runtime dependencies from b to v.
    const prev = new Map<number, number>([[b, -1]]);
    const queue = [b];
    for (let i = 0; i < queue.length && !prev.has(v); i++) {
      for (const r of drafts[queue[i]!]!.runtimeIdx) {
        if (prev.has(r)) continue;
        prev.set(r, queue[i]!);
        queue.push(r);
      }
    }
    if (!prev.has(v)) continue;
    const path: number[] = [];
    for (let x = v; x !== -1; x = prev.get(x)!) path.push(x);
    path.reverse();
    return ` -> ${name(b)}${path.slice(1).map((x) => ` -(depends)-> ${name(x)}`).join('')}`;
  }
  return ` -> ${name(v)}`;
}

/** The first line of a cause (a several-line cause ends it with ":"). */
function headOf(cause: string): string {
  const nl = cause.indexOf('\n');
  return nl < 0 ? cause : cause.slice(0, nl).replace(/:$/, '');
}

/** Kahn's order over numbered nodes; nodes on or behind a cycle come last (they are broken anyway). */
function topoOrder(m: number, adj: readonly (readonly number[])[], cyclic: Uint8Array): number[] {
  const pending = new Int32Array(m);
  // Dependents of each node, in ascending order, as one flat array (CSR).
  const count = new Int32Array(m + 1);
  for (let k = 0; k < m; k++) {
    const deps = adj[k]!;
    pending[k] = deps.length;
    for (const w of deps) count[w + 1]!++;
  }
  for (let k = 0; k < m; k++) count[k + 1]! += count[k]!;
  const fill = count.slice(0, m);
  const dependents = new Int32Array(count[m]!);
  for (let k = 0; k < m; k++) for (const w of adj[k]!) dependents[fill[w]!++] = k;
  const out: number[] = [];
  for (let k = 0; k < m; k++) if (pending[k] === 0) out.push(k);
  for (let i = 0; i < out.length; i++) {
    const k = out[i]!;
    for (let j = count[k]!; j < count[k + 1]!; j++) {
      const dep = dependents[j]!;
      if (--pending[dep]! === 0) out.push(dep);
    }
  }
  if (out.length < m) {
    const seen = new Uint8Array(m);
    for (const k of out) seen[k] = 1;
    // Cycle members first, then what waits on them, in a stable order.
    const rest: number[] = [];
    for (let k = 0; k < m; k++) if (seen[k] === 0) rest.push(k);
    rest.sort((a, b) => cyclic[b]! - cyclic[a]! || a - b);
    for (const k of rest) out.push(k);
  }
  return out;
}
