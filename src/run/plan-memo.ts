// The plan memo: what a finished `kiln build` leaves for the next one, so that a run in
// which nothing changed skips building the graph and deciding every node (about a third of
// a no-change run of 10,000 recipes). make and ninja stat their targets and trust their
// last decisions the same way; kiln proves first that nothing the plan is made from moved:
//
// - the specs: the scan cache holds exactly this scan's specs, under the generation the
//   memo was made with (recipes/scan-cache.ts settled()), and the invalid recipes are the
//   same (they are never cached);
// - the run's settings: tree, cache, archs, host arch, targets, profiles, kiln.toml, and
//   the source of the modules that turn specs into a plan; and every arch's env id (the
//   envs are leased after the memo is read: it holds the ids it was made with);
// - the records: the memo's run has ended and every other run of this state directory
//   ended before it began to plan (records nothingRanSince): no other run can have stored
//   another output under one of its keys (--fail-on-warnings replaces a warned one, say,
//   in a run that then failed), nor changed what the records say;
// - the artifacts: each up-to-date node's meta.json is stat'ed, as the planner does for
//   an output the records know; one they did not know (another state directory sharing
//   the cache stored it) is read, as the planner does, and must still say the same output.
//
// Anything else, or anything odd in the files, and the plan is made as always. Only runs
// whose plan reads nothing else are memoised: recipe trees, without --force, --twice,
// --fail-on-warnings, --nats or a Debian part (run-build.ts, prepare-plan.ts).
//
// Two files under STATE/plan-memo/: `<tree>.json`, the plan (written when a run ends with
// every node built, up to date or broken), and `<tree>.run`, which names the memo and
// the last run that ended with it valid (rewritten by every such run: a few bytes).

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { artifactPath, type ArtifactStore } from '../cache/artifact-types.ts';
import { sha256 } from '../lib/hash.ts';
import { codeHashOf } from '../lib/code-hash.ts';
import type { Plan, PlanNode } from '../plan/plan.ts';
import type { InvalidPackage, PackageSpec } from '../plan/spec.ts';
import type { Records } from '../records/records.ts';
import type { TreeConfig } from '../config/tree-config.ts';
import { findArtifactSync, recordedMeta } from './find-artifact.ts';

/** Bump when the layout changes. */
const FORMAT = 'kiln-plan-memo-2';

/** The modules whose code turns specs into a plan (relative to src/); the scan cache covers the parser's. */
const PLAN_MODULES = [
  'plan/broken-causes.ts',
  'plan/choose.ts',
  'plan/cycles.ts',
  'plan/decide.ts',
  'plan/glob.ts',
  'plan/graph.ts',
  'plan/job.ts',
  'plan/keys.ts',
  'plan/options.ts',
  'plan/plan.ts',
  'plan/resolve.ts',
  'plan/spec.ts',
  'recipes/flavours.ts',
  'debian/relation.ts',
  'debian/version.ts',
  'debian/arch-names.ts',
  'debian/closest-name.ts',
  'run/env-id.ts',
  'run/host-env.ts',
  'run/plan-memo.ts',
  'run/prepare-plan.ts',
  'lib/hash.ts',
];

/** What a plan is made from, besides the artifacts and the records. */
export interface MemoInputs {
  readonly treeDir: string;
  readonly cacheDir: string;
  readonly hostArch: string;
  readonly archs: readonly string[];
  readonly targets: readonly string[];
  readonly profiles: readonly string[];
  /** --option settings as [package or '', option, on], in the order given. */
  readonly options: readonly (readonly [string, string, boolean])[];
  readonly onDaemon: boolean;
  readonly scan: { readonly cacheGeneration?: string | undefined; readonly invalid: readonly InvalidPackage[]; readonly config: TreeConfig };
}

/** The memo's place and fingerprint for a run that may use and leave one. */
export interface MemoSlot {
  readonly file: string;
  readonly fingerprint: string;
}

/**
 * [id, name, version, arch, ownKey, key, outputHash, archive, broken, ignored, buildDeps,
 * waitsFor, unmetDepends, known]; deps by index; known: when the records knew this output
 * as the package's last good build, when they recorded it (epoch ms; 1 for records that do
 * not say), else 0. The planner then only stats its meta.json (find-artifact.ts).
 */
type MemoNode = [string, string, string, string, string, string | null, string | null, string | null, string | null, 0 | 1, number[], number[], string[] | null, number];

