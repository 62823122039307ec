// A minimal 32-bit big-endian ELF program (as a ppc or m68k one would be), for tests of
// kiln's ELF reading: a PT_INTERP, a PT_LOAD mapping the whole file at vaddr 0x10000, a
// PT_DYNAMIC with the DT_NEEDED, DT_SONAME and DT_RUNPATH given, DT_STRTAB and DT_STRSZ.

export function elf32be(o: { needed: readonly string[]; soname?: string; runpath?: string; interpreter?: string }): Buffer {
  const strings: string[] = [''];
  const offsetOf = (s: string): number => {
    const at = strings.join('\0').length + 1;
    strings.push(s);
    return at;
  };
  const dyn: [number, number][] = [];
  for (const n of o.needed) dyn.push([1, offsetOf(n)]);
  if (o.soname !== undefined) dyn.push([14, offsetOf(o.soname)]);
  if (o.runpath !== undefined) dyn.push([29, offsetOf(o.runpath)]);
  const strtab = Buffer.from(`${strings.join('\0')}\0`, 'latin1');
  const interp = Buffer.from(`${o.interpreter ?? '/lib/ld.so.1'}\0`, 'latin1');
  const ehsize = 52;
  const phentsize = 32;
  const phnum = 3;
  const interpOff = ehsize + phentsize * phnum;
  const strOff = interpOff + interp.length;
  const dynOff = strOff + strtab.length + ((4 - ((strOff + strtab.length) % 4)) % 4);
  dyn.push([5, 0x10000 + strOff], [10, strtab.length], [0, 0]);
  const b = Buffer.alloc(dynOff + dyn.length * 8);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = 1; // 32-bit
  b[5] = 2; // big-endian
  b[6] = 1;
  b.writeUInt16BE(2, 16); // ET_EXEC
  b.writeUInt16BE(20, 18); // EM_PPC
  b.writeUInt32BE(ehsize, 28); // e_phoff
  b.writeUInt16BE(phentsize, 42);
  b.writeUInt16BE(phnum, 44);
  const ph = (i: number, type: number, offset: number, vaddr: number, size: number): void => {
    const at = ehsize + i * phentsize;
    b.writeUInt32BE(type, at);
    b.writeUInt32BE(offset, at + 4);
    b.writeUInt32BE(vaddr, at + 8);
    b.writeUInt32BE(size, at + 16);
  };
  ph(0, 3, interpOff, 0x10000 + interpOff, interp.length);
  ph(1, 1, 0, 0x10000, b.length);
  ph(2, 2, dynOff, 0x10000 + dynOff, dyn.length * 8);
  interp.copy(b, interpOff);
  strtab.copy(b, strOff);
  dyn.forEach(([tag, val], i) => {
    b.writeInt32BE(tag, dynOff + i * 8);
    b.writeUInt32BE(val, dynOff + i * 8 + 4);
  });
  return b;
}
