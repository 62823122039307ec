// The KilnError codes env failures use, in one place. errors.ts has no env-specific codes
// yet; these are the closest existing ones (the lead may add `env-not-found`, `env-exists`,
// `env-in-use` and `env-failed` and change only this table).

import type { ErrorCode } from '../errors.ts';

export const ENV_ERRORS = {
  usage: 'usage',
  notFound: 'target-not-found',
  exists: 'usage',
  inUse: 'state-locked',
  /** A tool is missing (mmdebstrap, qemu-user-static) or binfmt_misc is not usable. */
  unavailable: 'sandbox-unavailable',
  /** mmdebstrap or apt failed: almost always the mirror or the network. */
  failed: 'download-failed',
  unsafe: 'unsafe-path',
  archive: 'archive-failed',
  cancelled: 'cancelled',
  /** env.json or version.json is unreadable. */
  corrupt: 'config-invalid',
} as const satisfies Record<string, ErrorCode>;
