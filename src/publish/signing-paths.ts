// Where kiln's signing key lives in a state directory: apart from signing.ts, so that
// asking whether there is one does not load openpgp.

import { join } from 'node:path';

export interface SigningKeyPaths {
  readonly dir: string;
  readonly secret: string;
  readonly public: string;
}

export function signingKeyPaths(stateRoot: string): SigningKeyPaths {
  const dir = join(stateRoot, 'keys');
  return { dir, secret: join(dir, 'repo-signing.key'), public: join(dir, 'repo-signing.pub.asc') };
}
