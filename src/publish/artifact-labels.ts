// What a report says of a package beside its state, read from its artifact's meta.json
// (execute/pack-output.ts writes it): its summary and license (pkgsrc's pkg_summary
// COMMENT and LICENSE) and, for a restricted one (recipe key `restricted`), why it is not
// published or served. The records do not keep them; the artifact does, and its meta.json
// never says other of them for its key (the recipe's bytes are in the key), so each is
// read once a process.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface ArtifactLabels {
  readonly summary?: string;
  readonly license?: string;
  readonly restricted?: string;
}

const seen = new Map<string, ArtifactLabels>();
const MAX_REMEMBERED = 100_000;

/** Why an artifact may not be published or handed out (its meta.json's `restricted`), or undefined when it may. */
export function restrictionOf(meta: { readonly restricted?: unknown }): string | undefined {
  return typeof meta.restricted === 'string' ? meta.restricted : undefined;
}

/**
 * The labels of the artifact at `artifact` (its archive, or its entry's folder when it
 * installed nothing, as the records hold it); {} when its meta.json cannot be read (cache
 * gc removed it) or says none (an entry stored before kiln kept them).
 */
export function artifactLabels(artifact: string): ArtifactLabels {
  const known = seen.get(artifact);
  if (known !== undefined) return known;
  const dir = artifact.endsWith('.tar.zst') ? dirname(artifact) : artifact;
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return {}; // not remembered: the entry may be stored again
  }
  const text = (k: string): Record<string, string> => (typeof meta[k] === 'string' ? { [k]: meta[k] } : {});
  const restricted = restrictionOf(meta);
  const labels: ArtifactLabels = { ...text('summary'), ...text('license'), ...(restricted === undefined ? {} : { restricted }) };
  // A daemon reports runs for months: what it remembers stays bounded.
  if (seen.size >= MAX_REMEMBERED) seen.clear();
  seen.set(artifact, labels);
  return labels;
}
