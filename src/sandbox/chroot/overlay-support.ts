// Whether the kernel offers overlayfs to the chroot sandbox. /proc/filesystems lists only
// what is loaded, and Debian's and Ubuntu's kernels build overlayfs as a module: on a host
// where nothing has mounted an overlay since boot (no container engine), it is missing
// there although `mount -t overlay` would load it. kiln, as root, loads it as mount would
// (modprobe overlay), once per process, and reads the list again.

import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export interface OverlayProbe {
  /** The text of /proc/filesystems ('' when unreadable). */
  readonly filesystems: () => string;
  /** Loads the module; undefined on success, else why it failed. */
  readonly load: () => string | undefined;
}

/** Why overlayfs is not there, or undefined when it is (loading the module when it is only missing from the list). Pure but for the probe. */
export function overlayProblem(probe: OverlayProbe): string | undefined {
  if (listsOverlay(probe.filesystems())) return undefined;
  const failed = probe.load();
  if (listsOverlay(probe.filesystems())) return undefined;
  return `the kernel has no overlayfs${failed === undefined ? '' : ` (modprobe overlay: ${failed})`}: load the overlay module, or use a kernel built with CONFIG_OVERLAY_FS`;
}

function listsOverlay(text: string): boolean {
  return /^\S*\s+overlay$/m.test(text);
}

let memo: string | undefined | null = null;

/** overlayProblem on this host, remembered for the process once overlayfs is there (or could not be loaded). */
export function hostOverlayProblem(): string | undefined {
  if (memo !== null) return memo;
  memo = overlayProblem({ filesystems: readProcFilesystems, load: modprobeOverlay });
  return memo;
}

function readProcFilesystems(): string {
  try {
    return readFileSync('/proc/filesystems', 'utf8');
  } catch {
    return '';
  }
}

function modprobeOverlay(): string | undefined {
  // root's PATH may lack the sbin folders when kiln is started from a user's shell through sudo -E.
  const path = `${process.env['PATH'] ?? '/usr/bin:/bin'}:/usr/sbin:/sbin`;
  const r = spawnSync('modprobe', ['overlay'], { env: { PATH: path }, encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.error !== undefined) return r.error.message;
  if (r.status !== 0) return r.stderr.trim().split('\n').at(-1) || `exit ${r.status ?? r.signal}`;
  return undefined;
}
