// The fetch phase: every source of a recipe through the downloads cache (file: sources
// straight from the recipe folder), then extracted (archives) or copied (plain files)
// into $SRCDIR/dest. A file: source is copied from its real path, and only when that
// path is inside the package folder (see recipes/local-file.ts).

import { copyFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { unpackArchive } from '../cache/archive.ts';
import type { Downloads } from '../cache/downloads.ts';
import { KilnError } from '../errors.ts';
import { isArchiveUrl } from '../recipes/parse-recipe.ts';
import { resolveLocalFile } from '../recipes/local-file.ts';
import type { PackageSpec } from '../plan/spec.ts';

export async function fetchSources(
  spec: PackageSpec,
  options: { srcDir: string; downloads: Downloads; note: (text: string) => void; signal: AbortSignal },
): Promise<void> {
  for (const s of spec.sources) {
    options.signal.throwIfAborted();
    let file: string;
    if (s.url.startsWith('file:')) {
      // Checked again, not only at scan time: the tree may have changed since the plan,
      // and a symlink must not lead the copy out of the package folder.
      const rel = s.url.slice('file:'.length);
      const local = await resolveLocalFile(spec.dir, rel);
      if (!local.ok) {
        const hint = 'fix the recipe folder (files a recipe names must be regular files inside it, symlinks included), then run the build again';
        const where = local.kind === 'missing' ? `not found in ${spec.dir}` : local.problem;
        throw new KilnError(local.kind === 'outside' ? 'unsafe-path' : 'source-not-found', `${spec.file}: "${s.url}": ${rel} ${where}`, { hint });
      }
      file = local.real;
    } else {
      if (s.sha256 === undefined) {
        throw new KilnError('recipe-invalid', `${spec.file}: ${s.url} has no sha256`, { hint: 'add the sha256 of the file at that url to the source in the recipe (`sha256sum FILE` prints it)' });
      }
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
