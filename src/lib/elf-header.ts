// The machine and class of an ELF file, from its first 20 bytes: what the `arch` output
// check (execute/elf-arch.ts) needs, read while the manifest hashes each file.

export interface ElfHeader {
  readonly machine: number;
  readonly bits: 32 | 64;
}

/** The machine and class of an ELF file from its first 20 bytes, or undefined for anything else. */
export function elfHeader(head: Buffer): ElfHeader | undefined {
  if (head.length < 20 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) return undefined;
  const bits = head[4] === 1 ? 32 : head[4] === 2 ? 64 : undefined;
  const little = head[5] === 1 ? true : head[5] === 2 ? false : undefined;
  if (bits === undefined || little === undefined) return undefined;
  return { machine: little ? head.readUInt16LE(18) : head.readUInt16BE(18), bits };
}
