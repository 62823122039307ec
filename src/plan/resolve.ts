// Resolve relations against the packages of a run, by name and by provides, with
// version constraints; alternatives take the first satisfiable. Pure.

import type { AltGroup, Relation } from '../debian/relation-types.ts';
import { formatRelation } from '../debian/relation.ts';
import { satisfiesConstraint } from '../debian/version.ts';

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
}

export type Resolution = { readonly ok: true; readonly nodeId: string } | { readonly ok: false; readonly problem: string };

export function buildIndex(all: readonly (Candidate & { readonly arch: string })[]): ResolverIndex {
  const byKey = new Map<string, Candidate[]>();
  const versions = new Map<string, string[]>();
  const push = (name: string, arch: string, c: Candidate): void => {
    const k = `${name}\0${arch}`;
    let list = byKey.get(k);
    if (list === undefined) byKey.set(k, (list = []));
    list.push(c);
  };
  for (const c of all) {
    push(c.name, c.arch, c);
    for (const p of c.provides) push(p.name, c.arch, c);
    if (c.version !== undefined) {
      const v = versions.get(c.name) ?? [];
      if (!v.includes(c.version)) v.push(c.version);
      versions.set(c.name, v);
    }
  }
  // Real packages before providers; then by name for a stable choice.
  for (const [k, list] of byKey) {
    const name = k.split('\0')[0];
    list.sort((a, b) => Number(b.name === name) - Number(a.name === name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  return {
    candidates: (name, arch) => {
      const own = byKey.get(`${name}\0${arch}`) ?? [];
      const all = arch === 'all' ? [] : (byKey.get(`${name}\0all`) ?? []);
      if (all.length === 0) return own;
      // By name first across both lists: a real `all` package beats an arch provider.
      const real = (c: Candidate): boolean => c.name === name;
      return [...own.filter(real), ...all.filter(real), ...own.filter((c) => !real(c)), ...all.filter((c) => !real(c))];
    },
    versionsOf: (name) => versions.get(name) ?? [],
  };
}

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

function relationProblem(r: Relation, arch: string, index: ResolverIndex): string {
  const all = index.candidates(r.name, arch);
  const text = formatRelation(r);
  if (all.length === 0) {
    const elsewhere = index.versionsOf(r.name);
    return elsewhere.length > 0 ? `needs ${text}, which is not built for ${arch}` : `needs ${text}, which is not in the tree`;
  }
  const has = all.map((c) => (c.name === r.name ? (c.version ?? '?') : `${c.name} providing ${r.name}`));
  return `needs ${text}, tree has ${[...new Set(has)].join(', ')}`;
}

/** Resolve one alternatives group for a node built for `arch` (`hostArch` for `:native`). */
export function resolveGroup(group: AltGroup, options: { arch: string; hostArch: string; index: ResolverIndex }): Resolution {
  const problems: string[] = [];
  for (const r of group) {
    const arch = r.archQualifier === 'native' ? options.hostArch : options.arch;
    const found = options.index.candidates(r.name, arch).find((c) => satisfies(c, r));
    if (found !== undefined) return { ok: true, nodeId: found.nodeId };
    problems.push(relationProblem(r, arch, options.index));
  }
  if (problems.length === 1) return { ok: false, problem: problems[0]! };
  return { ok: false, problem: `needs one of ${group.map(formatRelation).join(' | ')}: ${problems.map((p) => p.replace(/^needs /, '')).join('; ')}` };
}
