// The source packages of a Debian run's published binaries, for the repository's Sources
// index (publish/apt-repo-sources.ts): whoever gets the binaries from kiln's repository
// can get the sources they were built from (`apt-get source`, a deb-src line), as the
// GPL asks of whoever distributes binaries. A source from the archive is taken from the
// downloads cache, where its build fetched it (each file by its sha256 from the verified
// Sources); a local .dsc from beside itself. publishRepo checks every file against the
// .dsc again before anything goes into the pool.

import { constants } from 'node:fs';
import { copyFile, link, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DebianBuildSpec } from '../debian/debian-spec.ts';

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9+._~-]*$/;

/** What publishing needs of the downloads cache: where a file of a sha256 is, and whether it is there. */
export interface SourceFiles {
  path(sha256: string): string;
  has(sha256: string): Promise<boolean>;
}

/**
 * The .dsc of each distinct source of `specs` (one per name and version), its files laid
 * out beside it under `dir` when they come from the cache; `note` says which could not be had.
 */
export async function stageSources(specs: readonly DebianBuildSpec[], dir: string, files: SourceFiles, note: (text: string) => void): Promise<string[]> {
  const dscs: string[] = [];
  const seen = new Set<string>();
  for (const d of specs) {
    const src = d.source;
    const id = `${src.package}_${src.version}`;
    if (seen.has(id)) continue;
    seen.add(id);
    if (d.dscPath !== undefined) {
      dscs.push(d.dscPath);
      continue;
    }
    const dsc = src.files.find((f) => f.name.endsWith('.dsc'));
    // (Names from a verified index; still, a name is a name in one folder, never a path.)
    const odd = src.files.find((f) => !SAFE_NAME.test(f.name));
    if (odd !== undefined) {
      note(`the source ${src.package} ${src.version} is not published: its Sources entry lists the file ${JSON.stringify(odd.name)}, not a plain file name`);
      continue;
    }
    const twice = src.files.find((f, i) => src.files.findIndex((g) => g.name === f.name) !== i);
    if (twice !== undefined) {
      note(`the source ${src.package} ${src.version} is not published: its Sources entry lists ${twice.name} twice`);
      continue;
    }
    const missing: string[] = [];
    for (const f of src.files) if (!(await files.has(f.sha256))) missing.push(f.name);
    if (dsc === undefined || missing.length > 0) {
      note(`the source ${src.package} ${src.version} is not published: ${dsc === undefined ? 'its Sources entry lists no .dsc' : `${missing.join(', ')} no longer in the downloads cache (kiln cache gc?); the next build of it fetches them again`}`);
      continue;
    }
    const into = join(dir, id.replace(/[:/]/g, '_'));
    await mkdir(into, { recursive: true });
    // Hard links: the cache's files stay as they are (read-only use); a copy where links
    // cannot be made (another file system), never over a name already there (which could
    // be a link to another cache file).
    for (const f of src.files) {
      await link(files.path(f.sha256), join(into, f.name)).catch((e: NodeJS.ErrnoException) => {
        if (!['EXDEV', 'EPERM', 'EMLINK', 'EOPNOTSUPP'].includes(e.code ?? '')) throw e;
        return copyFile(files.path(f.sha256), join(into, f.name), constants.COPYFILE_EXCL);
      });
    }
    dscs.push(join(into, dsc.name));
  }
  return dscs;
}
