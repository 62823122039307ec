// One artifact entry as it lies on disk, read without the store's memory of it (the store,
// artifacts.ts, keeps that): its meta.json (absent, torn or foreign, or the meta), and
// whether its archive and its manifest.json are what that meta says.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sha256, sha256File } from '../lib/hash.ts';
import { manifestHash } from './archive.ts';
import type { ArtifactMeta } from './artifact-types.ts';

/** The output hash of a package that installed nothing (no manifest.json is written for it). */
export const EMPTY_OUTPUT = manifestHash([]);

/** The meta.json of the entry at `entryDir` (for `key`) as it is on disk now: absent, torn (or foreign), or its meta. */
export function readEntryMeta(entryDir: string, key: string): ArtifactMeta | 'absent' | 'torn' {
  const file = join(entryDir, 'meta.json');
  // A miss (every job of a cold build asks) is told by a stat that throws nothing:
  // a failed open would build an exception with a stack trace per job.
  if (statSync(file, { throwIfNoEntry: false }) === undefined) return 'absent';
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw e;
  }
  // The JSON files are not fsynced (two fsyncs per job cost more than a no-op build),
  // so after a power loss an entry may hold an empty or torn meta.json: such an entry
  // counts as absent, and the package is simply built again.
  let meta: ArtifactMeta | undefined;
  try {
    meta = JSON.parse(text) as ArtifactMeta;
  } catch {
    meta = undefined;
  }
  return meta === undefined || typeof meta.outputHash !== 'string' || meta.key !== key ? 'torn' : meta;
}

/**
 * What is wrong with the archive of the entry at `entryDir` compared with its meta (missing,
 * another size, another sha256: the size is checked first, it costs no read), or undefined
 * when nothing is.
 */
export async function entryArchiveProblem(entryDir: string, meta: ArtifactMeta, signal: AbortSignal | undefined): Promise<string | undefined> {
  if (meta.archive === null) return undefined;
  const file = join(entryDir, meta.archive);
  const st = statSync(file, { throwIfNoEntry: false });
  if (st === undefined) return 'is missing';
  if (st.size !== meta.size) return `has ${st.size} bytes where meta.json says ${meta.size}`;
  const actual = await sha256File(file, signal === undefined ? {} : { signal });
  return actual === meta.sha256 ? undefined : `has sha256 ${actual} where meta.json says ${meta.sha256}`;
}

/** What is wrong with the manifest.json of the entry at `dir` (its output hash is the canonical manifest's sha256), or undefined. */
export function manifestFileProblem(dir: string, outputHash: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, 'manifest.json'), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') return `has an unreadable manifest.json (${code ?? (e as Error).message})`;
    return outputHash === EMPTY_OUTPUT ? undefined : 'has no manifest.json (its files are not listed)';
  }
  return sha256(text) === outputHash ? undefined : 'has a manifest.json that does not match its output hash';
}
