// scan → graph → plan, shared by `kiln plan` and `kiln build`: read the tree, resolve
// it, and decide every node against the artifact cache and the records.

import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { createArtifactStore } from '../cache/artifacts.ts';
import type { ArtifactStore } from '../cache/artifact-types.ts';
import type { TreeConfig } from '../config/tree-config.ts';
import { KilnError } from '../errors.ts';
import { buildGraph, type Graph } from '../plan/graph.ts';
import { packagePattern, type NamedPackage } from '../plan/glob.ts';
import { makePlan, type Plan } from '../plan/plan.ts';
import type { InvalidPackage, PackageSpec } from '../plan/spec.ts';
import { configInvalid } from '../config/load-tree-config.ts';
import { ensureDebianEnvs, releaseNames, scanForRun, type DebianCliRequest, type RunScan } from './debian-plan.ts';
import type { Records } from '../records/records.ts';
import type { SuccessOutput } from '../records/record-types.ts';
import type { StoredArtifact } from '../plan/decide.ts';
import { statAhead } from './stat-ahead.ts';
import { findArtifactSync, type KnownOutput } from './find-artifact.ts';
import { DEBIAN_FILE } from '../debian/debian-file.ts';
import { readTreeDir } from '../recipes/scan-tree.ts';
import { RECIPE_FILE, treePackageFolders } from '../recipes/tree-folders.ts';
import { allArchOf, allBuildArchOf, hostArch } from './host-env.ts';
import { resolveRunEnvs, type RunEnvs } from './run-envs.ts';
import type { SandboxChoice } from '../sandbox/choose-backend.ts';
import type { InstanceSpec } from '../envs/instance-spec.ts';
import { closestName } from '../debian/closest-name.ts';
import { envIdWithProfiles } from './env-id.ts';
import { memoSlot, readPlanMemo, usePlanMemo, type MemoSlot } from './plan-memo.ts';
import type { OptionSetting } from '../plan/options.ts';
import { specsWithOptions } from './run-options.ts';

export interface PlanRequest {
  readonly treeDir: string;
  readonly stateDir: string;
  readonly cacheDir: string;
  /** --sandbox; default: kiln.toml's `sandbox`, else auto. */
  readonly sandbox: SandboxChoice | undefined;
  /**
   * A daemon's build of a client's tree: the tree's kiln.toml `sandbox` is not used (the
   * daemon's own --sandbox decides, default auto), and auto without an env is refused
   * rather than run on the host.
   */
  readonly onDaemon?: boolean;
  /** --env (may hold `{arch}`); default: kiln.toml's `env`. */
  readonly env: string | undefined;
  /** Lease the envs for the run (build) or only look them up (plan). */
  readonly lease: boolean;
  readonly targets: readonly string[];
  readonly archs: readonly string[] | undefined;
  /** Names or globs to rebuild even when up to date. */
  readonly force: readonly string[];
  /**
   * Active build profiles (--profiles): a recipe relation with `<!nocheck>` is dropped
   * under nocheck, the build gets them in $KILN_PROFILES, and they are part of every
   * input key (a package built under other profiles is another build).
   */
  readonly profiles?: readonly string[];
  /** --option settings, in the order given: over kiln.toml's [options] (plan/options.ts). */
  readonly options?: readonly OptionSetting[];
  /** What asked for `force` when not the user's --force (kiln build --twice): shown as the reason. */
  readonly forcedBy?: 'twice' | undefined;
  /** --fail-on-warnings: a package whose stored artifact was built with warnings is not up to date. */
  readonly failOnWarnings?: boolean;
  /** Debian source packages to build (--debian SUITE …); a tree's debian.toml is read too. */
  readonly debian?: DebianCliRequest;
  /** Progress notes before the run starts (e.g. an env being created). */
  readonly note?: (text: string) => void;
  readonly signal?: AbortSignal;
  /** kiln build: take the plan from the last run's memo when it is valid, and say where to leave one (plan-memo.ts). */
  readonly memo?: boolean;
  /** --nats: kiln workers build the jobs; an `all` one goes to the run's first arch's workers (run-execution.ts), whatever this machine's sandbox. */
  readonly nats?: string | undefined;
}

