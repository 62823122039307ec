import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KilnError } from '../errors.ts';
import { selectSource } from './debian-select.ts';
import { lazySources } from './lazy-index.ts';

const stanza = (name: string, version: string): string =>
  `Package: ${name}\nBinary: ${name}\nVersion: ${version}\nArchitecture: any\nDirectory: pool/main/${name[0]}/${name}\nChecksums-Sha256:\n ${'a'.repeat(64)} 10 ${name}_${version}.dsc\n`;
const sources = lazySources([stanza('hello', '2.10-3'), stanza('help2man', '1.49.3'), stanza('zlib', '1:1.2.13.dfsg-1')].join('\n'), 'Sources');
const req = { suite: 'bookworm', all: false };

test('a source package name: the highest version; a misspelt one suggests the nearest name of the suite', () => {
  assert.equal(selectSource(sources, 'hello', req, undefined)?.src.version, '2.10-3');
  const hintOf = (want: string): string => {
    try {
      selectSource(sources, want, req, undefined);
    } catch (e) {
      assert.ok(e instanceof KilnError && e.code === 'source-not-found');
      assert.equal(e.message, `no source package ${want} in bookworm main`);
      return e.hint ?? '';
    }
    assert.fail(`${want} was found`);
  };
  assert.equal(hintOf('helo'), 'did you mean "hello"?');
  assert.equal(hintOf('zlb'), 'did you mean "zlib"?');
  assert.match(hintOf('nothing-like-it'), /^searched bookworm main only: if nothing-like-it is in another component \(contrib, non-free, non-free-firmware\), add it with --components \(e\.g\. --components main,contrib\) or components = \[\.\.\.\] in debian\.toml; else check the name \(`apt-cache showsrc nothing-like-it` on a bookworm machine/);
});
