// kiln.toml at a tree's root: defaults for every recipe, target archs, the env, its
// instance layer (extra apt sources, src/envs/instance-spec.ts), named mirrors for
// mirror://NAME/ urls, and the remote binary cache a local build asks ([substitutes]:
// cli/build.ts, execute/substitute.ts). Parsed once into a readonly TreeConfig, or
// every problem at once as diagnostics.

import { dirname, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { tomlProblem } from './toml-problem.ts';
import { z } from 'zod';
import type { Diagnostic } from '../plan/spec.ts';
import { didYouMeanArch, isDebianArch } from '../debian/arch-names.ts';
import type { SandboxChoice } from '../sandbox/choose-backend.ts';
import { instanceSchema, sourceProblems, type InstanceSpec } from '../envs/instance-spec.ts';
import { builtinDefaults, type RecipeDefaults } from '../recipes/recipe-defaults.ts';
import { emptyTreeConfig } from './load-tree-config.ts';
import { describeIssue, durationMs, keyPath, loopDurationMs, memoryBytes, SIZE_FORMS, valueAt } from '../recipes/recipe-schema.ts';
import { parseSize } from '../lib/duration.ts';
import { isEnvName } from '../envs/names.ts';
import { hasUserinfo, USERINFO_PROBLEM } from './credentials.ts';
import { globToRegExp } from '../plan/glob.ts';
import { inFileOrder, keyLines, lineOfKey } from '../recipes/toml-key-lines.ts';
import type { KilnError } from '../errors.ts';
import { parseSubstituteUrl } from '../execute/substitute-urls.ts';
import { NAME_RE } from '../recipes/recipe-schema.ts';
import { urlProblem } from '../recipes/recipe-sources.ts';
import { OPTION_NAME_RE } from '../plan/spec.ts';
import type { OptionSetting } from '../plan/options.ts';

// Reading kiln.toml (and the defaults without one) is in load-tree-config.ts, which
// imports this parser only when the file exists.

export interface TreeConfig {
  readonly file: string | undefined;
  readonly env: string | undefined;
  readonly sandbox: SandboxChoice | undefined;
  readonly archs: readonly string[] | undefined;
  readonly defaults: RecipeDefaults;
  readonly mirrors: Readonly<Record<string, string>>;
  /** `ccache = true`: builds share a compiler cache (src/execute/ccache.ts); --ccache / --no-ccache override it. */
  readonly ccache?: boolean | undefined;
  /** `ccache-size`: the size limit of each ccache directory, in bytes. */
  readonly ccacheBytes?: number | undefined;
  /** `[instance]`: extra apt sources (and packages) layered over the env's base root. */
  readonly instance?: InstanceSpec | undefined;
  /** `[hooks]`: shell commands a local `kiln build` runs when the run ends or a job fails (src/run/hooks.ts); absent without the table. */
  readonly hooks?: TreeHooks | undefined;
  /** `priority-boost`: names or globs of packages started as early as their dependencies allow (schedule/priority.ts); absent without the key. */
  readonly priorityBoost?: readonly string[] | undefined;
  /** `[substitutes]`: the kiln serve a local `kiln build` asks for artifacts before building (its flags override it); absent without the table. */
  readonly substitutes?: TreeSubstitutes | undefined;
  /** `[options]`: recipes' options turned on or off for every run of the tree (plan/options.ts), those for every package first; absent without the table. */
  readonly options?: readonly OptionSetting[] | undefined;
}

/** kiln.toml's `[substitutes]`: its paths made absolute (they are relative to kiln.toml). */
export interface TreeSubstitutes {
  /** The base URL of a kiln serve (no trailing slash), as --substitute takes it. */
  readonly url: string;
  /** The public key its meta.json must be signed with, as --substitute-key. */
  readonly key?: string | undefined;
  /** A file holding its token (read when a build starts, never the token itself here). */
  readonly tokenFile?: string | undefined;
}

/** kiln.toml's `[hooks]`: the commands of each event, in the order written. */
export interface TreeHooks {
  readonly runFinished: readonly string[];
  readonly jobFailed: readonly string[];
}

/** What a `[hooks]` list must be, said for a value the schema refuses. */
const HOOKS_PROBLEM = 'must be a list of shell commands, e.g. ["./notify.sh"] (each run with /bin/sh -c in the tree folder)';
/** What `priority-boost` must be, said for a value the schema refuses. */
const BOOST_PROBLEM = 'must be a list of package names or globs, e.g. priority-boost = ["llvm*", "rust"]';
/** What `[substitutes]` holds, said for a value the schema refuses. */
const SUBSTITUTES_KEYS = ['url', 'key', 'token-file'] as const;
/** Flags of kiln build that a kiln.toml may be given by mistake: said to be flags. */
const RUN_FLAGS: ReadonlySet<string> = new Set(['jobs', 'log-limit', 'min-free', 'job-timeout', 'loop-timeout', 'retry', 'keep-failed', 'fail-fast', 'fail-on-warnings', 'overcommit-cpus', 'profiles', 'force']);
const SUBSTITUTES_EXAMPLE = 'a [substitutes] section with url = "https://cache.example/kiln", and optionally key = "FILE" and token-file = "FILE" (relative to kiln.toml)';
const TOKEN_IN_FILE = 'the token is not written in kiln.toml (it goes wherever the tree goes): put it in a file outside version control and name it with token-file = "FILE" (relative to kiln.toml), or give it with --substitute-token or $KILN_SUBSTITUTE_TOKEN';

/**
 * What is wrong with a [mirrors] base URL that starts with http://, https:// or file://,
 * or undefined (pure): it must parse, an http(s) one with a host, a file one with none
 * (file:///PATH); a blank must be written %20. Said here, not at the first download.
 */
export function mirrorUrlProblem(u: string): string | undefined {
  if (!/^file:/i.test(u)) return urlProblem(u);
  if (/\s/.test(u)) return `${JSON.stringify(u)} holds a space or other blank: write it as %20`;
  const url = URL.parse(u);
  if (url === null) return `${JSON.stringify(u)} is not a valid URL: write it as file:///PATH`;
  return url.host === '' || url.host === 'localhost' ? undefined : `${JSON.stringify(u)} names the host "${url.host}": a file mirror is an absolute folder, file:///PATH (three slashes)`;
}

const schema = z.strictObject({
  env: z.string().min(1).optional(),
  sandbox: z.enum(['auto', 'host', 'chroot', 'rootless']).optional(),
  archs: z.array(z.string().min(1)).min(1).optional(),
  defaults: z
    .strictObject({
      cpus: z.number().int().positive().optional(),
      memory: z.union([z.string(), z.number().int().positive()]).optional(),
      timeout: z.string().optional(),
      'silent-timeout': z.string().optional(),
      'loop-timeout': z.string().optional(),
    })
    .optional(),
  mirrors: z
    .record(
      z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i),
      z
        .string()
        .regex(/^(https?|file):\/\/./)
        .refine((u) => !hasUserinfo(u), USERINFO_PROBLEM)
        .superRefine((u, ctx) => {
          const problem = /^(https?|file):\/\/./.test(u) ? mirrorUrlProblem(u) : undefined;
          if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
        }),
    )
    .optional(),
  instance: instanceSchema.optional(),
  ccache: z.boolean().optional(),
  'ccache-size': z.union([z.string(), z.number().int().positive()]).optional(),
  hooks: z
    .strictObject({
      'run-finished': z.array(z.string().trim().min(1)).optional(),
      'job-failed': z.array(z.string().trim().min(1)).optional(),
    })
    .optional(),
  'priority-boost': z.array(z.string().trim().min(1)).optional(),
  // Checked below (treeOptions), each setting with its own message.
  options: z.record(z.string(), z.unknown()).optional(),
  substitutes: z
    .strictObject({
      url: z.string(),
      key: z.string().trim().min(1).optional(),
      'token-file': z.string().trim().min(1).optional(),
    })
    .optional(),
});

