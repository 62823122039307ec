// The clock of a task's named steps: each lap adds the time since the last one to its
// step, so a step that runs in several pieces sums up. `overlapped` lists the steps that
// ran while something else went on in the background (the caller says which).

export interface Laps {
  readonly timings: Record<string, number>;
  readonly overlapped: string[];
  /** Adds the time since the last lap (or restart) to step `what`. */
  lap(what: string): void;
  /** Restarts the clock without a lap. */
  restart(): void;
  /** Milliseconds since the last lap (or restart). */
  since(): number;
}

/** A clock started now, with no laps yet. */
export function startLaps(now: () => number = () => performance.now()): Laps {
  const timings: Record<string, number> = {};
  let t = now();
  return {
    timings,
    overlapped: [],
    lap(what) {
      const at = now();
      timings[what] = Math.round((timings[what] ?? 0) + at - t);
      t = at;
    },
    restart() {
      t = now();
    },
    since: () => now() - t,
  };
}
