import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { test } from 'node:test';
import { readElfDynamic, type ReadAt } from './elf-dynamic.ts';
import { elf32be } from '../../test/helpers/elf.ts';

const fromBuffer = (b: Buffer): ReadAt => async (offset, length) => b.subarray(offset, offset + length);

test('readElfDynamic: a 32-bit big-endian program: its loader, needed libraries in order, soname, runpath', async () => {
  assert.deepEqual(await readElfDynamic(fromBuffer(elf32be({ needed: ['libfoo.so.1', 'libc.so.6'], soname: 'libme.so.2', runpath: '$ORIGIN/../lib:/opt/x' }))), {
    interpreter: '/lib/ld.so.1',
    needed: ['libfoo.so.1', 'libc.so.6'],
    runpath: ['$ORIGIN/../lib', '/opt/x'],
    soname: 'libme.so.2',
  });
});

test('readElfDynamic: not ELF, truncated, or with no dynamic section', async () => {
  assert.equal(await readElfDynamic(fromBuffer(Buffer.from('#!/bin/sh\necho hi\n'))), undefined);
  assert.equal(await readElfDynamic(fromBuffer(elf32be({ needed: ['libc.so.6'] }).subarray(0, 30))), undefined);
  // A static program: program headers, none of them PT_DYNAMIC or PT_INTERP.
  const b = elf32be({ needed: ['libc.so.6'] });
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
