// Parse one recipe.toml into a validated draft, or every problem at once. Pure: the
// caller (scan-tree.ts) reads the files and hashes what the recipe references.

import { parse as parseToml } from 'smol-toml';
import type { AltGroup, Provide } from '../debian/relation-types.ts';
import { parseProvides, parseRelations } from '../debian/relation.ts';
import { relationArchProblems } from '../debian/relation-arch-check.ts';
import { isDebianArch, didYouMeanArch } from '../debian/arch-names.ts';
import { versionProblem } from '../debian/version.ts';
import type { Diagnostic, FlavourSpec, OptionSpec } from '../plan/spec.ts';
import { NAME_RE, describeIssue, durationMs, keyPath, loopDurationMs, memoryBytes as memoryOf, recipeKeysAt, recipeSchema, valueAt } from './recipe-schema.ts';
import { tomlProblem } from '../config/toml-problem.ts';
import { flavoursOf, optionsOf } from './recipe-options.ts';
import { nameLengthProblem } from './package-name.ts';
import { inFileOrder, keyLines, lineOfKey } from './toml-key-lines.ts';

import { builtinDefaults, type RecipeDefaults } from './recipe-defaults.ts';
import { isSafeRelativePath, sourcesOf, type DraftSource } from './recipe-sources.ts';

export { builtinDefaults, type RecipeDefaults };
export { isArchiveUrl, isSafeRelativePath, type DraftSource } from './recipe-sources.ts';

export interface RecipeDraft {
  readonly name: string;
  readonly version: string;
  readonly release: number;
  readonly summary: string;
  readonly license: string;
  readonly archs: readonly string[];
  readonly buildDepends: readonly AltGroup[];
  readonly depends: readonly AltGroup[];
  readonly provides: readonly Provide[];
  readonly sources: readonly DraftSource[];
  readonly script: string | undefined;
  readonly scriptFile: string | undefined;
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly timeoutMs: number | undefined;
  readonly silentTimeoutMs: number | undefined;
  /** [build] loop-timeout, else kiln.toml's; absent: kiln's default (0: off). */
  readonly loopTimeoutMs?: number;
  readonly skipChecks: readonly string[];
  readonly env: string | undefined;
  /** Why this package is not built (poudriere's IGNORE), when the recipe says so. */
  readonly ignore?: string;
  /** Why the package may not be redistributed (pkgsrc's RESTRICTED), when the recipe says so: built, never published or served. */
  readonly restricted?: string;
  /** `[options.NAME]`, sorted by name; absent when the recipe declares none. */
  readonly options?: readonly OptionSpec[];
  /** `[flavours.ID]`, sorted by id; absent when the recipe declares none. */
  readonly flavours?: readonly FlavourSpec[];
}

export type ParseOutcome =
  | { readonly ok: true; readonly draft: RecipeDraft }
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[]; readonly version?: string; readonly archs?: readonly string[]; readonly provides?: readonly Provide[] };

/**
 * What a recipe's version breaks beyond dpkg's hard errors (versionProblem): dpkg only
 * warns that an upstream version should start with a digit, but dpkg-deb refuses to build
 * one that does not, and Debian policy allows ':' only after the epoch. Undefined when
 * `v` is `[N:]D[A-Za-z0-9.+~-]*` (D a digit).
 */
export function recipeVersionProblem(v: string): string | undefined {
  if (/\s/.test(v)) return 'version string has embedded spaces';
  const upstream = /^\d+:/.test(v) ? v.slice(v.indexOf(':') + 1) : v;
  if (upstream.includes(':')) return '":" may appear only once, after the epoch (N:)';
  if (!/^[0-9]/.test(upstream)) return 'the upstream version must start with a digit (deb-version(7)), e.g. 1.0';
  return undefined;
}

/** The line of recipe.toml each diagnostic of parseRecipe is about, when known (see recipeDiagnosticLine). */
const diagnosticLines = new WeakMap<Diagnostic, number>();

/**
 * The line (a fraction: just after that line, for a key not written) of recipe.toml a
 * diagnostic of parseRecipe is about, for listing it in file order with the checks made
 * after parsing (scan-tree.ts). For an unknown key, the key's own line, not its table's.
 */
