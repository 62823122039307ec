// Input keys. A node's own key covers what it is built from (recipe and referenced
// files, source checksums, the build environment's id, the arch); its full key adds
// the OUTPUT hashes of everything staged for it, so that a dependency rebuilt to
// byte-identical output leaves its dependents up to date (early cutoff).

import { sha256Parts } from '../lib/hash.ts';

export const KEY_VERSION = 'kiln-key-1';

export interface OwnKeyParts {
  readonly recipeHash: string;
  readonly sourcesHash: string;
  readonly envId: string;
  readonly arch: string;
}

export function ownKeyOf(p: OwnKeyParts): string {
  return sha256Parts([KEY_VERSION, p.recipeHash, p.sourcesHash, p.envId, p.arch]);
}

/** depOutputs: staged node id → that node's output hash. */
export function fullKeyOf(ownKey: string, depOutputs: ReadonlyMap<string, string> | Readonly<Record<string, string>>): string {
  const entries = depOutputs instanceof Map ? [...depOutputs.entries()] : Object.entries(depOutputs);
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return sha256Parts([ownKey, ...entries.map(([id, h]) => `${id}=${h}`)]);
}
