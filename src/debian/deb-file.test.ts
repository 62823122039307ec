import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { buildTestDeb } from '../publish/apt-repo-test-debs.ts';
import { checkDebContents, debControlFrom, fieldValue, parseControlParagraphs, readDebControl, renderFields } from './deb-file.ts';

const invalid = (re: RegExp) => (e: unknown): boolean => e instanceof KilnError && e.code === 'deb-invalid' && re.test(e.message);

test('parseControlParagraphs keeps names, order and continuation lines; renderFields gives the text back', () => {
  const text = 'Package: a\nVersion: 1\nDescription: short\n long line\n .\n more\nConffiles:\n /etc/a 0123 obsolete\n\nPackage: b\r\nversion: 2\n';
  const ps = parseControlParagraphs(text, 'T');
  assert.equal(ps.length, 2);
  assert.deepEqual(ps[0]!.map((f) => f.name), ['Package', 'Version', 'Description', 'Conffiles']);
  assert.equal(fieldValue(ps[0]!, 'description'), 'short\n long line\n .\n more');
  assert.equal(fieldValue(ps[1]!, 'VERSION'), '2');
  assert.equal(renderFields(ps[0]!), 'Package: a\nVersion: 1\nDescription: short\n long line\n .\n more\nConffiles:\n /etc/a 0123 obsolete\n');
  assert.throws(() => parseControlParagraphs(' x\n', 'T'), invalid(/T: line 1: continuation/));
  assert.throws(() => parseControlParagraphs('A: 1\nnocolon\n', 'T'), invalid(/line 2: expected "Field: value"/));
  assert.throws(() => parseControlParagraphs('A: 1\na: 2\n', 'T'), invalid(/field "a" appears twice/));
});

test('debControlFrom: required fields, names, versions, Source with and without a version', () => {
  const ok = (text: string) => debControlFrom(parseControlParagraphs(text, 'd.deb')[0]!, 'd.deb');
  const base = 'Package: hello\nVersion: 2.10-3\nArchitecture: amd64\n';
  const rows: { text: string; source: string; sourceVersion: string }[] = [
    { text: base, source: 'hello', sourceVersion: '2.10-3' },
    { text: `${base}Source: hello-src\n`, source: 'hello-src', sourceVersion: '2.10-3' },
    { text: 'Package: libfoo1\nVersion: 1:2.0-1+b1\nArchitecture: riscv64\nSource: foo (1:2.0-1)\n', source: 'foo', sourceVersion: '1:2.0-1' },
  ];
  for (const r of rows) {
    const c = ok(r.text);
    assert.equal(c.source, r.source, r.text);
    assert.equal(c.sourceVersion, r.sourceVersion, r.text);
  }
  const bad: [string, RegExp][] = [
    ['Version: 1\nArchitecture: all\n', /no Package field/],
    ['Package: ab\nArchitecture: all\n', /no Version field/],
    ['Package: ab\nVersion: 1\n', /no Architecture field/],
    ['Package: Hello\nVersion: 1\nArchitecture: all\n', /not a valid package name/],
    ['Package: ab\nVersion: 1 2\nArchitecture: all\n', /Version "1 2"/],
    ['Package: ab\nVersion: 1\nArchitecture: amd64 i386\n', /not one architecture/],
    ['Package: ab\nVersion: 1\nArchitecture: all\nSource: x y z\n', /Source "x y z"/],
  ];
  for (const [text, re] of bad) assert.throws(() => ok(text), invalid(re), text);
});

test('readDebControl reads a real .deb (dpkg-deb) and refuses a file that is not one', async () => {
  await using dir = await tmpDir();
  const deb = await buildTestDeb(dir.path, { package: 'kiln-t', version: '1:0.5-2', architecture: 'amd64', source: 'kiln-src (0.5-2)', depends: 'libc6 (>= 2.17)' });
  const c = await readDebControl(deb);
  assert.equal(c.package, 'kiln-t');
  assert.equal(c.version, '1:0.5-2');
  assert.equal(c.architecture, 'amd64');
  assert.equal(c.source, 'kiln-src');
  assert.equal(fieldValue(c.fields, 'Depends'), 'libc6 (>= 2.17)');
  assert.match(fieldValue(c.fields, 'Description') ?? '', /\n \.\n/);
  const junk = join(dir.path, 'junk.deb');
  await writeFile(junk, 'not an ar archive');
  await assert.rejects(readDebControl(junk), invalid(/junk\.deb is not a readable \.deb/));
  await assert.rejects(readDebControl(join(dir.path, 'missing.deb')), invalid(/missing\.deb/));
});

test('checkDebContents passes a whole .deb and refuses a truncated one whose control still reads', async () => {
  await using dir = await tmpDir();
  // Random text in the script, so that the data member is a few KB even compressed.
  const deb = await buildTestDeb(dir.path, { package: 'kiln-t', version: '1.0', salt: randomBytes(3000).toString('hex') });
  await checkDebContents(deb);
  const bytes = await readFile(deb);
  assert.ok(bytes.length > 3000, `${bytes.length} bytes`);
  // As the audit's `head -c 1200`: inside the data member (the control member ends before),
  // and a few bytes short of the end.
  for (const size of [1200, bytes.length - 40]) {
    const cut = join(dir.path, `cut${size}_9_all.deb`);
    await writeFile(cut, bytes.subarray(0, size));
    // What the audit found: dpkg-deb --field reads the control member of the cut file.
    assert.equal((await readDebControl(cut)).package, 'kiln-t', `size ${size}`);
    await assert.rejects(checkDebContents(cut), (e: unknown) => {
      assert.ok(e instanceof KilnError && e.code === 'deb-invalid', String(e));
      assert.match(e.message, new RegExp(`^${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a complete \\.deb: dpkg-deb --contents fails: \\S`));
      assert.match(e.message, /end of file|unexpected|tar/i);
      assert.doesNotMatch(e.message, /exit status/);
      assert.match(e.hint ?? '', /truncated or damaged/);
      return true;
    }, `size ${size}`);
  }
  const junk = join(dir.path, 'junk.udeb');
  await writeFile(junk, 'not an ar archive');
  await assert.rejects(checkDebContents(junk), invalid(/junk\.udeb is not a complete \.udeb: dpkg-deb --contents fails: /));
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(checkDebContents(deb, { signal: ac.signal }), (e: unknown) => e instanceof KilnError && e.code === 'cancelled');
});
