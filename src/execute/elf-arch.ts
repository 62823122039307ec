// The `arch` output check (BitBake's QA "arch", lintian's binary-from-other-architecture):
// an arch-specific package whose ELF files are for another machine was almost always
// compiled for the build machine by mistake (a host-sandbox build for --arch riscv64 whose
// script does not cross-compile). Pure: the ELF headers come from the manifest walk.
//
// Allowed besides the arch's own machine: BPF objects (loaded into the kernel, any arch),
// 32-bit x86 in amd64 packages (multilib, x32), and anything under a firmware folder
// (blobs for devices, not for the CPU). A recipe that ships such files on purpose sets
// `skip-checks = ["arch"]` under [build]. The check's finding is made in output-checks.ts.
import type { ElfHeader } from '../lib/elf-header.ts';

const EM = { i386: 3, m68k: 4, mips: 8, parisc: 15, ppc: 20, ppc64: 21, s390: 22, arm: 40, sh: 42, sparcv9: 43, ia64: 50, x86_64: 62, aarch64: 183, riscv: 243, bpf: 247, loongarch: 258, alpha: 0x9026 } as const;

const MACHINE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(EM).map(([name, n]) => [n, name.replace('_', '-')]));

/** What an ELF file of a package for each Debian arch may be: [machine, bits]. Arches not listed are not checked. */
const ARCH_ELF: Readonly<Record<string, readonly (readonly [number, 32 | 64])[]>> = {
  amd64: [[EM.x86_64, 64], [EM.x86_64, 32], [EM.i386, 32]],
  i386: [[EM.i386, 32]],
  x32: [[EM.x86_64, 32], [EM.x86_64, 64], [EM.i386, 32]],
  arm64: [[EM.aarch64, 64], [EM.arm, 32]],
  armhf: [[EM.arm, 32]],
  armel: [[EM.arm, 32]],
  riscv64: [[EM.riscv, 64]],
  ppc64el: [[EM.ppc64, 64]],
  ppc64: [[EM.ppc64, 64], [EM.ppc, 32]],
  powerpc: [[EM.ppc, 32]],
  s390x: [[EM.s390, 64]],
  mips64el: [[EM.mips, 64]],
  mipsel: [[EM.mips, 32]],
  loong64: [[EM.loongarch, 64]],
  alpha: [[EM.alpha, 64]],
  hppa: [[EM.parisc, 32]],
  ia64: [[EM.ia64, 64]],
  m68k: [[EM.m68k, 32]],
  sh4: [[EM.sh, 32]],
  sparc64: [[EM.sparcv9, 64]],
};

/** `x86-64, 64-bit`. */
export function describeElf(h: ElfHeader): string {
  return `${MACHINE_NAMES[h.machine] ?? `machine ${h.machine}`}, ${h.bits}-bit`;
}

/** The ELF files (path → header) that do not belong in a package for `arch`, in path order. */
export function foreignElfFiles(elf: ReadonlyMap<string, ElfHeader>, arch: string): { path: string; header: ElfHeader }[] {
  const allowed = ARCH_ELF[arch];
  if (allowed === undefined) return [];
  const out: { path: string; header: ElfHeader }[] = [];
  for (const [path, header] of elf) {
    if (header.machine === EM.bpf) continue;
    if (/(^|\/)firmware\//.test(path)) continue;
    if (allowed.some(([m, b]) => m === header.machine && b === header.bits)) continue;
    out.push({ path, header });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
