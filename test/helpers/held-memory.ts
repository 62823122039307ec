import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * Buffer memory (process.memoryUsage().arrayBuffers) right after full collections: what
 * is really held, unlike RSS, which uncollected garbage from a stream grows by tens of
 * MB on a loaded machine. Cheap enough to call every hundred chunks of a stream.
 */
export function heldBufferBytesNow(): number {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers;
}

/** heldBufferBytesNow after a few turns of the event loop, for a figure after a run. */
export async function heldBufferBytes(): Promise<number> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  return heldBufferBytesNow();
}