interface MemoFile {
  readonly format: string;
  readonly id: string;
  readonly fingerprint: string;
  /** Each arch's env id, as the planner keys it (in the order of the run's archs). */
  readonly envIds: readonly string[];
  /** What the graph made the run say at its start (unmet depends, cycles). */
  readonly notes: readonly string[];
  readonly nodes: readonly MemoNode[];
}

interface RunStamp {
  readonly memo: string;
  readonly run: string;
  /** When that run began to plan (epoch ms): runs that ended since could have changed what it saw. */
  readonly since: number;
}

/** The code that makes plans, hashed as this process loads it (a daemon upgraded on disk keeps running its old code). */
const codeHash = codeHashOf(PLAN_MODULES);

/** The slot of a run with these inputs; undefined when the scan cannot vouch for its specs. */
export function memoSlot(stateDir: string, i: MemoInputs): MemoSlot | undefined {
  if (i.scan.cacheGeneration === undefined || codeHash === undefined) return undefined;
  const { scan, ...settings } = i;
  const fingerprint = sha256(JSON.stringify([FORMAT, codeHash, settings, scan.cacheGeneration, scan.invalid, scan.config]));
  return { file: join(stateDir, 'plan-memo', `${sha256(i.treeDir).slice(0, 16)}.json`), fingerprint };
}

/** A memo valid for this run's specs, settings and records, before its envs and artifacts are checked. */
export interface MemoCandidate {
  readonly memo: MemoFile;
  readonly stamp: RunStamp;
}

/** The memo of this slot when its stamp names the last run of these records and its fingerprint is this run's. Never throws. */
export function readPlanMemo(slot: MemoSlot, records: Pick<Records, 'nothingRanSince'>): MemoCandidate | undefined {
  try {
    const stamp = JSON.parse(readFileSync(stampFile(slot), 'utf8')) as Partial<RunStamp>;
    if (typeof stamp.run !== 'string' || typeof stamp.since !== 'number' || !records.nothingRanSince(stamp.run, stamp.since)) return undefined;
    const memo = JSON.parse(readFileSync(slot.file, 'utf8')) as Partial<MemoFile>;
    if (memo.format !== FORMAT || memo.fingerprint !== slot.fingerprint || typeof memo.id !== 'string' || memo.id !== stamp.memo) return undefined;
    if (!Array.isArray(memo.nodes) || !Array.isArray(memo.notes) || !Array.isArray(memo.envIds)) return undefined;
    return { memo: memo as MemoFile, stamp: stamp as RunStamp };
  } catch {
    return undefined;
  }
}

export interface MemoUse {
  /** Asked again: a run may have ended while the envs were leased (an instance layer made), as the planner reads the records only now. */
  readonly records: Pick<Records, 'nothingRanSince'>;
  /** The run's env id of each of its archs (in their order), as the planner keys them. */
  readonly envIds: readonly string[];
  readonly store: ArtifactStore;
  readonly specs: readonly PackageSpec[];
  envIdOf(arch: string): string;
}

/**
 * The plan the memo holds, when it was made with these env ids and the planner's lookup
 * still finds every up-to-date node's output (and marks it used); undefined otherwise.
 * Never throws: a memo only saves time.
 */
export function usePlanMemo({ memo, stamp }: MemoCandidate, use: MemoUse): { plan: Plan; notes: readonly string[]; id: string } | undefined {
  try {
    if (!use.records.nothingRanSince(stamp.run, stamp.since)) return undefined;
    if (memo.envIds.length !== use.envIds.length || memo.envIds.some((id, i) => id !== use.envIds[i])) return undefined;
    const specs = new Map(use.specs.map((s) => [s.name, s]));
    const nodes: PlanNode[] = [];
    const byId = new Map<string, PlanNode>();
    const ids = memo.nodes.map((m) => m[0]);
    const idsAt = (at: readonly number[]): string[] => at.map((i) => ids[i]!);
    for (const [id, name, version, arch, ownKey, key, outputHash, archive, broken, ignored, buildDeps, waitsFor, unmetDepends, known] of memo.nodes) {
      const spec = specs.get(name);
      let artifact: string | undefined;
      if (broken === null) {
        if (spec === undefined || key === null || outputHash === null) return undefined;
        artifact = artifactPath(use.store, key, archive);
        // The planner's own lookup: a stat when the records knew this output, else a read.
        // An entry stored again since (read, not stat'ed): the plan is made as always, which refreshes the records and the memo.
        let reread = false;
        const found = findArtifactSync(use.store, key, known > 0 ? { outputHash, path: artifact, at: known > 1 ? known : undefined } : undefined, undefined, () => (reread = true));
        if (reread || found === undefined || found.outputHash !== outputHash || found.path !== artifact) return undefined;
      }
      const node: PlanNode = {
        id,
        name,
        version,
        arch,
        spec,
        buildDeps: idsAt(buildDeps),
        waitsFor: idsAt(waitsFor),
        broken: broken ?? undefined,
        ignored: ignored === 1,
        unmetDepends: unmetDepends ?? undefined,
        state: broken === null ? 'up-to-date' : 'broken',
        why: undefined,
        envId: use.envIdOf(arch),
        ownKey,
        key: broken === null ? key! : undefined,
        outputHash: broken === null ? outputHash! : undefined,
        artifact,
        previousDepOutputs: undefined,
      };
      nodes.push(node);
      byId.set(id, node);
    }
    return { plan: { nodes, byId }, notes: memo.notes, id: memo.id };
  } catch {
    return undefined;
  }
}

