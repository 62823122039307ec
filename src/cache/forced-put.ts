// What a put over a sound stored entry does with the output just built (a forced rebuild:
// a normal build has just seen no entry). Pure; artifacts.ts carries it out.
//
// The same output with the same warnings: the entry stays. The same output with other
// warnings (a newer kiln's checks): the entry's meta.json takes this build's. Another
// output replaces the entry for `--force` (what a user forces a rebuild for: a host that
// changed in a way the key cannot see, a damaged entry), and when it is clean where the
// stored one was warned of (--fail-on-warnings rebuilt it for that); else the entry stays
// (a `--twice` rebuild compares, it does not store: one output per key).

export type OverExisting = 'keep' | 'rewrite-warnings' | 'replace';

export function overExisting(
  stored: { readonly outputHash: string; readonly warnings?: readonly string[] | undefined },
  built: { readonly outputHash: string; readonly warnings: readonly string[] },
  replace: boolean,
): OverExisting {
  const before = stored.warnings ?? [];
  const sameWarnings = before.length === built.warnings.length && before.every((w, i) => w === built.warnings[i]);
  if (built.outputHash === stored.outputHash) return sameWarnings ? 'keep' : 'rewrite-warnings';
  return replace || (before.length > 0 && built.warnings.length === 0) ? 'replace' : 'keep';
}
