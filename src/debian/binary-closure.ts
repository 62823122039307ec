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
