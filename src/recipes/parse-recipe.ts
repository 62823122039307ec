// Parse one recipe.toml into a validated draft, or every problem at once. Pure: the
// caller (scan-tree.ts) reads the files and hashes what the recipe references.

import { parse as parseToml } from 'smol-toml';
import { tomlErrorText } from '../lib/toml-error.ts';
import { posix } from 'node:path';
import type { AltGroup, Provide } from '../debian/relation-types.ts';
import { parseProvides, parseRelations } from '../debian/relation.ts';
import { isDebianArch, didYouMeanArch } from '../debian/arch-names.ts';
import { versionProblem } from '../debian/version.ts';
import { parseDuration, parseSize } from '../lib/duration.ts';
import type { Diagnostic } from '../plan/spec.ts';
import { NAME_RE, describeIssue, keyPath, recipeKeysAt, recipeSchema, valueAt } from './recipe-schema.ts';

import { builtinDefaults, type RecipeDefaults } from './recipe-defaults.ts';
import { hasUserinfo, USERINFO_PROBLEM } from '../config/credentials.ts';

export { builtinDefaults, type RecipeDefaults };

export interface DraftSource {
  readonly url: string;
  readonly sha256: string | undefined;
  readonly dest: string;
  readonly strip: number;
  /** For file: urls, the path relative to the recipe folder. */
  readonly localPath: string | undefined;
}

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
  readonly skipChecks: readonly string[];
  readonly env: string | undefined;
}

export type ParseOutcome =
  | { readonly ok: true; readonly draft: RecipeDraft }
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[]; readonly version?: string; readonly archs?: readonly string[]; readonly provides?: readonly Provide[] };

const ARCHIVE_RE = /\.(tar|tar\.gz|tgz|tar\.xz|txz|tar\.bz2|tbz2?|tar\.zst|tzst|tar\.lz|tar\.lzma)$/;
const SHA256_RE = /^[0-9a-f]{64}$/;

