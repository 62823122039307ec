// Choosing among alternatives and linking the graph (graph.ts calls it in rounds while
// cycles appear): one candidate per relation group, the first that can be built and
// staged (a greatest fixed point over what is usable), what each node waits for, the
// selection of targets and their closure, and the cycles among the selected. Pure.

import type { PackageSpec } from './spec.ts';
import type { AltGroup } from '../debian/relation-types.ts';
import { findCyclesIndexed } from './cycles.ts';
import { packagePattern } from './glob.ts';
import { KilnError } from '../errors.ts';
import { closestName } from '../debian/closest-name.ts';

/** A node while the graph is made (graph.ts); numbered by sorted id. */
export interface Draft {
  id: string;
  name: string;
  version: string;
  arch: string;
  spec: PackageSpec | undefined;
  /** The category folder of the package (targets may name `category/name`). */
  category: string | undefined;
  buildDeps: string[];
  /** Numbers (see buildGraph) of buildDeps and of the resolved runtime deps. */
  buildIdx: number[];
  /** The four below stay the shared empty array until something is added (most never). */
  runtimeIdx: number[];
  problems: string[];
  runtimeProblems: string[];
  /** Per resolvable build-depends group, the numbers of every candidate that satisfies it. */
  buildOptions: number[][];
  /** The relation group of each of buildOptions (to say why none of its alternatives can be used). */
  buildGroups: AltGroup[];
  runtimeOptions: number[][];
}

export const NONE: never[] = [];

export interface Linked {
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
export function chooseAndLink(drafts: Draft[], out: Uint8Array, groupOf: Int32Array, targets: readonly string[]): Linked {
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
      const matches = packagePattern(t);
      let hits = 0;
      for (let i = 0; i < n; i++) {
        if (matches(drafts[i]!)) {
          todo.push(i);
          hits++;
        }
      }
      if (hits === 0) {
        const near = /[*?[]/.test(t) ? undefined : closestName(t, [...new Set(drafts.map((d) => d.name))], t.length <= 5 ? 1 : 2);
        throw new KilnError('target-not-found', `target "${t}" matches no package of the tree${near === undefined ? '' : ` (did you mean "${near}"?)`}`, {
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
