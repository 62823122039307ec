// kiln build --twice for recipes (recipe-twice.ts): two outputs compared by their
// manifests, and what the log, the report and the job's warning say of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ManifestEntry } from '../cache/archive.ts';
import { explainContents } from '../debian/deb-compare.ts';
import { compareOutputs, differingPaths, twiceArgv, twiceDetails, twiceSummary, twiceWarning, variedLayout } from './recipe-twice.ts';

const file = (path: string, sha256: string, extra: Partial<ManifestEntry> = {}): ManifestEntry => ({ path, type: 'file', mode: 0o644, size: 11, sha256, ...extra });
const dir = (path: string, mode = 0o755): ManifestEntry => ({ path, type: 'dir', mode, size: 0 });

test('the same manifests: reproducible, no warning line, the output hash named', () => {
  const a = [dir('usr'), file('usr/stamp', 'aa'), { path: 'usr/link', type: 'symlink', mode: 0o777, size: 0, target: 'stamp' } as ManifestEntry];
  const t = compareOutputs(a, [...a]);
  assert.deepEqual(differingPaths(t), []);
  assert.equal(t.identical, 3);
  assert.equal(twiceSummary(t, 'f00d'.repeat(16)), 'reproducible: the same output in a varied rebuild (output hash f00df00df00df00d)');
});

test('what differs: a file\'s contents, a mode, a link target, one only in each build; each named with what differs', () => {
  const a = [dir('usr'), dir('usr/share', 0o755), file('usr/share/stamp', 'aa'), file('usr/share/gone', 'cc'), { path: 'usr/where', type: 'symlink', mode: 0o777, size: 0, target: '/tmp/a' } as ManifestEntry];
  const b = [dir('usr'), dir('usr/share', 0o775), file('usr/share/stamp', 'bb'), file('usr/share/new', 'dd'), { path: 'usr/where', type: 'symlink', mode: 0o777, size: 0, target: '/tmp/b' } as ManifestEntry];
  const t = compareOutputs(a, b);
  assert.deepEqual(differingPaths(t), ['usr/share', 'usr/share/stamp', 'usr/where', 'usr/share/new', 'usr/share/gone']);
  assert.equal(twiceWarning(t), 'not reproducible: 5 files differ: usr/share, usr/share/stamp, usr/where, usr/share/new, usr/share/gone');
  const details = twiceDetails(t);
  assert.equal(details[0], 'output: 5 entries in a (the first build), 5 in b (the varied one): 1 identical, 3 differ, 1 only in b, 1 only in a');
  assert.ok(details.includes('output: usr/share: mode 0755 → 0775'), details.join('\n'));
  assert.ok(details.some((l) => /^output: usr\/share\/stamp: contents differ \(11 bytes both; sha256 aa → bb\)$/.test(l)), details.join('\n'));
  assert.ok(details.includes('output: usr/where: link /tmp/a → /tmp/b'), details.join('\n'));
  assert.ok(details.some((l) => l.startsWith('output: only in b: usr/share/new (file 0644')), details.join('\n'));
  assert.ok(details.some((l) => l.startsWith('output: only in a: usr/share/gone (file 0644')), details.join('\n'));
  assert.match(twiceSummary(t), /^differs: 3 of 5 entries \(usr\/share: mode; usr\/share\/stamp; usr\/where: link\), 1 only in the second build, 1 only in the first$/);
});

test('a changed file explained by its contents: the changed token, a clock reading said so', () => {
  const t = explainContents(compareOutputs([file('stamp', 'aa')], [file('stamp', 'bb')]), new Map([['stamp', Buffer.from('built at 1767225600\n')]]), new Map([['stamp', Buffer.from('built at 1767225601\n')]]));
  assert.equal(twiceWarning(t), 'not reproducible: 1 file differs: stamp');
  assert.equal(twiceSummary(t), 'differs: 1 of 1 entries (stamp: "1767225600" → "1767225601" (a timestamp: build clock?))');
  assert.ok(twiceDetails(t).includes('    line 1: "built at 1767225600" → "built at 1767225601"  ["1767225600" → "1767225601": a timestamp, likely the build clock]'), twiceDetails(t).join('\n'));
});

test('the warning names five paths at most', () => {
  const a = Array.from({ length: 7 }, (_, i) => file(`f${i}`, 'aa'));
  const t = compareOutputs(a, a.map((e) => ({ ...e, sha256: 'bb' })));
  assert.equal(twiceWarning(t), 'not reproducible: 7 files differ: f0, f1, f2, f3, f4, …');
});

test('the second build: its sources, $HOME and $TMPDIR one folder down; the clock moved only with faketime (the umask is 022 in both)', () => {
  const l = { src: '/w/src', dest: '/w/dest', sysroot: '/w/sysroot', home: '/w/home', tmp: '/w/tmp' };
  assert.deepEqual(variedLayout(l), { src: '/w/src/kiln-twice', dest: '/w/dest', sysroot: '/w/sysroot', home: '/w/home/kiln-twice', tmp: '/w/tmp/kiln-twice' });
  assert.deepEqual(twiceArgv('make', 'p/twice', false), ['bash', '-e', '-c', 'make', 'p/twice']);
  assert.deepEqual(twiceArgv('make', 'p/twice', true), ['faketime', '+373 days', 'bash', '-e', '-c', 'make', 'p/twice']);
});