export interface PreparedPlan {
  readonly treeDir: string;
  /** The active build profiles, sorted, each once. */
  readonly profiles: readonly string[];
  readonly config: TreeConfig;
  readonly archs: readonly string[];
  readonly plan: Plan;
  /** Where the run leaves its plan memo, when it may (a PlanRequest with memo); with the notes the graph made. */
  readonly memo?: { readonly slot: MemoSlot; readonly envIds: readonly string[]; readonly notes: readonly string[]; readonly fromMemo: string | undefined } | undefined;
  readonly invalid: readonly InvalidPackage[];
  /**
   * Up-to-date packages whose stored entry the records knew but that had to be read (another
   * state directory stored it again since): what a build records as their last good output
   * (Records.refreshSuccessOutputs), so that the next plan stats it again.
   */
  readonly refresh?: readonly SuccessOutput[];
  /** How many up-to-date packages' entries the records do not know (another state dir stored them): the package index is brought up to date. */
  readonly unrecorded?: number;
  readonly artifacts: ArtifactStore;
  /** The backend and envs of the run; the caller releases them. */
  readonly envs: RunEnvs;
  /** What was scanned (the Debian part, when there is one). */
  readonly scan: RunScan;
}

/**
 * Refuse a tree with nothing to build before anything is written (no state directory is
 * created): a folder with no sub-folder holding recipe.toml and no debian.toml is almost
 * always the wrong folder (`kiln build` in a checkout without `--tree examples`). A
 * Debian request (--debian, --dsc) names its packages itself, so its tree may be empty.
 */
export function assertTreeHasPackages(treeDir: string, debian: DebianCliRequest | undefined): void {
  if (debian !== undefined) return;
  const root = resolve(treeDir);
  const entries = readTreeDir(root);
  if (entries.some((e) => e.name === DEBIAN_FILE && !e.isDirectory())) return;
  // The same folders scan-tree.ts reads: not hidden, a recipe.toml inside, or in a category folder.
  if (!treePackageFolders(root, entries).next().done) return;
  throw new KilnError('tree-empty', `${root} holds no packages: no sub-folder with a ${RECIPE_FILE} (nor one in a category folder), and no ${DEBIAN_FILE}`, {
    hint: 'give the tree with --tree DIR (e.g. kiln build --tree examples), or add one folder per package holding recipe.toml (docs/recipes.md)',
  });
}


export async function preparePlan(given: PlanRequest, records: Records): Promise<PreparedPlan> {
  const artifacts = createArtifactStore({ cacheDir: given.cacheDir });
  // The artifacts the records know are stat'ed ahead while the tree is scanned, when they are not cached.
  const ahead = statAhead(artifacts, records);
  try {
    return await planWith(given, records, artifacts);
  } finally {
    ahead?.stop();
  }
}

