// `kiln build --nats` and `kiln serve --nats`: a run's jobs handed to the workers
// (remote-executor.ts), over a connection of its own.

import type { Execute } from '../plan/job.ts';
import { hostArch } from '../run/host-env.ts';
import { workerCommand, workerEnvId } from '../run/env-id.ts';
import type { NatsAccess } from './nats-access.ts';
import { createRemoteExecutor, type RemoteExecutorOptions } from './remote-executor.ts';

/**
 * A run's remote execution from connecting on: the cluster
 * and the executor over it; close() ends both. `say` hears of the NATS server going away;
 * `access`: the command's NATS files besides the URL (nats-access.ts).
 */
export async function openRemoteExecution(o: Omit<RemoteExecutorOptions, 'cluster'> & { readonly url: string; readonly access?: NatsAccess | undefined; readonly say: (text: string) => void }): Promise<{ execute: Execute; url: string; close(): Promise<void> }> {
  const { openCluster } = await import('./cluster.ts');
  // Each job's queue (arch and env) is made when its first job goes on it.
  const cluster = await openCluster(o.url, [], { say: o.say, access: o.access });
  const remote = await createRemoteExecutor({ ...o, cluster });
  return {
    execute: remote.execute,
    url: cluster.url,
    async close() {
      await remote.close();
      await cluster.close();
    },
  };
}

/** The run's note of which workers build its jobs: those of each arch in the env the jobs were planned for, and how to start one. */
export function workersNote(toBuild: readonly { readonly arch: string; readonly envId: string }[], url: string, allArch: string): string {
  const pools = new Map(toBuild.map((n) => {
    const arch = n.arch === 'all' ? allArch : n.arch;
    const envId = workerEnvId(n.envId);
    return [`${arch} ${envId}`, { arch, envId }];
  }));
  const starts = [...pools.values()].map((p) => `${p.arch} in ${p.envId} (${workerCommand(url, p.arch, p.envId, hostArch())})`);
  return `the jobs go to the workers of ${starts.join(', ')}`;
}
