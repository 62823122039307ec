import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { test } from 'node:test';
import { readElfDynamic, type ReadAt } from './elf-dynamic.ts';

const fromBuffer = (b: Buffer): ReadAt => async (offset, length) => b.subarray(offset, offset + length);

/**
 * A minimal 32-bit big-endian ELF (as a ppc or m68k program would be): a PT_INTERP, a PT_LOAD
 * mapping the string table at vaddr 0x10000 + its offset, a PT_DYNAMIC with NEEDED, SONAME,
 * RUNPATH, STRTAB and STRSZ.
 */
function elf32be(): Buffer {
  const strtab = Buffer.from('\0libfoo.so.1\0libc.so.6\0libme.so.2\0$ORIGIN/../lib:/opt/x\0', 'latin1');
  const interp = Buffer.from('/lib/ld.so.1\0', 'latin1');
  const ehsize = 52;
  const phentsize = 32;
  const phnum = 3;
  const interpOff = ehsize + phentsize * phnum;
  const strOff = interpOff + interp.length;
  const dynOff = strOff + strtab.length + ((4 - ((strOff + strtab.length) % 4)) % 4);
  const dyn: [number, number][] = [[1, 1], [1, 13], [14, 23], [29, 34], [5, 0x10000 + strOff], [10, strtab.length], [0, 0]];
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
    const o = ehsize + i * phentsize;
    b.writeUInt32BE(type, o);
    b.writeUInt32BE(offset, o + 4);
    b.writeUInt32BE(vaddr, o + 8);
    b.writeUInt32BE(size, o + 16);
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

test('readElfDynamic: a 32-bit big-endian program: its loader, needed libraries in order, soname, runpath', async () => {
  assert.deepEqual(await readElfDynamic(fromBuffer(elf32be())), {
    interpreter: '/lib/ld.so.1',
    needed: ['libfoo.so.1', 'libc.so.6'],
    runpath: ['$ORIGIN/../lib', '/opt/x'],
    soname: 'libme.so.2',
  });
});

test('readElfDynamic: not ELF, truncated, or with no dynamic section', async () => {
  assert.equal(await readElfDynamic(fromBuffer(Buffer.from('#!/bin/sh\necho hi\n'))), undefined);
  assert.equal(await readElfDynamic(fromBuffer(elf32be().subarray(0, 30))), undefined);
  // A static program: program headers, none of them PT_DYNAMIC or PT_INTERP.
  const b = elf32be();
  for (let i = 0; i < 3; i++) if (i !== 1) b.writeUInt32BE(6, 52 + i * 32); // PT_PHDR: not looked at
  assert.deepEqual(await readElfDynamic(fromBuffer(b)), { needed: [], runpath: [] });
});

test('readElfDynamic: this machine\'s /bin/ls (64-bit, little-endian on amd64 and arm64) needs libc.so.6 and has a loader', { skip: existsSync('/bin/ls') ? false : 'no /bin/ls' }, async () => {
  const fh = await open('/bin/ls', 'r');
  try {
    const r = await readElfDynamic(async (offset, length) => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    });
    assert.ok(r?.needed.includes('libc.so.6'), JSON.stringify(r));
    assert.match(r?.interpreter ?? '', /^\/lib.*\/ld-.*\.so\.\d+$/);
  } finally {
    await fh.close();
  }
});
