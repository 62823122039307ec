// `kiln env export NAME FILE`: an env's current version as a root tarball that `kiln env
// import` on another machine turns into the same version. An env's id (NAME@VERSION) is
// part of every input key built in it, so the workers of a coordinator (kiln worker), or
// the machines sharing a cache, need the very same version, not one made again.
//
// The tarball is a plain root tarball (any tool unpacks it: numeric owners, modes, file
// capabilities) with one more member at its top, `.kiln-env.json`: the env's name, version
// id, suite, arch and how it was made. `kiln env import` reads it, removes it from the
// root, and keeps that version id; a tarball without it gets a new id, as before.

import { randomBytes } from 'node:crypto';
import { lstat, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { KilnError } from '../errors.ts';
import type { StoreContext } from './env-store.ts';
import type { EnvInfo, RunOpts } from './env-types.ts';
import { ENV_ERRORS } from './env-errors.ts';
import { readJson, versionRoot } from './layout.ts';
import { runTar } from './root-tarball.ts';
import { isVersionId } from './names.ts';

/** The member that says a root tarball is a kiln env's export. */
export const EXPORT_META = '.kiln-env.json';

export const exportMetaSchema = z.object({
  kind: z.literal('kiln-env-export'),
  v: z.literal(1),
  name: z.string(),
  versionId: z.string().refine(isVersionId, 'not a kiln version id'),
  suite: z.string(),
  arch: z.string(),
  mirror: z.string().optional(),
  include: z.array(z.string()),
  variant: z.string().optional(),
  /** As env.json's: the keyring the mirror was checked with, and a snapshot mirror's --no-check-valid-until. */
  keyring: z.object({ path: z.string(), sha256: z.string() }).optional(),
  checkValidUntil: z.literal(false).optional(),
  exportedAt: z.string(),
});
export type ExportMeta = z.infer<typeof exportMetaSchema>;

/** tar's compression flag for an export file's name, or a usage error naming it (pure). */
export function exportCompression(file: string): string[] {
  if (/\.tar\.zst$/.test(file)) return ['--zstd'];
  if (/\.tar\.xz$/.test(file)) return ['--xz'];
  if (/\.tar\.gz$|\.tgz$/.test(file)) return ['--gzip'];
  if (/\.tar$/.test(file)) return [];
  throw new KilnError('usage', `${file}: the export's name says how it is packed: end it in .tar.zst (best), .tar.xz, .tar.gz or .tar`, {
    hint: `e.g. kiln env export NAME ${basename(file).replace(/\.[^.]*$/, '')}.tar.zst`,
  });
}

/** Write env `name`'s current version to `file` (written aside, then renamed into place). */
export async function exportEnv(ctx: StoreContext, name: string, file: string, o: RunOpts = {}): Promise<EnvInfo & { readonly file: string }> {
  const compression = exportCompression(file);
  const out = resolve(file);
  // Said before the root is packed for minutes: tar would only say it cannot open its file.
  const folder = await stat(dirname(out)).catch(() => undefined);
  if (folder === undefined || !folder.isDirectory()) {
    throw new KilnError('path-unusable', `${dirname(out)}: ${folder === undefined ? 'no such directory' : 'not a directory'}, so ${out} cannot be written`, { hint: `create the folder first (mkdir -p ${dirname(out)}), or name a file in an existing one` });
  }
  const p = ctx.paths(name);
  // Under the env's lock: no update switches `current` (nor removes this version) meanwhile.
  return ctx.nameLock(name, async () => {
    const meta = await ctx.readMeta(p, name);
    const info = await ctx.info(name);
    const stage = await mkdtemp(join(tmpdir(), 'kiln-env-export-'));
    const aside = join(dirname(out), `.${basename(out)}.kiln-${randomBytes(6).toString('hex')}`);
    try {
      const exported: ExportMeta = {
        kind: 'kiln-env-export', v: 1, name, versionId: meta.current, suite: meta.suite, arch: meta.arch,
        ...(meta.mirror === undefined ? {} : { mirror: meta.mirror }), include: meta.include,
        ...(meta.variant === undefined ? {} : { variant: meta.variant }),
        ...(meta.keyring === undefined ? {} : { keyring: meta.keyring }), ...(meta.checkValidUntil === false ? { checkValidUntil: false as const } : {}),
        exportedAt: new Date().toISOString(),
      };
      await writeFile(join(stage, EXPORT_META), `${JSON.stringify(exported, null, 2)}\n`);
      o.onOutput?.(`packing ${versionRoot(p, meta.current)}`);
      await runTar([
        '--create', `--file=${aside}`, ...compression,
        '--numeric-owner', '--xattrs', '--xattrs-include=security.capability',
        `--directory=${stage}`, EXPORT_META,
        `--directory=${versionRoot(p, meta.current)}`, '.',
      ], o.signal, (code, stderr) => new KilnError(ENV_ERRORS.archive, `packing env ${name} into ${out} failed (tar exit ${code}): ${stderr}`, {
        hint: 'check the free space where the file goes, and that zstd, xz or gzip is installed for its compression',
      }));
      await rename(aside, out);
      return { ...info, file: out };
    } finally {
      await rm(aside, { force: true });
      await rm(stage, { recursive: true, force: true });
    }
  }, o.signal);
}

/**
 * After a root tarball is extracted into `root`: its export metadata when it is a kiln
 * env's export (the member is removed from the root), else undefined.
 */
export async function takeExportMeta(root: string, file: string): Promise<ExportMeta | undefined> {
  const path = join(root, EXPORT_META);
  // What the tarball put there: a small regular file, never followed through a link (nor a fifo read).
  const st = await lstat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (st === undefined) return undefined;
  if (!st.isFile() || st.size > 64 * 1024) {
    await rm(path, { force: true });
    throw new KilnError(ENV_ERRORS.usage, `${file}: its ${EXPORT_META} is not a small regular file, as kiln env export writes it`, {
      hint: 'export it again with `kiln env export NAME FILE`, or remove that member to import it as a plain root',
    });
  }
  try {
    return await readJson(path, exportMetaSchema, (detail) => new KilnError(ENV_ERRORS.usage, `${file}: its ${EXPORT_META} is not what kiln env export writes${detail}`, {
      hint: 'export it again with `kiln env export NAME FILE` (of the same kiln version), or remove that member to import it as a plain root',
    }));
  } finally {
    await rm(path, { force: true });
  }
}
