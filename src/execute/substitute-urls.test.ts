import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKilnError } from '../errors.ts';
import { answerOf, collectSubstitute, entryUrl, metaProblem, parseSubstituteUrl, unauthorizedText } from './substitute-urls.ts';

const KEY = 'a'.repeat(64);

test('a --substitute URL: http(s) base URLs kept without the trailing slash; credentials, queries and other schemes refused naming the flag', () => {
  assert.equal(parseSubstituteUrl('https://kiln.example:8080/'), 'https://kiln.example:8080');
  assert.equal(parseSubstituteUrl('http://kiln.example/prefix//'), 'http://kiln.example/prefix');
  for (const bad of ['kiln.example', 'ftp://kiln.example', 'https://u:p@kiln.example', 'https://kiln.example/?a=1', 'https://kiln.example/#x']) {
    assert.throws(() => parseSubstituteUrl(bad), (e: unknown) => isKilnError(e) && e.code === 'usage' && e.message.startsWith('--substitute') && !e.message.includes('u:p'), bad);
  }
});

test('--substitute is repeatable: asked in the order given, each URL once', () => {
  let urls = collectSubstitute('https://a.example');
  urls = collectSubstitute('https://b.example/', urls);
  urls = collectSubstitute('https://a.example/', urls);
  assert.deepEqual(urls, ['https://a.example', 'https://b.example']);
  assert.equal(entryUrl(urls[0]!, KEY, 'pkg.tar.zst'), `https://a.example/api/v1/artifacts/${KEY}/pkg.tar.zst`);
});

test('what an answer means: 200 found, 404 absent, 401/403 stop asking that substituter, the rest an error for this key only', () => {
  const table: Array<[number, ReturnType<typeof answerOf>]> = [[200, 'found'], [404, 'absent'], [401, 'unauthorized'], [403, 'unauthorized'], [500, 'error'], [502, 'error'], [400, 'error'], [301, 'error']];
  for (const [status, want] of table) assert.equal(answerOf(status), want, String(status));
  assert.match(unauthorizedText('https://a.example', 401, undefined), /401 unauthorized: give a token .*--substitute-token TOKEN, \$KILN_SUBSTITUTE_TOKEN or kiln.toml's \[substitutes\] token-file/);
  assert.match(unauthorizedText('https://a.example', 401, '$KILN_SUBSTITUTE_TOKEN'), /the token of \$KILN_SUBSTITUTE_TOKEN was refused/);
  // A refused token-file's: the variable would not help (the file wins over it).
  const fromFile = unauthorizedText('https://a.example', 403, '/t/kiln.toml [substitutes] token-file (/t/token)');
  assert.match(fromFile, /403 forbidden: the token of \/t\/kiln\.toml \[substitutes\] token-file \(\/t\/token\) was refused .*: put a valid one in that file, or give one with --substitute-token TOKEN;/);
  assert.doesNotMatch(fromFile, /KILN_SUBSTITUTE_TOKEN/);
});

test('a meta.json refused before anything else is fetched: not JSON, another key, no output hash, no archive size', () => {
  const ok = { key: KEY, outputHash: 'b'.repeat(64), archive: 'pkg.tar.zst', size: 10, sha256: 'c'.repeat(64) };
  assert.equal(metaProblem(JSON.stringify(ok), KEY), undefined);
  assert.equal(metaProblem(JSON.stringify({ ...ok, archive: null, size: 0 }), KEY), undefined);
  assert.match(metaProblem('{', KEY)!, /not JSON/);
  assert.match(metaProblem('null', KEY)!, /not a JSON object/);
  assert.match(metaProblem(JSON.stringify({ ...ok, key: 'd'.repeat(64) }), KEY)!, /is for dddd/);
  assert.match(metaProblem(JSON.stringify({ ...ok, outputHash: undefined }), KEY)!, /no output hash/);
  assert.match(metaProblem(JSON.stringify({ ...ok, size: -1 }), KEY)!, /no archive size/);
});
