import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { sha256FileHead } from './hash.ts';

test('sha256FileHead: the hash, the head, and whether a needle is in the file, also across read chunks', async () => {
  await using dir = await tmpDir();
  const needle = Buffer.from('/work/run/pkg_amd64/src');
  const cases: [string, Buffer, boolean][] = [
    ['none', Buffer.alloc(200_000, 0x61), false],
    ['in the first chunk', Buffer.concat([Buffer.from('x'), needle, Buffer.alloc(10)]), true],
    // Read streams hand out 64 KiB chunks: the needle straddles the first boundary.
    ['across a chunk boundary', Buffer.concat([Buffer.alloc(65_536 - 7, 0x62), needle, Buffer.alloc(100_000, 0x62)]), true],
    ['at the very end', Buffer.concat([Buffer.alloc(150_000, 0x63), needle]), true],
    ['only a prefix of it at the end', Buffer.concat([Buffer.alloc(65_530, 0x63), needle.subarray(0, 10)]), false],
  ];
  for (const [name, content, found] of cases) {
    const file = join(dir.path, name.replaceAll(' ', '-'));
    await writeFile(file, content);
    const r = await sha256FileHead(file, 4, { needles: [Buffer.from('/nowhere/else'), needle] });
    assert.equal(r.found, found, name);
    assert.equal(r.sha256, createHash('sha256').update(content).digest('hex'), name);
    assert.deepEqual(r.head, content.subarray(0, 4), name);
  }
  const without = await sha256FileHead(join(dir.path, 'in-the-first-chunk'), 4);
  assert.equal(without.found, false, 'no needles: nothing found');
});
