// What a run's jobs are handed to: the local executor (execute/execute-job.ts), or with
// --nats the workers through NATS (distributed/remote-execution.ts). Loaded only when
// something is to be built: a no-change run brings in neither, nor the fetch, sandbox and
// log code behind them.

import { join } from 'node:path';
import type { Downloads } from '../cache/downloads.ts';
import { createBuildLocks, type BuildLocks } from '../cache/build-locks.ts';
import type { ArtifactStore } from '../cache/artifact-types.ts';
import type { StagedOutput } from '../execute/executor-options.ts';
import { DEFAULT_SOURCE_DATE_EPOCH } from '../execute/build-env.ts';
import type { Execute } from '../plan/job.ts';
import type { PlanNode } from '../plan/plan.ts';
import { allArchOf, hostArch } from './host-env.ts';
import type { PreparedPlan } from './prepare-plan.ts';
import type { BuildRequest } from './run-build.ts';

export interface RunExecution {
  readonly execute: Execute;
  close(): Promise<void>;
}

export async function openExecution(o: {
  req: BuildRequest;
  prepared: PreparedPlan;
  runId: string;
  toBuild: readonly PlanNode[];
  outputs: Map<string, StagedOutput>;
  artifacts: ArtifactStore;
  mirrors: Readonly<Record<string, string>>;
  downloads: Downloads;
  /** A job's learned duration, undefined when only estimated. */
  expectedOf: (id: string) => number | undefined;
}): Promise<RunExecution> {
  const { req, prepared, runId, outputs, artifacts, mirrors } = o;
  const { state, bus } = req;
  const note = (text: string): void => bus.emit({ type: 'note', at: Date.now(), text });
  const executor = await import('../execute/execute-job.ts');
  const logDir = join(state.logs, runId);
  const logPathOf = (id: string): string => executor.logPathOf(logDir, id);
  // --nats: the workers build; this process plans, records and reports.
  if (req.nats !== undefined) {
    const { openRemoteExecution, workersNote } = await import('../distributed/remote-execution.ts');
    const allArch = allArchOf(prepared.archs, hostArch());
    const fetchPolicy = (await import('../lib/fetch-guard.ts')).policyForWorkers();
    const remote = await openRemoteExecution({
      url: req.nats,
      access: req.natsAccess,
      say: (text) => {
        note(text);
        req.warn?.(`run ${runId}: ${text}`);
      },
      runId, artifacts, cacheDir: state.cache, bus, outputs, allArch,
      logDir,
      logPathOf,
      mirrors,
      options: {
        ...(req.logLimit === undefined ? {} : { logLimit: req.logLimit }),
        ...(req.jobTimeoutMs === undefined ? {} : { maxTimeoutMs: req.jobTimeoutMs }),
        ...(req.loopTimeoutMs === undefined ? {} : { loopTimeoutMs: req.loopTimeoutMs }),
        sourceDateEpoch: DEFAULT_SOURCE_DATE_EPOCH,
        profiles: [...prepared.profiles],
        warningsFail: req.failOnWarnings === true,
        ...(req.retries === undefined || req.retries === 0 ? {} : { retries: req.retries }),
        // A daemon's tenants may not reach the workers' network either.
        ...(fetchPolicy === undefined ? {} : { fetchPolicy }),
      },
      expectedMs: o.expectedOf,
      ...(req.warn === undefined ? {} : { warn: req.warn }),
    });
    note(workersNote(o.toBuild, remote.url, allArch));
    return { execute: remote.execute, close: () => remote.close() };
  }
  // --ccache / kiln.toml ccache: the compiler cache of the builds (execute/ccache.ts).
  const ccache = req.ccache === undefined && prepared.config.ccache === undefined ? undefined
    : (await import('../execute/ccache.ts')).ccacheSettingsOf({ ...req, config: prepared.config, twice: req.forcedBy === 'twice', note });
  const buildLocks: BuildLocks = createBuildLocks(state.cache, runId);
  const execute = executor.createExecutor({
    runId,
    backend: prepared.envs.backend,
    envFor: (arch) => prepared.envs.envFor(arch),
    downloadsDir: join(state.cache, 'downloads'),
    downloads: o.downloads,
    artifacts,
    bus,
    outputs,
    workRoot: state.work,
    logDir,
    keepFailed: req.keepFailed,
    // A daemon samples each host build's processes by its workspace folder.
    ...(req.onDaemon === true ? { workspaceAtWorkDir: true } : {}),
    ...(req.logLimit === undefined ? {} : { logLimit: req.logLimit }),
    ...(req.jobTimeoutMs === undefined ? {} : { maxTimeoutMs: req.jobTimeoutMs }),
    ...(req.loopTimeoutMs === undefined ? {} : { loopTimeoutMs: req.loopTimeoutMs }),
    ...(req.failOnWarnings === true ? { warningsFail: true } : {}), ...(req.forcedBy === 'twice' ? { twice: true } : {}), ...(req.substitute === undefined ? {} : { substitute: req.substitute }),
    ...(req.retries === undefined || req.retries === 0 ? {} : { retries: req.retries }),
    sourceDateEpoch: DEFAULT_SOURCE_DATE_EPOCH,
    profiles: prepared.profiles,
    expectedMs: o.expectedOf,
    buildLocks,
    ...(ccache === undefined ? {} : { ccache }),
  });
  return {
    execute,
    async close() {
      buildLocks.close();
    },
  };
}
