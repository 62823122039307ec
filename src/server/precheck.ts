// What a daemon can tell at submit time that would otherwise fail the build when its turn
// comes, maybe hours later: a tree that names no env on a daemon that builds only in envs,
// an env the daemon does not have. Only sure failures are refused here; anything unclear
// (an invalid kiln.toml, a Debian tree whose envs are made on demand) is left to the build,
// which reports it in full.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { envPaths } from '../envs/layout.ts';
import { isEnvName } from '../envs/names.ts';
import { DEBIAN_FILE } from '../debian/debian-file.ts';
import { hostArch } from '../run/host-env.ts';
import { DAEMON_NEEDS_ENV, type SandboxChoice } from '../sandbox/choose-backend.ts';
import { daemonEnvNotFound } from '../envs/env-errors.ts';

export interface PrecheckInput {
  readonly stateRoot: string;
  /** The daemon's --sandbox. */
  readonly sandbox: SandboxChoice;
  readonly treeDir: string;
  /** The request's env and archs. */
  readonly env: string | undefined;
  readonly archs: readonly string[] | undefined;
  /** The request names Debian source packages: their envs are made on demand. */
  readonly debian: boolean;
}

/** Throws what the build would fail with, when that is certain now. */
export async function precheckBuild(i: PrecheckInput): Promise<void> {
  if (i.sandbox === 'host' || i.debian) return;
  if (existsSync(join(i.treeDir, DEBIAN_FILE))) return;
  let config: { env: string | undefined; archs: readonly string[] | undefined } = { env: undefined, archs: undefined };
  const toml = join(i.treeDir, 'kiln.toml');
  if (existsSync(toml)) {
    let text: string;
    try {
      text = readFileSync(toml, 'utf8');
    } catch {
      return; // not a readable file (a directory in a bundle): the build says what is wrong
    }
    const { parseTreeConfig } = await import('../config/tree-config.ts');
    const parsed = parseTreeConfig(text, toml);
    if (parsed.diagnostics.length > 0) return;
    config = parsed.config;
  }
  const template = i.env ?? config.env;
  if (template === undefined) {
    throw new KilnError('sandbox-unavailable', DAEMON_NEEDS_ENV.message, { hint: DAEMON_NEEDS_ENV.hint });
  }
  const host = hostArch();
  for (const arch of i.archs ?? config.archs ?? [host]) {
    const name = template.replaceAll('{arch}', arch === 'all' ? host : arch);
    if (!isEnvName(name) || !existsSync(envPaths(i.stateRoot, name).envJson)) {
      throw daemonEnvNotFound(name);
    }
  }
}