export function isArchiveUrl(url: string): boolean {
  return ARCHIVE_RE.test(url.replace(/[?#].*$/, ''));
}

/** A relative path that stays inside its base: no absolute path, no `..`, no NUL. */
export function isSafeRelativePath(p: string): boolean {
  if (p.includes('\0') || p.startsWith('/') || p.startsWith('\\')) return false;
  const norm = posix.normalize(p);
  return norm !== '..' && !norm.startsWith('../') && !norm.split('/').includes('..');
}

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

export function parseRecipe(
  text: string,
  options: { file: string; folderName: string; defaults?: RecipeDefaults },
): ParseOutcome {
  const { file, folderName } = options;
  const defaults = options.defaults ?? builtinDefaults;
  const diags: Diagnostic[] = [];
  const add = (key: string | undefined, message: string): void => {
    diags.push(key === undefined || key === '' ? { file, message } : { file, key, message });
  };

  let doc: unknown;
  try {
    doc = parseToml(text);
  } catch (e) {
    add(undefined, tomlErrorText(e));
    return { ok: false, diagnostics: diags };
  }

  const parsed = recipeSchema.safeParse(doc);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      // A recipe cannot pick its env (a run builds each arch in one env): say where it goes.
      const envKey = issue.code === 'unrecognized_keys' && issue.path.length === 0 && issue.keys.includes('env');
      if (envKey) add('env', 'a recipe cannot choose its build environment: set env in the tree\'s kiln.toml, or pass --env, for the whole run');
      const rest = envKey ? { ...issue, keys: issue.keys.filter((k) => k !== 'env') } : issue;
      if (rest.code === 'unrecognized_keys' && rest.keys.length === 0) continue;
      add(keyPath(rest.path), describeIssue(rest, valueAt(doc, rest.path), rest.code === 'unrecognized_keys' ? recipeKeysAt(rest.path) : []));
    }
  }
  // Keep checking what can be checked even when the shape is off, so the user sees
  // every problem in one go.
  const raw = (parsed.success ? parsed.data : doc) as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

  const name = str(raw['name']);
  if (name !== undefined) {
    if (!NAME_RE.test(name)) {
      add('name', `"${name}" is not a valid package name (lowercase letters, digits and + . -, starting with a letter or digit)`);
    } else if (name !== folderName) {
      add('name', `"${name}" does not match its folder "${folderName}": rename one so they are equal`);
    }
  }

  const version = str(raw['version']);
  if (version !== undefined && version !== '') {
    const problem = versionProblem(version) ?? recipeVersionProblem(version);
    if (problem !== undefined) add('version', `"${version}" is not a valid version: ${problem}`);
  }

  const relField = (key: string): AltGroup[] => {
    const v = raw[key];
    if (!Array.isArray(v)) return [];
    const groups: AltGroup[] = [];
    v.forEach((item, i) => {
      if (typeof item !== 'string') return;
      const r = parseRelations(item);
      for (const err of r.errors) add(`${key}[${i}]`, err);
      if (r.groups.length > 1) add(`${key}[${i}]`, `"${item}" holds several relations: give each its own array item`);
      groups.push(...r.groups);
    });
    return groups;
  };
  const buildDepends = relField('build-depends');
  const depends = relField('depends');
  const provides: Provide[] = [];
  if (Array.isArray(raw['provides'])) {
    raw['provides'].forEach((item, i) => {
      if (typeof item !== 'string') return;
      const r = parseProvides(item);
      for (const err of r.errors) add(`provides[${i}]`, err);
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

  const sources: DraftSource[] = [];
  if (Array.isArray(raw['sources'])) {
    raw['sources'].forEach((s, i) => {
      if (s === null || typeof s !== 'object') return;
      const src = s as Record<string, unknown>;
      const url = str(src['url']);
      const sha = str(src['sha256']);
      const dest = str(src['dest']) ?? '';
      const k = `sources[${i}]`;
      if (dest !== '' && !isSafeRelativePath(dest)) add(`${k}.dest`, `"${dest}" leaves $SRCDIR: use a relative path without ".."`);
      if (sha !== undefined && !SHA256_RE.test(sha)) add(`${k}.sha256`, `"${sha}" is not a sha256 (64 lowercase hex digits)`);
      if (url === undefined) return;
      let localPath: string | undefined;
      if (url.startsWith('file:')) {
        localPath = url.slice('file:'.length);
        if (localPath === '' || !isSafeRelativePath(localPath)) {
          add(`${k}.url`, `"${url}" must name a file inside the recipe folder (file:NAME, relative, without "..")`);
          localPath = undefined;
        }
      } else if (/^(https?|mirror):\/\//.test(url)) {
        if (url.startsWith('mirror://') && !/^mirror:\/\/[a-z0-9][a-z0-9_-]*\/./i.test(url)) {
          add(`${k}.url`, `"${url}" must look like mirror://NAME/path`);
        }
        if (sha === undefined) add(`${k}.sha256`, `missing: every ${url.split(':')[0]}: source needs its sha256`);
        if (hasUserinfo(url)) add(`${k}.url`, USERINFO_PROBLEM);
      } else {
        add(`${k}.url`, `"${url}" has an unsupported scheme: use file:, https://, http:// or mirror://NAME/`);
      }
      const strip = typeof src['strip'] === 'number' ? src['strip'] : isArchiveUrl(url) ? 1 : 0;
      sources.push({ url, sha256: sha, dest, strip, localPath });
    });
  }

  const build = (raw['build'] ?? {}) as Record<string, unknown>;
  const script = str(build['script']);
  const scriptFile = str(build['script-file']);
  if (script === undefined && scriptFile === undefined && raw['build'] !== undefined) {
    add('build', 'needs "script" or "script-file"');
  }
  if (script !== undefined && scriptFile !== undefined) add('build', 'has both "script" and "script-file": keep one');
  if (scriptFile !== undefined && !isSafeRelativePath(scriptFile)) {
    add('build.script-file', `"${scriptFile}" must be a file inside the recipe folder (relative, without "..")`);
  }
  const cpus = typeof build['cpus'] === 'number' ? build['cpus'] : defaults.cpus;
  let memoryBytes = defaults.memoryBytes;
  if (typeof build['memory'] === 'string' || typeof build['memory'] === 'number') {
    try {
      memoryBytes = typeof build['memory'] === 'number' ? build['memory'] : parseSize(build['memory']);
      // The schema catches a number 0; "0M" parses, but no build runs in no memory.
      if (typeof build['memory'] === 'string' && memoryBytes <= 0) add('build.memory', `must be greater than 0, got ${JSON.stringify(build['memory'])}`);
    } catch (e) {
      add('build.memory', (e as Error).message);
    }
  }
  const duration = (key: string, fallback: number | undefined): number | undefined => {
    const v = build[key];
    if (typeof v !== 'string') return fallback;
    try {
      const ms = parseDuration(v);
      // "0s" would kill every build at once.
      if (ms <= 0) add(`build.${key}`, `must be greater than 0, got ${JSON.stringify(v)}`);
      return ms;
    } catch (e) {
      add(`build.${key}`, (e as Error).message);
      return fallback;
    }
  };
  const timeoutMs = duration('timeout', defaults.timeoutMs);
  const silentTimeoutMs = duration('silent-timeout', defaults.silentTimeoutMs);

  if (!parsed.success || diags.length > 0) {
    // A valid version is still shown for the broken package (plan, status, report).
    const goodVersion = version !== undefined && version !== '' && !diags.some((d) => d.key === 'version');
    // And its valid archs: an `all` package is one broken node, not one per target arch.
    const goodArchs = Array.isArray(raw['archs']) && !diags.some((d) => d.key === 'archs' || d.key?.startsWith('archs[') === true);
    // And its valid provides: what needs one of them hears that its provider is broken.
    const goodProvides = provides.length > 0 && !diags.some((d) => d.key?.startsWith('provides') === true);
    return { ok: false, diagnostics: diags, ...(goodVersion ? { version } : {}), ...(goodArchs ? { archs } : {}), ...(goodProvides ? { provides } : {}) };
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
      skipChecks: d.build['skip-checks'] ?? [],
      env: defaults.env,
    },
  };
}
