// Pure reasoning over a suite's binary packages for one architecture:
//
//   closure()   every binary that could take part in installing some relations: all
//               alternatives, all versions, all providers, followed through Depends and
//               Pre-Depends. Installability in this sub-universe is the same as in the
//               whole suite (a package outside it can neither satisfy nor conflict with
//               anything installed), so the external checker gets a small index.
//   chosen()    what apt would most likely install: per relation the first alternative
//               with a candidate (the highest version that satisfies it), followed through
//               its Depends. Its exact versions go into a Debian package's input key, so a
//               new version of any build dependency makes the source rebuild.

import type { AltGroup, Relation } from './relation-types.ts';
import type { BinaryUniverse } from './lazy-index.ts';
import type { BinaryPackage } from './sources-index.ts';
import { satisfiesConstraint } from './version.ts';
import { sha256 } from '../lib/hash.ts';

/** Does binary `p` (of `arch` or `all`) exist for a build on `arch`? */
export function archFits(p: BinaryPackage, arch: string): boolean {
  return p.architecture === arch || p.architecture === 'all';
}

/** Candidates for one relation, best first: real packages by version, then providers. */
export function candidates(r: Relation, u: BinaryUniverse, arch: string): BinaryPackage[] {
  const out: BinaryPackage[] = [];
  for (const p of u.versions(r.name)) {
    if (!archFits(p, arch)) continue;
    if (r.constraint === undefined || satisfiesConstraint(p.version, r.constraint.op, r.constraint.version)) out.push(p);
  }
  for (const { pkg, version } of u.providers(r.name)) {
    if (!archFits(pkg, arch)) continue;
    if (r.constraint === undefined) out.push(pkg);
    else if (version !== undefined && satisfiesConstraint(version, r.constraint.op, r.constraint.version)) out.push(pkg);
  }
  return out;
}

/** Names of every binary reachable from `roots` (see the header). */
export function closure(roots: readonly AltGroup[], extraNames: readonly string[], u: BinaryUniverse, arch: string): Set<string> {
  const seen = new Set<string>();
  const queue: string[] = [];
  const add = (name: string): void => {
    if (!seen.has(name)) {
      seen.add(name);
      queue.push(name);
    }
  };
  const addRelation = (r: Relation): void => {
    if (u.versions(r.name).length > 0) add(r.name);
    for (const { pkg } of u.providers(r.name)) add(pkg.package);
  };
  for (const g of roots) for (const r of g) addRelation(r);
  for (const n of extraNames) add(n);
  while (queue.length > 0) {
    const name = queue.pop()!;
    for (const p of u.versions(name)) {
      if (!archFits(p, arch)) continue;
      for (const g of [...p.preDepends, ...p.depends]) for (const r of g) addRelation(r);
    }
  }
  return seen;
}

/**
 * The best candidate of a relation, remembered per universe and arch: planning a whole
 * suite asks for the same few thousand relations (libc6 (>= 2.34), …) millions of times.
 * A universe never changes, so the answer does not either. Nested maps (arch, name, op,
 * version), not one joined key: building and hashing a fresh key string per call was most
 * of the cost.
 */
interface BestOfName {
  /** The unconstrained relation's answer, once asked (null: nothing). */
  plain: BinaryPackage | null | undefined;
  /** Per operator, per version. */
  ops: Map<string, Map<string, BinaryPackage | null>> | undefined;
}

const bestCache = new WeakMap<BinaryUniverse, Map<string, Map<string, BestOfName>>>();

