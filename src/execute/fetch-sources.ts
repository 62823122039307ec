// The fetch phase: every source of a recipe through the downloads cache (file: sources
// straight from the recipe folder), then extracted (archives) or copied (plain files)
// into $SRCDIR/dest. A file: source is copied from its real path, and only when that
// path is inside the package folder (see recipes/local-file.ts). A git source's commit is
// exported from the cache's mirror of its repository (cache/git-mirror.ts).

import { constants as fsConstants } from 'node:fs';
import { copyFile, lstat, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { unpackArchive } from '../cache/archive.ts';
import type { Downloads } from '../cache/downloads.ts';
import { KilnError } from '../errors.ts';
import { sha256File } from '../lib/hash.ts';
import { isArchiveUrl } from '../recipes/recipe-sources.ts';
import { resolveLocalFile } from '../recipes/local-file.ts';
import type { PackageSpec, SourceSpec } from '../plan/spec.ts';
import { assertPlainTree, mergeInto, realDirUnder } from './safe-place.ts';

export async function fetchSources(
  spec: PackageSpec,
  options: { srcDir: string; downloads: Downloads; note: (text: string) => void; signal: AbortSignal },
): Promise<void> {
  for (const [i, s] of spec.sources.entries()) {
    options.signal.throwIfAborted();
    if (s.rev !== undefined) {
      await exportGitSource(spec, s, s.rev, options).catch((e: unknown) => {
        // The recipe's key to fix, named: the cache only knows the url and the commit.
        throw namedIn(e, `${spec.file}: sources[${i}].${e instanceof KilnError && / has no commit /.test(e.message) ? 'rev' : 'url'}`);
      });
      continue;
    }
    let file: string;
    // The file as the recipe's folder has it (a file: source's), to name in errors.
    let original = '';
    // A file: source's private copy: beside $SRCDIR, never in it (a source's own files are there).
    let privateDir: string | undefined;
    try {
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
        original = local.real;
        if (s.sha256 !== undefined) {
          // Built from a private copy whose content is the one the plan keyed: a file edited
          // since (while an earlier job ran) must not be stored under the old content's key.
          await mkdir(dirname(options.srcDir), { recursive: true });
          privateDir = await mkdtemp(join(dirname(options.srcDir), '.kiln-file-'));
          const copy = join(privateDir, basename(local.real));
          await copyFile(local.real, copy, fsConstants.COPYFILE_EXCL);
          const now = await sha256File(copy, { signal: options.signal });
          if (now !== s.sha256) {
            throw new KilnError('checksum-mismatch', `${spec.file}: "${s.url}": ${rel} changed after this run planned the package (sha256 ${s.sha256.slice(0, 12)}… then, ${now.slice(0, 12)}… now)`, {
              hint: 'a file the recipe names was edited while the run went; nothing was built from it or stored: run the build again, which plans with the file as it is then',
            });
          }
          file = copy;
        }
      } else {
        if (s.sha256 === undefined) {
          throw new KilnError('recipe-invalid', `${spec.file}: ${s.url} has no sha256`, { hint: 'add the sha256 of the file at that url to the source in the recipe (`sha256sum FILE` prints it)' });
        }
        file = await options.downloads.fetch(s.url, s.sha256, { signal: options.signal }).catch((e: unknown) => {
          // The recipe's key to change, named: the cache only knows the url.
          if (!(e instanceof KilnError) || e.code !== 'checksum-mismatch') throw namedIn(e, `${spec.file}: sources[${i}].url`);
          const got = /, got ([0-9a-f]{64})/.exec(e.message)?.[1];
          throw new KilnError(e.code, `${spec.file}: sources[${i}].sha256: ${e.message}`, {
            hint: `if the new file is the right one, set sources[${i}].sha256 in ${spec.file}${got === undefined ? '' : ` to "${got}"`} (compare it with the checksum upstream publishes); otherwise the server or mirror is serving a different file`,
            cause: e,
          });
        });
      }
      await placeSource(s, file, spec, options).catch((e: unknown) => {
        // Said of the recipe's own file, not of its private copy.
        if (privateDir === undefined || !(e instanceof KilnError) || !e.message.includes(file)) throw e;
        throw new KilnError(e.code, e.message.replaceAll(file, original), { ...(e.hint === undefined ? {} : { hint: e.hint }), cause: e });
      });
    } finally {
      if (privateDir !== undefined) await rm(privateDir, { recursive: true, force: true });
    }
  }
}