export function recipeDiagnosticLine(d: Diagnostic): number | undefined {
  return diagnosticLines.get(d);
}

export function parseRecipe(
  text: string,
  options: { file: string; folderName: string; defaults?: RecipeDefaults },
): ParseOutcome {
  const { file, folderName } = options;
  const defaults = options.defaults ?? builtinDefaults;
  const diags: Diagnostic[] = [];
  // Where each problem is written (`at`: the key to look for, when not the one named), to list them in file order.
  const lines = diagnosticLines;
  // Scanned only for a recipe with a problem (a tree of valid ones is not slowed), and not for a TOML syntax error.
  let scanned: ReturnType<typeof keyLines> | undefined;
  let tomlOk = false;
  const written = (): ReturnType<typeof keyLines> | undefined => (tomlOk ? (scanned ??= keyLines(text)) : undefined);
  const add = (key: string | undefined, message: string, at = key): void => {
    const d: Diagnostic = key === undefined || key === '' ? { file, message } : { file, key, message };
    diags.push(d);
    const where = at === undefined || at === '' ? undefined : written();
    const line = where === undefined ? undefined : lineOfKey(where, at!);
    if (line !== undefined) lines.set(d, line);
  };

  let doc: unknown;
  try {
    doc = parseToml(text);
  } catch (e) {
    add(undefined, tomlProblem(e, text));
    return { ok: false, diagnostics: diags };
  }
  tomlOk = true;

  const parsed = recipeSchema.safeParse(doc);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      // A recipe cannot pick its env (a run builds each arch in one env): say where it goes.
      const envKey = issue.code === 'unrecognized_keys' && issue.path.length === 0 && issue.keys.includes('env');
      if (envKey) add('env', 'a recipe cannot choose its build environment: set env in the tree\'s kiln.toml, or pass --env, for the whole run');
      const rest = envKey ? { ...issue, keys: issue.keys.filter((k) => k !== 'env') } : issue;
      if (rest.code === 'unrecognized_keys' && rest.keys.length === 0) continue;
      const key = keyPath(rest.path);
      // One line per unknown key, at its own line, with its own "did you mean".
      if (rest.code === 'unrecognized_keys') {
        for (const k of rest.keys) add(key, describeIssue({ ...rest, keys: [k] }, valueAt(doc, rest.path), recipeKeysAt(rest.path)), keyPath([...rest.path, k]));
        continue;
      }
      add(key, describeIssue(rest, valueAt(doc, rest.path), [], written()?.get(key)?.written));
    }
  }
  // Keep checking what can be checked even when the shape is off, so the user sees
  // every problem in one go.
  const raw = (parsed.success ? parsed.data : doc) as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

  const name = str(raw['name']);
  if (name !== undefined) {
    if (!NAME_RE.test(name)) {
      add('name', `${JSON.stringify(name)} is not a valid package name (lowercase letters, digits and + . -, starting with a letter or digit)`);
    } else if (name !== folderName) {
      add('name', `"${name}" does not match its folder ${JSON.stringify(folderName)}: rename one so they are equal`);
    } else {
      const long = nameLengthProblem(name);
      if (long !== undefined) add('name', `the package name (its folder's name) ${long}: rename the folder and the name`);
    }
  }

  const version = str(raw['version']);
  if (version !== undefined && version !== '') {
    const problem = versionProblem(version) ?? recipeVersionProblem(version);
    if (problem !== undefined) add('version', `"${version}" is not a valid version: ${problem}`);
  }

  const ignore = str(raw['ignore']);
  if (ignore !== undefined && (ignore.trim() === '' || /[\r\n]/.test(ignore))) add('ignore', 'must say in one line why the package is not built (e.g. "needs a GPU to build"), or be removed');
  const restricted = str(raw['restricted']);
  if (restricted !== undefined && (restricted.trim() === '' || /[\r\n]/.test(restricted))) add('restricted', 'must say in one line why the package may not be redistributed (e.g. "license forbids redistribution"), or be removed');
  // summary and license: the schema says they are strings; here, that they say something.
  const summary = str(raw['summary']);
  if (summary !== undefined) {
    if (summary.trim() === '') add('summary', 'must not be empty: one line saying what the package is');
    else if (/[\r\n]/.test(summary)) add('summary', 'must be one line (it holds a line break): a short description of what the package is');
  }
  const license = str(raw['license']);
  if (license !== undefined && license.trim() === '') add('license', 'must not be empty: name the license, e.g. "MIT" or an SPDX expression such as "GPL-2.0-or-later"');

  const relField = (key: string, v: unknown = raw[key]): AltGroup[] => {
    if (!Array.isArray(v)) return [];
    const groups: AltGroup[] = [];
    v.forEach((item, i) => {
      if (typeof item !== 'string') return;
      if (item.trim() === '') {
        add(`${key}[${i}]`, 'is empty: name a package (e.g. "zlib" or "zlib (>= 1.2)"), or remove the item');
        return;
      }
      const r = parseRelations(item);
      for (const err of r.errors) add(`${key}[${i}]`, err);
      if (r.groups.length > 1) add(`${key}[${i}]`, `"${item}" holds several relations: give each its own array item`);
      // What the Debian syntax lets through but a recipe must not: arch names dpkg does not
      // know (the relation would silently never apply), and versions dpkg-deb refuses.
      for (const rel of r.groups.flat()) {
        for (const p of relationArchProblems(rel)) add(`${key}[${i}]`, `${JSON.stringify(item)}: ${p}`);
        const v = rel.constraint?.version;
        const problem = v === undefined ? undefined : recipeVersionProblem(v);
        if (problem !== undefined) add(`${key}[${i}]`, `${JSON.stringify(item)}: invalid version "${v}": ${problem}`);
      }
      groups.push(...r.groups);
    });
    return groups;
  };
  const buildDepends = relField('build-depends');
  const depends = relField('depends');
  const declared = optionsOf(raw['options'], add, relField);
  // Every option the recipe declares, even one whose value is wrong (said once, at the option).
  const optionTable = raw['options'];
  const optionNames = optionTable !== null && typeof optionTable === 'object' && !Array.isArray(optionTable) ? Object.keys(optionTable).sort() : [];
  const flavours = flavoursOf(raw['flavours'], { name: typeof raw['name'] === 'string' ? raw['name'] : undefined, options: optionNames }, add);
  const provides: Provide[] = [];
  if (Array.isArray(raw['provides'])) {
    raw['provides'].forEach((item, i) => {
      if (typeof item !== 'string') return;
      if (item.trim() === '') {
        add(`provides[${i}]`, 'is empty: name a package this one answers to, or remove the item');
        return;
      }
      const r = parseProvides(item);
      for (const err of r.errors) add(`provides[${i}]`, err);
      // The version a package provides is one a relation compares against: a recipe's own version rules.
      for (const p of r.provides) {
        const problem = p.version === undefined ? undefined : recipeVersionProblem(p.version);
        if (problem !== undefined) add(`provides[${i}]`, `${JSON.stringify(item)}: invalid version "${p.version}": ${problem}`);
      }
      provides.push(...r.provides);
    });
  }

  const archs = Array.isArray(raw['archs']) ? raw['archs'].filter((a): a is string => typeof a === 'string') : ['any'];
  archs.forEach((a, i) => {
    // A name dpkg does not know would silently match no target arch: the package would
    // drop out of every plan.
    if (a !== 'any' && a !== 'all' && !isDebianArch(a)) {
      add(`archs[${i}]`, `"${a}" is not a Debian architecture name${didYouMeanArch(a)}: use "any", "all", or names of dpkg-architecture -L such as amd64, arm64`);
    }
  });
  if ((archs.includes('all') || archs.includes('any')) && archs.length > 1) {
    add('archs', `"any" and "all" stand alone: use ["any"], ["all"] or a list of arch names`);
  }

  const sources = sourcesOf(raw['sources'], folderName, add);

  const build = (raw['build'] ?? {}) as Record<string, unknown>;
  // A recipe.toml saved with CRLF line ends keeps them in a multi-line string (TOML lets a
  // parser normalise them): bash would read each \r as part of a command (`mkdir x\r`).
  // Only then: a `\r\n` written as escapes in a recipe saved with LF is meant.
  const rawScript = str(build['script']);
  const script = rawScript !== undefined && text.includes('\r\n') ? rawScript.replace(/\r\n/g, '\n') : rawScript;
  const scriptFile = str(build['script-file']);
  if (script === undefined && scriptFile === undefined && raw['build'] !== undefined) {
    add('build', 'needs "script" or "script-file"', 'build.script'); // said after the table's last line: the key is missing
  }
  if (script !== undefined && scriptFile !== undefined) add('build', 'has both "script" and "script-file": keep one');
  if (script !== undefined && script.trim() === '') add('build.script', 'is empty: write the build commands (e.g. "make install DESTDIR=$DESTDIR"), or use "true" for a package with no files');
  if (scriptFile !== undefined && !isSafeRelativePath(scriptFile)) {
    add('build.script-file', `"${scriptFile}" must be a file inside the recipe folder (relative, without "..")`);
  }
  const cpus = typeof build['cpus'] === 'number' ? build['cpus'] : defaults.cpus;
  let memoryBytes = defaults.memoryBytes;
  const memory = build['memory'];
  // The schema catches a number that is not a whole one above 0.
  if (typeof memory === 'string' || (typeof memory === 'number' && Number.isInteger(memory) && memory > 0)) {
    try {
      memoryBytes = memoryOf(memory);
    } catch (e) {
      add('build.memory', (e as Error).message);
    }
  }
  const duration = (key: string, fallback: number | undefined, parse = durationMs): number | undefined => {
    const v = build[key];
    if (typeof v !== 'string') return fallback;
    try {
      return parse(v);
    } catch (e) {
      add(`build.${key}`, (e as Error).message);
      return fallback;
    }
  };
  const timeoutMs = duration('timeout', defaults.timeoutMs);
  const silentTimeoutMs = duration('silent-timeout', defaults.silentTimeoutMs);
  const loopTimeoutMs = duration('loop-timeout', defaults.loopTimeoutMs, loopDurationMs);

  if (!parsed.success || diags.length > 0) {
    const ordered = inFileOrder(diags, (d) => lines.get(d));
    // A valid version is still shown for the broken package (plan, status, report).
    const goodVersion = version !== undefined && version !== '' && !diags.some((d) => d.key === 'version');
    // And its valid archs: an `all` package is one broken node, not one per target arch.
    const goodArchs = Array.isArray(raw['archs']) && !diags.some((d) => d.key === 'archs' || d.key?.startsWith('archs[') === true);
    // And its valid provides: what needs one of them hears that its provider is broken.
    const goodProvides = !diags.some((d) => d.key?.startsWith('provides') === true);
    // And the package names of its flavours: what needs one hears that it is broken, not that it is not in the tree.
    const named = [...(goodProvides ? provides : []), ...flavours.filter((f) => NAME_RE.test(f.name) && f.name !== name).map((f) => ({ name: f.name }))];
    return { ok: false, diagnostics: ordered, ...(goodVersion ? { version } : {}), ...(goodArchs ? { archs } : {}), ...(named.length > 0 ? { provides: named } : {}) };
  }
  const d = parsed.data;
  return {
    ok: true,
    draft: {
      name: d.name,
      version: d.version,
      release: d.release ?? 1,
      summary: d.summary,
      license: d.license,
      archs,
      buildDepends,
      depends,
      provides,
      sources,
      script,
      scriptFile,
      cpus,
      memoryBytes,
      timeoutMs,
      silentTimeoutMs,
      ...(loopTimeoutMs === undefined ? {} : { loopTimeoutMs }),
      skipChecks: d.build['skip-checks'] ?? [],
      ...(d.ignore === undefined ? {} : { ignore: d.ignore }),
      ...(d.restricted === undefined ? {} : { restricted: d.restricted }),
      ...(declared.length === 0 ? {} : { options: declared }),
      ...(flavours.length === 0 ? {} : { flavours }),
      env: defaults.env,
    },
  };
}
