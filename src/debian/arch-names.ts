// Debian architecture names (dpkg-architecture -L), and a "did you mean" for a name that
// is not one. Pure. Used by the command line's --arch, recipes' `archs` and kiln.toml's
// `archs`, so that all three accept and refuse the same names.

import { KilnError } from '../errors.ts';
import { closestName } from './closest-name.ts';

/** The CPUs of dpkg's cputable: each is an arch on its own, and after an OS prefix. */
const CPUS = [
  'alpha', 'amd64', 'arc', 'arm', 'arm64', 'armeb', 'avr32', 'hppa', 'i386', 'ia64', 'loong64', 'm32r', 'm68k', 'mips',
  'mips64', 'mips64el', 'mips64r6', 'mips64r6el', 'mipsel', 'mipsr6', 'mipsr6el', 'nios2', 'or1k', 'powerpc', 'powerpcel',
  'ppc64', 'ppc64el', 'riscv64', 's390', 's390x', 'sh3', 'sh3eb', 'sh4', 'sh4eb', 'sparc', 'sparc64', 'tilegx',
] as const;

/** GNU/Linux arches named for an ABI rather than a CPU (dpkg's tupletable). */
const LINUX_ABIS = ['arm64ilp32', 'armel', 'armhf', 'mipsn32', 'mipsn32el', 'mipsn32r6', 'mipsn32r6el', 'powerpcspe', 'x32'] as const;

/** The OS parts of dpkg's tupletable that prefix every CPU (hurd-amd64, musl-linux-arm64…). */
const OS_PREFIXES = [
  'aix', 'darwin', 'dragonflybsd', 'freebsd', 'hurd', 'kfreebsd', 'knetbsd', 'kopensolaris', 'musl-linux', 'netbsd', 'openbsd',
  'solaris', 'uclibc-linux', 'uclinux',
] as const;

/** Names of the tupletable outside the product of OS_PREFIXES and CPUS. */
const OTHER_OS_ARCHS = ['kfreebsd-armhf', 'mint-m68k', 'musl-linux-armhf', 'uclibc-linux-armel', 'uclinux-armel'] as const;

/** The architectures Debian releases (and i386): what a typo most likely meant. */
const RELEASE_ARCHS = ['amd64', 'arm64', 'armhf', 'armel', 'i386', 'ppc64el', 'riscv64', 's390x', 'mips64el', 'loong64'] as const;

/** The Debian architectures without an OS part: amd64, arm64, armhf, riscv64… */
export const DEBIAN_CPUS: ReadonlySet<string> = new Set<string>([...CPUS, ...LINUX_ABIS]);

/** Every Debian architecture name, as `dpkg-architecture -L` lists them. */
export const DEBIAN_ARCHS: ReadonlySet<string> = new Set<string>([
  ...DEBIAN_CPUS,
  ...OS_PREFIXES.flatMap((os) => CPUS.map((cpu) => `${os}-${cpu}`)),
  ...OTHER_OS_ARCHS,
]);

/** The names other systems give an arch (uname -m, GNU triplets) → Debian's name. */
const ALIASES: Readonly<Record<string, string>> = {
  x86_64: 'amd64', 'x86-64': 'amd64', x64: 'amd64', i486: 'i386', i586: 'i386', i686: 'i386', x86: 'i386',
  aarch64: 'arm64', armv7l: 'armhf', armv7: 'armhf', armhfp: 'armhf', ppc64le: 'ppc64el', powerpc64le: 'ppc64el',
  powerpc64: 'ppc64', loongarch64: 'loong64', riscv: 'riscv64',
};

export function isDebianArch(name: string): boolean {
  return DEBIAN_ARCHS.has(name);
}

/**
 * The Debian arch `name` most likely meant, or undefined: its lowercase form, the Debian
 * name of another system's name (x86_64 → amd64), else the nearest within two edits (one for a
 * name of four letters or fewer).
 */
export function closestArch(name: string): string | undefined {
  const lower = name.toLowerCase();
  if (lower !== name && DEBIAN_ARCHS.has(lower)) return lower;
  const alias = ALIASES[lower];
  if (alias !== undefined) return alias;
  // Two edits turn most short words into some arch ("any" → arc): one for those.
  const edits = lower.length <= 4 ? 1 : 2;
  // Debian's release arches first, then the other CPUs, then the rest: at one distance the
  // first found wins, so "arm46" meets arm64 before arm, "amd65" amd64 before kfreebsd-amd64.
  return closestName(lower, [...RELEASE_ARCHS, ...DEBIAN_CPUS], edits) ?? closestName(lower, [...DEBIAN_ARCHS], edits);
}

/** ` (did you mean "amd64"?)`, or '' when no arch is near: for the end of a message. */
export function didYouMeanArch(name: string): string {
  const near = closestArch(name);
  return near === undefined ? '' : ` (did you mean "${near}"?)`;
}

/** `name` given to `option` (--arch of env create, verify, logs), or a usage error naming both with the nearest arch. */
export function checkArchOption(option: string, name: string): string {
  if (isDebianArch(name)) return name;
  throw new KilnError('usage', `${option}: "${name}" is not a Debian architecture name${didYouMeanArch(name)}`, {
    hint: 'use a name dpkg-architecture -L lists, e.g. amd64, arm64, riscv64',
  });
}
