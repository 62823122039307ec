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
  /** `unread`: named by a provides item of an invalid recipe that did not parse (its version is unknown). */
  readonly provides: readonly { readonly name: string; readonly version?: string; readonly unread?: true }[];
}

/** Candidates by the names they answer to (own name and provided names), per arch. */
export interface ResolverIndex {
  candidates(name: string, arch: string): readonly Candidate[];
  /** All versions the tree has of a name at any arch, for messages. */
  versionsOf(name: string): readonly string[];
  /** Every name the tree has, own or provided, at any arch (for did-you-mean). */
  names(): readonly string[];
  /** Packages whose recipe cannot be read at all (invalid TOML): they may provide any name. */
  unreadable(): readonly string[];
}

/**
 * `unreadable`: names of packages whose recipe could not be read, so what they provide is
 * unknown. `elsewhere`: packages of the tree built for none of the run's archs, which no
 * relation can take but a message names ("not built for amd64", not "not in the tree").
 */
export function buildIndex(all: readonly (Candidate & { readonly arch: string })[], unreadable: readonly string[] = NONE_VERSIONS, elsewhere: readonly { readonly name: string; readonly version: string }[] = []): ResolverIndex {
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
  for (const e of elsewhere) {
    const v = versions.get(e.name);
    if (v === undefined) versions.set(e.name, [e.version]);
    else if (!v.includes(e.version)) v.push(e.version);
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
    unreadable: () => unreadable,
    names: () => {
      if (allNames === undefined) {
        const out = new Set<string>();
        for (const names of byArch.values()) for (const name of names.keys()) out.add(name);
        for (const e of elsewhere) out.add(e.name);
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
    // A provides item of a broken recipe that did not parse: as for its own name, let it
    // resolve, so the user hears that the provider is broken, not that the name is missing.
    if (p.unread === true) return true;
    // Debian: an unversioned Provides never satisfies a versioned relation.
    if (p.version !== undefined && satisfiesConstraint(p.version, r.constraint.op, r.constraint.version)) return true;
  }
  return false;
}

/** Why relation r has no candidate that satisfies it, for a node built for `arch`: `needs R, …`. */
export function relationProblem(r: Relation, arch: string, index: ResolverIndex, self?: string): string {
  const all = index.candidates(r.name, arch);
  const text = formatRelation(r);
  if (all.length === 0) {
    const elsewhere = index.versionsOf(r.name);
    if (elsewhere.length > 0) return `needs ${text}, which is not built for ${arch}`;
    // One edit in a short name, two in a longer one: "zlib" is not a typo of "libx".
    // Never the package that asks: "libpng needs libpnh (did you mean libpng?)" is no help.
    const near = closestName(r.name, self === undefined ? index.names() : index.names().filter((n) => n !== self), r.name.length <= 5 ? 1 : 2);
    // A recipe that cannot be read may be the provider: say so, unless a near name is the likelier fix.
    return `needs ${text}, which is not in the tree${near === undefined ? unreadableNote(index.unreadable()) : ` (did you mean "${near}"?)`}`;
  }
  const has = all.map((c) => {
    if (c.name === r.name) return c.version ?? '?';
    const p = c.provides.find((x) => x.name === r.name);
    return p?.version === undefined ? `${c.name} providing ${r.name}` : `${c.name} providing ${r.name} (= ${p.version})`;
  });
  let why = '';
  // Debian's rule, said: the tree may well mean this provider.
  const unversioned = r.constraint === undefined ? undefined : all.find((c) => c.name !== r.name && c.provides.some((p) => p.name === r.name && p.version === undefined));
  if (unversioned !== undefined && r.constraint !== undefined) {
    const own = unversioned.version;
    const v = own !== undefined && satisfiesConstraint(own, r.constraint.op, r.constraint.version) ? own : r.constraint.version;
    why = ` (an unversioned provide never satisfies a versioned relation, as in Debian: give the provide a version in ${unversioned.name}'s recipe, provides = ["${r.name} (= ${v})"])`;
  }
  return `needs ${text}, tree has ${[...new Set(has)].join(', ')}${why}`;
}

/** ` (unless zfake provides it: its recipe is broken, it cannot be read)` when recipes of the tree cannot be read at all. */
function unreadableNote(names: readonly string[]): string {
  if (names.length === 0) return '';
  if (names.length === 1) return ` (unless ${names[0]} provides it: its recipe is broken, it cannot be read)`;
  const shown = names.length <= 3 ? names.join(' or ') : `${names.slice(0, 3).join(', ')} or ${names.length - 3} more`;
  return ` (unless ${shown} provides it: their recipes are broken, they cannot be read)`;
}

/** One alternative of a group, with the candidates that satisfy it; `problem` when there is none. */
export interface Alternative {
  readonly relation: Relation;
  readonly candidates: readonly Candidate[];
  readonly problem: string | undefined;
}

/** Each alternative of a group and what satisfies it, for saying why none of them can be used. */
export function alternativesOf(group: AltGroup, options: { arch: string; hostArch: string; index: ResolverIndex; self?: string }): Alternative[] {
  return group.map((r) => {
    const arch = relationArch(r, options.arch, options.hostArch);
    const candidates = options.index.candidates(r.name, arch).filter((c) => satisfies(c, r));
    return { relation: r, candidates, problem: candidates.length > 0 ? undefined : relationProblem(r, arch, options.index, options.self) };
  });
}

/**
 * The arch a relation of a node built for `arch` is satisfied at: the build machine's for
 * `:native`, the one it names for `:amd64` (Debian's multiarch `pkg:ARCH`: that arch's
 * package, staged as it is), else the node's own (`:any` included).
 */
export function relationArch(r: Relation, arch: string, hostArch: string): string {
  const q = r.archQualifier;
  return q === undefined || q === 'any' ? arch : q === 'native' ? hostArch : q;
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
    const arch = relationArch(r, options.arch, options.hostArch);
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
