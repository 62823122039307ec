// kiln started by `npx kiln …` or `npm run kiln -- …` has npm for its parent, and npm does
// not pass SIGTERM on: `kill <npx pid>` (or `timeout`, or a CI runner stopping the step)
// ended npm alone and left kiln building, or a daemon serving, under pid 1. So under npm,
// kiln watches its parent and, once npm is gone, stops as on SIGTERM: a build cancels its
// jobs and records them, a daemon puts its builds back in the queue.

/** How often the parent is checked: a reparented kiln stops within this. */
export const PARENT_CHECK_MS = 500;

/** Whether this process was started by npm (npx, npm exec, npm run). */
export function startedByNpm(env: NodeJS.ProcessEnv): boolean {
  return env['npm_command'] !== undefined && env['npm_command'] !== '';
}

/** Under npm: SIGTERM to kiln itself once its parent process is gone (it was re-parented). */
export function stopWithNpm(env: NodeJS.ProcessEnv = process.env): void {
  if (!startedByNpm(env)) return;
  const parent = process.ppid;
  if (parent <= 1) return;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  }, PARENT_CHECK_MS);
  timer.unref();
}
