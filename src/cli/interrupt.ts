// SIGINT and SIGTERM for a command that makes something it must not leave half made (kiln
// env create, kiln rootfs): the first one aborts `signal` (the command stops its children
// and removes what it made, then ends as cancelled: exit 130), later ones are ignored.

import { KilnError } from '../errors.ts';
import type { CliContext } from './main.ts';

export async function withInterrupt<T>(ctx: CliContext, fn: (signal: AbortSignal) => Promise<T>, o: { what?: string } = {}): Promise<T> {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) return;
    ctx.stderr.write(`\nkiln: ${sig}: stopping and removing what was half made...\n`);
    controller.abort(new KilnError('cancelled', `interrupted by ${sig}${o.what === undefined ? '' : `; ${o.what}`}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(controller.signal);
  } catch (e) {
    // Interrupted: what broke off for it (a stream's own AbortError) is the cancel; any other error is its own.
    const aborted = e === controller.signal.reason || (e as Error | undefined)?.name === 'AbortError' || (e as NodeJS.ErrnoException | undefined)?.code === 'ABORT_ERR';
    if (controller.signal.aborted && aborted) throw controller.signal.reason;
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
