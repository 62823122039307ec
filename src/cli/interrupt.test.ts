import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKilnError } from '../errors.ts';
import { withInterrupt } from './interrupt.ts';
import type { CliContext } from './main.ts';

test('withInterrupt: once interrupted, whatever the work throws (a stream\'s own AbortError) ends as the cancel, exit 130\'s cancelled', async () => {
  let said = '';
  const ctx = { stderr: { write: (s: string) => void (said += s) } } as unknown as CliContext;
  const run = withInterrupt(ctx, async (signal) => {
    await new Promise((r) => setTimeout(r, 10));
    process.emit('SIGINT', 'SIGINT');
    assert.equal(signal.aborted, true);
    // What createReadStream and child_process throw on an abort: not the signal's reason.
    throw Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
  }, { what: 'nothing was left' });
  await assert.rejects(run, (e) => isKilnError(e) && e.code === 'cancelled' && /interrupted by SIGINT; nothing was left/.test(e.message));
  assert.match(said, /SIGINT: stopping/);
  // Interrupted, but the work failed for a reason of its own: that reason, not the cancel.
  const own = withInterrupt(ctx, async () => {
    process.emit('SIGINT', 'SIGINT');
    throw new Error('E: Unable to locate package foo');
  });
  await assert.rejects(own, /Unable to locate package foo/);
  // Not interrupted: the error is the work's own.
  await assert.rejects(withInterrupt(ctx, async () => { throw new Error('its own'); }), /its own/);
});
