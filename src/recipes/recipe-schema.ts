// The recipe.toml schema as zod sees it: the shape and types of every key, strict
// (unknown keys are errors). Semantic checks (relations, paths, sizes) live in
// parse-recipe.ts, so that every problem is reported at once with its key.

import { OUTPUT_CHECKS } from '../execute/output-checks.ts';
import { z } from 'zod';
import { closestName } from '../debian/closest-name.ts';
import { parseDuration, parseSize } from '../lib/duration.ts';
import { PACKAGE_NAME_RE } from './package-name.ts';

/** A package's name: package-name.ts's rule. */
export const NAME_RE = PACKAGE_NAME_RE;

const sourceSchema = z.strictObject({
  url: z.string().min(1),
  sha256: z.string().optional(),
  rev: z.string().optional(),
  dest: z.string().optional(),
  strip: z.number().int().min(0).optional(),
});

const buildSchema = z.strictObject({
  script: z.string().optional(),
  'script-file': z.string().min(1).optional(),
  cpus: z.number().int().positive().optional(),
  memory: z.union([z.string(), z.number().int().positive()]).optional(),
  timeout: z.string().optional(),
  'silent-timeout': z.string().optional(),
  'loop-timeout': z.string().optional(),
  'skip-checks': z.array(z.enum(OUTPUT_CHECKS, { error: (iss) => {
    const near = typeof iss.input === 'string' ? closestName(iss.input, OUTPUT_CHECKS) : undefined;
    return `${typeof iss.input === 'string' ? `"${iss.input}" is ` : ''}not a check kiln has${near === undefined ? '' : ` (did you mean "${near}"?)`}: the checks are ${OUTPUT_CHECKS.map((c) => `"${c}"`).join(', ')}`;
  } })).optional(),
});

/**
 * An option's table (`[options.NAME]`); `NAME = true|false` is short for its default
 * alone. The recipe schema takes any value under `options` and parse-recipe.ts checks
 * each against this, so that a typo in a table is an unknown key, not "not a boolean".
 */
export const optionTableSchema = z.strictObject({
  default: z.boolean().optional(),
  summary: z.string().optional(),
  'build-depends': z.array(z.string()).optional(),
  depends: z.array(z.string()).optional(),
});

/** A flavour's table (`[flavours.ID]`), checked by parse-recipe.ts as the option tables are. */
export const flavourTableSchema = z.strictObject({
  name: z.string().optional(),
  options: z.record(z.string(), z.boolean()).optional(),
});

export const recipeSchema = z.strictObject({
  name: z.string(),
  version: z.string().min(1),
  release: z.number().int().min(0).optional(),
  summary: z.string(),
  license: z.string(),
  archs: z.array(z.string().min(1)).min(1).optional(),
  'build-depends': z.array(z.string()).optional(),
  depends: z.array(z.string()).optional(),
  provides: z.array(z.string()).optional(),
  sources: z.array(sourceSchema).optional(),
  build: buildSchema,
  ignore: z.string().optional(),
  restricted: z.string().optional(),
  options: z.record(z.string(), z.unknown()).optional(),
  flavours: z.record(z.string(), z.unknown()).optional(),
});

export type RawRecipe = z.infer<typeof recipeSchema>;

/** The keys a recipe allows in the table at a zod issue path: the top level, [build], a [[sources]] entry. */
export function recipeKeysAt(path: readonly PropertyKey[]): readonly string[] {
  if (path.length === 0) return Object.keys(recipeSchema.shape);
  if (path[0] === 'build') return Object.keys(buildSchema.shape);
  if (path[0] === 'sources') return Object.keys(sourceSchema.shape);
  if (path[0] === 'options' && path.length === 2) return Object.keys(optionTableSchema.shape);
  if (path[0] === 'flavours' && path.length === 2) return Object.keys(flavourTableSchema.shape);
  return [];
}

/** Turn a zod issue path into the dotted key users see: `sources[1].url`, `build.cpus`. */
export function keyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

const EXPECTED: Readonly<Record<string, string>> = {
  int: 'a whole number',
  number: 'a whole number',
  string: 'a string',
  array: 'an array',
  object: 'a table',
  record: 'a table',
  boolean: 'true or false',
};

