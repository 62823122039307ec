// Can the rootless sandbox run here? Checked the cheap way first (sysctls, programs), then
// for real once per process: a user namespace that mounts an overlay in a temp dir.

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { which } from '../chroot/host-tools.ts';
import type { RootlessTools } from './scripts.ts';

/** The host programs, or the list of the missing ones with the Debian package that has each. */
export function findRootlessTools(): { tools: RootlessTools } | { missing: string[] } {
  const want = { sh: 'dash', unshare: 'util-linux', setpriv: 'util-linux', mount: 'mount', mkdir: 'coreutils', perl: 'perl-base', prlimit: 'util-linux' } as const;
  const found: Record<string, string> = {};
  const missing: string[] = [];
  for (const [name, pkg] of Object.entries(want)) {
    const p = which(name);
    if (p === undefined) missing.push(`${name} (Debian package ${pkg})`);
    else found[name] = p;
  }
  if (missing.length > 0) return { missing };
  const hostname = which('hostname');
  return { tools: { ...(found as unknown as RootlessTools), ...(hostname === undefined ? {} : { hostname }) } };
}

function readSysctl(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

let probed: { result: string | undefined } | undefined;

/** Why the rootless backend cannot run here, or undefined when it can (the probe runs once). */
export function rootlessUnavailable(): string | undefined {
  probed ??= { result: check() };
  return probed.result;
}

function check(): string | undefined {
  if (readSysctl('/proc/sys/kernel/unprivileged_userns_clone') === '0') {
    return 'unprivileged user namespaces are disabled (sysctl kernel.unprivileged_userns_clone=0; set it to 1)';
  }
  if (readSysctl('/proc/sys/user/max_user_namespaces') === '0') {
    return 'user namespaces are disabled (sysctl user.max_user_namespaces=0; set it to e.g. 15000)';
  }
  const found = findRootlessTools();
  if ('missing' in found) return `host programs missing: ${found.missing.join(', ')}`;
  const { unshare, sh, mount } = found.tools;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-rootless-probe-'));
  try {
    for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(dir, d));
    const script = `${mount} -t overlay kiln-probe -o lowerdir="$1/lower",upperdir="$1/upper",workdir="$1/work",userxattr "$1/merged"`;
    const r = spawnSync(unshare, ['--user', '--map-root-user', '--mount', '--pid', '--fork', '--net', '--', sh, '-c', script, 'probe', dir], {
      encoding: 'utf8', timeout: 10_000, env: {},
    });
    if (r.status === 0) return undefined;
    const err = `${r.stderr ?? ''}${r.error?.message ?? ''}`.trim().split('\n').slice(-2).join(' / ');
    if (/unshare failed|Operation not permitted|Permission denied/.test(err) && !/mount/.test(err)) {
      const apparmor = readSysctl('/proc/sys/kernel/apparmor_restrict_unprivileged_userns') === '1'
        ? ' (AppArmor restricts them: sysctl kernel.apparmor_restrict_unprivileged_userns=0, or a profile for kiln)'
        : '';
      return `cannot create a user namespace${apparmor}: ${err}`;
    }
    const wrap = which('fuse-overlayfs') === undefined ? 'fuse-overlayfs is not installed either' : 'fuse-overlayfs is installed, but this kiln does not use it yet';
    return `the kernel cannot mount overlayfs in a user namespace (Linux 5.11 or newer can): ${err}; ${wrap}`;
  } finally {
    // overlayfs leaves work/work with mode 000, which a non-root rm cannot descend into.
    try {
      chmodSync(join(dir, 'work', 'work'), 0o700);
    } catch {
      // not made
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
