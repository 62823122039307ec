// Debian relation fields (Build-Depends, Depends, Provides, …) and kiln recipes' own
// dependency lists, which use the same syntax:
//
//   item, item, …            item = relation | relation | …  (alternatives)
//   relation = name[:archqual] [(op version)] [[!]arch …] [<[!]profile …>]…
//
// Parsing is a hand-written scanner (linear time, no backtracking regexes) that collects
// one error per bad relation and keeps going, so a scan can report every problem at once.
// Arch wildcards follow dpkg's Dpkg::Arch (debarch_is) using dpkg's tuple table.

import type { AltGroup, Provide, Relation, VersionOp } from './relation-types.ts';
import { versionProblem } from './version.ts';
import { didYouMeanArch } from './arch-names.ts';

export interface RelationContext {
  readonly hostArch: string;
  /** Active build profiles, e.g. ['nocheck', 'cross']. */
  readonly profiles: readonly string[];
}

export type RelationResult = { readonly relation: Relation; readonly error?: undefined } | { readonly relation?: undefined; readonly error: string };

/**
 * Parses a whole relation field. Empty items (`a, , b,`) are skipped. A relation with an
 * error is left out of its group (a group left with no relation is dropped) and its error,
 * quoting the relation's text, is added to `errors`; the other items still parse.
 */
export function parseRelations(field: string): { groups: AltGroup[]; errors: string[] } {
  const groups: AltGroup[] = [];
  const errors: string[] = [];
  for (const item of field.split(',')) {
    if (isBlank(item)) continue;
    const r = parseItemShared(item);
    for (const e of r.errors) errors.push(e);
    if (r.group !== undefined) groups.push(r.group);
  }
  // An exact-size copy: a pushed-to array keeps room for 16 more, and a suite has 100k+ of them.
  return { groups: groups.slice(), errors };
}

interface ParsedItem {
  readonly group: AltGroup | undefined;
  readonly errors: readonly string[];
}

function parseItem(item: string): ParsedItem {
  const alts = item.split('|');
  const group: Relation[] = [];
  const errors: string[] = [];
  for (const alt of alts) {
    if (isBlank(alt)) {
      errors.push(`${quote(item)}: empty alternative (nothing between "|" and its neighbour)`);
      continue;
    }
    const r = parseRelation(alt);
    if (r.error !== undefined) errors.push(r.error);
    else group.push(r.relation);
  }
  return { group: group.length === 0 ? undefined : group.slice(), errors };
}

// A suite writes the same relations thousands of times (`debhelper-compat (= 13)`,
// `libc6 (>= 2.34)`): each distinct item is parsed once and its (immutable) group of
// relations shared, which saves the parse and most of the memory a suite's relations take.
const ITEMS = new Map<string, ParsedItem>();
const ITEMS_MAX = 500_000;

/**
 * Forgets the shared parses (their texts are slices that keep a whole index in memory):
 * for when a suite has been planned.
 */
export function forgetParsedRelations(): void {
  ITEMS.clear();
}

function parseItemShared(item: string): ParsedItem {
  let r = ITEMS.get(item);
  if (r === undefined) {
    r = parseItem(item);
    if (ITEMS.size >= ITEMS_MAX) ITEMS.clear();
    ITEMS.set(item, r);
  }
  return r;
}

/**
 * Parses one relation (no `,` or `|`). Never throws: returns either the relation or an error
 * of the form `"<text>": <what is wrong>`. The obsolete operators `<` and `>` are accepted
 * and mean `<=` and `>=`, as in dpkg (which warns that they are deprecated).
 */
export function parseRelation(text: string): RelationResult {
  const r = scanRelation(text);
  return typeof r === 'string' ? { error: `${quote(text)}: ${r}` } : { relation: r };
}

/**
 * Parses a Provides field: comma-separated names, each with an optional `(= version)`.
 * Alternatives, other operators, arch qualifiers, arch lists and profiles are errors.
 */
export function parseProvides(field: string): { provides: Provide[]; errors: string[] } {
  const provides: Provide[] = [];
  const errors: string[] = [];
  for (const item of field.split(',')) {
    if (isBlank(item)) continue;
    if (item.includes('|')) {
      errors.push(`${quote(item)}: alternatives ("|") are not allowed in Provides`);
      continue;
    }
    const r = scanRelation(item);
    let problem: string | undefined;
    if (typeof r === 'string') problem = r;
    else if (r.archQualifier !== undefined) problem = `architecture qualifier ":${r.archQualifier}" is not allowed in Provides`;
    else if (r.constraint !== undefined && r.constraint.op !== '=') problem = `only "=" is allowed in Provides, not "${r.constraint.op}"`;
    else if (r.archRestriction !== undefined) problem = 'architecture restrictions are not allowed in Provides';
    else if (r.profiles !== undefined) problem = 'build profiles are not allowed in Provides';
    if (problem !== undefined || typeof r === 'string') errors.push(`${quote(item)}: ${problem}`);
    else provides.push(r.constraint === undefined ? { name: r.name } : { name: r.name, version: r.constraint.version });
  }
  return { provides: provides.slice(), errors }; // exact-size (kept for every binary of a suite)
}

