// Fetch Debian source packages (.dsc and files) of a suite into a folder, through kiln's
// own verified indexes and downloads cache: the same bytes kiln builds, handed to sbuild
// and to the bare chroot flow as local .dsc files.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDownloads } from '../src/cache/downloads.ts';
import { fetchSource, placeSource } from '../src/debian/dsc.ts';
import { createIndexes } from '../src/debian/indexes.ts';
import { lazySources } from '../src/debian/lazy-index.ts';

export interface PlacedSource {
  readonly name: string;
  readonly version: string;
  /** Absolute path of the .dsc in `dir`. */
  readonly dsc: string;
}

/** Place each source's .dsc and files under `dir/<name>/`; returns them in the order asked. */
export async function placeDebianSources(o: { mirror: string; suite: string; names: readonly string[]; cacheDir: string; dir: string }): Promise<PlacedSource[]> {
  const downloads = createDownloads({ cacheDir: o.cacheDir, mirrors: {} });
  const indexes = createIndexes({ cacheDir: o.cacheDir, downloads });
  const release = await indexes.release(o.mirror, o.suite);
  const sources = lazySources(await readFile(await indexes.sources(release), 'utf8'), `${release.url} (Sources)`);
  const out: PlacedSource[] = [];
  for (const name of o.names) {
    const src = sources.versions(name)[0];
    if (src === undefined) throw new Error(`no source package ${name} in ${o.suite}`);
    const fetched = await fetchSource(src, { mirror: release.mirror, downloads });
    out.push({ name, version: src.version, dsc: await placeSource(fetched, join(o.dir, name)) });
  }
  return out;
}
