// Why no worker has taken a job yet, for the coordinator's note: the workers are asked
// what they serve (worker-status.ts), once per queue however many of its jobs wait.

import type { NatsConnection } from '@nats-io/transport-node';
import { askWorkers, unclaimedHint } from './worker-status.ts';

/** How long one answer serves every job of the same queue. */
const ASKED_FOR_MS = 10_000;

/** The workers' answers for the jobs of one arch and env, asked at most once per ASKED_FOR_MS. */
export function unclaimedWhy(nc: NatsConnection): (arch: string, envId: string) => Promise<string | undefined> {
  const asked = new Map<string, { at: number; why: Promise<string | undefined> }>();
  return (arch, envId) => {
    const key = `${arch} ${envId}`;
    const have = asked.get(key);
    if (have !== undefined && Date.now() - have.at < ASKED_FOR_MS) return have.why;
    const why = askWorkers(nc).then((r) => unclaimedHint(r.statuses, arch, envId), () => undefined);
    asked.set(key, { at: Date.now(), why });
    return why;
  };
}
