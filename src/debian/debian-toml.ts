// debian.toml: a tree's list of Debian source packages to build (beside, or instead of,
// kiln recipes). Every problem is reported at once as FILE: KEY: message.
//
//   suite = "bookworm"
//   archs = ["amd64", "riscv64"]          # optional; default: --arch, kiln.toml, the host's
//   mirror = "http://…/debian"            # optional; default: the host's apt sources
//   keyring = "keys/archive.gpg"          # optional, relative to the file: what signs the mirror's InRelease (default: Debian's archive keyring)
//   check-valid-until = true              # optional: false takes a Release past its Valid-Until (a snapshot mirror)
//   components = ["main", "contrib"]      # optional; default main: sources looked up in order, binaries of all
//   sources = ["hello", "zlib=1:1.2.13.dfsg-1"]
//   dscs = ["local/foo_1.0-1.dsc"]        # relative to the file; files beside each .dsc
//   profiles = ["nocheck"]                # optional build profiles
//   nocheck = false                       # optional: DEB_BUILD_OPTIONS=nocheck
//   try-install = false                   # optional: each built .deb installed into a fresh root, then purged
//   autopkgtest = false                   # optional: the source's tests (debian/tests/control) run by autopkgtest in a fresh root
//   cross = false                         # optional: cross-build the archs other than this machine's (cross.ts)
//   binnmu = 1                            # optional: binary packages versioned VERSION+b1 ("auto": the next N for each rebuild)
//   cpus = 2                              # optional: parallel=N and the scheduler's reservation
//   memory = "2G"                         # optional reservation / limit
//   timeout = "2h"                        # optional
//   loop-timeout = "1h"                   # optional: the loop watchdog's limit ("0": off; logs/loop-watch.ts)
//   extra-repositories = ["deb http://…/debian bookworm-updates main"]   # optional, as --extra-repository
//   extra-repository-keys = ["keys/repo.asc"]                            # optional, relative to the file
//   extra-packages = ["debs/libfoo_1.2-1_amd64.deb", "debs/more"]        # optional, as --extra-package: .debs or folders of them, relative to the file

import { KilnError } from '../errors.ts';
import { readTomlFile } from '../config/read-toml-file.ts';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { tomlErrorText } from '../lib/toml-error.ts';
import { z } from 'zod';
import { parseDuration, parseSize } from '../lib/duration.ts';
import type { Diagnostic } from '../plan/spec.ts';
import { closestName } from './closest-name.ts';
import { describeIssue, keyPath, valueAt } from '../recipes/recipe-schema.ts';
import { hasUserinfo, USERINFO_PROBLEM } from '../config/credentials.ts';
import { parseExtraRepository, type ExtraRepository } from './extra-repo-line.ts';
import { COMPONENT_NAME } from './components.ts';

export { DEBIAN_FILE } from './debian-file.ts';

const NAME = /^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+~:-]+)?$/;

const schema = z.strictObject({
  suite: z.string().regex(/^[A-Za-z0-9._-]+$/, 'a suite name such as bookworm'),
  archs: z.array(z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'a Debian arch name such as amd64')).min(1).optional(),
  mirror: z.string().regex(/^https?:\/\//, 'a mirror is a base URL starting with http:// or https://').refine((u) => !hasUserinfo(u), USERINFO_PROBLEM).optional(),
  keyring: z.string().min(1).optional(),
  'check-valid-until': z.boolean().default(true),
  components: z.array(z.string().regex(COMPONENT_NAME, 'an archive component such as main, contrib, non-free or non-free-firmware')).min(1).optional(),
  sources: z.array(z.string().regex(NAME, 'a source package name, or name=version')).default([]),
  dscs: z.array(z.string().regex(/\.dsc$/, 'a path ending in .dsc')).default([]),
  profiles: z.array(z.string().regex(/^[a-z0-9][a-z0-9.+-]*$/, 'a build profile name such as nocheck')).default([]),
  nocheck: z.boolean().default(false),
  'try-install': z.boolean().default(false),
  autopkgtest: z.boolean().default(false),
  cross: z.boolean().default(false),
  binnmu: z.union([z.number().int().min(1).max(999), z.literal('auto')], { error: 'a binNMU number from 1 to 999, or "auto"' }).optional(),
  cpus: z.number().int().min(1).max(1024).optional(),
  memory: z.string().optional(),
  timeout: z.string().optional(),
  'loop-timeout': z.string().optional(),
  'extra-repositories': z.array(z.string()).default([]),
  'extra-repository-keys': z.array(z.string().min(1)).default([]),
  'extra-packages': z.array(z.string().min(1)).default([]),
});