async function planWith(given: PlanRequest, records: Records, artifacts: ArtifactStore): Promise<PreparedPlan> {
  const req: PlanRequest = given.onDaemon === true ? { ...given, sandbox: given.sandbox ?? 'auto' } : given;
  const treeDir = resolve(req.treeDir);
  const scan = await scanForRun(
    { treeDir, stateDir: req.stateDir, cacheDir: req.cacheDir, archs: req.archs ?? [], debian: req.debian, sandbox: req.sandbox, ...(req.signal === undefined ? {} : { signal: req.signal }) },
    (config) => req.archs ?? config.archs ?? [hostArch()],
  );
  if (scan.diagnostics.length > 0) {
    throw configInvalid(scan.diagnostics);
  }
  const archs = req.archs ?? scan.config.archs ?? [hostArch()];
  const envTemplate = req.env ?? scan.config.env ?? scan.debianEnv;
  const sandbox = req.sandbox ?? scan.config.sandbox ?? 'auto';
  // Where the `all` jobs will build (the graph is made before the envs are resolved, from
  // the same settings that choose the backend and the env of `all` jobs in resolveRunEnvs).
  const allArch = req.nats !== undefined ? allArchOf(archs, hostArch()) : allBuildArchOf({ sandbox, envTemplate, archs, hostArch: hostArch(), crossFrom: scan.crossFrom });
  if (scan.debian !== undefined && envTemplate !== undefined && (req.sandbox ?? scan.config.sandbox) !== 'host') {
    // --cross: one env, of the build arch, for every job.
    await ensureDebianEnvs({ stateDir: req.stateDir, template: envTemplate, suite: scan.debian.suite.suite, mirror: scan.debian.suite.mirror, keyring: scan.debian.suite.keyring, checkValidUntil: scan.debian.suite.checkValidUntil, archs: scan.crossFrom === undefined ? archs : [scan.crossFrom], note: req.note ?? (() => undefined), suiteNames: releaseNames(scan.debian.suite.release?.release ?? {}), ...(req.signal === undefined ? {} : { signal: req.signal }) });
  }
  const profiles = [...new Set(req.profiles ?? [])].sort();
  // A profile no relation names only reaches the scripts ($KILN_PROFILES): likely a typo,
  // and every package is another build under it. Said, not refused.
  // (Not for a Debian run: dpkg-buildpackage reads the profiles from debian/control, which the specs here do not hold.)
  const named = profiles.length === 0 || scan.debian !== undefined ? new Set<string>(profiles) : profilesNamed(scan.specs);
  for (const p of profiles.filter((x) => !named.has(x))) {
    req.note?.(`--profiles ${p}: no relation of the tree names it (only the scripts see it, in $KILN_PROFILES)${named.size > 0 ? `; the tree's relations name ${[...named].sort().join(', ')}` : ''}`);
  }
  // A Debian run: a name Debian does not register is likely a typo.
  if (scan.debian !== undefined && profiles.length > 0) {
    const { debianProfileNote } = await import('../debian/build-profiles.ts');
    for (const p of profiles) {
      const text = debianProfileNote(p);
      if (text !== undefined) req.note?.(text);
    }
  }
  // The recipes' options as this run sets them: each spec gets its values, and the relations of those that are on.
  const specs = specsWithOptions(scan, req.options, req.note);
  if (req.onDaemon === true) refuseFileMirrorsOnDaemon(scan.config.mirrors, scan.config.file ?? 'kiln.toml');
  if (req.onDaemon === true && scan.config.instance !== undefined) {
    refuseHostPathsOnDaemon(scan.config.instance, treeDir, scan.config.file ?? 'kiln.toml');
    await refuseInternalSourcesOnDaemon(scan.config.instance, scan.config.file ?? 'kiln.toml');
  }
  // kiln build may take its plan from the last run's memo (plan-memo.ts): read before the
  // graph would be built, used once the envs' ids are known. Only runs whose plan reads
  // nothing but the specs, the settings, the records and the artifacts.
  const slot = req.memo === true && scan.debian === undefined && scan.crossFrom === undefined && req.force.length === 0 && req.forcedBy === undefined && req.failOnWarnings !== true
    ? memoSlot(req.stateDir, { treeDir, cacheDir: req.cacheDir, hostArch: hostArch(), archs, targets: req.targets, profiles, options: (req.options ?? []).map((o) => [o.pkg ?? '', o.name, o.on]), onDaemon: req.onDaemon === true, scan })
    : undefined;
  const candidate = slot === undefined ? undefined : readPlanMemo(slot, records);
  // Without a memo, the graph (and what it says) comes before the envs are leased, as always.
  let built = candidate === undefined ? graphWithNotes() : undefined;
  if (scan.crossFrom !== undefined && req.note !== undefined && scan.debian !== undefined) {
    // Said, not refused: a cross run is usually for the arch-dependent packages.
    const { crossIndepNote, indepNotBuilt } = await import('../debian/cross.ts');
    const sources = scan.specs.flatMap((s) => (s.debian === undefined ? [] : [{ name: s.name, words: s.debian.source.architecture, modes: Object.values(s.debian.modeFor) }]));
    const mode = scan.specs.find((s) => s.debian !== undefined)?.debian?.options.mode ?? 'binary';
    for (const text of crossIndepNote(indepNotBuilt(sources, { cross: scan.crossFrom, mode }), { cross: scan.crossFrom, runArchs: archs })) req.note(text);
  }
  const envs = await resolveRunEnvs({
    stateDir: req.stateDir,
    sandbox,
    envTemplate,
    archs,
    hostArch: hostArch(),
    lease: req.lease,
    instance: scan.config.instance,
    onDaemon: req.onDaemon,
    onNote: req.note,
    ...(scan.crossFrom === undefined ? {} : { crossFrom: scan.crossFrom }),
  });
  try {
    return finishPlan();
  } catch (e) {
    await envs.release();
    throw e;
  }

  /** The graph, and what it says at the start of the run (unmet depends, cycles), said now. */
  function graphWithNotes(): { graph: Graph; notes: string[] } {
    const graph = buildGraph({ specs, invalid: scan.invalid, archs, hostArch: hostArch(), allArch, targets: req.targets, profiles });
    const notes: string[] = [];
    noteUnmetDepends(graph, (text) => notes.push(text));
    noteCycles(graph, (text) => notes.push(text));
    for (const text of notes) req.note?.(text);
    return { graph, notes };
  }

  function finishPlan(): PreparedPlan {
    const envIdOf = profiles.length === 0 ? (arch: string) => envs.envIdFor(arch) : (arch: string) => envIdWithProfiles(envs.envIdFor(arch), profiles);
    const envIds = archs.map(envIdOf);
    const memo = candidate === undefined ? undefined : usePlanMemo(candidate, { records, envIds, store: artifacts, specs, envIdOf });
    if (slot !== undefined && memo !== undefined) {
      for (const text of memo.notes) req.note?.(text);
      return { treeDir, profiles, config: scan.config, archs, plan: memo.plan, memo: { slot, envIds, notes: memo.notes, fromMemo: memo.id }, invalid: scan.invalid, artifacts, envs, scan };
    }
    const { graph, notes } = (built ??= graphWithNotes());
    const forced = req.force.map(packagePattern);
    const named = (node: { readonly name: string; readonly spec: PackageSpec | undefined }): NamedPackage => ({ name: node.name, category: node.spec?.category });
    // A --force pattern that names nothing is a typo, as a target that names nothing is.
    req.force.forEach((pattern, i) => {
      if (req.forcedBy === undefined && !graph.nodes.some((node) => forced[i]!(named(node)))) {
        const near = /[*?[]/.test(pattern) ? undefined : closestName(pattern, [...new Set(graph.nodes.map((n) => n.name))], pattern.length <= 5 ? 1 : 2);
        throw new KilnError('target-not-found', `--force "${pattern}" matches no package of this run${near === undefined ? '' : ` (did you mean "${near}"?)`}`, {
          hint: 'name a package folder of the tree (or a glob such as "lib*") that the run builds; `kiln plan` lists them all',
        });
      }
    });
    // One scan of package_state, not two history queries per package.
    const states = records.packageStates();
    // The output of each package's last good build, by its key: an unchanged package's
    // artifact is then checked with one stat instead of reading its meta.json.
    const lastOutputs = new Map<string, KnownOutput>();
    for (const s of states.values()) {
      const ok = s.success;
      if (ok?.outputHash != null && ok.artifact != null) lastOutputs.set(ok.key, { outputHash: ok.outputHash, path: ok.artifact, at: ok.at });
    }
    // --fail-on-warnings: the output checks' warnings of each stored build, by key. The
    // records know this state dir's builds (those from before artifacts kept them too);
    // an artifact another state dir stored says it in its meta (findArtifactSync).
    const warned = req.failOnWarnings === true ? records.outputWarnings() : undefined;
    // Entries the records knew but had to read (stored again since): their records are refreshed (refreshOf).
    const reread = new Map<string, StoredArtifact>();
    // Entries found that the records do not know at all (another state dir stored them): this state dir's package index may not list them.
    let unrecorded = 0;
    const plan = makePlan(graph, {
      // A Debian source's profiles are in its key already, written one way with --nocheck
      // (debian/key-options.ts): in its env id too, --profiles nocheck and --nocheck would differ.
      envIdOf: (node) => (node.spec?.debian === undefined ? envIdOf(node.arch) : envs.envIdFor(node.arch)),
      artifact: (key) => {
        const known = lastOutputs.get(key);
        const found = findArtifactSync(artifacts, key, known, warned, (f) => reread.set(key, f));
        if (found !== undefined && known === undefined) unrecorded++;
        return found;
      },
      lastSuccess: (id, want) => {
        const ok = states.get(id)?.success;
        if (ok === undefined) return undefined;
        // The newest success is of another variant (other profiles or options): compare with this variant's, when there is one.
        if (ok.envId !== want.envId || ok.recipeHash !== want.recipeHash) {
          const at = id.lastIndexOf('@');
          const near = records.nearestSuccess(id.slice(0, at), id.slice(at + 1), want);
          if (near?.inputs != null && near.key !== null) return { key: near.key, ...near.inputs, arch: id.slice(at + 1) };
        }
        // depOutputs stays lazy (a getter): only a package to be built asks for it.
        const { key, recipeHash, sourcesHash, envId } = ok;
        return { key, recipeHash, sourcesHash, envId, arch: id.slice(id.lastIndexOf('@') + 1), get depOutputs() { return ok.depOutputs; } };
      },
      lastAttempt: (id) => states.get(id)?.attempt,
      inputParts: (id, prev) => {
        const at = id.lastIndexOf('@');
        return records.inputPartsOf(id.slice(0, at), id.slice(at + 1), prev);
      },
      forced: (node) => forced.some((matches) => matches(named(node))),
      forcedBy: req.forcedBy,
      failOnWarnings: warned !== undefined,
    });
    const refresh = refreshOf(plan, reread, lastOutputs);
    return { treeDir, profiles, config: scan.config, archs, plan, ...(slot === undefined ? {} : { memo: { slot, envIds, notes, fromMemo: undefined } }), invalid: scan.invalid, artifacts, envs, scan, ...(refresh.length === 0 ? {} : { refresh }), ...(unrecorded === 0 ? {} : { unrecorded }) };
  }
}

/** The up-to-date nodes of `plan` whose key's entry was read instead of stat'ed, as their records' refresh. */
function refreshOf(plan: Plan, reread: ReadonlyMap<string, StoredArtifact>, seen: ReadonlyMap<string, KnownOutput>): SuccessOutput[] {
  if (reread.size === 0) return [];
  const out: SuccessOutput[] = [];
  for (const n of plan.nodes) {
    if (n.state !== 'up-to-date' || n.key === undefined || n.outputHash === undefined || n.artifact === undefined || !reread.has(n.key)) continue;
    const was = seen.get(n.key);
    if (was !== undefined) out.push({ jobId: n.id, key: n.key, outputHash: n.outputHash, artifact: n.artifact, seen: { outputHash: was.outputHash, artifact: was.path, at: was.at ?? null } });
  }
  return out;
}

/**
 * A package whose own `depends` do not resolve still builds, but whatever build-depends on
 * it is broken, and its index entry names what nothing provides: said once per package
 * (not per arch) at the start, so that a typo is seen before a dependent is.
 */
export function noteUnmetDepends(graph: Graph, note: ((text: string) => void) | undefined): void {
  if (note === undefined) return;
  const said = new Set<string>();
  for (const node of graph.nodes) {
    if (node.unmetDepends === undefined || said.has(node.name)) continue;
    said.add(node.name);
    note(`${node.name}: depends: ${node.unmetDepends.join('; ')}: it builds, but a package that build-depends on it is broken (fix its recipe's depends, or the package they name)`);
  }
}

/**
 * A recipe tree's dependency cycles, each said once at the start with how to break it
 * (the packages on it are broken, and say the cycle; not how to fix it). A Debian run
 * breaks its cycles itself (the archive's binaries), and says so in kiln plan.
 */
export function noteCycles(graph: Graph, note: ((text: string) => void) | undefined): void {
  if (note === undefined) return;
  const said = new Set<string>();
  for (const node of graph.nodes) {
    const cycle = node.broken;
    if (cycle === undefined || !cycle.startsWith('dependency cycle: ') || node.spec?.debian !== undefined || said.has(cycle)) continue;
    said.add(cycle);
    note(`${cycle}: each arrow is a build-depends (or, marked -(depends)->, a depends) of the package before it; none of them can be built before the others: break the cycle by dropping one of them from its recipe (one the build can do without, or that a runtime depends would do)`);
  }
}

/**
 * A daemon builds a tenant's tree: its [instance] may not reach the daemon's own files (a
 * signed-by keyring outside the tree, a file:// apt source, both read as root on the host).
 */
export function refuseHostPathsOnDaemon(instance: InstanceSpec, treeDir: string, file: string): void {
  const root = realpathSync(treeDir);
  instance.sources.forEach((s, i) => {
    if (s.uri.startsWith('file:')) {
      throw new KilnError('config-invalid', `${file}: instance.sources[${i}].uri: a file:// source is a directory of the daemon's machine, which a build on a daemon may not use`, {
        hint: 'serve the repository over http(s), or build this tree locally',
      });
    }
    if (s.signedBy === undefined) return;
    let real: string;
    try {
      real = realpathSync(s.signedBy);
    } catch {
      real = s.signedBy;
    }
    if (real !== root && !real.startsWith(`${root}/`)) {
      throw new KilnError('config-invalid', `${file}: instance.sources[${i}].signed-by: on a daemon the keyring must be a file of the tree, not a path outside it`, {
        hint: 'put the keyring into the tree (e.g. keys/repo.asc) and name it relative to kiln.toml',
      });
    }
  });
}

/**
 * A daemon builds a tenant's tree: apt fetches its [instance] sources on the daemon's
 * machine, outside kiln's guarded fetch, so the daemon's fetch policy is checked here.
 */
async function refuseInternalSourcesOnDaemon(instance: InstanceSpec, file: string): Promise<void> {
  const { fetchPolicy, urlRefusal } = await import('../lib/fetch-guard.ts');
  const policy = fetchPolicy();
  if (policy === undefined) return;
  for (const [i, s] of instance.sources.entries()) {
    const why = await urlRefusal(policy, s.uri);
    if (why !== undefined) {
      throw new KilnError('config-invalid', `${file}: instance.sources[${i}].uri: a daemon fetches only from public addresses and its own mirrors: ${why}`, {
        hint: 'serve the repository from a public address, or have the operator allow its network (kiln serve --fetch-allow)',
      });
    }
  }
}

/** A daemon builds a tenant's tree: its [mirrors] may not name the daemon's own folders (file://). */
export function refuseFileMirrorsOnDaemon(mirrors: Readonly<Record<string, string>>, file: string): void {
  for (const [name, url] of Object.entries(mirrors)) {
    if (!url.startsWith('file:')) continue;
    throw new KilnError('config-invalid', `${file}: mirrors.${name}: a file:// mirror is a directory of the daemon's machine, which a build on a daemon may not read`, {
      hint: 'serve the mirror over http(s), or build this tree locally',
    });
  }
}

/** Every build profile named by a relation (build-depends or depends) of the specs, their options' included (on or off). */
export function profilesNamed(specs: readonly Pick<PackageSpec, 'buildDepends' | 'depends' | 'options'>[]): Set<string> {
  const out = new Set<string>();
  for (const s of specs) {
    const groups = [...s.buildDepends, ...s.depends, ...(s.options ?? []).flatMap((o) => [...o.buildDepends, ...o.depends])];
    for (const group of groups) {
      for (const r of group) for (const conj of r.profiles ?? []) for (const term of conj) out.add(term.name);
    }
  }
  return out;
}
