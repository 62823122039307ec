// Debian version strings: parsing and ordering exactly as dpkg does it
// (lib/dpkg/parsehelp.c parseversion and lib/dpkg/version.c verrevcmp).
// Pure functions; the same ordering is used for kiln recipes and Debian packages.

import type { VersionOp } from './relation-types.ts';

export interface DebianVersion {
  readonly epoch: number;
  readonly upstream: string;
  /** '' when the version has no `-revision` part; dpkg orders '' like '0'. */
  readonly revision: string;
}

const MAX_EPOCH = 2147483647; // dpkg keeps the epoch in an int and rejects anything larger

/**
 * Parses `[epoch:]upstream[-revision]`. Returns undefined where dpkg reports an error
 * (empty, bad epoch, empty part, embedded whitespace) and for characters outside
 * [A-Za-z0-9.+~:-]. Like dpkg, an upstream part that does not start with a digit is
 * only a warning and is accepted here; `versionProblem` tells the reason for a rejection.
 */
export function parseVersion(s: string): DebianVersion | undefined {
  const r = splitVersion(s);
  return typeof r === 'string' ? undefined : r;
}

/** Why `s` is not a valid version, in dpkg's words, or undefined when it is valid. */
export function versionProblem(s: string): string | undefined {
  const r = splitVersion(s);
  return typeof r === 'string' ? r : undefined;
}

function splitVersion(input: string): DebianVersion | string {
  const s = input.trim();
  if (s === '') return 'version string is empty';
  let epoch = 0;
  let rest = s;
  const colon = s.indexOf(':');
  if (colon >= 0) {
    const e = s.slice(0, colon);
    if (e === '') return 'epoch in version is empty';
    if (!isAllDigits(e)) return 'epoch in version is not a number';
    const n = Number(e);
    if (n > MAX_EPOCH) return 'epoch in version is too big';
    epoch = n;
    rest = s.slice(colon + 1);
    if (rest === '') return 'nothing after colon in version number';
  }
  let upstream = rest;
  let revision = '';
  const hyphen = rest.lastIndexOf('-');
  if (hyphen >= 0) {
    upstream = rest.slice(0, hyphen);
    revision = rest.slice(hyphen + 1);
    if (revision === '') return 'revision number is empty';
  }
  if (upstream === '') return 'version number is empty';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!(isDigit(c) || isAlpha(c) || c === DOT || c === PLUS || c === TILDE || c === COLON || c === HYPHEN)) {
      return c <= 32 ? 'version string has embedded spaces' : `invalid character "${s[i]}" in version`;
    }
  }
  return { epoch, upstream, revision };
}

/**
 * dpkg's total order: negative, zero or positive (always -1, 0 or 1) as `a` sorts before,
 * equal to or after `b`. Callers should validate with parseVersion first; a string that
 * does not parse is still ordered deterministically, as epoch 0 and no revision.
 */
export function compareVersions(a: string, b: string): number {
  if (a === b) return 0;
  return compareParsed(parsedForCompare(a), parsedForCompare(b));
}

// Planning a whole suite compares the same few thousand version strings millions of
// times: parses are remembered (bounded, cleared when full).
const PARSED = new Map<string, DebianVersion>();
const PARSED_MAX = 500_000;

function parsedForCompare(s: string): DebianVersion {
  let v = PARSED.get(s);
  if (v === undefined) {
    v = parseVersion(s) ?? { epoch: 0, upstream: s.trim(), revision: '' };
    if (PARSED.size >= PARSED_MAX) PARSED.clear();
    PARSED.set(s, v);
  }
  return v;
}

export function compareParsed(a: DebianVersion, b: DebianVersion): number {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  const u = verrevcmp(a.upstream, b.upstream);
  if (u !== 0) return u;
  return verrevcmp(a.revision, b.revision);
}

/** Does `version` satisfy `(op wanted)`? `<<` and `>>` are strict, `<=` and `>=` are not. */
export function satisfiesConstraint(version: string, op: VersionOp, wanted: string): boolean {
  const c = compareVersions(version, wanted);
  switch (op) {
    case '<<': return c < 0;
    case '<=': return c <= 0;
    case '=': return c === 0;
    case '>=': return c >= 0;
    case '>>': return c > 0;
  }
}

const DOT = 46, PLUS = 43, TILDE = 126, COLON = 58, HYPHEN = 45, ZERO = 48;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function isAllDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return true;
}

/** dpkg's order() for one non-digit position; NaN (past the end) counts as 0. */
function order(c: number): number {
  if (Number.isNaN(c) || isDigit(c)) return 0;
  if (isAlpha(c)) return c;
  if (c === TILDE) return -1;
  return c + 256;
}

/**
 * Alternating non-digit and digit runs. Non-digits compare by order() (so `~` sorts before
 * even the end of the string, and letters before other symbols); digit runs compare as
 * numbers of any length: leading zeros skipped, then longer wins, then first difference.
 */
function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const ac = order(a.charCodeAt(i));
      const bc = order(b.charCodeAt(j));
      if (ac !== bc) return ac < bc ? -1 : 1;
      i++;
      j++;
    }
    while (a.charCodeAt(i) === ZERO) i++;
    while (b.charCodeAt(j) === ZERO) j++;
    let firstDiff = 0;
    while (isDigit(a.charCodeAt(i)) && isDigit(b.charCodeAt(j))) {
      if (firstDiff === 0) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a.charCodeAt(i))) return 1;
    if (isDigit(b.charCodeAt(j))) return -1;
    if (firstDiff !== 0) return firstDiff < 0 ? -1 : 1;
  }
  return 0;
}
