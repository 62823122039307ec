// "Did you mean …?" for names the user typed: the closest of the known names within a
// small edit distance (a typo of a suite, a debian.toml key). Pure.

/** Debian's suite names and aliases, for a hint when a suite is not on the mirror. */
export const KNOWN_SUITES = ['buster', 'bullseye', 'bookworm', 'trixie', 'forky', 'duke', 'sid', 'experimental', 'oldoldstable', 'oldstable', 'stable', 'testing', 'unstable'] as const;

/** The name of `names` closest to `word` within `maxEdits` edits (not `word` itself), if any. */
export function closestName(word: string, names: readonly string[], maxEdits = 2): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of names) {
    // The distance is at least the difference in length: skip those without counting.
    if (Math.abs(name.length - word.length) > maxEdits) continue;
    // A difference of case alone (Summary, Bookworm) is the nearest of all.
    const d = editDistance(word.toLowerCase(), name.toLowerCase());
    if ((d > 0 || word !== name) && d <= maxEdits && (best === undefined || d < best.d)) best = { name, d };
  }
  return best?.name;
}

/** The hint for a suite the mirror lacks: the likely intended one, else examples. */
export function suiteHint(suite: string): string {
  const near = closestName(suite, KNOWN_SUITES);
  return near === undefined ? 'name a suite the mirror has, e.g. bookworm, trixie or sid' : `did you mean "${near}"?`;
}

/**
 * Edit distance with adjacent transpositions (insert, delete, substitute, swap two
 * neighbours: the optimal string alignment distance), so that "arm46" is one edit from
 * arm64, as "nochek" is from nocheck.
 */
export function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      row.push(d);
    }
    before = prev;
    prev = row;
  }
  return prev[b.length]!;
}
