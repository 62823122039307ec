// `kiln env export NAME FILE`: an env's current version as a root tarball that `kiln env
// import` on another machine turns into the same version. An env's id (NAME@VERSION) is
// part of every input key built in it, so the workers of a coordinator (kiln worker), or
// the machines sharing a cache, need the very same version, not one made again.
//
// The tarball is a plain root tarball (any tool unpacks it: numeric owners, modes, file
// capabilities) with one more member at its top, `.kiln-env.json`: the env's name, version
// id, suite, arch and how it was made. `kiln env import` reads it, removes it from the
// root, and keeps that version id; a tarball without it gets a new id, as before.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { withLock } from '../cache/lock.ts';
import { KilnError } from '../errors.ts';
import type { StoreContext } from './env-store.ts';
import type { EnvInfo, RunOpts } from './env-types.ts';
import { ENV_ERRORS } from './env-errors.ts';
import { versionRoot } from './layout.ts';
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
  const p = ctx.paths(name);
  // Under the env's lock: no update switches `current` (nor removes this version) meanwhile.
  return withLock(p.locks, name, async () => {
    const meta = await ctx.readMeta(p, name);
    const info = await ctx.info(name);
    const stage = await mkdtemp(join(tmpdir(), 'kiln-env-export-'));
    const aside = join(dirname(out), `.${basename(out)}.kiln-${randomBytes(6).toString('hex')}`);
    try {
      const exported: ExportMeta = {
        kind: 'kiln-env-export', v: 1, name, versionId: meta.current, suite: meta.suite, arch: meta.arch,
        ...(meta.mirror === undefined ? {} : { mirror: meta.mirror }), include: meta.include,
        ...(meta.variant === undefined ? {} : { variant: meta.variant }), exportedAt: new Date().toISOString(),
      };
      await writeFile(join(stage, EXPORT_META), `${JSON.stringify(exported, null, 2)}\n`);
      o.onOutput?.(`packing ${versionRoot(p, meta.current)}`);
      await runTar([
        '--create', `--file=${aside}`, ...compression,
        '--numeric-owner', '--xattrs', '--xattrs-include=security.capability',
        `--directory=${stage}`, EXPORT_META,
        `--directory=${versionRoot(p, meta.current)}`, '.',
      ], o.signal, `packing env ${name} into ${out}`);
      await rename(aside, out);
      return { ...info, file: out };
    } finally {
      await rm(aside, { force: true });
      await rm(stage, { recursive: true, force: true });
    }
  }, o.signal === undefined ? {} : { signal: o.signal });
}

/**
 * After a root tarball is extracted into `root`: its export metadata when it is a kiln
 * env's export (the member is removed from the root), else undefined.
 */
export async function takeExportMeta(root: string, file: string): Promise<ExportMeta | undefined> {
  const path = join(root, EXPORT_META);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  await rm(path, { force: true });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const parsed = exportMetaSchema.safeParse(value);
  if (!parsed.success) {
    throw new KilnError(ENV_ERRORS.usage, `${file}: its ${EXPORT_META} is not what kiln env export writes${value === undefined ? ' (not JSON)' : `: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`}`, {
      hint: 'export it again with `kiln env export NAME FILE` (of the same kiln version), or remove that member to import it as a plain root',
    });
  }
  return parsed.data;
}

function runTar(args: string[], signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    signal?.throwIfAborted();
    const child = spawn('tar', args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: { ...process.env, LC_ALL: 'C' } });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-8000)));
    const kill = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    };
    signal?.addEventListener('abort', kill, { once: true });
    child.on('error', (e) => reject(new KilnError(ENV_ERRORS.unavailable, `cannot run tar: ${e.message}`, { hint: 'install GNU tar (and zstd for .tar.zst)' })));
    child.on('close', (code) => {
      signal?.removeEventListener('abort', kill);
      if (signal?.aborted) return reject(signal.reason);
      if (code === 0) return resolvePromise();
      reject(new KilnError(ENV_ERRORS.archive, `${what} failed (tar exit ${code}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`, {
        hint: 'check the free space where the file goes, and that zstd/xz/gzip is installed for its compression',
      }));
    });
  });
}
