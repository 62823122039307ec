// A worker's job log as it grows, sent to the coordinator (kiln logs -f there follows it).

import { open } from 'node:fs/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { logsSubject } from './cluster.ts';

/** How often a job's log is sent as it grows, and the most bytes per message (NATS's limit is 1 MiB). */
const LOG_STREAM_MS = 500;
const LOG_CHUNK = 256 * 1024;

/**
 * Publishes what `file` gains, every LOG_STREAM_MS, as chunks with their offset (core
 * NATS: a chunk lost is filled in by the whole log the result brings).
 */
export function streamLog(nc: NatsConnection, file: string, runId: string, jobId: string, attempt: number): { stop(): Promise<void> } {
  let offset = 0;
  let busy: Promise<void> = Promise.resolve();
  const send = async (): Promise<void> => {
    const fh = await open(file, 'r').catch(() => undefined);
    if (fh === undefined) return;
    try {
      for (;;) {
        const buf = Buffer.alloc(LOG_CHUNK);
        const { bytesRead } = await fh.read(buf, 0, LOG_CHUNK, offset);
        if (bytesRead === 0) return;
        nc.publish(logsSubject(runId, jobId), JSON.stringify({ attempt, offset, data: buf.subarray(0, bytesRead).toString('base64') }));
        offset += bytesRead;
      }
    } finally {
      await fh.close();
    }
  };
  const timer = setInterval(() => {
    busy = busy.then(send, send);
  }, LOG_STREAM_MS);
  return {
    async stop() {
      clearInterval(timer);
      await busy.catch(() => undefined);
    },
  };
}
