// kiln's output going away (`kiln build | head` once head has exited, a closed terminal):
// writing then fails (EPIPE, EIO). A command that must clean up (a build: its jobs, their
// workspaces, their records) registers how it stops; any other ends as on SIGTERM.

let handler: ((why: string) => void) | undefined;

/** While a build runs: how it stops when its output goes away (undefined: as on SIGTERM). */
export function whenOutputCloses(fn: ((why: string) => void) | undefined): void {
  handler = fn;
}

/** kiln's stdout or stderr can no longer be written (main.ts). */
export function outputClosed(code: string | undefined): void {
  const why = code === 'EIO' ? 'its terminal is gone' : 'its output was closed: the reader of the pipe went away';
  if (handler !== undefined) handler(why);
  else process.kill(process.pid, 'SIGTERM');
}