export interface DebianToml {
  readonly file: string;
  readonly suite: string;
  readonly archs: readonly string[] | undefined;
  readonly mirror: string | undefined;
  /** keyring, absolute: what the suite's InRelease must be signed by (undefined: Debian's archive keyring). */
  readonly keyring: string | undefined;
  /** check-valid-until = false: a Release past its Valid-Until is taken (a snapshot mirror frozen on purpose). */
  readonly checkValidUntil: boolean;
  /** components: the archive components read, in the order sources are looked up (undefined: main). */
  readonly components: readonly string[] | undefined;
  readonly sources: readonly string[];
  /** Absolute paths. */
  readonly dscs: readonly string[];
  readonly profiles: readonly string[];
  readonly nocheck: boolean;
  /** try-install: each built .deb installed into a fresh root, then purged. */
  readonly tryInstall: boolean;
  /** autopkgtest: the source's tests run by autopkgtest in a fresh root after the build. */
  readonly autopkgtest: boolean;
  /** cross: the archs other than this machine's are cross-built from it (debian/cross.ts). */
  readonly cross: boolean;
  /** binnmu = N: binary packages versioned VERSION+bN; "auto": numbered per rebuild (auto-binnmu.ts). */
  readonly binnmu: number | 'auto' | undefined;
  readonly cpus: number | undefined;
  readonly memoryBytes: number | undefined;
  readonly timeoutMs: number | undefined;
  /** loop-timeout (0: off). */
  readonly loopTimeoutMs: number | undefined;
  /** extra-repositories (signed-by made absolute). */
  readonly extraRepositories: readonly ExtraRepository[];
  /** extra-repository-keys, absolute. */
  readonly extraKeys: readonly string[];
  /** extra-packages (.deb files or folders of them), absolute; read at plan time (extra-packages.ts). */
  readonly extraPackages: readonly string[];
}

/** `(did you mean "nocheck"?)` for unknown keys close to a known one, else nothing (pure). */
function keySuggestions(keys: readonly string[]): string {
  const near = keys.flatMap((k) => {
    const c = closestName(k, Object.keys(schema.shape));
    return c === undefined ? [] : [`"${c}"`];
  });
  return near.length === 0 ? '' : ` (did you mean ${near.join(', ')}?)`;
}

export async function readDebianToml(file: string): Promise<{ config?: DebianToml; diagnostics: Diagnostic[] }> {
  const text = readTomlFile(file, 'replace it with a debian.toml file (docs/debian.md describes its keys), or remove it');
  if (text === undefined) throw new KilnError('config-invalid', `${file} is gone`, { hint: 'it was removed while kiln read the tree: run again' });
  return parseDebianToml(text, file);
}

