// closestName / suiteHint: the "did you mean" of a typed suite or key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closestName, editDistance, suiteHint } from './closest-name.ts';

test('edit distance: insert, delete, substitute, swap two neighbours', () => {
  const cases: [string, string, number][] = [
    ['', '', 0], ['bookwrm', 'bookworm', 1], ['nochek', 'nocheck', 1], ['trixy', 'trixie', 2], ['abc', 'xyz', 3],
    ['arm46', 'arm64', 1], ['armfh', 'armhf', 1], ['ab', 'ba', 1], ['abc', 'ca', 3], ['souces', 'sources', 1], ['soruces', 'sources', 1], ['srouces', 'sources', 2],
  ];
  for (const [a, b, d] of cases) assert.equal(editDistance(a, b), d, `${a} → ${b}`);
});

test('closestName: the nearest within two edits, never the word itself, case-insensitive (a difference of case alone is the nearest)', () => {
  const names = ['suite', 'sources', 'nocheck', 'cpus'];
  const cases: [string, string | undefined][] = [['nochek', 'nocheck'], ['sourcse', 'sources'], ['Suite', 'suite'], ['suite', undefined], ['memory', undefined], ['cpu', 'cpus']];
  for (const [word, want] of cases) assert.equal(closestName(word, names), want, word);
});

test('suiteHint: a near Debian suite name, else examples', () => {
  assert.equal(suiteHint('bookwrm'), 'did you mean "bookworm"?');
  assert.equal(suiteHint('trixi'), 'did you mean "trixie"?');
  assert.match(suiteHint('zzzzzz'), /e\.g\. bookworm, trixie or sid/);
});
