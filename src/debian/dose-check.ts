// Starting dose-builddebcheck for a Debian scan (debian-scan.ts) and waiting for it: the
// runs go one after another in the background while the scan does everything that does not
// need their answer; `started` and `ms` give dose's own wall time for the scan's timings.

import type { DebianRequest } from './debian-scan.ts';
import { runSources, type DoseRun } from './dose-runs.ts';
import { checkInstallable, type Uninstallable } from './installability.ts';
import { profilesOf } from './source-relations.ts';
import { jobOptions } from './cross.ts';

/** dose-builddebcheck runs under way: their answers, and how long they took (wall). */
export interface Checking {
  readonly runs: readonly DoseRun[];
  answers: Promise<Uninstallable[][]>;
  /** Settles once the first run has started (or the runs failed before). */
  readonly running: Promise<void>;
  /** When the first run started, and how long the runs took once done. */
  started: number;
  ms: number;
  readonly stop: () => void;
}

/** Starts dose-builddebcheck on `runs` (one after another), `packagesFor` giving each run's Packages. */
export function check(req: DebianRequest, runs: readonly DoseRun[], packagesFor: (run: DoseRun) => { text: string } | { paths: readonly string[] }): Checking {
  const stop = new AbortController();
  const signal = req.signal === undefined ? stop.signal : AbortSignal.any([req.signal, stop.signal]);
  let running = (): void => undefined;
  const c: Checking = { runs, answers: Promise.resolve([]), running: new Promise((resolve) => { running = resolve; }), started: 0, ms: 0, stop: () => stop.abort() };
  // dose's own wall time, from the start of its first run (its input written) to its last answer.
  const started = (): void => {
    if (c.started === 0) c.started = performance.now();
    running();
  };
  c.answers = (async () => {
    const out: Uninstallable[][] = [];
    for (const run of runs) {
      const packages = packagesFor(run);
      out.push(await checkInstallable({
        ...('paths' in packages ? { packagesPaths: packages.paths } : { packages: packages.text }),
        sources: runSources(run),
        // --cross: dose's native arch is the build arch, its host arch the run's.
        ...(run.cross === undefined ? { arch: run.arch } : { arch: run.cross, hostArch: run.arch }),
        profiles: profilesOf(jobOptions(req.options, run.cross !== undefined)),
        ...(run.mode === 'binary-arch' ? { drop: 'indep' as const } : run.mode === 'binary-indep' ? { drop: 'arch' as const } : {}),
        signal,
        onStart: started,
      }));
    }
    c.ms = performance.now() - c.started;
    return out;
  })();
  c.answers.finally(running).catch(() => undefined); // awaited later: never an unhandled rejection meanwhile
  return c;
}

/** Milliseconds since dose runs `c` started (0 if they never did), as `installability-discarded`. */
export function discardedMs(c: Checking): number {
  return Math.round(c.started === 0 ? 0 : performance.now() - c.started);
}