/** Canonical text: `name:qual (op version) [arches] <profiles>…`, single spaces. */
export function formatRelation(r: Relation): string {
  let s = r.archQualifier === undefined ? r.name : `${r.name}:${r.archQualifier}`;
  if (r.constraint !== undefined) s += ` (${r.constraint.op} ${r.constraint.version})`;
  if (r.archRestriction !== undefined) {
    const bang = r.archRestriction.negated ? '!' : '';
    s += ` [${r.archRestriction.arches.map((a) => bang + a).join(' ')}]`;
  }
  for (const conj of r.profiles ?? []) {
    s += ` <${conj.map((t) => (t.negated ? '!' : '') + t.name).join(' ')}>`;
  }
  return s;
}

export function formatGroup(g: AltGroup): string {
  return g.map(formatRelation).join(' | ');
}

export function formatRelations(groups: readonly AltGroup[]): string {
  return groups.map(formatGroup).join(', ');
}

/**
 * Does the relation apply when building for `hostArch` with `profiles` active? An arch
 * list applies when the host matches one of its names (or, negated, none of them); a
 * profile formula applies when any `<…>` group has all its terms true.
 */
export function relationApplies(r: Relation, ctx: RelationContext): boolean {
  if (r.archRestriction !== undefined) {
    const { negated, arches } = r.archRestriction;
    const hit = arches.some((a) => archMatches(ctx.hostArch, a));
    if (hit === negated) return false;
  }
  if (r.profiles !== undefined && r.profiles.length > 0) {
    const active = ctx.profiles;
    const ok = r.profiles.some((conj) => conj.every((t) => active.includes(t.name) !== t.negated));
    if (!ok) return false;
  }
  return true;
}

/** Drops relations that do not apply to `ctx`, then groups left empty. */
export function reduceGroups(groups: readonly AltGroup[], ctx: RelationContext): AltGroup[] {
  const out: AltGroup[] = [];
  for (const g of groups) {
    const kept = g.filter((r) => relationApplies(r, ctx));
    if (kept.length > 0) out.push(kept.length === g.length ? g : kept);
  }
  return out;
}

// ---- scanner -------------------------------------------------------------------------

const OPS: Readonly<Record<string, VersionOp>> = { '<<': '<<', '<=': '<=', '=': '=', '>=': '>=', '>>': '>>', '<': '<=', '>': '>=' };
const PROFILE_RE = /^[a-z0-9][a-z0-9.+-]*$/;
const ARCH_RE = /^[a-z0-9][a-z0-9-]*$/;

