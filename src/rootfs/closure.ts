// kiln rootfs, step one: which packages of the package index go into the root. The named
// packages (names or globs, as kiln build's targets) for one arch (`all` packages count
// for every arch), and the closure of their runtime `depends`, resolved through names and
// provides with versions and alternatives by the planner's resolver (plan/resolve.ts),
// in dependency order (what a package needs comes before it; a cycle is fine). Pure.

import { KilnError } from '../errors.ts';
import { packagePattern } from '../plan/glob.ts';
import { buildIndex, groupOptions, type Candidate } from '../plan/resolve.ts';
import { parseProvides, parseRelations, reduceGroups } from '../debian/relation.ts';
import { closestName } from '../debian/closest-name.ts';
import type { PackageIndexEntry } from '../publish/package-index.ts';

/** One entry of STATE/packages/index.json, as far as a root needs it (publish/package-index.ts writes them). */
export type IndexPackage = Omit<PackageIndexEntry, 'file'>;

/** Why a package is in the root: named on the command line, or needed by other packages of it. */
export type Why = { readonly kind: 'named' } | { readonly kind: 'needed'; readonly by: readonly string[] };

export interface Selected {
  readonly pkg: IndexPackage;
  readonly why: Why;
}

/** `named` or `needed by a, b`. */
export function whyText(why: Why): string {
  return why.kind === 'named' ? 'named' : `needed by ${why.by.join(', ')}`;
}

/**
 * The packages to install for `targets` at `arch`, in dependency order. Throws
 * package-not-found for a target that matches no package of the arch, depends-unmet for
 * a runtime depends nothing in the index satisfies (naming the package and relation).
 */
