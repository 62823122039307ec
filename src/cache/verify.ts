// kiln cache verify: every download hashed against its name, every artifact's archive
// against its meta.json (reliability case 10: after a crash or a full disk, nothing
// truncated or damaged sits under a final name). --fix removes what is damaged; the next
// build fetches or builds it again. Entries are checked one at a time: a cache of
// thousands of artifacts is read once, not held.
import { basename, join } from 'node:path';
import { SHA256_RE } from '../lib/hash.ts';
import { createArtifactStore } from './artifacts.ts';
import { createDownloads } from './downloads.ts';
import { artifactDirs, entries } from './du.ts';

export interface Damaged {
  readonly kind: 'download' | 'artifact';
  readonly path: string;
  readonly problem: string;
}

export interface CacheVerifyResult {
  readonly downloads: number;
  readonly artifacts: number;
  readonly damaged: readonly Damaged[];
  /** Whether the damaged entries were removed. */
  readonly fixed: boolean;
}

export async function verifyCache(cacheDir: string, options: { fix?: boolean; signal?: AbortSignal; onProgress?: (done: number) => void } = {}): Promise<CacheVerifyResult> {
  const fix = options.fix === true;
  const damaged: Damaged[] = [];
  let done = 0;
  const downloads = createDownloads({ cacheDir, mirrors: {} });
  let downloadCount = 0;
  for (const name of (await entries(join(cacheDir, 'downloads'))).map((p) => basename(p))) {
    options.signal?.throwIfAborted();
    if (!SHA256_RE.test(name)) continue;
    downloadCount++;
    const problem = await downloads.verify(name, { fix });
    if (problem !== undefined) damaged.push({ kind: 'download', path: downloads.path(name), problem: `${problem}, not the ${name.slice(0, 16)}… its name says` });
    options.onProgress?.(++done);
  }
  const artifacts = createArtifactStore({ cacheDir });
  let artifactCount = 0;
  for (const dir of await artifactDirs(cacheDir)) {
    options.signal?.throwIfAborted();
    artifactCount++;
    const key = basename(dir);
    const problem = await artifacts.verify(key, { fix, ...(options.signal === undefined ? {} : { signal: options.signal }) });
    if (problem !== undefined) damaged.push({ kind: 'artifact', path: artifacts.dir(key), problem });
    options.onProgress?.(++done);
  }
  return { downloads: downloadCount, artifacts: artifactCount, damaged, fixed: fix };
}
