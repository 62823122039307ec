// What a daemon can tell at submit time that would otherwise fail the build when its turn
// comes, maybe hours later: a target that matches no package folder of a recipe tree, a
// tree that names no env on a daemon that builds only in envs, an env the daemon does not
// have, a Debian suite the mirror lacks (one request for its InRelease). These are the client's mistakes: 4xx answers, never 503 (which load balancers and
// retry loops take for "try again"). Only sure failures are refused here; anything unclear
// (an invalid kiln.toml, a Debian tree whose envs are made on demand) is left to the build,
// which reports it in full.
import { formatDiagnostic } from '../plan/spec.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isKilnError, KilnError } from '../errors.ts';
import { readTomlFile } from '../config/read-toml-file.ts';
import { hostDebianMirror } from '../config/mirrors.ts';
import { envPaths } from '../envs/layout.ts';
import { isEnvName } from '../envs/names.ts';
import { DEBIAN_FILE } from '../debian/debian-file.ts';
import { hostArch } from '../run/host-env.ts';
import { crossWithNats } from '../run/debian-plan.ts';
import { DAEMON_NEEDS_ENV, type SandboxChoice } from '../sandbox/choose-backend.ts';
import { daemonEnvNotFound } from '../envs/env-errors.ts';
import { packagePattern, type NamedPackage } from '../plan/glob.ts';
import { closestName, suiteHint } from '../debian/closest-name.ts';
import { readTreeDir } from '../recipes/scan-tree.ts';
import { treePackageFolders } from '../recipes/tree-folders.ts';

export interface PrecheckInput {
  readonly stateRoot: string;
  /** The daemon's --sandbox. */
  readonly sandbox: SandboxChoice;
  readonly treeDir: string;
  /** The request's env and archs. */
  readonly env: string | undefined;
  readonly archs: readonly string[] | undefined;
  /** The request names Debian source packages: their envs are made on demand (and its targets may be theirs). */
  readonly debian: boolean;
  /** The request's targets (package names or globs); none: the whole tree. */
  readonly targets?: readonly string[] | undefined;
  /** The request's `debian.suite`: checked against the mirror the build will read. */
  readonly debianSuite?: string | undefined;
  /** Where the suite's InRelease is kept (the state's cache dir, as the build's). */
  readonly cacheDir?: string | undefined;
  /** The Debian mirror (tests); default: the tree's debian.toml `mirror`, else the host's apt sources, as the build. */
  readonly mirror?: string | undefined;
  /** The request's `debian.cross`. */
  readonly cross?: boolean | undefined;
  /** The daemon hands its jobs to workers (kiln serve --nats), which do not cross-build. */
  readonly nats?: boolean | undefined;
}

/** `mirror suite` → when its InRelease was last found: one request per suite and 10 minutes, not one per build. */
const suitesFound = new Map<string, number>();
const SUITE_FOUND_MS = 10 * 60_000;

/**
 * suite-not-found for a `debian.suite` the mirror has no InRelease of (a typo, an archived
 * release), asked of the mirror the build would read. Anything unsure (no mirror known,
 * the mirror unreachable or slow, a bad signature) is left to the build.
 */
async function checkSuite(i: PrecheckInput, suite: string): Promise<void> {
  let mirror = i.mirror;
  if (mirror === undefined) {
    const toml = await treeDebianToml(i.treeDir);
    if (toml === null) return; // the build says what is wrong with it
    mirror = toml?.mirror;
  }
  mirror ??= await hostDebianMirror({}).catch(() => undefined);
  if (mirror === undefined || i.cacheDir === undefined) return;
  const key = `${mirror} ${suite}`;
  if (Date.now() - (suitesFound.get(key) ?? -Infinity) < SUITE_FOUND_MS) return;
  const { createIndexes } = await import('../debian/indexes.ts');
  try {
    // Whether the suite is there, not whether it is current: a snapshot mirror's expired
    // Release (debian.toml's check-valid-until) is the build's to judge, as its keyring is.
    await createIndexes({ cacheDir: i.cacheDir, timeoutMs: 10_000, checkValidUntil: false }).release(mirror, suite);
    suitesFound.set(key, Date.now());
  } catch (e) {
    // indexes.ts says `usage` for a suite name that is none, or a mirror without its InRelease (404).
    if (isKilnError(e) && e.code === 'usage') {
      throw new KilnError('suite-not-found', `debian.suite: ${e.message}`, { hint: `${suiteHint(suite)} (the suite is read from this daemon's Debian mirror)` });
    }
  }
}

