// Where an env lives on disk, and its two metadata files.
//
//   <stateDir>/envs/.locks/<name>.lock           held by create/import/update/destroy
//   <stateDir>/envs/.locks/<name>.leases.lock    held briefly by acquire and gc
//   <stateDir>/envs/<name>/env.json              what the env is, and its current version
//   <stateDir>/envs/<name>/versions/<vid>/root/  a read-only base root (overlay lower layer)
//   <stateDir>/envs/<name>/versions/<vid>/version.json
//   <stateDir>/envs/<name>/leases/<vid>.<pid>.<random>   one per running build
//   <stateDir>/envs/<name>/tmp/                  versions being made (wiped under the lock)
//
// env.json is written last: an env directory without it is the leftover of a create that
// died, and is removed by the next create of that name. Env names never start with a dot,
// so `.locks` and `.trash-*` cannot collide with an env.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { KilnError } from '../errors.ts';
import { atomicWrite } from '../lib/atomic-write.ts';
import { ENV_ERRORS } from './env-errors.ts';

export interface EnvPaths {
  readonly envsDir: string;
  readonly locks: string;
  readonly dir: string;
  readonly envJson: string;
  readonly versions: string;
  readonly leases: string;
  readonly tmp: string;
}

/** Where envs live: `$KILN_ENVS` when set (one set of envs shared by several state dirs), else `<stateDir>/envs`. */
export function envsDirOf(stateDir: string, env: NodeJS.ProcessEnv = process.env): string {
  const shared = env['KILN_ENVS'];
  return shared !== undefined && shared !== '' ? shared : join(stateDir, 'envs');
}

export function envPaths(stateDir: string, name: string): EnvPaths {
  const envsDir = envsDirOf(stateDir);
  const dir = join(envsDir, name);
  return {
    envsDir,
    locks: join(envsDir, '.locks'),
    dir,
    envJson: join(dir, 'env.json'),
    versions: join(dir, 'versions'),
    leases: join(dir, 'leases'),
    tmp: join(dir, 'tmp'),
  };
}

export function versionDir(paths: EnvPaths, versionId: string): string {
  return join(paths.versions, versionId);
}

export function versionRoot(paths: EnvPaths, versionId: string): string {
  return join(paths.versions, versionId, 'root');
}

/** Extra apt sources of an instance layer (issue 3 §1; declared in kiln.toml). */
const sourceSchema = z.object({
  uri: z.string(),
  suite: z.string(),
  components: z.array(z.string()),
  signedBy: z.string().optional(),
});

export const envMetaSchema = z.object({
  name: z.string(),
  suite: z.string(),
  arch: z.string(),
  /** The mirror the root was made from; absent for imported roots. */
  mirror: z.string().optional(),
  include: z.array(z.string()),
  variant: z.string().optional(),
  /** The keyring the mirror was checked with (kiln env create --keyring): its path and sha256 then. */
  keyring: z.object({ path: z.string(), sha256: z.string() }).optional(),
  /** false: made with --no-check-valid-until (a snapshot mirror; its apt takes the expired Release too). */
  checkValidUntil: z.literal(false).optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  current: z.string(),
  sources: z.array(sourceSchema).optional(),
});
export type EnvMeta = z.infer<typeof envMetaSchema>;

export const versionMetaSchema = z.object({
  id: z.string(),
  createdAt: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  /** How it was made: the command, the tarball and its sha256, or the version it upgraded. */
  madeBy: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('mmdebstrap'), argv: z.array(z.string()) }),
    z.object({ kind: z.literal('import'), file: z.string(), sha256: z.string() }),
    z.object({ kind: z.literal('update'), from: z.string(), argv: z.array(z.string()) }),
  ]),
  durationMs: z.number().nonnegative(),
});
export type VersionMeta = z.infer<typeof versionMetaSchema>;

/**
 * A JSON file checked against `schema`; undefined when it does not exist. One that does not
 * parse or fit is `invalid(detail)` (default: a damaged env file, config-invalid).
 */
export async function readJson<T>(path: string, schema: z.ZodType<T>, invalid?: (detail: string) => KilnError): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const detail = value === undefined ? ' (not JSON)' : `: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`;
    throw invalid?.(detail) ?? new KilnError(ENV_ERRORS.corrupt, `${path} is not a valid kiln env file${detail}`, {
      hint: `it was changed by hand or the disk failed; remove that env with \`kiln env destroy ${envNameOf(path)}\` and make it again`,
    });
  }
  return parsed.data;
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await atomicWrite(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** The env an env file belongs to: ENVS/NAME/env.json, ENVS/NAME/versions/VERSION/version.json ('NAME' for another file). */
function envNameOf(path: string): string {
  const parts = path.split('/');
  const file = parts.at(-1);
  if (file === 'env.json') return parts.at(-2) ?? 'NAME';
  if (file === 'version.json' && parts.at(-3) === 'versions') return parts.at(-4) ?? 'NAME';
  return 'NAME';
}
