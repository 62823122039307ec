// Build the dependency graph of a run from scanned packages: one node per (package,
// arch), resolved build dependencies, the runtime closure that gets staged, cycles and
// broken packages with their reason chain, and target selection. Pure. The choice among
// alternatives and the linking it drives are in choose.ts; target globs in glob.ts; the
// texts of broken packages in broken-causes.ts.

import { reduceGroups } from '../debian/relation.ts';
import type { AltGroup } from '../debian/relation-types.ts';
import { jobIdOf } from './job.ts';
import { formatDiagnostic, type InvalidPackage, type PackageSpec } from './spec.ts';
import { buildIndex, groupOptions, type Candidate } from './resolve.ts';
import { chooseAndLink, NONE, type Draft } from './choose.ts';
import { brokenText, hopText, IGNORED, type BrokenTextContext } from './broken-causes.ts';

export { IGNORED, isIgnoredCause } from './broken-causes.ts';

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
  /** Broken only because its recipe, or that of everything broken it needs, says `ignore`: it does not fail the run. */
  readonly ignored: boolean;
  /**
   * Its own `depends` that do not resolve (a typo, a package not in the tree), when it is
   * not broken: it builds, but whatever build-depends on it is broken. Undefined when none.
   */
  readonly unmetDepends: readonly string[] | undefined;
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
  /**
   * The arch an `all` package builds with: that of where its job runs (run/host-env.ts
   * allBuildArchOf: this machine's on the host sandbox, else the env of --cross's build
   * arch or of the run's first arch). Its relations resolve among this arch's packages.
   * Default: hostArch.
   */
  readonly allArch?: string;
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

const NO_STRINGS: readonly string[] = [];

/** ` (…: add arm64 to --arch)` for a problem with a `pkg:arm64` relation not built for arm64 because the run does not target it. */
function qualifiedHint(problem: string, runArchs: readonly string[]): string {
  const m = /:([a-z0-9-]+)(?: \([^)]*\))?, which is not built for ([a-z0-9-]+)$/.exec(problem);
  if (m === null || m[1] !== m[2] || runArchs.includes(m[1]!)) return '';
  return ` (a :${m[1]} relation takes the package built for ${m[1]}, which this run does not target: add ${m[1]} to --arch)`;
}