/** The first target no package name matches (a glob must match one), with the closest name; undefined when all match. Pure. */
export function unmatchedTarget(targets: readonly string[], packages: readonly NamedPackage[]): { target: string; near: string | undefined } | undefined {
  const names = packages.map((p) => p.name);
  for (const t of targets) {
    const matches = packagePattern(t);
    if (packages.some(matches)) continue;
    // The same closeness as the plan's own target-not-found (plan/choose.ts).
    return { target: t, near: /[*?[]/.test(t) ? undefined : closestName(t, names, t.length <= 5 ? 1 : 2) };
  }
  return undefined;
}

/** The packages of a recipe tree: its folders holding a recipe.toml (categories' too); undefined when the tree cannot be read. */
function packagesOf(treeDir: string): NamedPackage[] | undefined {
  try {
    return [...treePackageFolders(treeDir, readTreeDir(treeDir))].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch {
    return undefined; // the build says what is wrong with the tree
  }
}

/** target-not-found for a request's targets that match no package of a recipe tree (its folders, then its recipes' flavours). */
async function checkTargets(treeDir: string, targets: readonly string[]): Promise<void> {
  if (targets.length === 0) return;
  let packages = packagesOf(treeDir);
  if (packages === undefined || packages.length === 0) return; // tree-empty: the build says so in full
  let miss = unmatchedTarget(targets, packages);
  if (miss === undefined) return;
  // A flavour's package has no folder of its own: only the recipes name it.
  const { scanRecipeTree } = await import('../recipes/scan-tree.ts');
  const scan = await scanRecipeTree(treeDir).catch(() => undefined);
  if (scan === undefined) return; // the build says what is wrong with the tree
  packages = [...scan.specs, ...scan.invalid].map((x) => ({ name: x.name, category: x.category })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  miss = unmatchedTarget(targets, packages);
  const names = packages.map((p) => p.name);
  if (miss === undefined) return;
  const some = names.length > 12 ? `${names.slice(0, 12).join(', ')} … (${names.length} in all)` : names.join(', ');
  throw new KilnError('target-not-found', `target "${miss.target}" matches no package of the tree${miss.near === undefined ? '' : ` (did you mean "${miss.near}"?)`}`, {
    hint: `name a package folder of the tree, or a glob such as "lib*" that matches one; the tree's packages: ${some}`,
  });
}

/**
 * config-invalid for a tree whose kiln.toml has a [hooks] table: a daemon runs no command
 * of a tenant's tree outside the sandbox (run/hooks.ts), so a hook there would silently
 * never run. A kiln.toml that does not parse is left to the build, which says why in full.
 */
export async function refuseTreeHooks(treeDir: string): Promise<void> {
  let text: string | undefined;
  try {
    // Not a plain read: a named pipe there would hang the request.
    text = readTomlFile(join(treeDir, 'kiln.toml'), '');
  } catch {
    return; // not a readable file: the build says what is wrong
  }
  if (text === undefined) return;
  let doc: unknown;
  try {
    doc = (await import('smol-toml')).parse(text);
  } catch {
    return;
  }
  if (doc === null || typeof doc !== 'object' || !('hooks' in doc)) return;
  // Every other problem of the file too, as the build would say them: one round trip to fix them all.
  const { parseTreeConfig } = await import('../config/tree-config.ts');
  const others = parseTreeConfig(text, 'kiln.toml').diagnostics.filter((d) => d.key === undefined || !d.key.startsWith('hooks')).map((d) => `\n  ${formatDiagnostic(d)}`).join('');
  throw new KilnError('config-invalid', `kiln.toml: [hooks]: a daemon runs no hooks of a tree (they would run on the daemon's machine, outside the sandbox)${others}`, {
    hint: "remove the [hooks] table from the tree you submit (hooks are for a local kiln build); to hear of a daemon's builds, its operator starts kiln serve with --webhook URL, or poll GET /api/v1/builds/{id}",
  });
}

/**
 * Cross-building (`"cross": true`, or debian.toml's `cross = true`) on a daemon with
 * --nats: refused now rather than after the build's plan (indexes fetched, installability
 * checked), as run-build.ts would. An unreadable debian.toml is the build's to report.
 */
async function refuseCrossWithNats(i: PrecheckInput): Promise<void> {
  if (i.nats !== true) return;
  if (i.cross === true) throw crossWithNats(false, 'cross-building ("cross": true in the request\'s "debian")');
  if ((await treeDebianToml(i.treeDir))?.cross === true) throw crossWithNats(false, `cross-building (${DEBIAN_FILE}: cross = true)`);
}

/** The tree's debian.toml: undefined when it has none, null when it cannot be read or is invalid (the build reports it). */
async function treeDebianToml(treeDir: string): Promise<import('../debian/debian-toml.ts').DebianToml | undefined | null> {
  const tomlPath = join(treeDir, DEBIAN_FILE);
  if (!existsSync(tomlPath)) return undefined;
  const { readDebianToml } = await import('../debian/debian-toml.ts');
  return (await readDebianToml(tomlPath).catch(() => undefined))?.config ?? null;
}

/** Throws what the build would fail with, when that is certain now. */
export async function precheckBuild(i: PrecheckInput): Promise<void> {
  await refuseTreeHooks(i.treeDir);
  await refuseCrossWithNats(i);
  if (i.debianSuite !== undefined) await checkSuite(i, i.debianSuite);
  // A Debian request or tree: its targets may be source packages, its envs made on demand.
  if (i.debian || existsSync(join(i.treeDir, DEBIAN_FILE))) return;
  await checkTargets(i.treeDir, i.targets ?? []);
  if (i.sandbox === 'host') return;
  let config: { env: string | undefined; archs: readonly string[] | undefined } = { env: undefined, archs: undefined };
  const toml = join(i.treeDir, 'kiln.toml');
  if (existsSync(toml)) {
    let text: string | undefined;
    try {
      text = readTomlFile(toml, '');
    } catch {
      return; // not a readable file (a directory or a pipe in a tree): the build says what is wrong
    }
    if (text === undefined) return;
    const { parseTreeConfig } = await import('../config/tree-config.ts');
    const parsed = parseTreeConfig(text, toml);
    if (parsed.diagnostics.length > 0) return;
    config = parsed.config;
  }
  const template = i.env ?? config.env;
  if (template === undefined) {
    throw new KilnError('env-required', DAEMON_NEEDS_ENV.message, { hint: DAEMON_NEEDS_ENV.hint });
  }
  const host = hostArch();
  for (const arch of i.archs ?? config.archs ?? [host]) {
    const name = template.replaceAll('{arch}', arch === 'all' ? host : arch);
    if (!isEnvName(name) || !existsSync(envPaths(i.stateRoot, name).envJson)) {
      throw daemonEnvNotFound(name);
    }
  }
}
