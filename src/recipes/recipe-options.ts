// A recipe's [options] and [flavours] (plan/options.ts, recipes/flavours.ts): each table
// checked against its schema and the recipe's own rules, every problem said through the
// parser's `add` with its key. Part of parse-recipe.ts's work, kept apart by subject.

import type { z } from 'zod';
import type { AltGroup } from '../debian/relation-types.ts';
import { OPTION_NAME_RE, type FlavourSpec, type OptionSpec } from '../plan/spec.ts';
import { nameLengthProblem } from './package-name.ts';
import { NAME_RE, describeIssue, flavourTableSchema, keyPath, optionTableSchema, recipeKeysAt, valueAt } from './recipe-schema.ts';

/** How parse-recipe.ts says a problem: its key, the message, and the key to place it at. */
type Add = (key: string, message: string, at?: string) => void;

/** What zod found wrong in the table `v` at `at` (an option's, a flavour's), each problem by its key, an unknown key at its own line. */
function sayTableIssues(at: readonly string[], issues: readonly z.core.$ZodIssue[], v: unknown, add: Add): void {
  for (const issue of issues) {
    const path = [...at, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) add(keyPath(path), describeIssue({ ...issue, keys: [k] }, v, recipeKeysAt(at)), keyPath([...path, k]));
    } else add(keyPath(path), describeIssue(issue, valueAt(v, issue.path)));
  }
}

/**
 * A recipe's `[options]`: each `NAME = true|false` or `[options.NAME]` table checked (its
 * name, its keys, its relations), every problem said through `add`. Sorted by name.
 */
export function optionsOf(
  value: unknown,
  add: Add,
  relField: (key: string, v: unknown) => AltGroup[],
): OptionSpec[] {
  // Not a table: the recipe schema has said so.
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  const out: OptionSpec[] = [];
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    const key = `options.${name}`;
    if (!OPTION_NAME_RE.test(name)) add(key, `${JSON.stringify(name)} is not an option name: use lowercase letters, digits and -, starting with a letter (e.g. ssl, docs, with-gui)`);
    if (typeof v === 'boolean') {
      out.push({ name, default: v, buildDepends: [], depends: [] });
      continue;
    }
    const table = optionTableSchema.safeParse(v);
    if (!table.success) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        add(key, `expected true, false or a table ([${key}] with default, summary, build-depends, depends), got ${Array.isArray(v) ? 'an array' : JSON.stringify(v)}`);
        continue;
      }
      sayTableIssues(['options', name], table.error.issues, v, add);
    }
    const t = v as Record<string, unknown>;
    const summary = typeof t['summary'] === 'string' ? t['summary'] : undefined;
    if (summary !== undefined && (summary.trim() === '' || /[\r\n]/.test(summary))) add(`${key}.summary`, 'must say in one line what the option does (e.g. "TLS support through OpenSSL"), or be removed');
    out.push({
      name,
      default: t['default'] === true,
      ...(summary === undefined ? {} : { summary }),
      buildDepends: relField(`${key}.build-depends`, t['build-depends']),
      depends: relField(`${key}.depends`, t['depends']),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * A recipe's `[flavours]`: each `[flavours.ID]` table checked (its id, its keys, its package
 * name, that it pins only options the recipe declares), every problem said through `add`.
 * Sorted by id.
 */
export function flavoursOf(
  value: unknown,
  /** `options`: the names of the recipe's [options] table, each declared one even when its value is wrong. */
  recipe: { readonly name: string | undefined; readonly options: readonly string[] },
  add: Add,
): FlavourSpec[] {
  // Not a table: the recipe schema has said so.
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  const out: FlavourSpec[] = [];
  const names = new Map<string, string>();
  for (const [id, v] of Object.entries(value as Record<string, unknown>)) {
    const key = `flavours.${id}`;
    if (!OPTION_NAME_RE.test(id)) add(key, `${JSON.stringify(id)} is not a flavour name: use lowercase letters, digits and -, starting with a letter (e.g. py312, nossl)`);
    const table = flavourTableSchema.safeParse(v);
    if (!table.success) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        add(key, `expected a table ([${key}] with name and options = { NAME = true|false }), got ${Array.isArray(v) ? 'an array' : JSON.stringify(v)}`);
        continue;
      }
      sayTableIssues(['flavours', id], table.error.issues, v, add);
      continue;
    }
    const name = table.data.name ?? (recipe.name === undefined ? undefined : `${recipe.name}-${id}`);
    if (name === undefined) continue;
    // The key written, or the flavour's table when its name is the default one.
    const nameKey = table.data.name === undefined ? key : `${key}.name`;
    const long = NAME_RE.test(name) ? nameLengthProblem(name) : undefined;
    if (!NAME_RE.test(name)) add(nameKey, `"${name}" is not a valid package name (lowercase letters, digits and + . -, starting with a letter or digit)${table.data.name === undefined ? `: give the flavour a name = "…"` : ''}`);
    else if (long !== undefined) add(nameKey, `the flavour's package name "${name}" ${long}${table.data.name === undefined ? `: give the flavour a shorter name = "…"` : ''}`);
    else if (name === recipe.name) add(nameKey, `"${name}" is the recipe's own package: a flavour is another package, with a name of its own`);
    else if (names.has(name)) add(nameKey, `"${name}" is the package of flavour ${names.get(name)} too: give each flavour a name of its own`);
    names.set(name, id);
    const options = table.data.options ?? {};
    // The options a flavour may pin, as a user should write them: not the names said to be invalid.
    const valid = recipe.options.filter((o) => OPTION_NAME_RE.test(o));
    for (const o of Object.keys(options)) {
      if (!recipe.options.includes(o)) add(`${key}.options.${o}`, `the recipe declares no option ${JSON.stringify(o)}${valid.length === 0 ? ': declare it under [options] first' : ` (its options: ${valid.join(', ')})`}`);
    }
    out.push({ id, name, options });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