/** The keys kiln.toml allows in the table at a zod issue path (for an unknown key's "did you mean"). */
function keysAt(path: readonly PropertyKey[]): string[] {
  let at: z.ZodType = schema;
  for (const p of path) {
    const inner = at instanceof z.ZodOptional ? (at.unwrap() as z.ZodType) : at;
    if (!(inner instanceof z.ZodObject)) return [];
    const next = (inner.shape as Record<string, z.ZodType | undefined>)[String(p)];
    if (next === undefined) return [];
    at = next;
  }
  const inner = at instanceof z.ZodOptional ? (at.unwrap() as z.ZodType) : at;
  return inner instanceof z.ZodObject ? Object.keys(inner.shape as object) : [];
}

/**
 * The well-formed part of a value its schema refuses, or undefined. A table (such as
 * [defaults]) keeps each of its keys that is well-formed on its own, so `cpus = 0`
 * does not hide the checks of `memory` or `timeout`; the kept part must still pass the
 * table's schema (a table missing a required key is dropped whole).
 */
function salvage(sub: z.ZodType, value: unknown): unknown {
  const whole = sub.safeParse(value);
  if (whole.success) return whole.data;
  const inner = sub instanceof z.ZodOptional ? (sub.unwrap() as z.ZodType) : sub;
  if (!(inner instanceof z.ZodObject) || value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const kept: Record<string, unknown> = {};
  for (const [k, field] of Object.entries(inner.shape as Record<string, z.ZodType>)) {
    const r = field.safeParse((value as Record<string, unknown>)[k]);
    if (r.success && r.data !== undefined) kept[k] = r.data;
  }
  const again = inner.safeParse(kept);
  return again.success ? again.data : undefined;
}

export function parseTreeConfig(text: string, file: string): { config: TreeConfig; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const empty = emptyTreeConfig(file);
  let doc: unknown;
  try {
    doc = parseToml(text);
  } catch (e) {
    diagnostics.push({ file, message: tomlProblem(e, text) });
    return { config: empty, diagnostics };
  }
  const parsed = schema.safeParse(doc);
  /** Where a diagnostic belongs in the file, when not at its own key (see inFile below). */
  const placedAt = new Map<Diagnostic, string>();
  let d: z.infer<typeof schema>;
  if (parsed.success) d = parsed.data;
  else {
    for (const issue of parsed.error.issues) {
      const key = keyPath(issue.path);
      const message =
        issue.code === 'invalid_type' && key === 'mirrors'
          ? `must be a table of NAME = "URL" (a [mirrors] section with lines such as debian = "http://HOST/debian"), got ${JSON.stringify(valueAt(doc, issue.path))}`
          : issue.code === 'invalid_format' && key.startsWith('mirrors')
          ? 'a mirror is a base URL starting with http://, https:// or file://'
          : issue.code === 'invalid_key' && key.startsWith('mirrors')
            ? `${JSON.stringify(String(issue.path.at(-1)))} is not a mirror name: use letters, digits, _ and -, starting with a letter or digit`
            : key === 'hooks' && issue.code === 'invalid_type'
              ? `must be a table: a [hooks] section with run-finished = ["CMD", ...] and job-failed = ["CMD", ...], got ${JSON.stringify(valueAt(doc, issue.path))}`
              : key === 'hooks' && issue.code === 'unrecognized_keys'
                ? `${describeIssue(issue, valueAt(doc, issue.path), ['run-finished', 'job-failed'])}: the events are run-finished and job-failed`
                : key.startsWith('hooks.') && issue.code !== 'unrecognized_keys'
                  ? `${issue.path.length > 2 ? 'each hook is a shell command: a non-empty string such as "./notify.sh"' : HOOKS_PROBLEM}, got ${JSON.stringify(valueAt(doc, issue.path))}`
                  : key.startsWith('priority-boost') && issue.code !== 'unrecognized_keys'
                    ? `${issue.path.length > 1 ? 'each is a package name or glob: a non-empty string such as "llvm*"' : BOOST_PROBLEM}, got ${JSON.stringify(valueAt(doc, issue.path))}`
                    : key === 'substitutes' && issue.code === 'invalid_type'
                      ? `must be a table: ${SUBSTITUTES_EXAMPLE}, got ${JSON.stringify(valueAt(doc, issue.path))}`
                      : key === 'substitutes' && issue.code === 'unrecognized_keys'
                        ? (issue.keys.includes('token') ? TOKEN_IN_FILE : `${describeIssue(issue, valueAt(doc, issue.path), SUBSTITUTES_KEYS)}: [substitutes] holds url, key and token-file`)
                        : key === 'substitutes.url' && issue.code === 'invalid_type'
                          ? `${valueAt(doc, issue.path) === undefined ? 'missing' : `expected a string, got ${JSON.stringify(valueAt(doc, issue.path))}`}: the base URL of the kiln serve whose cache to use, e.g. url = "https://cache.example/kiln"`
                          : key.startsWith('substitutes.') && issue.code !== 'unrecognized_keys'
                            ? `must be the path of a file, relative to kiln.toml (e.g. ${key.slice('substitutes.'.length)} = "${key.endsWith('key') ? 'keys/cache.asc' : 'secrets/token'}"), got ${JSON.stringify(valueAt(doc, issue.path))}`
                            : key === '' && issue.code === 'unrecognized_keys' && issue.keys.some((k) => RUN_FLAGS.has(k))
                              ? `${describeIssue(issue, valueAt(doc, issue.path), keysAt(issue.path))}: ${issue.keys.filter((k) => RUN_FLAGS.has(k)).map((k) => `--${k}`).join(', ')} ${issue.keys.filter((k) => RUN_FLAGS.has(k)).length === 1 ? 'is a flag' : 'are flags'} of kiln build, not kiln.toml keys (a CI script or an alias gives them every run)`
                              : describeIssue(issue, valueAt(doc, issue.path), issue.code === 'unrecognized_keys' ? keysAt(issue.path) : []);
      const diagnostic: Diagnostic = key === '' ? { file, message } : { file, key, message };
      diagnostics.push(diagnostic);
      // An unknown key is said where it is written, not where its table is.
      if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) placedAt.set(diagnostic, keyPath([...issue.path, issue.keys[0]!]));
    }
    // Every problem at once: the checks below still run on each top-level key that is
    // well-formed on its own (a bad mirror does not hide a bad arch name or size).
    const top = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : {};
    const partial: Record<string, unknown> = {};
    for (const [k, sub] of Object.entries(schema.shape)) {
      const r = salvage(sub as z.ZodType, top[k]);
      if (r !== undefined) partial[k] = r;
    }
    d = partial as z.infer<typeof schema>;
  }
  const defaults = { ...builtinDefaults } as { -readonly [K in keyof RecipeDefaults]: RecipeDefaults[K] };
  const dd = d.defaults ?? {};
  if (dd.cpus !== undefined) defaults.cpus = dd.cpus;
  const attempt = (key: string, f: () => void): void => {
    try {
      f();
    } catch (e) {
      diagnostics.push({ file, key, message: (e as Error).message });
    }
  };
  // The same rules and messages as a recipe's [build]: "0M" or "0s" parse, but a build with
  // no memory or no time cannot run.
  if (dd.memory !== undefined) {
    const m = dd.memory;
    attempt('defaults.memory', () => (defaults.memoryBytes = memoryBytes(m)));
  }
  if (dd.timeout !== undefined) attempt('defaults.timeout', () => (defaults.timeoutMs = durationMs(dd.timeout!)));
  if (dd['silent-timeout'] !== undefined) {
    const t = dd['silent-timeout'];
    attempt('defaults.silent-timeout', () => (defaults.silentTimeoutMs = durationMs(t)));
  }
  if (dd['loop-timeout'] !== undefined) {
    const t = dd['loop-timeout'];
    attempt('defaults.loop-timeout', () => (defaults.loopTimeoutMs = loopDurationMs(t)));
  }
  // env names an env, or a template of one with {arch}; another name would fail the run later as a usage error naming neither file nor key.
  if (d.env !== undefined && !isEnvName(d.env.replaceAll('{arch}', 'amd64'))) {
    diagnostics.push({ file, key: 'env', message: `${JSON.stringify(d.env)} is not an env name: use lower-case letters, digits, ".", "_" and "-", starting with a letter or digit, at most 64 characters, with {arch} standing for each target arch (e.g. "bookworm-{arch}")` });
  }
  defaults.env = d.env;
  // A run's target archs: a name dpkg does not know would plan nothing and exit 0.
  // The items of a list that failed as a whole (an empty item) are checked too: every problem at once.
  const rawArchs = (doc as { archs?: unknown } | null)?.archs;
  const archItems: readonly unknown[] | undefined = d.archs ?? (Array.isArray(rawArchs) ? rawArchs : undefined);
  archItems?.forEach((a, i) => {
    if (typeof a !== 'string' || a === '') return;
    if (a === 'any' || a === 'all') diagnostics.push({ file, key: `archs[${i}]`, message: `"${a}" is for a recipe's archs: here name the arches a run builds for, e.g. ["amd64", "arm64"]` });
    else if (!isDebianArch(a)) diagnostics.push({ file, key: `archs[${i}]`, message: `"${a}" is not a Debian architecture name${didYouMeanArch(a)}: use names of dpkg-architecture -L such as amd64, arm64, riscv64` });
  });
  const archs = d.archs === undefined ? undefined : [...new Set(d.archs)];
  let ccacheBytes: number | undefined;
  const size = d['ccache-size'];
  if (size !== undefined) attempt('ccache-size', () => (ccacheBytes = ccacheSize(size)));
  const cc = { ...(d.ccache === undefined ? {} : { ccache: d.ccache }), ...(ccacheBytes === undefined ? {} : { ccacheBytes }) };
  const mirrors: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.mirrors ?? {})) mirrors[k] = v.replace(/\/+$/, '');
  let instance: InstanceSpec | undefined;
  if (d.instance !== undefined) {
    const i = d.instance;
    instance = {
      name: i.name,
      packages: i.packages,
      debianLists: i['debian-lists'],
      ...(i.refresh === 'every-run' ? { refresh: 'every-run' as const } : {}),
      sources: i.sources.map((x) => ({
        uri: x.uri, suite: x.suite, components: x.components, trusted: x.trusted ?? false,
        ...(x['signed-by'] === undefined ? {} : { signedBy: resolve(dirname(file), x['signed-by']) }),
      })),
    };
    for (const problem of sourceProblems(instance)) {
      const [where, ...rest] = problem.split(': ');
      diagnostics.push({ file, key: `instance.${where}`, message: rest.join(': ') });
    }
    const envFlagged = !parsed.success && parsed.error.issues.some((i) => i.path[0] === 'env');
    if (d.env === undefined && !envFlagged) diagnostics.push({ file, key: 'instance', message: 'an instance layer is made over an env: set env = "…" too' });
  }
  const hooks: TreeHooks | undefined = d.hooks === undefined ? undefined : { runFinished: d.hooks['run-finished'] ?? [], jobFailed: d.hooks['job-failed'] ?? [] };
  // A glob that cannot match (a reversed range) is said here, not when a run starts.
  d['priority-boost']?.forEach((g, i) => {
    try {
      globToRegExp(g);
    } catch (e) {
      diagnostics.push({ file, key: `priority-boost[${i}]`, message: `${(e as Error).message}: ${(e as KilnError).hint}` });
    }
  });
  const boost = d['priority-boost'] === undefined ? {} : { priorityBoost: d['priority-boost'] };
  let substitutes: TreeSubstitutes | undefined;
  if (d.substitutes !== undefined) {
    const sub = d.substitutes;
    const url = substituteUrlOf(sub.url);
    if (typeof url !== 'string') diagnostics.push({ file, key: 'substitutes.url', message: url.problem });
    else substitutes = { url, ...(sub.key === undefined ? {} : { key: resolve(dirname(file), sub.key) }), ...(sub['token-file'] === undefined ? {} : { tokenFile: resolve(dirname(file), sub['token-file']) }) };
  }
  const options = d.options === undefined ? undefined : treeOptions(d.options, file, diagnostics);
  if (!parsed.success) return { config: empty, diagnostics: inFile(diagnostics) };
  return { config: { file, env: d.env, sandbox: d.sandbox, archs, defaults, mirrors, ...(instance === undefined ? {} : { instance }), ...cc, ...(hooks === undefined ? {} : { hooks }), ...boost, ...(substitutes === undefined ? {} : { substitutes }), ...(options === undefined ? {} : { options }) }, diagnostics: inFile(diagnostics) };

  /** The problems in the order of the file's lines (as a recipe's are), those of no line last. */
  function inFile(found: Diagnostic[]): Diagnostic[] {
    if (found.length < 2) return found;
    const lines = keyLines(text);
    return inFileOrder(found, (x) => {
      const key = placedAt.get(x) ?? x.key;
      return key === undefined ? undefined : lineOfKey(lines, key);
    });
  }
}