export function bestCandidate(r: Relation, u: BinaryUniverse, arch: string): BinaryPackage | undefined {
  let byArch = bestCache.get(u);
  if (byArch === undefined) bestCache.set(u, (byArch = new Map()));
  let byName = byArch.get(arch);
  if (byName === undefined) byArch.set(arch, (byName = new Map()));
  let entry = byName.get(r.name);
  if (entry === undefined) byName.set(r.name, (entry = { plain: undefined, ops: undefined }));
  const c = r.constraint;
  if (c === undefined) {
    if (entry.plain === undefined) entry.plain = candidates(r, u, arch)[0] ?? null;
    return entry.plain ?? undefined;
  }
  if (entry.ops === undefined) entry.ops = new Map();
  let byVersion = entry.ops.get(c.op);
  if (byVersion === undefined) entry.ops.set(c.op, (byVersion = new Map()));
  let best = byVersion.get(c.version);
  if (best === undefined) byVersion.set(c.version, (best = candidates(r, u, arch)[0] ?? null));
  return best ?? undefined;
}

/**
 * Drops what bestCandidate and chosenKeys remember of `u` (a whole suite's worth once a
 * suite is planned: hundreds of thousands of small objects the garbage collector would
 * otherwise walk for as long as the universe lives). Asking again recomputes it.
 */
export function forgetChoices(u: BinaryUniverse): void {
  bestCache.delete(u);
  memos.delete(u);
}

/** `name=version` of what a greedy resolver installs for `roots`, sorted; unsatisfied groups listed as `!relation`. */
export function chosen(roots: readonly AltGroup[], u: BinaryUniverse, arch: string, format: (g: AltGroup) => string): string[] {
  const picked = new Map<string, string>();
  const missing = new Set<string>();
  const queue: AltGroup[] = [...roots];
  // A moving head, not queue.shift(): the queue of a big closure holds thousands of groups.
  for (let head = 0; head < queue.length; head++) {
    const g = queue[head]!;
    // Already satisfied by something picked: nothing new.
    if (g.some((r) => {
      const v = picked.get(r.name);
      return v !== undefined && (r.constraint === undefined || satisfiesConstraint(v, r.constraint.op, r.constraint.version));
    })) continue;
    let best: BinaryPackage | undefined;
    for (const r of g) {
      best = bestCandidate(r, u, arch);
      if (best !== undefined) break;
    }
    if (best === undefined) {
      missing.add(`!${format(g)}`);
      continue;
    }
    if (picked.has(best.package)) continue;
    picked.set(best.package, best.version);
    queue.push(...best.preDepends, ...best.depends);
  }
  return [...[...picked].map(([n, v]) => `${n}=${v}`), ...missing].sort();
}

/**
 * What a source's build dependencies resolve to, for its input key, in time linear in
 * the suite: per root relation the package a resolver picks first (`name=version`),
 * tagged with a hash of everything that package pulls in (its dependency closure, picked
 * the same way, every version in it). The closure hashes are computed once per strongly
 * connected component of the dependency graph (libc6 ↔ libgcc-s1 and friends) and shared
 * by every source of the run: planning a whole suite walks each package once, not once
 * per source that needs it. Any new version anywhere in a closure changes its hash.
 */
export function chosenKeys(roots: readonly AltGroup[], u: BinaryUniverse, arch: string, format: (g: AltGroup) => string): string[] {
  const memo = closureMemo(u, arch, format);
  const out = new Set<string>();
  for (const g of roots) {
    const p = pick(g, u, arch);
    out.add(p === undefined ? `!${format(g)}` : memo.keyOf(p));
  }
  return [...out].sort();
}

function pick(g: AltGroup, u: BinaryUniverse, arch: string): BinaryPackage | undefined {
  for (const r of g) {
    const best = bestCandidate(r, u, arch);
    if (best !== undefined) return best;
  }
  return undefined;
}

interface ClosureMemo {
  /** `name=version#hash16` of a picked package, the form chosenKeys lists. */
  keyOf(p: BinaryPackage): string;
}

const memos = new WeakMap<BinaryUniverse, Map<string, ClosureMemo>>();

