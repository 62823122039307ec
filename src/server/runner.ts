// The production BuildRunner: a queued build becomes one runBuild() in this process, on the
// tree the server knows by that name (or the tenant's uploaded bundle), with the state dir
// the server was started on, and a job sampler on its bus while it runs.

import { join } from 'node:path';
import type { EventBus } from '../events/events.ts';
import { isKilnError, KilnError } from '../errors.ts';
import type { BuildRecord } from '../records/server-record-types.ts';
import { runBuild as realRunBuild, type BuildRequest, type BuildResult } from '../run/run-build.ts';
import type { StateLayout } from '../run/state-layout.ts';
import type { SandboxChoice } from '../sandbox/choose-backend.ts';
import type { NatsAccess } from '../distributed/nats-access.ts';
import type { SlotGate } from '../schedule/slot-pool.ts';
import { bundleDir } from './bundles.ts';
import { hideTreeRoot } from './tree-root.ts';
import { startJobSampler } from './job-sampler.ts';
import type { BuildRunner } from './queue.ts';
import type { BuildBody } from './schemas.ts';

export interface LocalRunnerOptions {
  readonly state: StateLayout;
  /** Tree name → directory (kiln serve --tree NAME=DIR). */
  readonly trees: ReadonlyMap<string, string>;
  readonly sandbox?: SandboxChoice | undefined;
  /** Most bytes of a build's output a job log holds (kiln serve --log-limit). */
  readonly logLimit?: number | undefined;
  /** No job of any tenant runs longer than this (kiln serve --job-timeout). */
  readonly jobTimeoutMs?: number | undefined;
  /** No job of any tenant reserves more cpus than this, nor gets a larger $JOBS (kiln serve --max-job-cpus; default: what its recipe asks). */
  readonly maxJobCpus?: number | undefined;
  /** kiln serve --nats URL: the jobs go to `kiln worker`s. */
  readonly nats?: string | undefined;
  /** With nats: its .creds / nkey / TLS files (distributed/nats-access.ts). */
  readonly natsAccess?: NatsAccess | undefined;
  /** For tests; default runBuild. */
  readonly runBuild?: (req: BuildRequest) => Promise<BuildResult>;
  /** How often running jobs are sampled (default 5 s). */
  readonly sampleIntervalMs?: number | undefined;
  readonly onError?: ((message: string) => void) | undefined;
}

/** The folder this build's uploaded tree was unpacked into; undefined for a named server tree. */
export function uploadedTreeDir(build: Pick<BuildRecord, 'request' | 'tenant'>, stateRoot: string): string | undefined {
  const body = build.request as Partial<BuildBody>;
  return body.bundle === undefined ? undefined : bundleDir(stateRoot, build.tenant, body.bundle);
}

/** Where a build's tree is: the named tree, or the tenant's bundle; undefined when gone. */
export function treeDirOf(build: BuildRecord, trees: ReadonlyMap<string, string>, stateRoot: string): string | undefined {
  return uploadedTreeDir(build, stateRoot) ?? trees.get(build.tree);
}

/**
 * A build error as an API caller should read it: the Debian scan names where a value came
 * from as the CLI flag that gave it (`--debian: the mirror … has no suite "x"`); a daemon
 * build got it from its request's field. Pure.
 */
export function apiWording(text: string): string {
  return text.replace(/^--debian: /, 'debian.suite: ').replace(/^--arch: /, 'archs: ');
}

export function localRunner(options: LocalRunnerOptions): BuildRunner {
  const run = options.runBuild ?? realRunBuild;
  return async (build: BuildRecord, ctx: { bus: EventBus; maxJobs: number; slotGate?: SlotGate | undefined; signal: AbortSignal }) => {
    const treeDir = treeDirOf(build, options.trees, options.state.root);
    if (treeDir === undefined) {
      throw new KilnError('tree-not-found', `build ${build.id} asks for tree "${build.tree}", which this server no longer knows`, {
        hint: 'start kiln serve with --tree NAME=DIR for it',
      });
    }
    const body = build.request as BuildBody;
    const sampler = startJobSampler({
      bus: ctx.bus,
      stateRoot: options.state.root,
      workRoot: options.state.work,
      ...(options.sampleIntervalMs === undefined ? {} : { intervalMs: options.sampleIntervalMs }),
      onError: (e) => options.onError?.(`build ${build.id}: a job sample failed: ${e instanceof Error ? e.message : String(e)}`),
    });
    const result = await run({
      treeDir,
      stateDir: options.state.root,
      cacheDir: options.state.cache,
      // The daemon's --sandbox, never the uploaded tree's: a client's kiln.toml must not
      // choose to run its scripts on the daemon's host.
      sandbox: options.sandbox ?? 'auto',
      onDaemon: true,
      // Each tenant's Debian builds publish into a repository of its own: one tenant's
      // local .dsc of hello 2.10-3 must not replace what another published under that version.
      repoDir: join(options.state.root, 'repos', build.tenant),
      env: body.env,
      lease: true,
      state: options.state,
      targets: body.targets ?? [],
      ...(body.debian === undefined ? {} : {
        debian: {
          suite: body.debian.suite, sources: body.debian.sources, dscs: [], all: false, mirror: undefined,
          profiles: body.debian.profiles ?? [], nocheck: body.debian.nocheck === true, mode: 'binary' as const, cpus: undefined, withTree: true,
          ...(body.debian.cross === true ? { cross: true } : {}),
          ...(body.debian.tryInstall === true ? { tryInstall: true } : {}),
          ...(body.debian.autopkgtest === true ? { autopkgtest: true } : {}),
          ...(body.debian.checkValidUntil === false ? { checkValidUntil: false as const } : {}),
          ...(body.debian.binnmu === undefined ? {} : { binnmu: body.debian.binnmu }),
        },
      }),
      archs: body.archs,
      force: [],
      maxJobs: ctx.maxJobs,
      failFast: false,
      keepFailed: false,
      logLimit: options.logLimit,
      jobTimeoutMs: options.jobTimeoutMs,
      maxJobCpus: options.maxJobCpus,
      ...(options.nats === undefined ? {} : { nats: options.nats, natsAccess: options.natsAccess, warn: (text: string) => options.onError?.(`build ${build.id}: ${text}`) }),
      bus: ctx.bus,
      signal: ctx.signal,
      slotGate: ctx.slotGate,
    }).catch((e: unknown) => {
      if (!isKilnError(e)) throw e;
      // The request's fields, not the CLI's flags; an uploaded tree's files named as the client knows them (tree-root.ts).
      const say = (text: string): string => (body.bundle === undefined ? apiWording(text) : hideTreeRoot(apiWording(text), treeDir));
      const message = say(e.message);
      const hint = e.hint === undefined ? undefined : say(e.hint);
      if (message === e.message && hint === e.hint) throw e;
      throw new KilnError(e.code, message, { ...(hint === undefined ? {} : { hint }), cause: e });
    }).finally(() => sampler.stop());
    return { runId: result.runId, state: result.state };
  };
}