/** Returns the relation, or what is wrong with it (without the quoted text). */
function scanRelation(s: string): Relation | string {
  const n = s.length;
  let i = skipSpaces(s, 0);
  const nameStart = i;
  while (i < n && isNameChar(s.charCodeAt(i))) i++;
  const name = s.slice(nameStart, i);
  if (name === '') return i < n ? `expected a package name, found "${s[i]}"` : 'missing package name';
  if (hasUpper(name)) return `package name "${name}" must be lowercase`;
  if (!isLowerAlnum(name.charCodeAt(0))) return `package name "${name}" must start with a lowercase letter or digit`;

  let archQualifier: string | undefined;
  if (s[i] === ':') {
    i++;
    const start = i;
    while (i < n && isArchChar(s.charCodeAt(i))) i++;
    archQualifier = s.slice(start, i);
    if (archQualifier === '') return 'missing architecture qualifier after ":"';
    if (!ARCH_RE.test(archQualifier)) return `invalid architecture qualifier ":${archQualifier}"`;
  }
  i = skipSpaces(s, i);

  let constraint: Relation['constraint'];
  if (s[i] === '(') {
    i++;
    i = skipSpaces(s, i);
    const opStart = i;
    while (i < n && (s[i] === '<' || s[i] === '=' || s[i] === '>')) i++;
    const opText = s.slice(opStart, i);
    if (opText === '') return 'missing relation operator (one of << <= = >= >>) after "("';
    const op = OPS[opText];
    if (op === undefined) return `unknown relation operator "${opText}" (use one of << <= = >= >>)`;
    i = skipSpaces(s, i);
    const vStart = i;
    while (i < n && s[i] !== ')' && s[i] !== '(' && !isSpace(s.charCodeAt(i))) i++;
    const version = s.slice(vStart, i);
    if (version === '') return `missing version after "${opText}"`;
    i = skipSpaces(s, i);
    if (i >= n) return `missing ")" after version "${clip(version)}"`;
    if (s[i] !== ')') return `expected ")" after version "${clip(version)}", found "${clip(s.slice(i).trim())}"`;
    i++;
    const problem = versionProblem(version);
    if (problem !== undefined) return `invalid version "${clip(version)}": ${problem}`;
    constraint = { op, version };
  }
  i = skipSpaces(s, i);

  let archRestriction: Relation['archRestriction'];
  if (s[i] === '[') {
    const close = s.indexOf(']', i + 1);
    if (close < 0) return 'missing "]" after architecture list';
    const tokens = words(s.slice(i + 1, close));
    if (tokens.length === 0) return 'empty architecture list "[]"';
    const negated = tokens[0]!.startsWith('!');
    const arches: string[] = [];
    for (const t of tokens) {
      if (t.startsWith('!') !== negated) return `architecture list [${tokens.join(' ')}] mixes negated and plain names`;
      const a = negated ? t.slice(1) : t;
      if (!ARCH_RE.test(a)) return `invalid architecture name "${a}" in [${tokens.join(' ')}]${didYouMeanArch(a)}`;
      arches.push(a);
    }
    archRestriction = { negated, arches };
    i = close + 1;
    i = skipSpaces(s, i);
  }

  const profiles: { negated: boolean; name: string }[][] = [];
  while (s[i] === '<') {
    const close = s.indexOf('>', i + 1);
    if (close < 0) return 'missing ">" after build profile list';
    const tokens = words(s.slice(i + 1, close));
    if (tokens.length === 0) return 'empty build profile list "<>"';
    const conj: { negated: boolean; name: string }[] = [];
    for (const t of tokens) {
      const negated = t.startsWith('!');
      const p = negated ? t.slice(1) : t;
      if (!PROFILE_RE.test(p)) return `invalid build profile "${t}" in <${tokens.join(' ')}>`;
      conj.push({ negated, name: p });
    }
    profiles.push(conj);
    i = close + 1;
    i = skipSpaces(s, i);
  }

  if (i < n) {
    const rest = clip(s.slice(i).trim());
    if (s[i] === '[' && profiles.length > 0) return 'the architecture list must come before build profiles';
    if (s[i] === '(' && (archRestriction !== undefined || profiles.length > 0 || constraint !== undefined)) {
      return `unexpected "${rest}": the version constraint comes once, right after the name`;
    }
    return `unexpected "${rest}"`;
  }
  const r: { -readonly [K in keyof Relation]: Relation[K] } = { name };
  if (archQualifier !== undefined) r.archQualifier = archQualifier;
  if (constraint !== undefined) r.constraint = constraint;
  if (archRestriction !== undefined) r.archRestriction = archRestriction;
  if (profiles.length > 0) r.profiles = profiles;
  return r;
}

function skipSpaces(s: string, from: number): number {
  let i = from;
  while (i < s.length && isSpace(s.charCodeAt(i))) i++;
  return i;
}

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
}

function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!isSpace(s.charCodeAt(i))) return false;
  return true;
}

function isLowerAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 122);
}

/** Broad on purpose (uppercase too) so a bad name gets a precise message. */
function isNameChar(c: number): boolean {
  return isLowerAlnum(c) || (c >= 65 && c <= 90) || c === 43 || c === 45 || c === 46;
}

function isArchChar(c: number): boolean {
  return isLowerAlnum(c) || (c >= 65 && c <= 90) || c === 45;
}

function words(s: string): string[] {
  return s.split(/[ \t\r\n\v\f]+/).filter((w) => w !== '');
}

/** The offending text, quoted, with folded-field newlines collapsed to single spaces. */
function quote(text: string): string {
  return `"${clip(words(text).join(' '))}"`;
}

/** Keeps error messages readable when the input is garbage. */
function clip(s: string): string {
  return s.length <= 120 ? s : `${s.slice(0, 117)}...`;
}

// ---- architectures -------------------------------------------------------------------