function closureMemo(u: BinaryUniverse, arch: string, format: (g: AltGroup) => string): ClosureMemo {
  let byArch = memos.get(u);
  if (byArch === undefined) memos.set(u, (byArch = new Map()));
  let memo = byArch.get(arch);
  if (memo === undefined) byArch.set(arch, (memo = makeClosureMemo(u, arch, format)));
  return memo;
}

/** One package (`name=version:arch`) of the pick graph, with Tarjan's bookkeeping. */
interface MemoNode {
  readonly id: string;
  readonly pkg: BinaryPackage;
  /** Picked dependencies, and `!relation` for groups nothing satisfies (set on first use). */
  next: MemoNode[] | undefined;
  missing: string[];
  index: number;
  low: number;
  onStack: boolean;
  /** Which component is being closed (members of the same one are not its parts). */
  scc: number;
  hash: string | undefined;
  key: string | undefined;
}

function makeClosureMemo(u: BinaryUniverse, arch: string, format: (g: AltGroup) => string): ClosureMemo {
  const byId = new Map<string, MemoNode>();
  // The universe hands out one object per stanza: the id string is built once per package.
  const byPkg = new Map<BinaryPackage, MemoNode>();
  const nodeOf = (p: BinaryPackage): MemoNode => {
    let n = byPkg.get(p);
    if (n === undefined) {
      const id = `${p.package}=${p.version}:${p.architecture}`;
      n = byId.get(id);
      if (n === undefined) {
        n = { id, pkg: p, next: undefined, missing: [], index: -1, low: -1, onStack: false, scc: -1, hash: undefined, key: undefined };
        byId.set(id, n);
      }
      byPkg.set(p, n);
    }
    return n;
  };
  const edges = (n: MemoNode): MemoNode[] => {
    if (n.next === undefined) {
      const next: MemoNode[] = [];
      for (const groups of [n.pkg.preDepends, n.pkg.depends]) {
        for (const g of groups) {
          const q = pick(g, u, arch);
          if (q === undefined) n.missing.push(`!${format(g)}`);
          else next.push(nodeOf(q));
        }
      }
      n.next = next.slice(); // exact-size: kept for every package of the suite
    }
    return n.next;
  };
  // Tarjan's algorithm, iterative, over calls: finished nodes keep their component's hash.
  const stack: MemoNode[] = [];
  let counter = 0;
  let sccs = 0;
  const visit = (root: MemoNode): void => {
    const work: MemoNode[] = [];
    const at: number[] = [];
    const enter = (n: MemoNode): void => {
      n.index = n.low = counter++;
      stack.push(n);
      n.onStack = true;
      work.push(n);
      at.push(0);
    };
    enter(root);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const next = edges(top);
      const i = at[at.length - 1]!;
      if (i < next.length) {
        at[at.length - 1] = i + 1;
        const w = next[i]!;
        if (w.hash !== undefined) continue;
        if (w.index === -1) enter(w);
        else if (w.onStack && w.index < top.low) top.low = w.index;
        continue;
      }
      work.pop();
      at.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined && top.low < parent.low) parent.low = top.low;
      if (top.low !== top.index) continue;
      const scc = sccs++;
      const members: MemoNode[] = [];
      let w: MemoNode;
      do {
        w = stack.pop()!;
        w.onStack = false;
        w.scc = scc;
        members.push(w);
      } while (w !== top);
      const parts = new Set<string>();
      for (const m of members) {
        for (const n of m.next!) if (n.scc !== scc) parts.add(n.hash!);
        for (const x of m.missing) parts.add(x);
      }
      const h = sha256(`${members.map((m) => m.id).sort().join('\n')}\n--\n${[...parts].sort().join('\n')}`);
      for (const m of members) m.hash = h;
    }
  };
  return {
    keyOf(p) {
      const n = nodeOf(p);
      if (n.key === undefined) {
        if (n.hash === undefined) visit(n);
        n.key = `${p.package}=${p.version}#${n.hash!.slice(0, 16)}`;
      }
      return n.key;
    },
  };
}
