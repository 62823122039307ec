// Priorities for pick-next: the longest remaining path from a job to the end of the
// graph, each job weighted by its learned duration (unknown: an estimate, the median of
// what is known, else a default). Like BitBake's "speed" scheduler, but duration-weighted.
// Boosted jobs (kiln.toml priority-boost, kiln build --boost; poudriere's PRIORITY_BOOST)
// and what they wait for go before every other job, whatever the durations say.

import { KilnError } from '../errors.ts';
import { globToRegExp, packagePattern } from '../plan/glob.ts';

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
 * `nodes` are ignored. Returns id → priority in ms. A job of `boosted` gets a bonus more
 * than any path, which what it waits for inherits as it inherits durations: each of them
 * is ahead of every job that is not, and among them the longest path (through a boosted
 * job) goes first. The bonus does not add up along a chain of boosted jobs.
 */
export function computePriorities(nodes: readonly PriorityNode[], durationOf: (id: string) => number, boosted?: ReadonlySet<string>): Map<string, number> {
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
  if (boosted === undefined || boosted.size === 0) return prio;
  let longest = 0;
  for (const p of prio.values()) if (p > longest) longest = p;
  const bonus = longest + 1;
  for (const id of boosted) {
    const p = prio.get(id);
    if (p !== undefined) prio.set(id, p + bonus);
  }
  // Again in reverse: only what a boosted job waits for changes (the rest is final).
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    const mine = prio.get(n.id)!;
    if (mine < bonus) continue;
    for (const w of n.waitsFor) {
      const cur = prio.get(w);
      if (cur === undefined) continue;
      const viaMe = durationOf(w) + mine;
      if (viaMe > cur) prio.set(w, viaMe);
    }
  }
  return prio;
}

/** A node as boosting sees it: its name, and its category folder (a glob with a slash names category/name). */
export interface BoostNode {
  readonly id: string;
  readonly name: string;
  readonly spec?: { readonly category?: string | undefined } | undefined;
}

/**
 * The ids of `nodes` whose name matches one of `globs` (as targets match: plan/glob.ts),
 * for computePriorities' `boosted`: each glob compiled once, each name tested once.
 */
export function boostedIds(nodes: readonly BoostNode[], globs: readonly string[]): Set<string> {
  const ids = new Set<string>();
  if (globs.length === 0) return ids;
  const patterns = [...new Set(globs)].map(packagePattern);
  const hit = new Map<string, boolean>();
  for (const n of nodes) {
    let h = hit.get(n.name);
    if (h === undefined) {
      const p = { name: n.name, category: n.spec?.category };
      hit.set(n.name, (h = patterns.some((matches) => matches(p))));
    }
    if (h) ids.add(n.id);
  }
  return ids;
}

/** What a run is asked to boost on its command line (kiln build --boost), after kiln.toml's priority-boost. */
export interface BoostRequest {
  readonly boost?: readonly string[] | undefined;
}

/** kiln build / kiln plan --boost GLOB[,GLOB...], repeatable: the globs, each checked as it is read. */
export function collectBoost(v: string, prev: string[] = []): string[] {
  const globs = v.split(',').map((g) => g.trim());
  if (globs.some((g) => g === '')) {
    throw new KilnError('usage', `--boost: expected package names or globs, comma-separated, got "${v}"`, { hint: 'e.g. --boost \'llvm*,rust\' (quote a glob so the shell leaves it alone)' });
  }
  for (const g of globs) {
    try {
      globToRegExp(g);
    } catch (e) {
      throw new KilnError('usage', `--boost: ${(e as Error).message}`, { hint: (e as KilnError).hint ?? 'give package names or globs such as "llvm*"' });
    }
  }
  return [...prev, ...globs];
}

/** --boost GLOB that matches no package of the run (up to date ones too) is a typo: refused, as --force's is. */
export function checkBoostFlag(globs: readonly string[] | undefined, nodes: readonly BoostNode[]): void {
  for (const g of globs ?? []) {
    if (boostedIds(nodes, [g]).size > 0) continue;
    throw new KilnError('target-not-found', `--boost "${g}" matches no package of this run`, {
      hint: 'name a package folder of the tree (or a glob such as "llvm*") that the run builds; `kiln plan` lists them all',
    });
  }
}