// dpkg's cputable and tupletable (dpkg 1.21): Debian arch name → abi-libc-os-cpu tuple.
const CPUS = new Set(
  ('alpha amd64 arc armeb arm arm64 avr32 hppa loong64 i386 ia64 m32r m68k mips mipsel mipsr6 mipsr6el ' +
    'mips64 mips64el mips64r6 mips64r6el nios2 or1k powerpc powerpcel ppc64 ppc64el riscv64 s390 s390x ' +
    'sh3 sh3eb sh4 sh4eb sparc sparc64 tilegx').split(' '),
);
const TUPLES: readonly (readonly [tuple: string, arch: string])[] = [
  ['eabi-uclibc-linux-arm', 'uclibc-linux-armel'], ['base-uclibc-linux-<cpu>', 'uclibc-linux-<cpu>'],
  ['eabihf-musl-linux-arm', 'musl-linux-armhf'], ['base-musl-linux-<cpu>', 'musl-linux-<cpu>'],
  ['ilp32-gnu-linux-arm64', 'arm64ilp32'], ['eabihf-gnu-linux-arm', 'armhf'], ['eabi-gnu-linux-arm', 'armel'],
  ['abin32-gnu-linux-mips64r6el', 'mipsn32r6el'], ['abin32-gnu-linux-mips64r6', 'mipsn32r6'],
  ['abin32-gnu-linux-mips64el', 'mipsn32el'], ['abin32-gnu-linux-mips64', 'mipsn32'],
  ['abi64-gnu-linux-mips64r6el', 'mips64r6el'], ['abi64-gnu-linux-mips64r6', 'mips64r6'],
  ['abi64-gnu-linux-mips64el', 'mips64el'], ['abi64-gnu-linux-mips64', 'mips64'],
  ['spe-gnu-linux-powerpc', 'powerpcspe'], ['x32-gnu-linux-amd64', 'x32'], ['base-gnu-linux-<cpu>', '<cpu>'],
  ['eabihf-gnu-kfreebsd-arm', 'kfreebsd-armhf'], ['base-gnu-kfreebsd-<cpu>', 'kfreebsd-<cpu>'],
  ['base-gnu-knetbsd-<cpu>', 'knetbsd-<cpu>'], ['base-gnu-kopensolaris-<cpu>', 'kopensolaris-<cpu>'],
  ['base-gnu-hurd-<cpu>', 'hurd-<cpu>'], ['base-bsd-dragonflybsd-<cpu>', 'dragonflybsd-<cpu>'],
  ['base-bsd-freebsd-<cpu>', 'freebsd-<cpu>'], ['base-bsd-openbsd-<cpu>', 'openbsd-<cpu>'],
  ['base-bsd-netbsd-<cpu>', 'netbsd-<cpu>'], ['base-bsd-darwin-<cpu>', 'darwin-<cpu>'],
  ['base-sysv-aix-<cpu>', 'aix-<cpu>'], ['base-sysv-solaris-<cpu>', 'solaris-<cpu>'],
  ['eabi-uclibc-uclinux-arm', 'uclinux-armel'], ['base-uclibc-uclinux-<cpu>', 'uclinux-<cpu>'],
  ['base-tos-mint-m68k', 'mint-m68k'],
];
const tupleCache = new Map<string, readonly string[] | undefined>();

/** dpkg's debarch_to_debtuple; undefined for names dpkg does not know. */
export function archTuple(arch: string): readonly string[] | undefined {
  if (tupleCache.has(arch)) return tupleCache.get(arch);
  // dpkg still reads the legacy `linux-<cpu>` spelling as `<cpu>`.
  const name = arch.startsWith('linux-') ? arch.slice(6).split('-', 1)[0]! : arch;
  let found: readonly string[] | undefined;
  for (const [tuple, pattern] of TUPLES) {
    const at = pattern.indexOf('<cpu>');
    if (at < 0) {
      if (pattern === name) found = tuple.split('-');
    } else if (name.startsWith(pattern.slice(0, at)) && CPUS.has(name.slice(at))) {
      found = tuple.replace('<cpu>', name.slice(at)).split('-');
    }
    if (found !== undefined) break;
  }
  tupleCache.set(arch, found);
  return found;
}

/** dpkg's debarch_is: does the real arch `real` match the name or wildcard `alias`? */
export function archMatches(real: string, alias: string): boolean {
  if (alias === real || alias === 'any') return true;
  const r = archTuple(real);
  if (r === undefined) return false;
  let a: readonly string[] | undefined;
  const parts = alias.split('-');
  if (parts.length > 4) parts.splice(3, parts.length - 3, parts.slice(3).join('-')); // perl's split limit 4
  if (parts.includes('any')) {
    a = [...Array<string>(4 - parts.length).fill('any'), ...parts];
  } else {
    a = archTuple(alias);
  }
  if (a === undefined) return false;
  for (let k = 0; k < 4; k++) if (a[k] !== 'any' && a[k] !== r[k]) return false;
  return true;
}
