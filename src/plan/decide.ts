// Decide one node: broken, up-to-date, or to-build with a typed reason. Pure; the
// planner gathers the facts (artifact present? what was built last time?) around it.

import type { Reason } from './reason.ts';

export interface PreviousInputs {
  readonly key: string;
  readonly recipeHash: string;
  readonly sourcesHash: string;
  readonly envId: string;
  readonly arch: string;
  readonly depOutputs: Readonly<Record<string, string>>;
}

export interface DecideInput {
  readonly broken: string | undefined;
  readonly recipeHash: string;
  readonly sourcesHash: string;
  readonly envId: string;
  readonly arch: string;
  /** Staged node id → output hash; undefined when that node is itself to be built. */
  readonly depOutputs: ReadonlyMap<string, string | undefined>;
  /** Full key, known when every staged node's output is known. */
  readonly key: string | undefined;
  /** The artifact stored under `key`, if any, with its output checks' warnings ("check: message"). */
  readonly artifact: StoredArtifact | undefined;
  readonly lastSuccess: PreviousInputs | undefined;
  /** The latest attempt with this same key failed. */
  readonly failedBefore: boolean;
  /** The latest attempt, with whatever key, failed (for the wording of `new`). */
  readonly lastAttemptFailed?: boolean;
  readonly forced: boolean;
  /** Why it is forced when not by --force (kiln build --twice). */
  readonly forcedBy?: 'twice' | undefined;
  /** A Debian source package (its recipe-changed reason says so). */
  readonly debian?: boolean;
  /** --fail-on-warnings: an artifact stored with warnings is not up to date (built again, it fails). */
  readonly failOnWarnings?: boolean;
}

export interface StoredArtifact {
  readonly outputHash: string;
  readonly path: string;
  readonly warnings?: readonly string[] | undefined;
}

export type Decision =
  | { readonly state: 'broken'; readonly reason: string }
  | { readonly state: 'up-to-date'; readonly key: string; readonly outputHash: string; readonly artifact: string }
  | { readonly state: 'to-build'; readonly key: string | undefined; readonly why: Reason };

export function decide(input: DecideInput): Decision {
  if (input.broken !== undefined) return { state: 'broken', reason: input.broken };
  if (input.forced) return { state: 'to-build', key: input.key, why: input.forcedBy === undefined ? { kind: 'forced' } : { kind: 'forced', by: input.forcedBy } };
  if (input.key !== undefined && input.artifact !== undefined) {
    const warned = input.artifact.warnings;
    if (input.failOnWarnings === true && warned !== undefined && warned.length > 0) return { state: 'to-build', key: input.key, why: { kind: 'forced', by: 'fail-on-warnings', warnings: warned } };
    return { state: 'up-to-date', key: input.key, outputHash: input.artifact.outputHash, artifact: input.artifact.path };
  }
  return { state: 'to-build', key: input.key, why: whyBuild(input) };
}

export function whyBuild(input: DecideInput): Reason {
  if (input.failedBefore) return { kind: 'previous-failure' };
  const prev = input.lastSuccess;
  if (prev === undefined) return input.lastAttemptFailed === true ? { kind: 'new', failedBefore: true } : { kind: 'new' };
  if (prev.sourcesHash !== input.sourcesHash) return { kind: 'source-changed' };
  if (prev.recipeHash !== input.recipeHash) return input.debian === true ? { kind: 'recipe-changed', debian: true } : { kind: 'recipe-changed' };
  if (prev.envId !== input.envId) return { kind: 'environment-changed', was: prev.envId, now: input.envId };
  if (prev.arch !== input.arch) return { kind: 'environment-changed' };
  const changed = changedDependency(input.depOutputs, prev.depOutputs);
  if (changed !== undefined) return dependencyChanged(changed);
  // Same inputs as the last good build, but its artifact is gone (cache gc'd or moved).
  return { kind: 'new', artifactGone: true };
}

/**
 * The first staged node (by id) whose output is not the one the last good build staged:
 * changed or still to be built, staged now and not then ('added'), or then and not now ('removed').
 */
export function changedDependency(now: ReadonlyMap<string, string | undefined>, before: Readonly<Record<string, string>>): { readonly id: string; readonly staged?: 'added' | 'removed' } | undefined {
  for (const id of [...now.keys()].sort()) {
    const out = now.get(id);
    if (!Object.hasOwn(before, id)) return { id, staged: 'added' };
    if (out === undefined || before[id] !== out) return { id };
  }
  for (const id of Object.keys(before).sort()) {
    if (!now.has(id)) return { id, staged: 'removed' };
  }
  return undefined;
}

function dependencyChanged(c: { readonly id: string; readonly staged?: 'added' | 'removed' }): Reason {
  return c.staged === undefined ? { kind: 'dependency-changed', dependency: c.id } : { kind: 'dependency-changed', dependency: c.id, staged: c.staged };
}

/**
 * A job planned `dependency-changed` while some of its dependencies were still to be built
 * names the first of those; once they are built, the one whose output really changed is
 * known (a rebuilt one may have come out the same); when every one came out as before, its
 * artifact is gone (`new`, artifactGone). The plan's reason when it cannot tell.
 */
export function whyWhenStarted(why: Reason, before: Readonly<Record<string, string>> | undefined, now: Readonly<Record<string, string>>): Reason {
  if (why.kind !== 'dependency-changed' || before === undefined) return why;
  const changed = changedDependency(new Map(Object.entries(now)), before);
  // Every dependency came out as it was: the key is the last good build's, whose artifact is gone (cache gc, cache verify --fix).
  if (changed === undefined) return { kind: 'new', artifactGone: true };
  return changed.id === why.dependency && changed.staged === why.staged ? why : dependencyChanged(changed);
}
