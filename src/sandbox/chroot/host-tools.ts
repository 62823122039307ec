// The host programs the chroot backend runs (all from util-linux, coreutils, perl-base,
// on Debian), located once by absolute path: the scripts that use them run with
// the build's environment, whose PATH points inside the build root.

import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

export interface HostTools {
  readonly sh: string;
  readonly unshare: string;
  readonly setpriv: string;
  readonly mount: string;
  readonly mkdir: string;
  readonly cp: string;
  readonly chown: string;
  readonly perl: string;
}

const DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function which(name: string, dirs: readonly string[] = DIRS): string | undefined {
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

/** The tools, or the list of the missing ones with the Debian package that has each. */
export function findHostTools(): { tools: HostTools } | { missing: string[] } {
  const want = {
    sh: 'dash', unshare: 'util-linux', setpriv: 'util-linux', mount: 'mount', mkdir: 'coreutils', cp: 'coreutils',
    chown: 'coreutils', perl: 'perl-base',
  } as const;
  const found: Record<string, string> = {};
  const missing: string[] = [];
  for (const [name, pkg] of Object.entries(want)) {
    const p = which(name);
    if (p === undefined) missing.push(`${name} (Debian package ${pkg})`);
    else found[name] = p;
  }
  if (missing.length > 0) return { missing };
  return { tools: found as unknown as HostTools };
}
