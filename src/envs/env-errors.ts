// The KilnError codes env failures use, in one place.

import { KilnError, type ErrorCode } from '../errors.ts';

export const ENV_ERRORS = {
  usage: 'usage',
  notFound: 'env-not-found',
  exists: 'env-exists',
  inUse: 'env-in-use',
  /** A tool is missing (mmdebstrap, qemu-user-static) or binfmt_misc is not usable. */
  unavailable: 'sandbox-unavailable',
  /** mmdebstrap or apt failed: almost always the mirror or the network. */
  failed: 'env-failed',
  unsafe: 'unsafe-path',
  archive: 'archive-failed',
  cancelled: 'cancelled',
  /** env.json or version.json is unreadable. */
  corrupt: 'config-invalid',
} as const satisfies Record<string, ErrorCode>;

/** An env a daemon's build names that the daemon does not have: in the client's terms, without the daemon's paths. */
export function daemonEnvNotFound(name: string): KilnError {
  return new KilnError(ENV_ERRORS.notFound, `this daemon has no env named "${name}"`, {
    hint: "name one of the daemon's envs (GET /api/v1/envs lists them, or its status page); its operator makes them with kiln env create on the daemon's machine",
  });
}