/** tar's refusal of an archive's member, said of the recipe's source (`FILE: source URL: the archive …`), not of the cache's file. */
function unsafeIn(e: unknown, file: string, what: string): unknown {
  if (!(e instanceof KilnError) || e.code !== 'unsafe-path') return e;
  return new KilnError(e.code, `${what}: ${e.message.replaceAll(file, 'the archive')}`, { ...(e.hint === undefined ? {} : { hint: e.hint }), cause: e });
}

/** Extract or copy one source's FILE into $SRCDIR/dest. */
async function placeSource(s: SourceSpec, file: string, spec: PackageSpec, options: { srcDir: string; note: (text: string) => void; signal: AbortSignal }): Promise<void> {
  // Never through a link an earlier source left (safe-place.ts): dest is made one real
  // directory at a time, an archive goes to a fresh folder first, a file replaces.
  const what = `${spec.file}: source ${s.url}`;
  await mkdir(options.srcDir, { recursive: true });
  const into = await realDirUnder(options.srcDir, s.dest, what);
  if (isArchiveUrl(s.url)) {
    options.note(`extract ${s.url} into $SRCDIR/${s.dest} (strip ${s.strip})`);
    const fresh = await mkdtemp(join(options.srcDir, '.kiln-unpack-'));
    try {
      await unpackArchive(file, fresh, { strip: s.strip, signal: options.signal, name: s.url }).catch((e: unknown) => {
        throw unsafeIn(e, file, what);
      });
      await assertPlainTree(fresh, options.srcDir, s.dest, what);
      await mergeInto(fresh, into, options.srcDir, what);
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  } else {
    const name = basename(s.url.replace(/[?#].*$/, '').replace(/^file:/, ''));
    options.note(`copy ${s.url} to $SRCDIR/${join(s.dest, name)}`);
    const to = join(into, name);
    if ((await lstat(to).catch(() => undefined))?.isDirectory() === true) throw new KilnError('unsafe-path', `${what}: $SRCDIR/${join(s.dest, name)} is a directory an earlier source made`, { hint: 'give the file another dest' });
    await rm(to, { force: true });
    await copyFile(file, to, fsConstants.COPYFILE_EXCL);
  }
}

/**
 * A git source: the commit's tree from the cache's mirror of the repository (fetched
 * first when it lacks the commit), exported with `git archive` and extracted like an
 * archive (strip applies; no .git folder). Submodules are not fetched.
 */
async function exportGitSource(
  spec: PackageSpec,
  s: SourceSpec,
  rev: string,
  options: { srcDir: string; downloads: Downloads; note: (text: string) => void; signal: AbortSignal },
): Promise<void> {
  const { mirror } = await options.downloads.git(s.url, rev, { signal: options.signal });
  const { archiveCommit } = await import('../cache/git-mirror.ts');
  const what = `${spec.file}: source ${s.url}`;
  await mkdir(options.srcDir, { recursive: true });
  const into = await realDirUnder(options.srcDir, s.dest, what);
  options.note(`export ${s.url} at ${rev} into $SRCDIR/${s.dest} (strip ${s.strip})`);
  const fresh = await mkdtemp(join(options.srcDir, '.kiln-unpack-'));
  const aside = await mkdtemp(join(options.srcDir, '.kiln-git-'));
  try {
    const tarFile = join(aside, 'tree.tar');
    await archiveCommit({ mirror, url: s.url, rev, tarFile, signal: options.signal, tmpDir: aside });
    await unpackArchive(tarFile, fresh, { strip: s.strip, signal: options.signal, name: s.url }).catch((e: unknown) => {
      throw unsafeIn(e, tarFile, what);
    });
    await assertPlainTree(fresh, options.srcDir, s.dest, what);
    await mergeInto(fresh, into, options.srcDir, what);
  } finally {
    await Promise.all([rm(fresh, { recursive: true, force: true }), rm(aside, { recursive: true, force: true })]);
  }
}

/** A fetch's KilnError said with the recipe file and key it comes from (`where`); anything else as it is. */
function namedIn(e: unknown, where: string): unknown {
  if (!(e instanceof KilnError) || !['download-failed', 'fetch-refused', 'mirror-unknown'].includes(e.code)) return e;
  return new KilnError(e.code, `${where}: ${e.message}`, { ...(e.hint === undefined ? {} : { hint: e.hint }), cause: e });
}