export function buildGraph(input: GraphInput): Graph {
  const draftsById = new Map<string, Draft>();
  // num: the node's number (below), so that a resolution needs no lookup by id.
  const candidates: (Candidate & { arch: string; num: number })[] = [];
  const draft = (id: string, name: string, version: string, arch: string, spec: PackageSpec | undefined, problems: string[], category: string | undefined): Draft => ({
    id, name, version, arch, spec, category, buildDeps: [], buildIdx: [], runtimeIdx: NONE, problems, runtimeProblems: NONE, buildOptions: [], buildGroups: [], runtimeOptions: NONE,
  });
  // Packages built for none of the run's archs: a relation cannot take them, but says they exist.
  const elsewhere: { name: string; version: string }[] = [];
  for (const spec of input.specs) {
    const archs = archsOf(spec, input.archs);
    if (archs.length === 0) elsewhere.push({ name: spec.name, version: spec.version });
    for (const arch of archs) {
      const id = jobIdOf(spec.name, arch);
      draftsById.set(id, draft(id, spec.name, spec.version, arch, spec, spec.ignore === undefined ? NONE : [`${IGNORED}${spec.ignore}`], spec.category));
      candidates.push({ nodeId: id, name: spec.name, version: spec.version, provides: spec.provides, arch, num: -1 });
    }
  }
  // Recipes that cannot be read at all may provide any name: "not in the tree" says so.
  const unreadable: string[] = [];
  for (const bad of input.invalid) {
    if (bad.debian !== true && bad.diagnostics.some((x) => x.key === undefined && x.message.startsWith('invalid TOML'))) unreadable.push(bad.name);
    const lines = bad.diagnostics.map(formatDiagnostic);
    // Several problems: one `FILE: KEY: MESSAGE` per line under a heading (the CLI indents
    // them, the report shows them as lines); what needs the package quotes the heading.
    const heading = bad.debian === true ? 'not buildable' : bad.duplicate === true ? 'name in several folders' : 'invalid recipe';
    const cause = lines.length === 1 ? `${heading}: ${lines[0]}` : `${heading} (${lines.length} problems):\n${lines.join('\n')}`;
    // Its own archs when they parsed; when none of them is a target (or they did not
    // parse), under every target arch: an invalid recipe is always reported.
    const own = bad.archs === undefined ? [] : archsOf({ archs: bad.archs }, input.archs);
    for (const arch of own.length > 0 ? own : input.archs) {
      const id = jobIdOf(bad.name, arch);
      draftsById.set(id, draft(id, bad.name, bad.version ?? '?', arch, undefined, [cause], bad.category));
      candidates.push({ nodeId: id, name: bad.name, version: undefined, provides: bad.provides ?? unreadProvides(bad), arch, num: -1 });
    }
  }
  const index = buildIndex(candidates, unreadable, elsewhere);

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
  // An `all` package resolves for the arch it builds with (allArch): in a run that does
  // not build for it (the host sandbox with a cross-only --arch, --cross), what it needs of
  // the tree is not there; say so. A `:native` tool is the build machine's, wherever.
  const allArch = input.allArch ?? input.hostArch;
  const nativeHint = ` (a :native tool builds for the build machine's arch, ${input.hostArch}, which this run does not target: add ${input.hostArch} to --arch)`;
  const allHint = ` (an "all" package builds with the packages of the arch it builds on, ${allArch}, which this run does not target: add ${allArch} to --arch)`;
  const resolveAll = (d: Draft, groups: readonly AltGroup[], build: boolean): void => {
    const arch = d.arch === 'all' ? allArch : d.arch;
    const allUntargeted = d.arch === 'all' && !input.archs.includes(allArch);
    let options = reduceOptions.get(arch);
    if (options === undefined) reduceOptions.set(arch, (options = { hostArch: arch, profiles }));
    for (const g of reduceGroups(groups, options)) {
      const r = groupOptions(g, { arch, hostArch: input.hostArch, index, self: d.name });
      if (r.problem === undefined) {
        if (build) {
          d.buildOptions.push(numsOf(r.candidates));
          d.buildGroups.push(g);
        }
        else (d.runtimeOptions === NONE ? (d.runtimeOptions = []) : d.runtimeOptions).push(numsOf(r.candidates));
      } else if (build) {
        if (d.problems === NONE) d.problems = [];
        d.problems.push(
          allUntargeted && r.problem.endsWith(`which is not built for ${arch}`) ? `${r.problem}${allHint}`
          : !input.archs.includes(input.hostArch) && r.problem.includes(':native') && r.problem.endsWith(`which is not built for ${input.hostArch}`) ? `${r.problem}${nativeHint}`
          : `${r.problem}${qualifiedHint(r.problem, input.archs)}`,
        );
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

  // Broken: own problems, cycles, then anything that waits for a broken node. Ignored:
  // broken by its own `ignore` alone, or by ignored nodes alone.
  const broken: (string | undefined)[] = new Array(m);
  const ignored = new Uint8Array(m);
  for (let k = 0; k < m; k++) {
    const i = sel[k]!;
    const d = drafts[i]!;
    // An ignored package broken for another reason too says that reason first: it is not ignored.
    if (d.problems.length > 0) broken[k] = (d.spec?.ignore !== undefined && d.problems.length > 1 ? [...d.problems.slice(1), d.problems[0]!] : d.problems).join('; ');
    else if (stageProblems[i] !== undefined) broken[k] = stageProblems[i];
    if (d.spec?.ignore !== undefined && d.problems.length === 1) ignored[k] = 1;
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
  // A node broken by its own problems (not its `ignore` alone, not a cycle) still says
  // which of its dependencies are broken: every unsatisfied relation is listed.
  const pending = new Uint8Array(m);
  for (let k = 0; k < m; k++) if (broken[k] !== undefined && cyclic[k] === 0 && ignored[k] === 0) pending[k] = 1;
  const posOf = new Int32Array(n).fill(-1);
  for (let k = 0; k < m; k++) posOf[sel[k]!] = k;
  const text: BrokenTextContext = { drafts, sel, posOf, broken, hostArch: input.hostArch, allArch, index };
  // One pass suffices in dependency order; nodes behind a cycle have no such order, so
  // repeat until nothing changes.
  for (let changed = true; changed; ) {
    changed = false;
    for (const k of order) {
      if (broken[k] !== undefined && pending[k] === 0) continue;
      const bad = adj[k]!.filter((w) => broken[w] !== undefined);
      if (bad.length === 0) continue;
      // The first broken dependency's chain, and the names of the others: every one is
      // named, and the text grows with the depth of the graph, not with its paths. A
      // dependency broken for real comes first: the chain then says what to fix.
      bad.sort((a, b) => ignored[a]! - ignored[b]!);
      changed = true;
      if (pending[k] === 1) {
        pending[k] = 0;
        broken[k] = `${broken[k]!}; ${brokenText(text, k, bad)}`;
        continue;
      }
      ignored[k] = bad.every((w) => ignored[w] === 1) ? 1 : 0;
      broken[k] = brokenText(text, k, bad);
    }
  }

  const idOf = (k: number): string => drafts[sel[k]!]!.id;
  // A run-time dependency the tree has but that cannot be built (broken, or ignored by its
  // recipe) is unmet too: the package builds, and its root filesystem would lack it.
  const runtimeUnbuildable = (d: Draft): string[] => {
    const found: string[] = [];
    for (const r of d.runtimeIdx) {
      const dep = drafts[r]!;
      const pk = posOf[r]!;
      const why = pk !== -1 ? broken[pk] : dep.problems.length > 0 ? dep.problems.join('; ') : undefined;
      if (why === undefined) continue;
      const isIgnored = pk !== -1 ? ignored[pk] === 1 : dep.spec?.ignore !== undefined && dep.problems.length === 1;
      found.push(`needs ${dep.name}, which ${isIgnored ? 'is ignored by its recipe' : 'is broken'} (${why.split('\n', 1)[0]})`);
    }
    return found;
  };
  const nodes: GraphNode[] = order.map((k) => {
    const d = drafts[sel[k]!]!;
    const w = adj[k]!;
    const unmet = broken[k] === undefined ? [...d.runtimeProblems, ...runtimeUnbuildable(d)] : NO_STRINGS;
    const unmetDepends = unmet.length > 0 ? unmet : undefined;
    return { id: d.id, name: d.name, version: d.version, arch: d.arch, spec: d.spec, buildDeps: d.buildDeps, waitsFor: w.length === 0 ? NO_STRINGS : w.map(idOf), broken: broken[k], ignored: ignored[k] === 1, unmetDepends };
  });
  const byId = new Map<string, GraphNode>();
  for (const x of nodes) byId.set(x.id, x);
  return { nodes, byId };
}

/**
 * The provides items of an invalid recipe that were written but did not parse (a
 * `provides[i]` problem quoting the item): its provider is broken, and what needs one of
 * them hears so rather than "not in the tree".
 */
function unreadProvides(bad: InvalidPackage): readonly { name: string; unread: true }[] {
  const out: { name: string; unread: true }[] = [];
  for (const x of bad.diagnostics) {
    if (x.key === undefined || !/^provides\[\d+\]$/.test(x.key)) continue;
    const m = /^("(?:[^"\\]|\\.)*")/.exec(x.message);
    if (m === null) continue;
    let item: unknown;
    try {
      item = JSON.parse(m[1]!);
    } catch {
      continue;
    }
    const name = typeof item === 'string' ? /^\s*([a-z0-9][a-z0-9+.-]*)/.exec(item)?.[1] : undefined;
    if (name !== undefined && !out.some((p) => p.name === name)) out.push({ name, unread: true });
  }
  return out;
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
