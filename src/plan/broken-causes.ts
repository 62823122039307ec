// The texts of broken packages in a run's graph (graph.ts makes the graph, these say why
// a node cannot be built): the reason chain through broken dependencies and groups of
// alternatives, the steps of a printed cycle, and the grammar that tells from a cause's
// text alone whether recipes' `ignore` accounts for it (the report has nothing more). Pure.

import { formatRelation } from '../debian/relation.ts';
import { alternativesOf, type Candidate, type ResolverIndex } from './resolve.ts';
import type { Draft } from './choose.ts';

/** How an ignored package's own reason starts (recipe key `ignore`). */
export const IGNORED = 'ignored: ';

// The grammar of brokenText's links, for telling from the text alone (the report has no
// more) a cause that a recipe's `ignore` accounts for: a chain of `which is broken` links
// that ends in a `which is ignored` one.
const LABEL = String.raw`\S+(?: \([^()]*\))?`;
const REL = String.raw`\S+(?: \([^()]*\))?(?: \[[^\]]*\])?(?: <[^>]*>)*`;
const NO_COLON = String.raw`(?:[^:;]|:(?! ))`;
const ALSO = String.raw`(?: \(also (?:broken|ignored): (?:[^():;]|\([^()]*\))*(?:; also ignored: (?:[^():;]|\([^()]*\))*)?\))?`;
const WHAT = String.raw`needs (?:${LABEL}|one of ${NO_COLON}+?: (?:${NO_COLON}*; )*?${REL}(?:, provided by ${LABEL})?), which is`;
const IGNORED_CHAIN = new RegExp(String.raw`^(?:${WHAT} broken${ALSO}: )*${WHAT} ignored${ALSO}: `);

/** Is this a broken package's cause that recipes' `ignore` alone accounts for (GraphNode.ignored, from the text)? */
export function isIgnoredCause(cause: string | null | undefined): boolean {
  return cause != null && (cause.startsWith(IGNORED) || IGNORED_CHAIN.test(cause));
}

/** What brokenText needs of the graph being made. */
export interface BrokenTextContext {
  readonly drafts: readonly Draft[];
  /** Selected number → draft number; posOf: draft number → selected number (-1: not selected). */
  readonly sel: ArrayLike<number>;
  readonly posOf: Int32Array;
  /** By selected number: the reason chain so far. */
  readonly broken: readonly (string | undefined)[];
  /** The build machine's arch (`:native`). */
  readonly hostArch: string;
  /** The arch an `all` node resolves for (graph.ts GraphInput.allArch). */
  readonly allArch: string;
  readonly index: ResolverIndex;
}

/**
 * `needs X, which is broken (also broken: Y; also ignored: Z): <X's own reason, first line>`
 * for the broken dependencies `bad` (selected numbers, the one to follow first) of
 * selected node k. Each package is called what it is: `ignored` only when its own recipe
 * says `ignore`, `broken` otherwise (also when it is broken only by ignored ones). When X
 * was chosen for a group of alternatives, each alternative is said with why it cannot be
 * used: `needs one of A | X: A, which is not in the tree; X, which is broken: …`.
 */
