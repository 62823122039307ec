// Resolve relations against the packages of a run, by name and by provides, with
// version constraints; alternatives take the first satisfiable. Pure.

import type { AltGroup, Relation } from '../debian/relation-types.ts';
import { formatRelation } from '../debian/relation.ts';
import { satisfiesConstraint } from '../debian/version.ts';
import { closestName } from '../debian/closest-name.ts';

/** What the resolver knows of one package available at one arch. */
export interface Candidate {
  readonly nodeId: string;
  readonly name: string;
  /** undefined for a package whose recipe is invalid (its version is unknown). */
  readonly version: string | undefined;
  readonly provides: readonly { readonly name: string; readonly version?: string }[];
}

/** Candidates by the names they answer to (own name and provided names), per arch. */
export interface ResolverIndex {
  candidates(name: string, arch: string): readonly Candidate[];
  /** All versions the tree has of a name at any arch, for messages. */
  versionsOf(name: string): readonly string[];
  /** Every name the tree has, own or provided, at any arch (for did-you-mean). */
  names(): readonly string[];
}

export function buildIndex(all: readonly (Candidate & { readonly arch: string })[]): ResolverIndex {
  // arch → name (own or provided) → candidates. Nested maps: no key string per lookup.
  const byArch = new Map<string, Map<string, Candidate[]>>();
  const versions = new Map<string, string[]>();
  const push = (names: Map<string, Candidate[]>, name: string, c: Candidate): void => {
    const list = names.get(name);
    if (list === undefined) names.set(name, [c]);
    else list.push(c);
  };
  for (const c of all) {
    let names = byArch.get(c.arch);
    if (names === undefined) byArch.set(c.arch, (names = new Map()));
    push(names, c.name, c);
    for (const p of c.provides) push(names, p.name, c);
    if (c.version !== undefined) {
      const v = versions.get(c.name);
      if (v === undefined) versions.set(c.name, [c.version]);
      else if (!v.includes(c.version)) v.push(c.version);
    }
  }
  // Real packages before providers; then by name for a stable choice.
  for (const names of byArch.values()) {
    for (const [name, list] of names) {
      if (list.length > 1) list.sort((a, b) => Number(b.name === name) - Number(a.name === name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }
  }
  const allArch = byArch.get('all');
  let allNames: string[] | undefined;
  // An arch's list merged with the `all` list, made once per (arch, name) asked for.
  const merged = new Map<string, Map<string, readonly Candidate[]>>();
  let lastArch: string | undefined;
  let lastNames: Map<string, Candidate[]> | undefined;
  let lastMerged: Map<string, readonly Candidate[]> | undefined;
  return {
    candidates: (name, arch) => {
      // Nearly every lookup is for the arch of the one before.
      if (arch !== lastArch) {
        lastArch = arch;
        lastNames = byArch.get(arch);
        lastMerged = merged.get(arch);
        if (lastMerged === undefined) merged.set(arch, (lastMerged = new Map()));
      }
      const own = lastNames?.get(name) ?? NONE;
      if (arch === 'all' || allArch === undefined) return own;
      const all = allArch.get(name);
      if (all === undefined) return own;
      const cache = lastMerged!;
      let list = cache.get(name);
      if (list === undefined) {
        // By name first across both lists: a real `all` package beats an arch provider.
        const out: Candidate[] = [];
        for (const c of own) if (c.name === name) out.push(c);
        for (const c of all) if (c.name === name) out.push(c);
        for (const c of own) if (c.name !== name) out.push(c);
        for (const c of all) if (c.name !== name) out.push(c);
        cache.set(name, (list = out));
      }
      return list;
    },
    versionsOf: (name) => versions.get(name) ?? NONE_VERSIONS,
    names: () => {
      if (allNames === undefined) {
        const out = new Set<string>();
        for (const names of byArch.values()) for (const name of names.keys()) out.add(name);
        allNames = [...out].sort();
      }
      return allNames;
    },
  };
}

const NONE: readonly Candidate[] = [];
const NONE_VERSIONS: readonly string[] = [];

/** Does candidate c satisfy relation r (by name or by one of its provides)? */
function satisfies(c: Candidate, r: Relation): boolean {
  if (c.name === r.name) {
    if (r.constraint === undefined) return true;
    // A package whose recipe is broken cannot be checked: let it resolve, so the user
    // sees "which is broken" rather than a misleading version complaint.
    if (c.version === undefined) return true;
    return satisfiesConstraint(c.version, r.constraint.op, r.constraint.version);
  }
  for (const p of c.provides) {
    if (p.name !== r.name) continue;
    if (r.constraint === undefined) return true;
    // Debian: an unversioned Provides never satisfies a versioned relation.
    if (p.version !== undefined && satisfiesConstraint(p.version, r.constraint.op, r.constraint.version)) return true;
  }
  return false;
}

function relationProblem(r: Relation, arch: string, index: ResolverIndex, self?: string): string {
  const all = index.candidates(r.name, arch);
  const text = formatRelation(r);
  if (all.length === 0) {
    const elsewhere = index.versionsOf(r.name);
    if (elsewhere.length > 0) return `needs ${text}, which is not built for ${arch}`;
    // One edit in a short name, two in a longer one: "zlib" is not a typo of "libx".
    // Never the package that asks: "libpng needs libpnh (did you mean libpng?)" is no help.
    const near = closestName(r.name, self === undefined ? index.names() : index.names().filter((n) => n !== self), r.name.length <= 5 ? 1 : 2);
    return `needs ${text}, which is not in the tree${near === undefined ? '' : ` (did you mean "${near}"?)`}`;
  }
  const has = all.map((c) => (c.name === r.name ? (c.version ?? '?') : `${c.name} providing ${r.name}`));
  return `needs ${text}, tree has ${[...new Set(has)].join(', ')}`;
}

/** Every candidate that satisfies the group, and the problem to report when none does. */
export interface GroupOptions {
  /** In preference order: the first alternative's candidates first; no candidate twice. */
  readonly candidates: readonly Candidate[];
  /** Set when `candidates` is empty. */
  readonly problem: string | undefined;
}

/**
 * Every candidate that satisfies one alternatives group for a node built for `arch`
 * (`hostArch` for `:native`). The graph takes the first of them that can be built: an
 * alternative whose package is broken does not satisfy the group.
 */
export function groupOptions(group: AltGroup, options: { arch: string; hostArch: string; index: ResolverIndex; self?: string }): GroupOptions {
  let found: Candidate[] | undefined;
  let problems: string[] | undefined;
  for (const r of group) {
    const arch = r.archQualifier === 'native' ? options.hostArch : options.arch;
    let any = false;
    for (const c of options.index.candidates(r.name, arch)) {
      if (!satisfies(c, r)) continue;
      any = true;
      if (found === undefined) found = [c];
      else if (!found.includes(c)) found.push(c);
    }
    if (!any && found === undefined) (problems ??= []).push(relationProblem(r, arch, options.index, options.self));
  }
  if (found !== undefined) return { candidates: found, problem: undefined };
  const p = problems!;
  const problem = p.length === 1 ? p[0]! : `needs one of ${group.map(formatRelation).join(' | ')}: ${p.map((x) => x.replace(/^needs /, '')).join('; ')}`;
  return { candidates: NONE, problem };
}
