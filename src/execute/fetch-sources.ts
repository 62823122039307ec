// The fetch phase: every source of a recipe through the downloads cache (file: sources
// straight from the recipe folder), then extracted (archives) or copied (plain files)
// into $SRCDIR/dest.

import { copyFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { unpackArchive } from '../cache/archive.ts';
import type { Downloads } from '../cache/downloads.ts';
import { KilnError } from '../errors.ts';
import { isArchiveUrl } from '../recipes/parse-recipe.ts';
import type { PackageSpec } from '../plan/spec.ts';

export async function fetchSources(
  spec: PackageSpec,
  options: { srcDir: string; downloads: Downloads; note: (text: string) => void; signal: AbortSignal },
): Promise<void> {
  for (const s of spec.sources) {
    options.signal.throwIfAborted();
    let file: string;
    if (s.url.startsWith('file:')) {
      file = join(spec.dir, s.url.slice('file:'.length));
    } else {
      if (s.sha256 === undefined) throw new KilnError('recipe-invalid', `${spec.file}: ${s.url} has no sha256`);
      file = await options.downloads.fetch(s.url, s.sha256, { signal: options.signal });
    }
    const into = join(options.srcDir, s.dest);
    await mkdir(into, { recursive: true });
    if (isArchiveUrl(s.url)) {
      options.note(`extract ${s.url} into $SRCDIR/${s.dest} (strip ${s.strip})`);
      await unpackArchive(file, into, { strip: s.strip, signal: options.signal });
    } else {
      const name = basename(s.url.replace(/[?#].*$/, '').replace(/^file:/, ''));
      options.note(`copy ${s.url} to $SRCDIR/${join(s.dest, name)}`);
      await copyFile(file, join(into, name));
    }
  }
}
