// Names and ids of base environments: env names as the user types them, version ids
// (time + short hash, so they sort by creation time and never collide), and the env id
// `<name>@<versionId>` that sandboxes and input keys carry.

import { randomBytes } from 'node:crypto';
import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import { ENV_ERRORS } from './env-errors.ts';

const NAME_RE = /^[a-z0-9][a-z0-9._-]*$/;
const NAME_MAX = 64;
const VERSION_RE = /^(\d{8}T\d{6})-([0-9a-f]{8})$/;

/** Throws a usage error naming the rule when `name` is not a valid env name. */
export function checkEnvName(name: string): string {
  if (!NAME_RE.test(name) || name.length > NAME_MAX) {
    const lower = name.toLowerCase();
    const why = lower !== name && NAME_RE.test(lower) && lower.length <= NAME_MAX ? ` (capital letters are not allowed: "${lower}"?)` : '';
    throw new KilnError(ENV_ERRORS.usage, `"${name}" is not a valid environment name${why}`, {
      hint: `use lower-case letters, digits, ".", "_" and "-", starting with a letter or digit, at most ${NAME_MAX} characters (e.g. bookworm-amd64)`,
    });
  }
  return name;
}

export function isEnvName(name: string): boolean {
  return NAME_RE.test(name) && name.length <= NAME_MAX;
}

/**
 * A new version id, e.g. `20261122T001500-ab12cd34`: UTC time to the second, then 8 hex
 * digits of a hash of `what` (how the version was made) and a nonce, so two versions made
 * in the same second still differ.
 */
export function newVersionId(what: string, options: { now?: Date; nonce?: string } = {}): string {
  const now = options.now ?? new Date();
  const stamp = now.toISOString().replace(/\.\d+Z$/, '').replace(/[-:]/g, '');
  const nonce = options.nonce ?? randomBytes(8).toString('hex');
  return `${stamp}-${sha256(`${what}\0${nonce}`).slice(0, 8)}`;
}

export function isVersionId(id: string): boolean {
  return VERSION_RE.test(id);
}

/** The creation time a version id carries. */
export function versionTime(id: string): Date | undefined {
  const m = VERSION_RE.exec(id);
  if (m?.[1] === undefined) return undefined;
  const s = m[1];
  return new Date(`${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`);
}

/** `bookworm-amd64@20261122T001500-ab12cd34`: part of every input key built in it. */
export function envId(name: string, versionId: string): string {
  return `${name}@${versionId}`;
}

export function parseEnvId(id: string): { name: string; versionId: string } | undefined {
  const at = id.lastIndexOf('@');
  if (at < 0) return undefined;
  const name = id.slice(0, at);
  const versionId = id.slice(at + 1);
  return isEnvName(name) && isVersionId(versionId) ? { name, versionId } : undefined;
}