/**
 * A human message for one zod issue, naming what was expected and what was found. `known`:
 * the keys allowed where an unknown one was found, for a "did you mean". `written`: the
 * value as the file writes it, when known (TOML reads `version = 3.0` as the number 3:
 * the message says 3.0 and how to quote it).
 */
export function describeIssue(issue: z.core.$ZodIssue, value: unknown, known: readonly string[] = [], written?: string): string {
  switch (issue.code) {
    case 'unrecognized_keys': {
      const near = issue.keys.flatMap((k) => {
        const synonym = KEY_SYNONYMS[k.toLowerCase()];
        const c = synonym !== undefined && known.includes(synonym) ? synonym : closestName(k, known);
        return c === undefined ? [] : [`"${c}"`];
      });
      const suggest = near.length === 0 ? '' : ` (did you mean ${near.join(', ')}?)`;
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}${suggest}`;
    }
    case 'invalid_type': {
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      if (value === undefined) return `missing required key (expected ${expected})`;
      if (typeof value === 'number' && written !== undefined && issue.expected === 'string') {
        const name = issue.path.at(-1);
        const key = typeof name === 'string' && /^[A-Za-z0-9_-]+$/.test(name) ? `${name} = ` : '';
        // A bare number is no duration: quoted, it would still need its unit.
        if (typeof name === 'string' && DURATION_KEYS.has(name)) return `expected ${expected}, got the number ${written} (a duration is written in quotes with its unit: ${key}"${written}m" for minutes, "${written}s" for seconds)`;
        return `expected ${expected}, got the number ${written} (write it in quotes: ${key}${JSON.stringify(written)})`;
      }
      const name = issue.path.at(-1);
      if (typeof value === 'number' && issue.expected === 'string' && typeof name === 'string' && DURATION_KEYS.has(name)) {
        return `expected ${expected}, got ${describeValue(value, issue.expected)} (a duration is written in quotes with its unit: ${name} = "${value}m" for minutes, "${value}s" for seconds)`;
      }
      // `[sources]` (one table) where `[[sources]]` (an array of tables) was meant.
      if (issue.expected === 'array' && typeof value === 'object' && value !== null && !Array.isArray(value) && typeof name === 'string' && /^[A-Za-z0-9_-]+$/.test(name)) {
        return `expected ${expected}, got a table (an array of tables is written [[${name}]], once per item: [${name}] makes one table)`;
      }
      return `expected ${expected}, got ${describeValue(value, issue.expected)}${fixFor(issue.expected, value)}`;
    }
    case 'too_small':
      if (issue.origin === 'string') return 'must not be empty';
      if (issue.origin === 'array') return `must have at least ${String(issue.minimum)} item(s)`;
      return `must be ${issue.inclusive ? 'at least' : 'greater than'} ${String(issue.minimum)}, got ${describeValue(value)}`;
    case 'invalid_union':
      // A union's own message (debian.toml's binnmu) is kept; the recipes' unions are sizes.
      if (!/^Invalid input/.test(issue.message)) return `expected ${issue.message}, got ${describeValue(value)}`;
      return `expected a size such as "512M" or "2G", got ${describeValue(value)}`;
    case 'invalid_value':
      // zod's own wording ("Invalid option: expected one of "a"|"b"") says neither plainly
      // nor what it got; a schema's own message (skip-checks) is kept.
      if (!/^Invalid (option|input)/.test(issue.message)) return issue.message;
      return `expected one of ${issue.values.map(String).join(', ')}, got ${describeValue(value)}`;
    default:
      return issue.message;
  }
}

function describeValue(v: unknown, expected?: string): string {
  // A value pasted by mistake (a whole file) is not repeated whole on one line.
  if (typeof v === 'string') return v.length > 80 ? `${JSON.stringify(v.slice(0, 60))}… (${v.length} characters)` : JSON.stringify(v);
  if (typeof v === 'number') return Number.isInteger(v) || (expected !== 'int' && expected !== 'number') ? `${v}` : `${v} (not a whole number)`;
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a table';
  if (typeof v === 'boolean') return String(v);
  return typeof v;
}

/** How to write a value of the wrong type as the one expected, when that is plain (a quoted version, a one-item list). */
function fixFor(expected: string, v: unknown): string {
  // Not the value back in quotes: TOML has made a number of it already (1.0 is 1, 1.10 is 1.1).
  if (expected === 'string' && typeof v === 'number') return ' (write it in quotes: TOML reads it unquoted as a number)';
  if (expected === 'string' && typeof v === 'boolean') return ` (write it in quotes: "${String(v)}")`;
  if (expected === 'array' && typeof v === 'string') return v.length > 80 ? ' (write it as a list: ["…"])' : ` (write it as a list: [${JSON.stringify(v)}])`;
  // A number in quotes: `release = "2"`.
  if ((expected === 'int' || expected === 'number') && typeof v === 'string' && /^\s*\d+\s*$/.test(v)) return ` (write it without quotes: ${v.trim()})`;
  if (expected === 'boolean' && (v === 'true' || v === 'false')) return ` (write it without quotes: ${v})`;
  return '';
}

/** Keys other tools' recipes use (BitBake, RPM, pkgsrc, Arch) for one kiln names otherwise: suggested where that key is allowed. */
const KEY_SYNONYMS: Readonly<Record<string, string>> = {
  description: 'summary',
  desc: 'summary',
  comment: 'summary',
  pkgdesc: 'summary',
  deps: 'depends',
  requires: 'depends',
  rdepends: 'depends',
  'build-deps': 'build-depends',
  builddepends: 'build-depends',
  build_depends: 'build-depends',
  buildrequires: 'build-depends',
  makedepends: 'build-depends',
  arch: 'archs',
  architecture: 'archs',
  pkgver: 'version',
  pkgrel: 'release',
  pkgname: 'name',
  // pkgsrc's NO_BIN_ON_FTP / NO_BIN_ON_CDROM: kiln has one key for "not redistributed".
  no_bin_on_ftp: 'restricted',
  'no-bin-on-ftp': 'restricted',
  no_bin_on_cdrom: 'restricted',
  'no-redistribution': 'restricted',
};

/** The keys (recipes, kiln.toml, debian.toml) whose value is a duration such as "30m". */
const DURATION_KEYS: ReadonlySet<string> = new Set(['timeout', 'silent-timeout', 'loop-timeout']);

/** What a duration may look like, for messages. */
export const DURATION_FORMS = 'use a number with ms, s, m, h, d or w, e.g. "30m" or "1.5h"';
/** What a size may look like, for messages. */
export const SIZE_FORMS = 'use a number with K, M, G or T (powers of 1024), e.g. "512M" or "2G"';
/** The least memory a build may ask for: below it, a size without a unit (bytes) was meant as something else. */
export const MIN_MEMORY = 1024 ** 2;

/** A duration of a recipe's [build] or kiln.toml's [defaults], in ms; throws a message saying what is accepted. */
export function durationMs(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    throw new Error(`invalid duration ${JSON.stringify(text)}: ${DURATION_FORMS}`);
  }
  // "0s" would kill every build at once.
  if (ms <= 0) throw new Error(`must be greater than 0, got ${JSON.stringify(text)}`);
  return ms;
}

/** A loop-timeout (loop-watch.ts), in ms: a duration as durationMs, or 0 ("0", "0s"): off. */
export function loopDurationMs(text: string): number {
  if (text.trim() === '0') return 0;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    throw new Error(`invalid duration ${JSON.stringify(text)}: ${DURATION_FORMS}, or "0" for no limit`);
  }
  if (ms < 0) throw new Error(`must be 0 (no limit) or more, got ${JSON.stringify(text)}`);
  return ms;
}

/** A build's memory (a string with a unit, or bytes), at least MIN_MEMORY; throws a message saying what is accepted. */
export function memoryBytes(v: string | number): number {
  let n: number;
  try {
    n = parseSize(v);
  } catch {
    throw new Error(`invalid size ${JSON.stringify(v)}: ${SIZE_FORMS}`);
  }
  if (n <= 0) throw new Error(`must be greater than 0, got ${JSON.stringify(v)}`);
  if (n < MIN_MEMORY) {
    const unit = typeof v === 'number' || /^\s*[\d.]+\s*b?\s*$/i.test(v) ? ' (a size without a unit counts bytes)' : '';
    throw new Error(`${JSON.stringify(v)} is ${n} byte${n === 1 ? '' : 's'}${unit}, less than the least a build may ask for, 1M: ${SIZE_FORMS}`);
  }
  return n;
}

/** Look up the value at a zod issue path, for messages. */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}