/** What a node of the run ended as, when it has an artifact (built or up to date). */
export interface FinalOutput {
  readonly key: string;
  readonly outputHash: string;
  readonly artifact: string;
}

/**
 * After a run whose every node ended built, up to date or broken: the memo of its plan
 * with every node as it ended, or, when the plan came from a memo, only the stamp saying
 * this run ended with it. Nothing is written when a node has no artifact of this cache.
 * Never throws.
 */
export function leaveMemo(
  slot: MemoSlot,
  o: {
    runId: string;
    /** When the run began to plan. */
    plannedFrom: number;
    plan: Plan;
    envIds: readonly string[];
    notes: readonly string[];
    fromMemo: string | undefined;
    store: ArtifactStore;
    records: Pick<Records, 'packageStates'>;
    final: ReadonlyMap<string, FinalOutput>;
  },
): void {
  try {
    // Some node failed, was skipped or cancelled: no memo (the stamp left names an earlier run: not used either).
    if (o.plan.nodes.some((n) => n.broken === undefined && !o.final.has(n.id))) return;
    mkdirSync(dirname(slot.file), { recursive: true });
    if (o.fromMemo !== undefined) {
      writeAtomically(stampFile(slot), JSON.stringify({ memo: o.fromMemo, run: o.runId, since: o.plannedFrom } satisfies RunStamp));
      return;
    }
    const states = o.records.packageStates();
    const index = new Map(o.plan.nodes.map((n, i) => [n.id, i]));
    const nodes: MemoNode[] = [];
    for (const n of o.plan.nodes) {
      let out: FinalOutput | undefined;
      let archive: string | null = null;
      if (n.broken === undefined) {
        out = o.final.get(n.id);
        // Stored in another cache (an earlier --cache): no memo.
        if (out === undefined || recordedMeta(o.store, out.key, out.artifact) === undefined) return;
        const dir = o.store.dir(out.key);
        archive = out.artifact === dir ? null : out.artifact.slice(dir.length + 1);
      }
      const at = (ids: readonly string[]): number[] => ids.map((id) => index.get(id)!);
      const last = states.get(n.id)?.success;
      const known = out !== undefined && last?.key === out.key && last.outputHash === out.outputHash && last.artifact === out.artifact ? (last.at ?? 1) : 0;
      nodes.push([n.id, n.name, n.version, n.arch, n.ownKey, out?.key ?? null, out?.outputHash ?? null, archive, n.broken ?? null, n.ignored ? 1 : 0, at(n.buildDeps), at(n.waitsFor), n.unmetDepends === undefined ? null : [...n.unmetDepends], known]);
    }
    const id = randomBytes(8).toString('hex');
    // The stamp goes first: a memo without its stamp is never used.
    rmSync(stampFile(slot), { force: true });
    writeAtomically(slot.file, JSON.stringify({ format: FORMAT, id, fingerprint: slot.fingerprint, envIds: o.envIds, notes: o.notes, nodes } satisfies MemoFile));
    writeAtomically(stampFile(slot), JSON.stringify({ memo: id, run: o.runId, since: o.plannedFrom } satisfies RunStamp));
  } catch {
    // Not written: the next run plans as always.
  }
}

function stampFile(slot: MemoSlot): string {
  return slot.file.replace(/\.json$/, '.run');
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
