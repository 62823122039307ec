// Mounts as the kernel lists them in /proc/self/mountinfo, for the checks that nothing
// of a sandbox is still mounted in kiln's own namespace before its files are deleted.

import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { which } from './chroot/host-tools.ts';

/** Mount points in /proc/self/mountinfo (octal escapes decoded), in mount order. */
export function parseMountPoints(mountinfo: string): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field !== undefined) out.push(field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

/** Mount points at or under `dir`, deepest first (the order to unmount them in). */
export async function liveMountsUnder(dir: string, mountinfo?: string): Promise<string[]> {
  const text = mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8'));
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return parseMountPoints(text).filter((m) => m === dir || m.startsWith(prefix)).reverse();
}

/** umount -l: detach now, the kernel finishes when the last user lets go. */
export async function unmountLazily(mountPoint: string): Promise<void> {
  const umount = which('umount');
  if (umount === undefined) throw new Error(`cannot unmount ${mountPoint}: no umount program on this host`);
  const r = spawnSync(umount, ['-l', mountPoint], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`umount -l ${mountPoint} failed: ${r.stderr.trim()}`);
}
