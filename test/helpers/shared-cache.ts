// The downloads and verified Debian indexes that slow tests keep across runs ($KILN_TEST_CACHE):
// a test starts from hard links of them and gives back what it downloaded.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Downloads and verified indexes kept across test runs (content-addressed, so safe to share). */
export const SHARED_CACHE = process.env['KILN_TEST_CACHE'] ?? '/var/tmp/kiln-test-cache';

/** A fresh cache dir whose downloads and indexes start as hard links of the shared ones. */
export async function seededCache(dir: string): Promise<string> {
  const cache = join(dir, 'cache');
  for (const sub of ['downloads', 'indexes']) {
    await mkdir(join(SHARED_CACHE, sub), { recursive: true });
    await mkdir(join(cache, sub), { recursive: true });
    execFileSync('cp', ['-al', '--no-clobber', `${join(SHARED_CACHE, sub)}/.`, join(cache, sub)]);
  }
  return cache;
}

/** Keep what this test downloaded for the next run. */
export function saveCache(cache: string): void {
  for (const sub of ['downloads', 'indexes']) {
    if (existsSync(join(cache, sub))) execFileSync('cp', ['-al', '--no-clobber', `${join(cache, sub)}/.`, join(SHARED_CACHE, sub)]);
  }
}
