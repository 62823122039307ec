// Runaway forking: a fork bomb never ends by itself. Each process whose fork is refused
// at the cgroup's pids limit exits and frees a slot that the next fork takes, so a build
// stuck at its limit burns CPU until its timeout (and a recipe has none by default). While
// a run goes, a cgroup backend samples its group's count of refused forks; forks refused
// in every sample of a whole window (10 s) mean a runaway tree, which is then ended and
// reported `pids-limit`. A build that hits the limit in a burst (a configure probe, a
// make -j spike) and goes on is left alone.

/** Time between two samples of the refused-fork counter. */
export const FORK_WATCH_INTERVAL_MS = 1000;
/** Consecutive intervals with refused forks that make a run runaway. */
export const FORK_WATCH_WINDOW = 10;

/** Pure: do the counter samples (oldest first) rise in each of the last `window` intervals? */
export function isRunawayForking(samples: readonly number[], window: number = FORK_WATCH_WINDOW): boolean {
  if (window < 1 || samples.length < window + 1) return false;
  const recent = samples.slice(-(window + 1));
  for (let i = 1; i < recent.length; i++) if (recent[i]! <= recent[i - 1]!) return false;
  return true;
}

/**
 * Sample `refusedForks` every interval; call `onRunaway` once when isRunawayForking says so.
 * Returns the function that stops the sampling (call it once the run is over).
 */
export function watchForks(
  refusedForks: () => Promise<number>,
  onRunaway: () => void,
  options: { readonly intervalMs?: number; readonly window?: number } = {},
): () => void {
  const window = options.window ?? FORK_WATCH_WINDOW;
  const samples: number[] = [];
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const sample = async (): Promise<void> => {
    const n = await refusedForks().catch(() => undefined);
    if (stopped) return;
    if (n === undefined) samples.length = 0;
    else samples.push(n);
    if (samples.length > window + 1) samples.shift();
    if (isRunawayForking(samples, window)) {
      stopped = true;
      onRunaway();
      return;
    }
    timer = setTimeout(() => void sample(), options.intervalMs ?? FORK_WATCH_INTERVAL_MS);
    // The build's own process keeps kiln alive, not this watch.
    timer.unref();
  };
  void sample();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
