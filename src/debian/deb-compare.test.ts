// compareDebs on real .debs built here with dpkg-deb --build (and ELF files built with
// gcc): identical builds, one control field changed, a file added, a file's contents
// changed, metadata changed, ELF binaries that differ only in the build-id, in an
// embedded string, or in an immediate integer (a year, as in the archive's hello).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { compareDebs, diffFields, diffTrees, formatComparison, summarizeComparison } from './deb-compare.ts';
import type { DebComparison, Differs, EntryDiff } from './deb-compare.ts';
import { buildDeb, compileC, FIXED_EPOCH } from './deb-test-helpers.ts';
import type { TarEntry } from './deb-tar.ts';

const hasGcc = (() => {
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const README = 'usr/share/doc/widget/README';
const base = { [README]: 'line one\nline two\nline three\n', 'usr/share/widget/data.txt': 'data\n' };

function differs(c: DebComparison): Differs {
  assert.equal(c.verdict, 'differs', `expected a difference, got ${formatComparison(c).join('\n')}`);
  return c as Differs;
}
const changed = (c: Differs, path: string): EntryDiff => {
  const e = c.data.changed.find((x) => x.path === path);
  assert.ok(e, `${path} is not among the changed: ${c.data.changed.map((x) => x.path).join(', ')}`);
  return e;
};

test('two builds of the same tree are reproducible; formatting says so', async () => {
  await using dir = await tmpDir();
  const a = await buildDeb(dir.path, 'a', { files: base });
  const b = await buildDeb(dir.path, 'b', { files: base });
  const c = await compareDebs(a, b);
  assert.equal(c.verdict, 'reproducible');
  assert.equal(c.a.sha256, c.b.sha256);
  assert.match(formatComparison(c)[0]!, /^reproducible: identical bytes/);
});

test('a changed control field: that field with both values, nothing else in control or data', async () => {
  await using dir = await tmpDir();
  const a = await buildDeb(dir.path, 'a', { files: base });
  const b = await buildDeb(dir.path, 'b', { files: base, control: { Maintainer: 'Someone Else <else@example.invalid>' } });
  const c = differs(await compareDebs(a, b));
  assert.deepEqual(c.control.fields, [{ field: 'Maintainer', a: 'Kiln Tests <tests@example.invalid>', b: 'Someone Else <else@example.invalid>' }]);
  assert.deepEqual(c.control.md5sums, { changed: [], added: [], removed: [] });
  assert.equal(c.data.changed.length + c.data.added.length + c.data.removed.length, 0);
  assert.equal(c.contentIdentical, false);
  // The control tarball differs, the data tarball does not.
  assert.deepEqual(c.ar.map((m) => m.name), ['control.tar.xz']);
  const text = formatComparison(c).join('\n');
  assert.match(text, /control: Maintainer: "Kiln Tests <tests@example.invalid>" → "Someone Else <else@example.invalid>"/);
  assert.match(summarizeComparison(c), /control fields: Maintainer/);
});

test('a file added: listed with its metadata; md5sums noted apart', async () => {
  await using dir = await tmpDir();
  const a = await buildDeb(dir.path, 'a', { files: base });
  const b = await buildDeb(dir.path, 'b', { files: { ...base, 'usr/share/widget/extra.conf': 'x=1\n' } });
  const c = differs(await compareDebs(a, b));
  assert.deepEqual(c.data.added.map((e) => [e.path, e.type, e.mode, e.size]), [['usr/share/widget/extra.conf', 'file', 0o644, 4]]);
  assert.deepEqual(c.data.removed, []);
  assert.deepEqual(c.control.md5sums.added, ['usr/share/widget/extra.conf']);
  assert.deepEqual(c.control.fields, []);
  const text = formatComparison(c).join('\n');
  assert.match(text, /data: only in b: usr\/share\/widget\/extra\.conf \(file 0644 root\/root, 4 bytes\)/);
  assert.match(text, /md5sums differ for \+usr\/share\/widget\/extra\.conf \(follows from the data\)/);
  // Reversed, the same file is "only in a".
  const r = differs(await compareDebs(b, a));
  assert.deepEqual(r.data.removed.map((e) => e.path), ['usr/share/widget/extra.conf']);
});

test('a text file changed: its sha256 on both sides and the differing line', async () => {
  await using dir = await tmpDir();
  const a = await buildDeb(dir.path, 'a', { files: base });
  const b = await buildDeb(dir.path, 'b', { files: { ...base, [README]: 'line one\nline 2\nline three\n' } });
  const c = differs(await compareDebs(a, b));
  assert.equal(c.data.identical, c.data.total.a - 1);
  const e = changed(c, README);
  assert.ok(e.content);
  assert.notEqual(e.content.a.sha256, e.content.b.sha256);
  assert.equal(e.content.diff?.kind, 'text');
  assert.deepEqual(e.content.diff?.lines?.hunks.map((h) => [h.aStart, h.a, h.b]), [[1, ['line two'], ['line 2']]]);
  assert.deepEqual(c.control.md5sums.changed, [README]);
  assert.match(formatComparison(c).join('\n'), /line 2: "line two" → "line 2"/);
});

test('metadata only: mode and mtime differences, no content difference', async () => {
  await using dir = await tmpDir();
  const a = await buildDeb(dir.path, 'a', { files: base });
  const b = await buildDeb(dir.path, 'b', { files: { ...base, 'usr/share/widget/data.txt': { content: 'data\n', mode: 0o755, mtime: FIXED_EPOCH - 86400 } } });
  const c = differs(await compareDebs(a, b));
  const e = changed(c, 'usr/share/widget/data.txt');
  assert.equal(e.content, undefined);
  assert.deepEqual(e.meta.map((m) => [m.field, m.a, m.b]), [['mode', '0644', '0755'], ['mtime', '2023-11-14T22:13:20Z', '2023-11-13T22:13:20Z']]);
  assert.equal(c.contentIdentical, false);
});

test('a gzip file whose header mtime alone differs: "same contents"', async () => {
  await using dir = await tmpDir();
  const gz = gzipSync('changelog\n');
  const later = Buffer.from(gz);
  later.writeUInt32LE(FIXED_EPOCH, 4);
  const a = await buildDeb(dir.path, 'a', { files: { ...base, 'usr/share/doc/widget/changelog.gz': gz } });
  const b = await buildDeb(dir.path, 'b', { files: { ...base, 'usr/share/doc/widget/changelog.gz': later } });
  const c = differs(await compareDebs(a, b));
  const d = changed(c, 'usr/share/doc/widget/changelog.gz').content?.diff;
  assert.equal(d?.kind, 'gzip');
  assert.equal(d?.gzip?.sameContents, true);
  assert.deepEqual(d?.gzip?.mtime, { a: 0, b: FIXED_EPOCH });
  assert.match(formatComparison(c).join('\n'), /gzip: same contents, the compressed stream differs \(header mtime 0 → 1700000000\)/);
});

const PROG = (text: string): string => `#include <stdio.h>\nint main(void) { puts("${text}"); return 0; }\n`;
const YEAR_PROG = (year: number): string => `#include <stdio.h>\nint main(int argc, char **argv) { (void)argv; printf("Copyright (C) %d\\n", argc > 5 ? 0 : ${year}); return 0; }\n`;

test('ELF binaries that differ only in the build-id: reported apart, files equal once ids are zeroed', { skip: !hasGcc && 'no gcc' }, async () => {
  await using dir = await tmpDir();
  const x = await compileC(dir.path, 'x', PROG('hello'), [`-Wl,--build-id=0x${'11'.repeat(20)}`]);
  const y = await compileC(dir.path, 'y', PROG('hello'), [`-Wl,--build-id=0x${'22'.repeat(20)}`]);
  assert.notDeepEqual(x, y);
  const a = await buildDeb(dir.path, 'a', { files: { ...base, 'usr/bin/widget': { content: x, mode: 0o755 } } });
  const b = await buildDeb(dir.path, 'b', { files: { ...base, 'usr/bin/widget': { content: y, mode: 0o755 } } });
  const c = differs(await compareDebs(a, b));
  assert.equal(c.data.changed.length, 1);
  const d = changed(c, 'usr/bin/widget').content?.diff;
  assert.equal(d?.kind, 'elf');
  assert.deepEqual(d?.elf?.buildId, { a: '11'.repeat(20), b: '22'.repeat(20) });
  assert.equal(d?.elf?.onlyIds, true);
  assert.deepEqual(d?.elf?.sections.map((s) => s.name), ['.note.gnu.build-id']);
  assert.equal(d?.firstDifferenceSection, '.note.gnu.build-id');
  const text = formatComparison(c).join('\n');
  assert.match(text, /only the ELF build-id differs: the files are equal once those are zeroed/);
  assert.match(text, new RegExp(`build-id: ${'11'.repeat(20)} → ${'22'.repeat(20)}$`, 'm'));
  assert.match(summarizeComparison(c), /usr\/bin\/widget: ELF build-id only/);
});

test('ELF binaries differing in an embedded string (a year): the strings, the section, the build-id as a consequence', { skip: !hasGcc && 'no gcc' }, async () => {
  await using dir = await tmpDir();
  const x = await compileC(dir.path, 'x', PROG('hello, built in 2024'), ['-Wl,--build-id=sha1']);
  const y = await compileC(dir.path, 'y', PROG('hello, built in 2026'), ['-Wl,--build-id=sha1']);
  const a = await buildDeb(dir.path, 'a', { files: { ...base, 'usr/bin/widget': { content: x, mode: 0o755 } } });
  const b = await buildDeb(dir.path, 'b', { files: { ...base, 'usr/bin/widget': { content: y, mode: 0o755 } } });
  const c = differs(await compareDebs(a, b));
  const d = changed(c, 'usr/bin/widget').content?.diff;
  assert.equal(d?.elf?.onlyIds, false);
  assert.notEqual(d?.elf?.buildId.a, d?.elf?.buildId.b);
  assert.deepEqual(d?.elf?.sections.map((s) => s.name).sort(), ['.note.gnu.build-id', '.rodata']);
  assert.deepEqual(d?.strings?.hunks.map((h) => [h.a, h.b, h.section]), [[['hello, built in 2024'], ['hello, built in 2026'], '.rodata']]);
  const text = formatComparison(c).join('\n');
  assert.match(text, /strings in \.rodata: "hello, built in 2024" → "hello, built in 2026" {2}\["2024" → "2026": a year, likely the build clock\]/);
  assert.match(text, /build-id: [0-9a-f]{40} → [0-9a-f]{40} \(follows from the other differences\)/);
  assert.match(summarizeComparison(c), /^differs: data: 1 of \d+ entries differ \(usr\/bin\/widget: "2024" → "2026" \(a year: build clock\?\), ELF build-id\)$/);
});

test('ELF binaries differing in an immediate integer (the archive hello case): the bytes read as a year', { skip: !hasGcc && 'no gcc' }, async () => {
  await using dir = await tmpDir();
  const x = await compileC(dir.path, 'x', YEAR_PROG(2022), ['-Wl,--build-id=sha1']);
  const y = await compileC(dir.path, 'y', YEAR_PROG(2026), ['-Wl,--build-id=sha1']);
  const a = await buildDeb(dir.path, 'a', { files: { ...base, 'usr/bin/hello': { content: x, mode: 0o755 } } });
  const b = await buildDeb(dir.path, 'b', { files: { ...base, 'usr/bin/hello': { content: y, mode: 0o755 } } });
  const c = differs(await compareDebs(a, b));
  assert.deepEqual(c.data.changed.map((e) => e.path), ['usr/bin/hello']);
  const d = changed(c, 'usr/bin/hello').content?.diff;
  assert.deepEqual(d?.elf?.sections.map((s) => s.name).sort(), ['.note.gnu.build-id', '.text']);
  assert.equal(d?.strings?.hunks.length, 0, 'no printable string differs');
  const year = d?.regions?.regions.find((r) => r.number !== undefined);
  assert.deepEqual(year?.number, { a: 2022, b: 2026, clock: 'year' });
  assert.equal(year?.section, '.text');
  const text = formatComparison(c).join('\n');
  assert.match(text, /at \.text\+0x[0-9a-f]+ \(file offset 0x[0-9a-f]+\), 1 byte: e6 → ea {2}\[as an integer 2022 → 2026: a year, likely the build clock\]/);
  assert.match(summarizeComparison(c), /usr\/bin\/hello: 2022 → 2026 in \.text \(a year: build clock\?\), ELF build-id/);
});

test('not a .deb: a deb-invalid error naming the file', async () => {
  await using dir = await tmpDir();
  const a = await buildDeb(dir.path, 'a', { files: base });
  const bogus = `${dir.path}/bogus.deb`;
  execFileSync('sh', ['-c', `echo not a deb > ${bogus}`]);
  await assert.rejects(compareDebs(a, bogus), (e: Error & { code?: string }) => e.code === 'deb-invalid' && e.message.includes(bogus));
});

// Pure decisions.

const entry = (path: string, over: Partial<TarEntry> = {}): TarEntry => ({
  path, type: 'file', mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 0, size: 1, link: '', device: '', sha256: 'a'.repeat(64), ...over,
});

test('diffTrees: added, removed, changed (meta, contents), identical, order', () => {
  const a = [entry('.', { type: 'dir', size: 0 }), entry('x'), entry('y'), entry('l', { type: 'symlink', link: 'x', size: 0 }), entry('gone')];
  const b = [entry('.', { type: 'dir', size: 0 }), entry('y', { sha256: 'b'.repeat(64) }), entry('x', { uid: 1000, uname: 'me' }), entry('l', { type: 'symlink', link: 'y', size: 0 }), entry('new')];
  const d = diffTrees(a, b);
  assert.equal(d.identical, 1);
  assert.deepEqual(d.added.map((e) => e.path), ['new']);
  assert.deepEqual(d.removed.map((e) => e.path), ['gone']);
  assert.deepEqual(d.changed.map((c) => [c.path, c.meta.map((m) => m.field), c.content !== undefined]), [
    ['x', ['owner'], false],
    ['y', [], true],
    ['l', ['link'], false],
  ]);
  assert.equal(d.changed[0]!.meta[0]!.b, 'me/root (1000/0)');
  assert.equal(d.orderDiffers, true);
  assert.equal(diffTrees(a, a).orderDiffers, false);
});

test('diffFields: changed, added and removed fields in control-file spelling', () => {
  const a = new Map([['package', 'w'], ['installed-size', '10'], ['built-using', 'x']]);
  const b = new Map([['package', 'w'], ['installed-size', '12'], ['multi-arch', 'same']]);
  assert.deepEqual(diffFields(a, b), [
    { field: 'Installed-Size', a: '10', b: '12' },
    { field: 'Built-Using', a: 'x', b: undefined },
    { field: 'Multi-Arch', a: undefined, b: 'same' },
  ]);
});
