// Table tests for the pure parts of the content comparison and its rendering: printable
// strings, sequence diffs, byte regions and their reading as clock values, the changed
// token of two strings and whether it looks like a build clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byteRegions, clockReading, diffContent, diffSequences, firstDifference, looksLikeText, printableStrings } from './deb-content-diff.ts';
import { changedToken } from './deb-compare-format.ts';

test('printableStrings: runs of >= 4 printable characters with offsets, like strings -a', () => {
  const buf = Buffer.concat([Buffer.from('abc\0'), Buffer.from('hello world\0\x01'), Buffer.from('tab\there'), Buffer.from([0xff]), Buffer.from('end!')]);
  assert.deepEqual(printableStrings(buf), [
    { text: 'hello world', offset: 4 },
    { text: 'tab\there', offset: 17 },
    { text: 'end!', offset: 26 },
  ]);
});

test('diffSequences: hunks with positions; pairs; bounded', () => {
  const d = diffSequences(['a', 'b', 'c', 'd', 'e'], ['a', 'B', 'c', 'd', 'e', 'f']);
  assert.deepEqual(d.hunks.map((h) => [h.aStart, h.bStart, h.a, h.b]), [[1, 1, ['b'], ['B']], [5, 5, [], ['f']]]);
  assert.equal(d.tooMany, false);
  const many = diffSequences(Array.from({ length: 120 }, (_, i) => `x${i}`), Array.from({ length: 120 }, (_, i) => (i % 2 === 0 ? `y${i}` : `x${i}`)));
  assert.equal(many.hunks.length, 50);
  assert.equal(many.moreHunks, 10);
});

test('firstDifference across block boundaries and prefixes', () => {
  const a = Buffer.alloc(200_000, 1);
  const b = Buffer.from(a);
  b[150_001] = 2;
  assert.equal(firstDifference(a, b), 150_001);
  assert.equal(firstDifference(a, a.subarray(0, 10)), 10);
});

test('clockReading: years as 16/32-bit integers either endian, timestamps, nothing else', () => {
  const le = (n: number, w: 2 | 4): Buffer => { const b = Buffer.alloc(8); w === 2 ? b.writeUInt16LE(n, 2) : b.writeUInt32LE(n, 2); return b; };
  // 2022 = 0x07e6, 2026 = 0x07ea: only the low byte differs, at offset 2.
  assert.deepEqual(clockReading(le(2022, 4), le(2026, 4), 2, 1, 'le'), { a: 2022, b: 2026, clock: 'year' });
  const be = (n: number): Buffer => { const b = Buffer.alloc(8); b.writeUInt16BE(n, 4); return b; };
  assert.deepEqual(clockReading(be(2022), be(2026), 5, 1, 'be'), { a: 2022, b: 2026, clock: 'year' });
  assert.deepEqual(clockReading(le(1_700_000_000, 4), le(1_790_000_000, 4), 2, 4, 'le'), { a: 1_700_000_000, b: 1_790_000_000, clock: 'timestamp' });
  assert.equal(clockReading(le(5, 4), le(9, 4), 2, 1, 'le'), undefined);
  // Round numbers in the timestamp range (seen in a libvorbis .deb: 0x57f50000, 0x59750000) are not called clocks.
  assert.equal(clockReading(le(0x57f50000, 4), le(0x59750000, 4), 4, 2, 'le'), undefined);
});

test('byteRegions: runs merge when < 4 equal bytes apart; each region read as a clock when it is one', () => {
  const a = Buffer.from('00000000000000000000000000000000', 'hex');
  const b = Buffer.from(a);
  b[2] = 1; b[4] = 1; // 1 equal byte apart: one region
  b[12] = 1; // far: another
  const r = byteRegions(a, b);
  assert.deepEqual(r.regions.map((x) => [x.offset, x.length, x.a, x.b]), [[2, 3, '000000', '010001'], [12, 1, '00', '01']]);
  const year = Buffer.alloc(16);
  year.writeUInt16LE(2022, 6);
  const year2 = Buffer.from(year);
  year2.writeUInt16LE(2026, 6);
  assert.deepEqual(byteRegions(year, year2).regions.map((x) => x.number), [{ a: 2022, b: 2026, clock: 'year' }]);
});

test('diffContent: text vs binary vs gzip decided by content', () => {
  assert.equal(looksLikeText(Buffer.from('héllo\n')), true);
  assert.equal(looksLikeText(Buffer.from([0x68, 0, 0x69])), false);
  assert.equal(diffContent(Buffer.from('a\nb\n'), Buffer.from('a\nc\n')).kind, 'text');
  const bin = diffContent(Buffer.from('\0\0built 2024\0'), Buffer.from('\0\0built 2026\0'));
  assert.equal(bin.kind, 'binary');
  assert.deepEqual(bin.strings?.hunks.map((h) => [h.a, h.b]), [[['built 2024'], ['built 2026']]]);
});

test('changedToken: the differing word/number, and clock-like tokens named', () => {
  const cases: [string, string, string, string, string | undefined][] = [
    ['Copyright (C) 2024 FSF', 'Copyright (C) 2026 FSF', '2024', '2026', 'year'],
    ['built on 2024-01-02 by x', 'built on 2026-11-22 by x', '2024-01-02', '2026-11-22', 'date'],
    ['at 12:30:01', 'at 02:19:30', '12:30:01', '02:19:30', 'time'],
    ['Jan  1 2024', 'Nov 22 2026', 'Jan  1 2024', 'Nov 22 2026', 'date'],
    ['/build/hello-abc/src', '/build/hello-xyz/src', 'abc', 'xyz', undefined],
    ['version 1.2', 'version 1.3', '2', '3', undefined],
    ['same', 'same', '', '', undefined],
  ];
  for (const [a, b, ta, tb, clock] of cases) {
    assert.deepEqual(changedToken(a, b), { a: ta, b: tb, clock }, `${a} → ${b}`);
  }
});
