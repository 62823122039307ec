// While a run's jobs go: its sign of life and its live report. The sign of life is for a
// kiln killed with -9 while its builds print nothing: the mtime of the run's log folder,
// refreshed every HEARTBEAT_MS (markInterruptedRuns ends a cut-off job no earlier than
// it). The live report is poudriere's live build page: report.html written every
// LIVE_REPORT_MS from the records, reloading itself until the run ends.

import type { ArtifactLabels } from '../publish/artifact-labels.ts';
import { utimesSync } from 'node:fs';
import { join } from 'node:path';
import type { EventBus } from '../events/events.ts';
import { buildReport, writeReport } from '../publish/report.ts';
import type { BuildMode } from './build-mode.ts';
import type { Records } from '../records/records.ts';
import { positiveFromEnv } from '../lib/env-number.ts';

/** How often a running build refreshes its sign of life. */
const HEARTBEAT_MS = 5_000;
/** How often the report of a running build is written (KILN_LIVE_REPORT_MS, for tests). */
const LIVE_REPORT_MS = positiveFromEnv('KILN_LIVE_REPORT_MS', 30_000);

export interface LiveSigns {
  /** No more live reports; resolves once one being written is (the final report must come after it). Idempotent. */
  stopReports(): Promise<void>;
  /** No more of either (the run is over, its last steps done); as stopReports. Idempotent. */
  stop(): Promise<void>;
}

export function startLiveSigns(o: {
  readonly stateRoot: string;
  readonly logDir: string;
  readonly reportDir: string;
  readonly runId: string;
  readonly records: Records;
  /** The category folder of each package in one (buildReport). */
  readonly categories: ReadonlyMap<string, string>;
  readonly labels: ReadonlyMap<string, ArtifactLabels>;
  /** How each job not built natively is built (buildModesOf); undefined with --nats. */
  readonly buildModes: ReadonlyMap<string, Exclude<BuildMode, 'native'>> | undefined;
  /** The run's records subscriber: flushed before each live report. */
  readonly recorder: { flush(): void };
  readonly bus: EventBus;
  /** A daemon's tenants see the build's page instead (the path is the daemon's): not said. */
  readonly onDaemon: boolean;
}): LiveSigns {
  const heartbeat = setInterval(() => {
    const now = new Date();
    try {
      utimesSync(o.logDir, now, now);
    } catch {
      // not made yet (no job has opened its log), or removed: nothing to refresh
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();
  if (!o.onDaemon) o.bus.emit({ type: 'note', at: Date.now(), text: `report: ${join(o.reportDir, 'report.html')} (written ${LIVE_REPORT_MS / 1000} s into the run, then every ${LIVE_REPORT_MS / 1000} s, and when it ends: open it in a browser)` });
  let writing: Promise<unknown> = Promise.resolve();
  const live = setInterval(() => {
    writing = writing.then(async () => {
      o.recorder.flush();
      await writeReport(o.stateRoot, buildReport(o.records, o.runId, o.categories, undefined, o.labels, o.buildModes));
    }).catch(() => undefined);
  }, LIVE_REPORT_MS);
  live.unref();
  const stopReports = async (): Promise<void> => {
    clearInterval(live);
    await writing;
  };
  return {
    stopReports,
    async stop() {
      clearInterval(heartbeat);
      await stopReports();
    },
  };
}
