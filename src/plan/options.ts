// Per-package options (poudriere's OPTIONS, BitBake's PACKAGECONFIG, pkgsrc's
// PKG_OPTIONS): a recipe declares them (`[options.NAME]`, each on or off by default),
// kiln.toml's [options] and `--option` turn them on or off for a run (a flavour's own
// values over both: recipes/flavours.ts), and applyOptions
// makes each spec what the run builds: the relations of its options that are on added,
// the values part of its recipe hash (another set of values is another build), and the
// values kept for its build environment ($KILN_OPTIONS, $KILN_OPTION_NAME). Pure.

import { sha256Parts } from '../lib/hash.ts';
import { closestName } from '../debian/closest-name.ts';
import { OPTION_NAME_RE, type PackageSpec } from './spec.ts';

/** One setting of a run: an option on or off, for one package or (no `pkg`) for every package that declares it. */
export interface OptionSetting {
  readonly pkg?: string;
  readonly name: string;
  readonly on: boolean;
  /** Where it was said, for messages: `--option ssl=off`, `kiln.toml: options.ssl`. */
  readonly from: string;
}

const ON = new Set(['on', 'true', 'yes', '1']);
const OFF = new Set(['off', 'false', 'no', '0']);

/** `--option [PKG:]NAME=on|off` → a setting; throws a message saying what is accepted. */
export function parseOptionArg(text: string): OptionSetting {
  const m = /^(?:([^:=]+):)?([^:=]+)=(.*)$/.exec(text);
  const form = 'write it as NAME=on|off (every package with that option) or PKG:NAME=on|off, e.g. --option ssl=off or --option curl:ssl=on';
  if (m === null) throw new Error(`--option ${text}: ${form}`);
  const [, pkg, name, value] = m as unknown as [string, string | undefined, string, string];
  if (!OPTION_NAME_RE.test(name)) throw new Error(`--option ${text}: ${JSON.stringify(name)} is not an option name (lowercase letters, digits and -, starting with a letter)`);
  if (pkg !== undefined && !/^[a-z0-9][a-z0-9+.-]*$/.test(pkg)) throw new Error(`--option ${text}: ${JSON.stringify(pkg)} is not a package name`);
  const v = value.toLowerCase();
  if (!ON.has(v) && !OFF.has(v)) throw new Error(`--option ${text}: ${JSON.stringify(value)} is neither on nor off (on, off, true, false, yes, no, 1, 0)`);
  return { ...(pkg === undefined ? {} : { pkg }), name, on: ON.has(v), from: `--option ${text}` };
}

/** What applyOptions makes of the specs: the specs the run builds, and what it has to say. */
export interface AppliedOptions {
  readonly specs: readonly PackageSpec[];
  /** Settings that name a package the tree does not have, or an option a package does not declare: the run is refused. */
  readonly problems: readonly string[];
  /** Settings for every package that no package declares: said, not refused (as --profiles). */
  readonly notes: readonly string[];
}

/**
 * Each spec with its option values for this run: the recipe's defaults, then `settings`
 * in order (a later one wins; the caller orders them kiln.toml before --option, and
 * within each, settings for every package before those for one). `otherNames`: packages
 * of the tree whose recipe is invalid (a setting for one of them is not a typo).
 */
