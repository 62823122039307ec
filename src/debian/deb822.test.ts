import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KilnError } from '../errors.ts';
import { folded, isClearsigned, multilineLines, parseDeb822, unwrapVerifiedClearsigned, words } from './deb822.ts';

const src = { source: 'test.control' };

test('paragraphs, folded and multiline fields, comments, case-insensitive names, CRLF', () => {
  const text = [
    '# a comment before anything',
    'Source: widget',
    'Build-Depends: a,',
    ' b (>= 1),',
    '\tc',
    'checksums-SHA256:',
    ' 00 1 x.dsc',
    ' 11 2 x.tar.xz',
    '',
    '',
    '  ',
    'Package: widget-tools\r',
    '# comment inside a paragraph',
    'Description: tools',
    ' line one',
    ' .',
    ' line three',
    '',
  ].join('\n');
  const ps = parseDeb822(text, src);
  assert.equal(ps.length, 2);
  const [a, b] = ps;
  assert.ok(a && b);
  assert.equal(a.line, 2);
  assert.equal(b.line, 12);
  assert.equal(a.fields.get('source'), 'widget');
  assert.equal(folded(a.fields.get('build-depends')), 'a, b (>= 1), c');
  assert.deepEqual(multilineLines(a.fields.get('checksums-sha256')), ['00 1 x.dsc', '11 2 x.tar.xz']);
  assert.equal(b.fields.get('package'), 'widget-tools');
  assert.equal(b.fields.get('description'), 'tools\nline one\n.\nline three');
  assert.deepEqual(words(' all  amd64\nriscv64 '), ['all', 'amd64', 'riscv64']);
  // No trailing newline, value with colons.
  const [c] = parseDeb822('Homepage: https://example.invalid/x:y', src);
  assert.equal(c?.fields.get('homepage'), 'https://example.invalid/x:y');
});

test('malformed input is refused naming the file and line', () => {
  const bad = (text: string, re: RegExp): void => {
    assert.throws(() => parseDeb822(text, src), (e: unknown) => e instanceof KilnError && re.test(e.message));
  };
  bad(' leading continuation\n', /^test\.control:1: continuation line without a field/);
  bad('A: 1\nno colon here\n', /^test\.control:2: expected "Field: value"/);
  bad('A: 1\nB: 2\na: 3\n', /^test\.control:3: field "a" appears twice/);
});

const signed = [
  '-----BEGIN PGP SIGNED MESSAGE-----',
  'Hash: SHA512',
  '',
  'Source: hello',
  '- -----BEGIN not really',
  'Version: 2.10-3',
  '-----BEGIN PGP SIGNATURE-----',
  '',
  'iQIzBAEBCgAdFiEE...',
  '-----END PGP SIGNATURE-----',
  '',
].join('\n');

test('a clearsigned text is refused by the parser until unwrapped; unwrapping undoes dash-escaping', () => {
  assert.ok(isClearsigned(signed));
  assert.throws(() => parseDeb822(signed, src), /must be verified and unwrapped/);
  const inner = unwrapVerifiedClearsigned(signed, 'x.dsc');
  assert.equal(inner, 'Source: hello\n-----BEGIN not really\nVersion: 2.10-3\n');
  assert.equal(unwrapVerifiedClearsigned('A: 1\n', 'x'), 'A: 1\n');
  assert.throws(() => unwrapVerifiedClearsigned(signed.split('-----BEGIN PGP SIGNATURE')[0] ?? '', 'x.dsc'), /no signature block/);
});
