import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStat, readStat } from './proc-stat.ts';

test('parseStat: comm with spaces and parentheses, then the fields; readStat of this process and of none', () => {
  const st = parseStat('1234 (a (b) c) S 1 1234 1234 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 1 0 9876 1000 42\n');
  assert.equal(st?.comm, 'a (b) c');
  assert.deepEqual([st?.fields[0], st?.fields[1], st?.fields[19], st?.fields[21]], ['S', '1', '9876', '42']);
  assert.equal(parseStat('garbage'), undefined);
  assert.equal(readStat(process.pid)?.fields[1], String(process.ppid));
  assert.equal(readStat(2 ** 22 + 1), undefined);
});
