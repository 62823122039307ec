import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { foreignElfFiles } from './elf-arch.ts';
import { elfHeader, type ElfHeader } from '../lib/elf-header.ts';

/** The first 20 bytes of an ELF file of this class, byte order and machine. */
function head(bits: 32 | 64, little: boolean, machine: number): Buffer {
  const b = Buffer.alloc(20);
  b.set([0x7f, 0x45, 0x4c, 0x46, bits === 32 ? 1 : 2, little ? 1 : 2, 1]);
  if (little) b.writeUInt16LE(machine, 18);
  else b.writeUInt16BE(machine, 18);
  return b;
}

test('elfHeader: machine and class of either byte order; not ELF, short or odd → undefined', () => {
  assert.deepEqual(elfHeader(head(64, true, 243)), { machine: 243, bits: 64 });
  assert.deepEqual(elfHeader(head(64, false, 22)), { machine: 22, bits: 64 });
  assert.deepEqual(elfHeader(head(32, true, 3)), { machine: 3, bits: 32 });
  assert.equal(elfHeader(Buffer.from('#!/bin/sh\necho hello world\n')), undefined);
  assert.equal(elfHeader(head(64, true, 62).subarray(0, 19)), undefined);
  const odd = head(64, true, 62);
  odd[5] = 9;
  assert.equal(elfHeader(odd), undefined);
  // This machine's own /bin/true.
  const own = elfHeader(readFileSync('/bin/true').subarray(0, 20));
  assert.ok(own !== undefined && own.bits === 64);
});

test('foreignElfFiles: the arch\'s own machine, multilib, BPF and firmware pass; anything else is named', () => {
  const files = (entries: [string, ElfHeader][]): Map<string, ElfHeader> => new Map(entries);
  const x86_64 = { machine: 62, bits: 64 } as const;
  const rows: [string, [string, ElfHeader][], string[]][] = [
    ['riscv64', [['usr/bin/tool', { machine: 243, bits: 64 }]], []],
    ['riscv64', [['usr/bin/tool', x86_64], ['usr/lib/libx.so', x86_64], ['usr/bin/ok', { machine: 243, bits: 64 }]], ['usr/bin/tool', 'usr/lib/libx.so']],
    ['riscv64', [['usr/lib/bpf/prog.o', { machine: 247, bits: 64 }], ['lib/firmware/dev.elf', { machine: 40, bits: 32 }]], []],
    ['amd64', [['usr/bin/tool', x86_64], ['usr/lib32/libc.so', { machine: 3, bits: 32 }]], []],
    ['amd64', [['usr/bin/tool', { machine: 183, bits: 64 }]], ['usr/bin/tool']],
    ['arm64', [['usr/bin/tool', { machine: 183, bits: 64 }]], []],
    ['armhf', [['usr/bin/tool', { machine: 40, bits: 64 }]], ['usr/bin/tool']],
    ['hurd-amd64', [['usr/bin/tool', { machine: 243, bits: 64 }]], []],
  ];
  for (const [arch, entries, want] of rows) assert.deepEqual(foreignElfFiles(files(entries), arch).map((f) => f.path), want, `${arch} ${JSON.stringify(entries)}`);
});
