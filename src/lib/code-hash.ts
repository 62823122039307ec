// The hash of some of kiln's own source files, as this process loads them: what a cache
// of kiln's decisions (the scan cache, the plan memo) is only valid for. Taken when the
// calling module loads, so that a daemon upgraded on disk keeps the hash of the code it runs.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from './hash.ts';

/** sha256 over each module's path and content (paths relative to src/); undefined when one cannot be read. */
export function codeHashOf(modules: readonly string[]): string | undefined {
  try {
    const src = join(import.meta.dirname, '..');
    return sha256(modules.map((m) => `${m}\0${sha256(readFileSync(join(src, m)))}\n`).join(''));
  } catch {
    return undefined;
  }
}
