// The KilnError codes env failures use, in one place.

import type { ErrorCode } from '../errors.ts';

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
