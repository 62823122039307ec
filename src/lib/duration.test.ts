import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseSize } from './duration.ts';
import { KilnError } from '../errors.ts';

test('parseDuration accepts each unit', () => {
  const table: [string, number][] = [
    ['30d', 30 * 86_400_000],
    ['12h', 12 * 3_600_000],
    ['90m', 90 * 60_000],
    ['45s', 45_000],
    ['500ms', 500],
    ['2w', 14 * 86_400_000],
    ['1.5h', 5_400_000],
    [' 0s ', 0],
  ];
  for (const [text, ms] of table) assert.equal(parseDuration(text), ms, text);
});

test('parseDuration rejects bad text and names it', () => {
  for (const bad of ['', '30', 'd', '10 years', '-5s', '1h30m', '5 sec']) {
    assert.throws(
      () => parseDuration(bad),
      (e: unknown) => e instanceof KilnError && e.code === 'usage' && e.message.includes(JSON.stringify(bad)),
      bad,
    );
  }
});

test('parseSize accepts binary units', () => {
  const table: [string | number, number][] = [
    ['512M', 512 * 1024 ** 2],
    ['1G', 1024 ** 3],
    ['1.5G', 1.5 * 1024 ** 3],
    ['1024K', 1024 * 1024],
    ['4096', 4096],
    ['4096B', 4096],
    ['2MiB', 2 * 1024 ** 2],
    ['3gb', 3 * 1024 ** 3],
    ['1T', 1024 ** 4],
    [4096, 4096],
  ];
  for (const [text, bytes] of table) assert.equal(parseSize(text), bytes, String(text));
});

test('parseSize rejects bad text and names it', () => {
  for (const bad of ['', 'M', '1X', '-1G', '1.5.2G', 'lots']) {
    assert.throws(
      () => parseSize(bad),
      (e: unknown) => e instanceof KilnError && e.code === 'usage' && e.message.includes(JSON.stringify(bad)),
      bad,
    );
  }
  assert.throws(() => parseSize(-1), KilnError);
  assert.throws(() => parseSize(Number.NaN), KilnError);
});