export function applyOptions(specs: readonly PackageSpec[], settings: readonly OptionSetting[], otherNames: readonly string[] = []): AppliedOptions {
  const problems: string[] = [];
  const notes: string[] = [];
  const declared = new Set<string>();
  for (const s of specs) for (const o of s.options ?? []) declared.add(o.name);
  // A tree without options and a run without settings (most runs): nothing to do.
  if (declared.size === 0 && settings.length === 0) return { specs, problems, notes };
  const byName = new Map<string, PackageSpec>();
  for (const s of specs) if (s.debian === undefined) byName.set(s.name, s);
  const others = new Set(otherNames);
  for (const setting of settings) {
    if (setting.pkg === undefined) {
      if (!declared.has(setting.name)) {
        const near = closestName(setting.name, [...declared]);
        notes.push(`${setting.from}: no package of the tree has an option "${setting.name}"${near === undefined ? '' : ` (did you mean "${near}"?)`}${declared.size === 0 ? '' : `; the tree's options: ${[...declared].sort().join(', ')}`}`);
      }
      continue;
    }
    const spec = byName.get(setting.pkg);
    if (spec === undefined) {
      if (others.has(setting.pkg)) continue;
      const near = closestName(setting.pkg, [...byName.keys()]);
      problems.push(`${setting.from}: the tree has no package "${setting.pkg}"${near === undefined ? '' : ` (did you mean "${near}"?)`}`);
      continue;
    }
    const own = (spec.options ?? []).map((o) => o.name);
    const pinned = spec.flavour?.options[setting.name];
    if (pinned !== undefined && pinned !== setting.on) {
      notes.push(`${setting.from}: ${setting.pkg} is flavour ${spec.flavour!.id} of ${spec.flavour!.of}, which has ${setting.name} ${pinned ? 'on' : 'off'} whatever the run says`);
    }
    if (!own.includes(setting.name)) {
      const near = closestName(setting.name, own);
      problems.push(`${setting.from}: ${setting.pkg} has no option "${setting.name}"${near === undefined ? '' : ` (did you mean "${near}"?)`}: ${own.length === 0 ? `its recipe declares none (${spec.file})` : `its options are ${own.join(', ')}`}`);
    }
  }
  if (declared.size === 0) return { specs, problems, notes };
  const out = specs.map((spec) => {
    const options = spec.options;
    if (options === undefined || options.length === 0 || spec.debian !== undefined) return spec;
    const values: Record<string, boolean> = {};
    for (const o of options) values[o.name] = o.default;
    for (const s of settings) {
      if ((s.pkg === undefined || s.pkg === spec.name) && Object.hasOwn(values, s.name)) values[s.name] = s.on;
    }
    // A flavour's own values win: they are what makes it the flavour.
    for (const [name, on] of Object.entries(spec.flavour?.options ?? {})) if (Object.hasOwn(values, name)) values[name] = on;
    return withOptionValues(spec, values);
  });
  return { specs: out, problems, notes };
}

/** `spec` built with these option values (one per declared option): its relations and recipe hash as the run sees them. */
export function withOptionValues(spec: PackageSpec, values: Readonly<Record<string, boolean>>): PackageSpec {
  const on = (spec.options ?? []).filter((o) => values[o.name] === true);
  return {
    ...spec,
    buildDepends: on.length === 0 ? spec.buildDepends : [...spec.buildDepends, ...on.flatMap((o) => o.buildDepends)],
    depends: on.length === 0 ? spec.depends : [...spec.depends, ...on.flatMap((o) => o.depends)],
    // The values are inputs of the build: another set of them is another key.
    recipeHash: sha256Parts([spec.recipeHash, 'options', optionWords(values)]),
    optionValues: values,
  };
}

/** `docs=0 ssl=1`: the values in name order, as the key and the log write them. */
export function optionWords(values: Readonly<Record<string, boolean>>): string {
  return Object.keys(values).sort().map((k) => `${k}=${values[k] === true ? 1 : 0}`).join(' ');
}

/**
 * The build environment's share of a spec's options: $KILN_OPTIONS (the names of those on,
 * space-separated, '' for none) and $KILN_OPTION_NAME (1 or 0, the name upper-cased with
 * - as _) for each declared option. A name that is not an option name (a worker's message
 * is checked, not trusted) is left out.
 */
export function optionEnvironment(values: Readonly<Record<string, boolean>> | undefined): Record<string, string> {
  const env: Record<string, string> = { KILN_OPTIONS: '' };
  if (values === undefined) return env;
  const on: string[] = [];
  for (const name of Object.keys(values).sort()) {
    if (!OPTION_NAME_RE.test(name)) continue;
    if (values[name] === true) on.push(name);
    env[`KILN_OPTION_${name.toUpperCase().replaceAll('-', '_')}`] = values[name] === true ? '1' : '0';
  }
  env['KILN_OPTIONS'] = on.join(' ');
  return env;
}
