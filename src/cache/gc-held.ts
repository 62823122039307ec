// What kept the cache over --max-size, said for `kiln cache gc` (gc.ts finds it).

import type { GcHeld, GcHeldReason } from './gc.ts';

/**
 * What kept the cache over --max-size, for the last line of `kiln cache gc` (pure): each
 * rule that kept something, with how much, most bytes first, e.g. "3 entries (2.1 MiB)
 * used in the last hour (…); 1 entry (4.0 KiB) kept by --keep-last-runs".
 */
export function describeHeld(held: readonly GcHeld[], size: (bytes: number) => string): string {
  if (held.length === 0) return 'files gc does not manage (not named as cache entries), or entries another kiln added meanwhile';
  const why: Record<GcHeldReason, string> = {
    recent: 'used in the last hour (the size pass never takes those: a running kiln may have just found them up to date; --older-than goes by age alone, e.g. --older-than 1m)',
    kept: 'kept by --keep-last-runs',
    'in-use': 'relied on by a running build',
    index: 'Debian indexes (removed by --older-than alone, once unused for an hour)',
    writing: 'being written (removed once unwritten for an hour)',
  };
  return [...held]
    .sort((a, b) => b.bytes - a.bytes)
    .map((h) => `${h.count} ${h.count === 1 ? 'entry' : 'entries'} (${size(h.bytes)}) ${why[h.reason]}`)
    .join('; ');
}