export function parseDebianToml(text: string, file: string): { config?: DebianToml; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  let doc: unknown;
  try {
    doc = parseToml(text);
  } catch (e) {
    return { diagnostics: [{ file, message: tomlErrorText(e) }] };
  }
  const parsed = schema.safeParse(doc);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = keyPath(issue.path);
      let message = issue.code === 'invalid_format' || (issue.code as string) === 'invalid_string' ? issue.message : describeIssue(issue, valueAt(doc, issue.path));
      if (issue.code === 'unrecognized_keys' && issue.path.length === 0) message += keySuggestions(issue.keys);
      diagnostics.push(key === '' ? { file, message } : { file, key, message });
    }
  }
  // Checked even when the shape is off, so every problem is reported at once.
  const raw = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  let memoryBytes: number | undefined;
  let timeoutMs: number | undefined;
  let loopTimeoutMs: number | undefined;
  try {
    if (typeof raw['loop-timeout'] === 'string') loopTimeoutMs = raw['loop-timeout'].trim() === '0' ? 0 : parseDuration(raw['loop-timeout']);
  } catch (e) {
    diagnostics.push({ file, key: 'loop-timeout', message: (e as Error).message });
  }
  try {
    if (typeof raw['memory'] === 'string') memoryBytes = parseSize(raw['memory']);
  } catch (e) {
    diagnostics.push({ file, key: 'memory', message: (e as Error).message });
  }
  try {
    if (typeof raw['timeout'] === 'string') timeoutMs = parseDuration(raw['timeout']);
  } catch (e) {
    diagnostics.push({ file, key: 'timeout', message: (e as Error).message });
  }
  // The file lists, from the raw document when its shape is off (each string item at its own index).
  const strings = (k: string): (string | undefined)[] => (Array.isArray(raw[k]) ? (raw[k] as unknown[]).map((v) => (typeof v === 'string' ? v : undefined)) : []);
  strings('dscs').forEach((p, i) => {
    if (p === undefined) return;
    const rel = relative(dirname(file), resolve(dirname(file), p));
    if (rel.startsWith('..') || isAbsolute(rel)) diagnostics.push({ file, key: `dscs[${i}]`, message: `${p} is outside the folder of ${file}: list .dsc files inside the tree` });
  });
  // Like .dsc files, keys are files of the tree (a daemon takes the tree, not the host's
  // files), and repositories are http(s) (as mirror: a daemon must not read its own disk).
  const inTree = (p: string): boolean => {
    const rel = relative(dirname(file), resolve(dirname(file), p));
    return !(rel.startsWith('..') || isAbsolute(rel));
  };
  const keyring = typeof raw['keyring'] === 'string' ? raw['keyring'] : undefined;
  if (keyring !== undefined && !inTree(keyring)) diagnostics.push({ file, key: 'keyring', message: `${keyring} is outside the folder of ${file}: put the archive's keyring into the tree (e.g. keys/archive.gpg) and name it relative to the file` });
  strings('extra-repository-keys').forEach((p, i) => {
    if (p !== undefined && !inTree(p)) diagnostics.push({ file, key: `extra-repository-keys[${i}]`, message: `${p} is outside the folder of ${file}: put the key into the tree (e.g. keys/repo.asc) and name it relative to the file` });
  });
  strings('extra-packages').forEach((p, i) => {
    if (p !== undefined && !inTree(p)) diagnostics.push({ file, key: `extra-packages[${i}]`, message: `${p} is outside the folder of ${file}: put the .deb (or its folder) into the tree (e.g. debs/) and name it relative to the file` });
  });
  const extraRepositories: ExtraRepository[] = [];
  strings('extra-repositories').forEach((line, i) => {
    if (line === undefined) return;
    const key = `extra-repositories[${i}]`;
    try {
      const r = parseExtraRepository(line, `${file}: ${key}`, 'config-invalid', (p) => resolve(dirname(file), p));
      if (r.uri.startsWith('file:')) diagnostics.push({ file, key, message: `"${line}": a file: repository is read from the command line only (--extra-repository); here give an http:// or https:// URI` });
      else if (r.signedBy !== undefined && !inTree(r.signedBy)) diagnostics.push({ file, key, message: `"${line}": signed-by ${r.signedBy} is outside the folder of ${file}: put the key into the tree and name it relative to the file` });
      else extraRepositories.push(r);
    } catch (e) {
      diagnostics.push({ file, key, message: (e as Error).message.slice(`${file}: ${key} `.length) });
    }
  });
  if (!parsed.success) return { diagnostics };
  const d = parsed.data;
  if (d.sources.length === 0 && d.dscs.length === 0) diagnostics.push({ file, key: 'sources', message: 'list at least one source package (sources = ["hello"]) or local .dsc (dscs = [...])' });
  if (diagnostics.length > 0) return { diagnostics };
  return {
    config: {
      file,
      suite: d.suite,
      archs: d.archs,
      mirror: d.mirror?.replace(/\/+$/, ''),
      keyring: d.keyring === undefined ? undefined : resolve(dirname(file), d.keyring),
      checkValidUntil: d['check-valid-until'],
      components: d.components === undefined ? undefined : [...new Set(d.components)],
      sources: d.sources,
      dscs: d.dscs.map((p) => resolve(dirname(file), p)),
      profiles: d.profiles,
      nocheck: d.nocheck,
      tryInstall: d['try-install'],
      autopkgtest: d.autopkgtest,
      cross: d.cross,
      binnmu: d.binnmu,
      cpus: d.cpus,
      memoryBytes,
      timeoutMs,
      loopTimeoutMs,
      extraRepositories,
      extraKeys: d['extra-repository-keys'].map((p) => resolve(dirname(file), p)),
      extraPackages: d['extra-packages'].map((p) => resolve(dirname(file), p)),
    },
    diagnostics,
  };
}
