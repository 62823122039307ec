// One real bookworm amd64 env (mmdebstrap buildd) shared by every slow test that needs
// a Debian root: made once under a cross-process lock in `$KILN_TEST_ENVS` (default
// /var/tmp/kiln-test-envs) and reused by later test files and later runs, the way a
// user keeps envs across state dirs with $KILN_ENVS. A test passes `env: { KILN_ENVS }`
// to kiln and names the env `bookworm-amd64`.

import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { withLock } from '../../src/cache/lock.ts';
import { runKiln } from './run-kiln.ts';

export const SHARED_ENVS = process.env['KILN_TEST_ENVS'] ?? '/var/tmp/kiln-test-envs';

/** Why tests needing a real env cannot run here, or undefined. */
export function sharedEnvSkip(): string | undefined {
  if (process.env['KILN_SKIP_SLOW'] === '1') return 'KILN_SKIP_SLOW=1';
  if (process.getuid?.() !== 0) return 'needs root (chroot sandbox, mmdebstrap)';
  if (!existsSync('/usr/bin/mmdebstrap')) return 'mmdebstrap is not installed (scripts/setup.sh installs it)';
  return undefined;
}

/**
 * Make sure env NAME (default bookworm-amd64) exists in SHARED_ENVS; returns the
 * environment to give kiln (`KILN_ENVS`).
 */
export async function sharedEnv(name = 'bookworm-amd64', suite = 'bookworm', arch = 'amd64', createArgs: readonly string[] = []): Promise<{ KILN_ENVS: string }> {
  await mkdir(SHARED_ENVS, { recursive: true });
  const env = { KILN_ENVS: SHARED_ENVS };
  await withLock(join(SHARED_ENVS, '.test-locks'), name, async () => {
    if (existsSync(join(SHARED_ENVS, name, 'env.json'))) return;
    const state = join(SHARED_ENVS, '.state');
    const r = await runKiln(['env', 'create', name, '--suite', suite, '--arch', arch, ...createArgs, '--state', state], { env, timeoutMs: 15 * 60_000 });
    if (r.code !== 0) throw new Error(`kiln env create ${name} failed (${r.code}):\n${r.stderr.slice(-3000)}`);
  });
  return env;
}
