// The production BuildRunner: a queued build becomes one runBuild() in this process, on the
// tree the server knows by that name, with the state dir the server was started on.

import type { EventBus } from '../events/events.ts';
import { KilnError } from '../errors.ts';
import type { BuildRecord } from '../records/server-records.ts';
import { runBuild as realRunBuild, type BuildRequest, type BuildResult } from '../run/run-build.ts';
import type { StateLayout } from '../run/state-layout.ts';
import type { SandboxChoice } from '../sandbox/choose-backend.ts';
import type { BuildRunner } from './queue.ts';
import type { BuildBody } from './schemas.ts';

export interface LocalRunnerOptions {
  readonly state: StateLayout;
  /** Tree name → directory (kiln serve --tree NAME=DIR). */
  readonly trees: ReadonlyMap<string, string>;
  readonly sandbox?: SandboxChoice | undefined;
  /** For tests; default runBuild. */
  readonly runBuild?: (req: BuildRequest) => Promise<BuildResult>;
}

export function localRunner(options: LocalRunnerOptions): BuildRunner {
  const run = options.runBuild ?? realRunBuild;
  return async (build: BuildRecord, ctx: { bus: EventBus; maxJobs: number; signal: AbortSignal }) => {
    const treeDir = options.trees.get(build.tree);
    if (treeDir === undefined) {
      throw new KilnError('tree-not-found', `build ${build.id} asks for tree "${build.tree}", which this server no longer knows`, {
        hint: 'start kiln serve with --tree NAME=DIR for it',
      });
    }
    const body = build.request as BuildBody;
    const result = await run({
      treeDir,
      stateDir: options.state.root,
      cacheDir: options.state.cache,
      sandbox: options.sandbox,
      env: body.env,
      lease: true,
      state: options.state,
      targets: body.targets ?? [],
      archs: body.archs,
      force: [],
      maxJobs: ctx.maxJobs,
      failFast: false,
      keepFailed: false,
      bus: ctx.bus,
      signal: ctx.signal,
    });
    return { runId: result.runId, state: result.state };
  };
}