/**
 * kiln.toml's `[options]`: `NAME = true|false` for every package that declares the option,
 * `[options.PKG]` tables of `NAME = true|false` for one package. Settings for every package
 * come first, so that one package's own wins (applyOptions: a later setting wins).
 */
function treeOptions(table: Record<string, unknown>, file: string, diagnostics: Diagnostic[]): OptionSetting[] {
  const all: OptionSetting[] = [];
  const one: OptionSetting[] = [];
  const nameProblem = (name: string): string => `${JSON.stringify(name)} is not an option name: use lowercase letters, digits and -, starting with a letter`;
  for (const [k, v] of Object.entries(table)) {
    if (typeof v === 'boolean') {
      if (OPTION_NAME_RE.test(k)) all.push({ name: k, on: v, from: `${file}: options.${k}` });
      else diagnostics.push({ file, key: `options.${k}`, message: nameProblem(k) });
    } else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      if (!NAME_RE.test(k)) diagnostics.push({ file, key: `options.${k}`, message: `${JSON.stringify(k)} is not a package name: an [options.PKG] table names a package of the tree` });
      for (const [name, on] of Object.entries(v as Record<string, unknown>)) {
        const key = `options.${k}.${name}`;
        if (!OPTION_NAME_RE.test(name)) diagnostics.push({ file, key, message: nameProblem(name) });
        else if (typeof on !== 'boolean') diagnostics.push({ file, key, message: `expected true or false (the option on or off for ${k}), got ${JSON.stringify(on)}` });
        else if (NAME_RE.test(k)) one.push({ pkg: k, name, on, from: `${file}: ${key}` });
      }
    } else {
      diagnostics.push({ file, key: `options.${k}`, message: `expected true or false (the option on or off for every package that has it) or a table ([options.PKG] with NAME = true|false), got ${JSON.stringify(v)}` });
    }
  }
  return [...all, ...one];
}

