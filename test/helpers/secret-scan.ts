// Look for secrets (or any marker) in what kiln wrote: raw bytes of every file under a
// directory, and the unpacked contents of the artifacts (pkg.tar.zst: zstd hides a string
// from a raw scan), each with its manifest.json.

import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

/** Every file under `dir` whose bytes contain one of `needles` (symlinks: their target text). */
export async function filesContaining(dir: string, needles: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    const bytes = await readFile(path);
    if (needles.some((n) => bytes.includes(n))) found.push(path);
  }
  return found;
}

export interface UnpackedArtifact {
  readonly archive: string;
  /** Paths of the unpacked files, relative to the archive's root. */
  readonly files: readonly string[];
  /** The unpacked files, manifest.json (and meta.json) of the entry whose bytes hold a needle. */
  readonly hits: readonly string[];
}

/**
 * Unpack every `*.tar.zst` under `cacheDir`/artifacts with GNU tar and search the unpacked
 * files, file names included, and the entry's manifest.json and meta.json for `needles`.
 */
export async function scanArtifacts(cacheDir: string, needles: readonly string[]): Promise<UnpackedArtifact[]> {
  const out: UnpackedArtifact[] = [];
  const root = join(cacheDir, 'artifacts');
  const names = await readdir(root, { recursive: true }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    throw e;
  });
  for (const name of names.filter((n) => n.endsWith('.tar.zst')).sort()) {
    const archive = join(root, name);
    const entryDir = dirname(archive);
    const into = await mkdtemp(join(tmpdir(), 'kiln-unpacked-'));
    try {
      execFileSync('tar', ['--zstd', '-xf', archive, '-C', into]);
      const files: string[] = [];
      const hits: string[] = [];
      for (const f of await readdir(into, { withFileTypes: true, recursive: true })) {
        const rel = relative(into, join(f.parentPath, f.name));
        if (needles.some((n) => rel.includes(n))) hits.push(rel);
        if (!f.isFile()) continue;
        files.push(rel);
        const bytes = await readFile(join(into, rel));
        if (!hits.includes(rel) && needles.some((n) => bytes.includes(n))) hits.push(rel);
      }
      for (const side of ['manifest.json', 'meta.json']) {
        const bytes = await readFile(join(entryDir, side)).catch(() => undefined);
        if (bytes !== undefined && needles.some((n) => bytes.includes(n))) hits.push(side);
      }
      out.push({ archive, files, hits });
    } finally {
      await rm(into, { recursive: true, force: true });
    }
  }
  return out;
}
