// parseElf against binutils' own reading of real binaries: section names, offsets and
// sizes as `readelf -S -W` prints them, the build-id as `readelf -n` prints it, and the
// .gnu_debuglink that `objcopy --add-gnu-debuglink` writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { compileC } from './deb-test-helpers.ts';
import { isElf, parseElf, sectionAt, withoutIds } from './deb-elf.ts';

const hasTools = (() => {
  try {
    for (const t of ['gcc', 'readelf', 'objcopy']) execFileSync(t, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test('sections, build-id and debuglink agree with readelf/objcopy', { skip: !hasTools && 'needs gcc and binutils' }, async () => {
  await using dir = await tmpDir();
  await compileC(dir.path, 'p', '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n', ['-Wl,--build-id=sha1']);
  const bin = join(dir.path, 'cc-p', 'prog');
  const dbg = join(dir.path, 'prog.debug');
  writeFileSync(dbg, 'debug info stand-in\n');
  execFileSync('objcopy', [`--add-gnu-debuglink=${dbg}`, bin], { cwd: dir.path });
  const buf = readFileSync(bin);
  assert.equal(isElf(buf), true);
  const info = parseElf(buf);
  assert.ok(info);
  assert.equal(info.class, 64);

  const readelfS = execFileSync('readelf', ['-S', '-W', bin], { encoding: 'utf8' });
  const expected = [...readelfS.matchAll(/^\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)/gm)].map((m) => [m[1], parseInt(m[2]!, 16), parseInt(m[3]!, 16)]).slice(1); // [0] is the NULL section
  assert.ok(expected.length > 20, readelfS);
  assert.deepEqual(info.sections.slice(1).map((s) => [s.name, s.offset, s.size]), expected);

  const buildId = /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', bin], { encoding: 'utf8' }))?.[1];
  assert.equal(info.buildId, buildId);
  assert.equal(info.debuglink?.file, 'prog.debug');
  // objcopy stores the CRC-32 of the debug file.
  assert.equal(info.debuglink?.crc, crc32(readFileSync(dbg)).toString(16).padStart(8, '0'));

  // Zeroing removes exactly the ids: the build-id descriptor and the debuglink section.
  const z = withoutIds(buf, info);
  assert.equal(parseElf(z)?.buildId, '00'.repeat(20));
  assert.equal(parseElf(z)?.debuglink?.file, '');
  assert.equal(sectionAt(info, info.buildIdRange![0])?.name, '.note.gnu.build-id');
});

test('not ELF, or truncated ELF: undefined, no throw', () => {
  assert.equal(parseElf(Buffer.from('#!/bin/sh\necho hi\n')), undefined);
  const head = Buffer.alloc(64);
  head.write('\x7fELF', 0, 'latin1');
  head[4] = 2;
  head[5] = 1;
  head.writeBigUInt64LE(10_000n, 0x28); // section headers past the end
  head.writeUInt16LE(64, 0x3a);
  head.writeUInt16LE(3, 0x3c);
  assert.equal(parseElf(head), undefined);
  head[4] = 9;
  assert.equal(parseElf(head), undefined);
});
