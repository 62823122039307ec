// `kiln build --nats` and `kiln serve --nats`: a run's jobs handed to the workers
// (remote-executor.ts), over a connection of its own.

import type { Execute } from '../plan/job.ts';
import { createRemoteExecutor, type RemoteExecutorOptions } from './remote-executor.ts';

/**
 * A run's remote execution from connecting on: the cluster
 * and the executor over it; close() ends both. `say` hears of the NATS server going away.
 */
export async function openRemoteExecution(o: Omit<RemoteExecutorOptions, 'cluster'> & { readonly url: string; readonly say: (text: string) => void }): Promise<{ execute: Execute; url: string; close(): Promise<void> }> {
  const { openCluster } = await import('./cluster.ts');
  // Each job's queue (arch and env) is made when its first job goes on it.
  const cluster = await openCluster(o.url, [], { say: o.say });
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