export function selectClosure(packages: readonly IndexPackage[], targets: readonly string[], arch: string, indexFile = 'packages/index.json'): Selected[] {
  const usable = packages.filter((p) => p.arch === arch || p.arch === 'all');
  const byId = new Map<string, IndexPackage>();
  const candidates: (Candidate & { arch: string })[] = [];
  // Every arch's packages: the resolver looks up one arch (and `all`), and says so when a
  // name is built only for another.
  for (const p of packages) {
    const id = `${p.name}@${p.arch}`;
    byId.set(id, p);
    // A provides entry that does not parse cannot satisfy anything; the build that stored it parsed it once.
    candidates.push({ nodeId: id, name: p.name, version: p.version, arch: p.arch, provides: parseProvides(p.provides.join(', ')).provides });
  }
  const index = buildIndex(candidates);

  // The named packages: each target's matches, as kiln build's targets (a name or glob, or `category/glob`).
  const named: string[] = [];
  for (const t of targets) {
    const matches = packagePattern(t);
    const ids = [...new Set(usable.filter(matches).map((p) => p.name))].sort()
      .map((name) => index.candidates(name, arch).find((c) => c.name === name)!.nodeId);
    if (ids.length === 0) throw notFound(t, arch, packages, indexFile);
    for (const id of ids) if (!named.includes(id)) named.push(id);
  }

  // Breadth first from the named packages. A group with one candidate takes it; a group
  // with several takes one already chosen, else waits until nothing else is left to add,
  // so that an alternative another package needs anyway is taken (one MTA, not two). When
  // only such groups are left, the first one waiting takes its first candidate.
  const edges = new Map<string, string[]>();
  const neededBy = new Map<string, string[]>();
  const chosen = new Set<string>(named);
  const queue = [...named];
  const waiting: { id: string; name: string; candidates: readonly Candidate[] }[] = [];
  const take = (id: string, name: string, pick: string): void => {
    if (pick === id) return; // a package that provides what it depends on
    const deps = edges.get(id)!;
    if (!deps.includes(pick)) deps.push(pick);
    const by = neededBy.get(pick);
    if (by === undefined) neededBy.set(pick, [name]);
    else if (!by.includes(name)) by.push(name);
    if (!chosen.has(pick)) {
      chosen.add(pick);
      queue.push(pick);
    }
  };
  for (let i = 0; ; i++) {
    if (i === queue.length) {
      // Nothing left to add: the groups waiting that a chosen package satisfies take it; the
      // first of the rest takes its first candidate (and what that needs is added first).
      const open = waiting.splice(0).filter((w) => {
        const have = w.candidates.find((c) => chosen.has(c.nodeId));
        if (have !== undefined) take(w.id, w.name, have.nodeId);
        return have === undefined;
      });
      const first = open.shift();
      if (first === undefined) break;
      waiting.push(...open);
      take(first.id, first.name, first.candidates[0]!.nodeId);
      if (i === queue.length) continue;
    }
    const id = queue[i]!;
    const p = byId.get(id)!;
    edges.set(id, []);
    const parsed = parseRelations(p.depends.join(', '));
    if (parsed.errors.length > 0) {
      throw new KilnError('depends-unmet', `${p.name} (${p.arch}) in ${indexFile} has depends that do not parse: ${parsed.errors.join('; ')}`, {
        hint: `fix depends in ${p.name}'s recipe and build it again (kiln build ${p.name})`,
      });
    }
    for (const all of reduceGroups(parsed.groups, { hostArch: arch, profiles: [] })) {
      // One arch per root: `name:any`, `name:native` and `name:ARCH` are the root's arch; another arch cannot be.
      const g = all.filter((r) => !foreignQualifier(r.archQualifier, arch));
      if (g.length === 0) {
        const q = all.map((r) => `${r.name}:${r.archQualifier}`).join(' | ');
        throw new KilnError('depends-unmet', `${p.name} ${p.version}-${p.release} (${p.arch}) needs ${q}, a package of another architecture: a root holds ${arch} (and all) packages only`, {
          hint: `drop the architecture qualifier from ${p.name}'s depends, or make a root of that architecture (--arch)`,
        });
      }
      const r = groupOptions(g, { arch, hostArch: arch, index, self: p.name });
      if (r.problem !== undefined) {
        throw new KilnError('depends-unmet', `${p.name} ${p.version}-${p.release} (${p.arch}) ${inIndexWords(r.problem, arch)}`, {
          hint: `build what it needs for ${arch} first (kiln build --arch ${arch}), or fix ${p.name}'s depends; ${indexFile} lists what was built`,
        });
      }
      const have = r.candidates.find((c) => chosen.has(c.nodeId));
      if (have !== undefined || r.candidates.length === 1) take(id, p.name, (have ?? r.candidates[0]!).nodeId);
      else waiting.push({ id, name: p.name, candidates: r.candidates });
    }
  }

  // Dependency order: depth first, each package after what it needs; in a cycle, the one
  // reached first comes last.
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string): void => {
    if (state.has(id)) return;
    state.set(id, 'visiting');
    for (const d of edges.get(id) ?? []) visit(d);
    state.set(id, 'done');
    order.push(id);
  };
  for (const id of [...chosen].sort()) visit(id);
  const namedSet = new Set(named);
  return order.map((id) => ({
    pkg: byId.get(id)!,
    why: namedSet.has(id) ? { kind: 'named' } : { kind: 'needed', by: [...(neededBy.get(id) ?? [])].sort() },
  }));
}

/** Whether an arch qualifier names an arch other than the root's (`any` and `native` do not). */
function foreignQualifier(q: string | undefined, arch: string): boolean {
  return q !== undefined && q !== 'any' && q !== 'native' && q !== arch;
}

/** The resolver speaks of "the tree" (the planner's input); here it is the package index. */
function inIndexWords(problem: string, arch: string): string {
  return problem
    .replaceAll('which is not in the tree', 'which is not in the package index')
    .replaceAll(`which is not built for ${arch}`, `which is not built for ${arch} (the index has it for other arches only)`)
    .replace(/, tree has /, ', the index has ');
}

function notFound(target: string, arch: string, packages: readonly IndexPackage[], indexFile: string): KilnError {
  const matches = packagePattern(target);
  const elsewhere = [...new Set(packages.filter(matches).map((p) => p.arch))].sort();
  if (elsewhere.length > 0) {
    return new KilnError('package-not-found', `"${target}" matches no package built for ${arch} in ${indexFile} (only for ${elsewhere.join(', ')})`, {
      hint: `give --arch ${elsewhere[0]}, or build it for ${arch} first (kiln build --arch ${arch} ${target})`,
    });
  }
  const near = closestName(target, [...new Set(packages.map((p) => p.name))].sort(), target.length <= 5 ? 1 : 2);
  return new KilnError('package-not-found', `"${target}" matches no package in ${indexFile}${near === undefined ? '' : ` (did you mean "${near}"?)`}`, {
    hint: `build it first (kiln build ${target}) with the same --state; ${indexFile} lists what was built`,
  });
}
