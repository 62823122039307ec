// Checks shared by the isolated backends (chroot, rootless): a job's workspace must be
// fresh, a bind mount's inside path must be plain and must not shadow the sandbox's own
// mounts, and a wait status's signal number gets its name.

import { lstat, readdir } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { isAbsolute, normalize } from 'node:path';
import { KilnError } from '../errors.ts';
import { INSIDE_ROOT, badPathChars } from './chroot/scripts.ts';

export async function assertEmptyDir(workDir: string, jobId: string): Promise<void> {
  const st = await lstat(workDir).catch(() => undefined);
  const entries = st === undefined ? [] : st.isDirectory() ? await readdir(workDir) : ['(a file)'];
  if (entries.length > 0) {
    throw new KilnError('unsafe-path', `sandbox workspace ${workDir} for job ${jobId} is not an empty directory`, {
      hint: 'each job needs a fresh directory; remove it (a kept workspace from an earlier run?) or use another work dir',
    });
  }
}

const FORBIDDEN_INSIDE = ['/proc', '/sys', '/dev', INSIDE_ROOT];

export function checkInside(inside: string, jobId: string): string {
  const n = normalize(inside);
  if (!isAbsolute(inside) || n !== inside.replace(/\/+$/, '') || n === '/' || badPathChars(n) || FORBIDDEN_INSIDE.some((f) => n === f || n.startsWith(`${f}/`))) {
    throw new KilnError('unsafe-path', `bind mount target ${JSON.stringify(inside)} of job ${jobId} must be a plain absolute path outside ${FORBIDDEN_INSIDE.join(', ')}`, {
      hint: 'mount it somewhere like /srv/NAME or /var/cache/NAME',
    });
  }
  return n;
}

export function signalName(n: number): string | undefined {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name;
  return undefined;
}
