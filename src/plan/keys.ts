// Input keys. A node's own key covers what it is built from (recipe and referenced
// files, source checksums, the build environment's id, the arch); its full key adds
// the OUTPUT hashes of everything staged for it, so that a dependency rebuilt to
// byte-identical output leaves its dependents up to date (early cutoff).

import { lengthPrefixed, sha256, sha256Parts } from '../lib/hash.ts';

export const KEY_VERSION = 'kiln-key-1';

export interface OwnKeyParts {
  readonly recipeHash: string;
  readonly sourcesHash: string;
  readonly envId: string;
  readonly arch: string;
}

const KEY_VERSION_PART = lengthPrefixed(KEY_VERSION);

export function ownKeyOf(p: OwnKeyParts): string {
  // sha256Parts([KEY_VERSION, recipeHash, sourcesHash, envId, arch]), written out (once per node).
  return sha256(`${KEY_VERSION_PART}${lengthPrefixed(p.recipeHash)}${lengthPrefixed(p.sourcesHash)}${lengthPrefixed(p.envId)}${lengthPrefixed(p.arch)}`);
}

/** depOutputs: staged node id → that node's output hash. */
export function fullKeyOf(ownKey: string, depOutputs: ReadonlyMap<string, string> | Readonly<Record<string, string>>): string {
  const entries = depOutputs instanceof Map ? [...depOutputs.entries()] : Object.entries(depOutputs);
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return sha256Parts([ownKey, ...entries.map(([id, h]) => `${id}=${h}`)]);
}

/**
 * fullKeyOf for staged ids already sorted and unique (a graph node's waitsFor), with
 * their output hashes at the same index: the same key, without an entry array per node.
 */
export function fullKeyOfSorted(ownKey: string, ids: readonly string[], outputs: readonly string[]): string {
  // sha256Parts([ownKey, ...`${id}=${hash}`]) without the array.
  let s = lengthPrefixed(ownKey);
  for (let i = 0; i < ids.length; i++) s += lengthPrefixed(`${ids[i]!}=${outputs[i]!}`);
  return sha256(s);
}