/** `[substitutes]` url: as --substitute takes it (parseSubstituteUrl), or what is wrong with it, said for kiln.toml. */
function substituteUrlOf(text: string): string | { problem: string } {
  const example = 'give the base URL of the kiln serve whose cache to use, e.g. url = "https://cache.example/kiln"';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { problem: `${JSON.stringify(text)} is not a URL: ${example}` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { problem: `${JSON.stringify(text)}: only http:// and https:// URLs are served by kiln serve: ${example}` };
  // (The URL is not repeated: it holds a password.)
  if (url.username !== '' || url.password !== '') return { problem: 'the URL holds a user name or password, which kiln would print in its notes and which would go wherever the tree goes: put the token in a file named by token-file = "FILE" instead' };
  if (url.search !== '' || url.hash !== '') return { problem: `${JSON.stringify(text)}: a query or fragment has no place in a substituter's URL: ${example}` };
  return parseSubstituteUrl(text);
}

/** `ccache-size`: a size with K, M, G or T (powers of 1024), at least 1M. */
function ccacheSize(v: string | number): number {
  let n = NaN;
  try {
    n = parseSize(v);
  } catch {
    // said below
  }
  if (!(Number.isSafeInteger(n) && n >= 1024 ** 2)) throw new Error(`${JSON.stringify(v)} is not a size of 1M or more: ${SIZE_FORMS} (ccache's own default is "5G")`);
  return n;
}