export function brokenText(t: BrokenTextContext, k: number, bad: readonly number[]): string {
  const { drafts, sel } = t;
  const d = drafts[sel[k]!]!;
  // A dependency of another arch (a :native tool) is named with its arch; "all" is every arch's.
  const label = (w: number): string => {
    const x = drafts[sel[w]!]!;
    return x.arch === d.arch || x.arch === 'all' ? x.name : `${x.name} (${x.arch})`;
  };
  const firstNum = sel[bad[0]!]!;
  const first = label(bad[0]!);
  const brokenOthers = new Set<string>();
  const ignoredOthers = new Set<string>();
  for (const w of bad.slice(1)) {
    const l = label(w);
    if (l !== first) (isOwnIgnore(t.broken[w]!) ? ignoredOthers : brokenOthers).add(l);
  }
  const alsoParts: string[] = [];
  if (brokenOthers.size > 0) alsoParts.push(`also broken: ${[...brokenOthers].join(', ')}`);
  if (ignoredOthers.size > 0) alsoParts.push(`also ignored: ${[...ignoredOthers].join(', ')}`);
  const also = alsoParts.length === 0 ? '' : ` (${alsoParts.join('; ')})`;
  const chain = whatItIs(t.broken[bad[0]!]!);
  // The group of alternatives the first broken dependency was chosen for, if any.
  const j = d.buildIdx.findIndex((b, i) => b === firstNum && d.buildGroups[i]!.length > 1);
  if (j < 0) return `needs ${asWritten(d, firstNum, first)}, ${chain.word}${also}: ${chain.reason}`;
  const group = d.buildGroups[j]!;
  const arch = d.arch === 'all' ? t.allArch : d.arch;
  const parts: string[] = [];
  let chosen = '';
  for (const a of alternativesOf(group, { arch, hostArch: t.hostArch, index: t.index, self: d.name })) {
    const rel = formatRelation(a.relation);
    if (a.problem !== undefined) {
      parts.push(a.problem.replace(/^needs /, ''));
      continue;
    }
    const nums = a.candidates.map((c) => (c as Candidate & { num: number }).num);
    const c = nums.includes(firstNum) ? firstNum : nums[0]!;
    const provider = drafts[c]!.name === a.relation.name ? '' : `, provided by ${drafts[c]!.name}`;
    if (c === firstNum) {
      if (chosen === '') chosen = `${rel}${provider}, ${chain.word}${also}: ${chain.reason}`;
      continue;
    }
    // Another alternative that cannot be used either: what it is, without its chain.
    const w = t.posOf[c]!;
    const cause = w >= 0 ? t.broken[w] : drafts[c]!.problems.join('; ');
    // Not broken itself but not to be staged: its own depends do not resolve.
    const unstaged = (cause === undefined || cause === '') && drafts[c]!.runtimeProblems.length > 0 ? `cannot be staged: its depends: ${drafts[c]!.runtimeProblems[0]}` : undefined;
    parts.push(`${rel}${provider} (${unstaged ?? (cause !== undefined && cause !== '' && isOwnIgnore(cause) ? 'ignored' : 'broken')})`);
  }
  if (chosen === '') return `needs ${first}, ${chain.word}${also}: ${chain.reason}`;
  // The chain runs to the end of the line: the chosen alternative comes last.
  parts.push(chosen);
  return `needs one of ${group.map(formatRelation).join(' | ')}: ${parts.join('; ')}`;
}

/**
 * The one relation of `d` that took draft `num`, as the recipe writes it (`zlib (>= 5)`,
 * `pa, provided by a`); `label` (the package's name) when it came another way (a runtime
 * dependency staged with one) or the relation names it plainly.
 */
function asWritten(d: Draft, num: number, label: string): string {
  const i = d.buildIdx.indexOf(num);
  const group = i < 0 ? undefined : d.buildGroups[i];
  const r = group?.length === 1 ? group[0] : undefined;
  if (r === undefined || r.archQualifier !== undefined) return label;
  if (r.name !== label) return `${formatRelation(r)}, provided by ${label}`;
  return r.constraint === undefined ? label : formatRelation(r);
}

/** A package's own `ignore` (`ignored: …`) is what its cause says first. */
function isOwnIgnore(cause: string): boolean {
  return cause.startsWith(IGNORED);
}

/** `which is ignored` and the recipe's reason, or `which is broken` and the cause's first line. */
function whatItIs(cause: string): { word: string; reason: string } {
  const head = headOf(cause);
  return isOwnIgnore(head) ? { word: 'which is ignored', reason: head.slice(IGNORED.length) } : { word: 'which is broken', reason: head };
}

/**
 * One step u -> v of a printed cycle. v is a build dependency of u, or is staged for u
 * because a build dependency needs it at run time: then the runtime steps are spelled out,
 * as `-(depends)->`.
 */
export function hopText(drafts: readonly Draft[], u: number, v: number): string {
  const name = (i: number): string => drafts[i]!.name;
  const d = drafts[u]!;
  if (d.buildIdx.includes(v)) {
    // Needed by another name (a provide, an alternative): said, or the step makes no sense.
    const group = d.buildGroups[d.buildIdx.indexOf(v)];
    const r = group?.find((x) => x.name === name(v)) === undefined ? group?.[0] : undefined;
    return r === undefined ? ` -> ${name(v)}` : ` -> ${name(v)} (for ${group!.map(formatRelation).join(' | ')})`;
  }
  for (const b of d.buildIdx) {
    // Breadth-first along runtime dependencies from b to v.
    const prev = new Map<number, number>([[b, -1]]);
    const queue = [b];
    for (let i = 0; i < queue.length && !prev.has(v); i++) {
      for (const r of drafts[queue[i]!]!.runtimeIdx) {
        if (prev.has(r)) continue;
        prev.set(r, queue[i]!);
        queue.push(r);
      }
    }
    if (!prev.has(v)) continue;
    const path: number[] = [];
    for (let x = v; x !== -1; x = prev.get(x)!) path.push(x);
    path.reverse();
    return ` -> ${name(b)}${path.slice(1).map((x) => ` -(depends)-> ${name(x)}`).join('')}`;
  }
  return ` -> ${name(v)}`;
}

/** The first line of a cause (a several-line cause ends it with ":"). */
function headOf(cause: string): string {
  const nl = cause.indexOf('\n');
  return nl < 0 ? cause : cause.slice(0, nl).replace(/:$/, '');
}

