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
 * A universe never changes, so the answer does not either.
 */
const bestCache = new WeakMap<BinaryUniverse, Map<string, BinaryPackage | null>>();

export function bestCandidate(r: Relation, u: BinaryUniverse, arch: string): BinaryPackage | undefined {
  let cache = bestCache.get(u);
  if (cache === undefined) bestCache.set(u, (cache = new Map()));
  const key = r.constraint === undefined ? `${arch}\0${r.name}` : `${arch}\0${r.name}\0${r.constraint.op}\0${r.constraint.version}`;
  let best = cache.get(key);
  if (best === undefined) {
    best = candidates(r, u, arch)[0] ?? null;
    cache.set(key, best);
  }
  return best ?? undefined;
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
    out.add(p === undefined ? `!${format(g)}` : `${p.package}=${p.version}#${memo.hashOf(p).slice(0, 16)}`);
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
  hashOf(p: BinaryPackage): string;
}

const memos = new WeakMap<BinaryUniverse, Map<string, ClosureMemo>>();

function closureMemo(u: BinaryUniverse, arch: string, format: (g: AltGroup) => string): ClosureMemo {
  let byArch = memos.get(u);
  if (byArch === undefined) memos.set(u, (byArch = new Map()));
  let memo = byArch.get(arch);
  if (memo === undefined) byArch.set(arch, (memo = makeClosureMemo(u, arch, format)));
  return memo;
}

function makeClosureMemo(u: BinaryUniverse, arch: string, format: (g: AltGroup) => string): ClosureMemo {
  const idOf = (p: BinaryPackage): string => `${p.package}=${p.version}:${p.architecture}`;
  const pkgs = new Map<string, BinaryPackage>();
  const edgesCache = new Map<string, { next: string[]; missing: string[] }>();
  const edges = (id: string): { next: string[]; missing: string[] } => {
    let e = edgesCache.get(id);
    if (e === undefined) {
      const p = pkgs.get(id)!;
      const next: string[] = [];
      const missing: string[] = [];
      for (const g of [...p.preDepends, ...p.depends]) {
        const q = pick(g, u, arch);
        if (q === undefined) missing.push(`!${format(g)}`);
        else {
          const qid = idOf(q);
          pkgs.set(qid, q);
          next.push(qid);
        }
      }
      e = { next, missing };
      edgesCache.set(id, e);
    }
    return e;
  };
  // Tarjan's algorithm, iterative, over calls: finished nodes keep their component's hash.
  const hash = new Map<string, string>();
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  let counter = 0;
  const visit = (root: string): void => {
    const work: { id: string; i: number }[] = [];
    const enter = (id: string): void => {
      index.set(id, counter);
      low.set(id, counter++);
      stack.push(id);
      onStack.add(id);
      work.push({ id, i: 0 });
    };
    enter(root);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const { next } = edges(top.id);
      if (top.i < next.length) {
        const w = next[top.i++]!;
        if (hash.has(w)) continue;
        if (!index.has(w)) enter(w);
        else if (onStack.has(w)) low.set(top.id, Math.min(low.get(top.id)!, index.get(w)!));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low.set(parent.id, Math.min(low.get(parent.id)!, low.get(top.id)!));
      if (low.get(top.id) !== index.get(top.id)) continue;
      const members: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        members.push(w);
      } while (w !== top.id);
      const inside = new Set(members);
      const parts = new Set<string>();
      for (const m of members) {
        const e = edges(m);
        for (const n of e.next) if (!inside.has(n)) parts.add(hash.get(n)!);
        for (const x of e.missing) parts.add(x);
      }
      const h = sha256(`${members.sort().join('\n')}\n--\n${[...parts].sort().join('\n')}`);
      for (const m of members) hash.set(m, h);
    }
  };
  return {
    hashOf(p) {
      const id = idOf(p);
      pkgs.set(id, p);
      if (!hash.has(id)) visit(id);
      return hash.get(id)!;
    },
  };
}
