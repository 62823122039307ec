// kiln's output going away (`kiln build | head` once head has exited, a closed terminal):
// writing then fails (EPIPE, EIO). A command that runs until stopped (a build: its jobs,
// their workspaces, their records; `logs -f`; a build followed on a daemon) registers how
// it stops; any other finishes what it is doing, its further output going nowhere: a key
// made, an index signed or a gc halfway is never cut off by a reader that left.

let handler: ((why: string) => void) | undefined;

/** While a build runs: how it stops when its output goes away (undefined: as on SIGTERM). */
export function whenOutputCloses(fn: ((why: string) => void) | undefined): void {
  handler = fn;
}

/** kiln's stdout or stderr can no longer be written (main.ts). */
export function outputClosed(code: string | undefined): void {
  const why = code === 'EIO' ? 'its terminal is gone' : 'its output was closed: the reader of the pipe went away';
  if (handler !== undefined) handler(why);
}
