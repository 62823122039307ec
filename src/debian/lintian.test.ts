import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lintianSummary, parseLintian } from './lintian.ts';

test('parseLintian: tag lines of every kind, and nothing else', () => {
  const out = [
    'W: hello: changelog-distribution-does-not-match-changes-file unstable != bookworm [usr/share/doc/hello/changelog.Debian.gz:1]',
    'W: hello changes: distribution-and-changes-mismatch bookworm unstable',
    'E: libfoo1 binary: shared-library-lacks-version libfoo.so',
    'I: hello source: out-of-date-standards-version 4.1.0 (released 2017-08-13) (current is 4.6.2)',
    'P: hello: no-homepage-field',
    'N: some explanation line',
    'running with root privileges is not recommended!',
    '',
  ].join('\n');
  const tags = parseLintian(out);
  assert.deepEqual(tags.map((t) => [t.code, t.package, t.tag, t.info]), [
    ['W', 'hello', 'changelog-distribution-does-not-match-changes-file', 'unstable != bookworm [usr/share/doc/hello/changelog.Debian.gz:1]'],
    ['W', 'hello', 'distribution-and-changes-mismatch', 'bookworm unstable'],
    ['E', 'libfoo1', 'shared-library-lacks-version', 'libfoo.so'],
    ['I', 'hello', 'out-of-date-standards-version', '4.1.0 (released 2017-08-13) (current is 4.6.2)'],
    ['P', 'hello', 'no-homepage-field', ''],
  ]);
  assert.equal(lintianSummary(tags), '1 error, 2 warnings (W: changelog-distribution-does-not-match-changes-file, W: distribution-and-changes-mismatch, E: shared-library-lacks-version)');
  assert.equal(lintianSummary([]), 'clean');
  assert.equal(lintianSummary(tags.filter((t) => t.code === 'P')), 'no errors or warnings (1 other tag)');
});
