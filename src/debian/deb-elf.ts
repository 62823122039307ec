// Just enough ELF to explain why two builds of one binary differ: the section table (name,
// file range, sha256 of the contents), the GNU build-id note and the `.gnu_debuglink`
// (debug file name + CRC). Both identifiers are derived from the rest of the file, so a
// comparison reports them apart from "real" differences: `withoutIds` gives the file with
// their bytes zeroed, and two files equal under it differ in those identifiers only.
// Pure functions over a Buffer; 32/64-bit, either byte order.
import { createHash } from 'node:crypto';

export interface ElfSection {
  readonly name: string;
  readonly type: number;
  /** File offset and size of the contents (size 0 in the file for SHT_NOBITS, e.g. .bss). */
  readonly offset: number;
  readonly size: number;
  readonly nobits: boolean;
  /** sha256 of the contents in the file ('' for NOBITS). */
  readonly sha256: string;
}

export interface ElfInfo {
  readonly class: 32 | 64;
  readonly endian: 'le' | 'be';
  readonly machine: number;
  readonly sections: readonly ElfSection[];
  /** Hex, from the NT_GNU_BUILD_ID note. */
  readonly buildId: string | undefined;
  /** Byte range of the build-id's descriptor, for zeroing. */
  readonly buildIdRange: readonly [number, number] | undefined;
  readonly debuglink: { readonly file: string; readonly crc: string } | undefined;
  readonly debuglinkRange: readonly [number, number] | undefined;
}

const SHT_NOTE = 7;
const SHT_NOBITS = 8;
const NT_GNU_BUILD_ID = 3;

export function isElf(buf: Buffer): boolean {
  return buf.length >= 16 && buf[0] === 0x7f && buf[1] === 0x45 && buf[2] === 0x4c && buf[3] === 0x46;
}

/** Parse `buf` as ELF; undefined when it is not ELF or its headers are out of range. */
export function parseElf(buf: Buffer): ElfInfo | undefined {
  if (!isElf(buf)) return undefined;
  const cls = buf[4] === 2 ? 64 : buf[4] === 1 ? 32 : undefined;
  const endian = buf[5] === 1 ? 'le' : buf[5] === 2 ? 'be' : undefined;
  if (cls === undefined || endian === undefined) return undefined;
  const u16 = (o: number): number => (endian === 'le' ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number): number => (endian === 'le' ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const addr = (o: number): number => (cls === 64 ? Number(endian === 'le' ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o)) : u32(o));
  try {
    const machine = u16(18);
    const shoff = addr(cls === 64 ? 0x28 : 0x20);
    const shentsize = u16(cls === 64 ? 0x3a : 0x2e);
    let shnum = u16(cls === 64 ? 0x3c : 0x30);
    let shstrndx = u16(cls === 64 ? 0x3e : 0x32);
    const raw: { name: number; type: number; offset: number; size: number; link: number }[] = [];
    const header = (i: number): { name: number; type: number; offset: number; size: number; link: number } => {
      const b = shoff + i * shentsize;
      if (b + shentsize > buf.length) throw new RangeError('section header out of range');
      return cls === 64
        ? { name: u32(b), type: u32(b + 4), offset: addr(b + 24), size: addr(b + 32), link: u32(b + 40) }
        : { name: u32(b), type: u32(b + 4), offset: u32(b + 16), size: u32(b + 20), link: u32(b + 24) };
    };
    if (shoff !== 0) {
      // Extended numbering: counts too large for the header live in section 0.
      if (shnum === 0) shnum = header(0).size;
      if (shstrndx === 0xffff) shstrndx = header(0).link;
      if (shnum > 65536) return undefined;
      for (let i = 0; i < shnum; i++) raw.push(header(i));
    }
    const strtab = raw[shstrndx];
    const nameAt = (off: number): string => {
      if (strtab === undefined) return '';
      const start = strtab.offset + off;
      const end = buf.indexOf(0, start);
      return buf.toString('latin1', start, end < 0 || end > strtab.offset + strtab.size ? strtab.offset + strtab.size : end);
    };
    const sections: ElfSection[] = raw.map((s, i) => {
      const nobits = s.type === SHT_NOBITS || s.type === 0;
      const inFile = !nobits && s.offset + s.size <= buf.length;
      return {
        name: i === 0 ? '' : nameAt(s.name),
        type: s.type,
        offset: s.offset,
        size: s.size,
        nobits,
        sha256: inFile ? createHash('sha256').update(buf.subarray(s.offset, s.offset + s.size)).digest('hex') : '',
      };
    });
    let buildId: string | undefined;
    let buildIdRange: [number, number] | undefined;
    for (const s of sections) {
      if (s.type !== SHT_NOTE || s.nobits || buildId !== undefined) continue;
      const found = findBuildId(buf, s.offset, s.offset + s.size, u32);
      if (found !== undefined) [buildId, buildIdRange] = found;
    }
    let debuglink: ElfInfo['debuglink'];
    let debuglinkRange: [number, number] | undefined;
    const dl = sections.find((s) => s.name === '.gnu_debuglink');
    if (dl !== undefined && dl.size >= 5 && dl.offset + dl.size <= buf.length) {
      const body = buf.subarray(dl.offset, dl.offset + dl.size);
      const nul = body.indexOf(0);
      const file = body.toString('latin1', 0, nul < 0 ? body.length : nul);
      const crcAt = dl.offset + dl.size - 4;
      debuglink = { file, crc: u32(crcAt).toString(16).padStart(8, '0') };
      debuglinkRange = [dl.offset, dl.offset + dl.size];
    }
    return { class: cls, endian, machine, sections, buildId, buildIdRange, debuglink, debuglinkRange };
  } catch (e) {
    if (e instanceof RangeError) return undefined;
    throw e;
  }
}

function findBuildId(buf: Buffer, start: number, end: number, u32: (o: number) => number): [string, [number, number]] | undefined {
  const align4 = (n: number): number => (n + 3) & ~3;
  let at = start;
  while (at + 12 <= end) {
    const namesz = u32(at);
    const descsz = u32(at + 4);
    const type = u32(at + 8);
    const nameStart = at + 12;
    const descStart = nameStart + align4(namesz);
    const next = descStart + align4(descsz);
    if (next > end) return undefined;
    const name = buf.toString('latin1', nameStart, nameStart + namesz).replace(/\0+$/, '');
    if (type === NT_GNU_BUILD_ID && name === 'GNU') {
      return [buf.toString('hex', descStart, descStart + descsz), [descStart, descStart + descsz]];
    }
    at = next;
  }
  return undefined;
}

/** A copy of `buf` with the build-id descriptor and the debuglink section zeroed. */
export function withoutIds(buf: Buffer, info: ElfInfo): Buffer {
  const copy = Buffer.from(buf);
  for (const r of [info.buildIdRange, info.debuglinkRange]) {
    if (r !== undefined) copy.fill(0, r[0], r[1]);
  }
  return copy;
}

/** The section holding file offset `off` (the first, when sections overlap), if any. */
export function sectionAt(info: ElfInfo, off: number): ElfSection | undefined {
  return info.sections.find((s) => !s.nobits && s.size > 0 && off >= s.offset && off < s.offset + s.size);
}
