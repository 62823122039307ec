import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ManifestEntry } from '../cache/archive.ts';
import { conflictMessage, overlapNote, stagingConflicts } from './staging-conflicts.ts';

const dir = (path: string): ManifestEntry => ({ path, type: 'dir', mode: 0o755, size: 0 });
const file = (path: string, sha256 = 'a'.repeat(64), mode = 0o644): ManifestEntry => ({ path, type: 'file', mode, size: 3, sha256 });
const link = (path: string, target: string): ManifestEntry => ({ path, type: 'symlink', mode: 0o777, size: 0, target });

test('staging conflicts: paths two staged packages install differently, whatever the order; of another kind (refused) or other contents (said)', () => {
  const cases: { name: string; a: ManifestEntry[]; b: ManifestEntry[]; want: [string, boolean][] }[] = [
    { name: 'shared directories', a: [dir('usr'), dir('usr/lib'), file('usr/lib/a')], b: [dir('usr'), dir('usr/lib'), file('usr/lib/b')], want: [] },
    { name: 'an identical file', a: [file('usr/share/x')], b: [file('usr/share/x')], want: [] },
    { name: 'an identical link', a: [link('usr/lib/x', 'y')], b: [link('usr/lib/x', 'y')], want: [] },
    { name: 'a file with other contents (info/dir)', a: [file('usr/share/info/dir')], b: [file('usr/share/info/dir', 'b'.repeat(64))], want: [['usr/share/info/dir', false]] },
    { name: 'a file with another mode', a: [file('usr/bin/x')], b: [file('usr/bin/x', 'a'.repeat(64), 0o755)], want: [['usr/bin/x', false]] },
    { name: 'links to other places', a: [link('lnk', 'a')], b: [link('lnk', 'b')], want: [['lnk', false]] },
    { name: 'a link and a directory', a: [link('usr/lib/x', '/tmp/out')], b: [dir('usr/lib/x'), file('usr/lib/x/evil')], want: [['usr/lib/x', true]] },
    { name: 'a file and a directory', a: [file('usr/share/x')], b: [dir('usr/share/x'), file('usr/share/x/y')], want: [['usr/share/x', true]] },
    { name: 'a file and a link', a: [file('usr/lib/libx.so')], b: [link('usr/lib/libx.so', 'libx.so.1')], want: [['usr/lib/libx.so', true]] },
  ];
  for (const c of cases) {
    for (const [first, second] of [[c.a, c.b], [c.b, c.a]] as const) {
      const got = stagingConflicts([{ id: 'one@amd64', entries: first }, { id: 'two@amd64', entries: second }]);
      assert.deepEqual(got.map((x) => [x.path, x.kinds]), c.want, c.name);
      for (const x of got) assert.deepEqual([x.first.id, x.second.id], ['one@amd64', 'two@amd64'], c.name);
    }
  }
  // Three at one path: each later one is compared with what is staged by then.
  const three = stagingConflicts([
    { id: 'a@amd64', entries: [file('f', '1'.repeat(64))] },
    { id: 'b@amd64', entries: [file('f', '2'.repeat(64))] },
    { id: 'c@amd64', entries: [file('f', '2'.repeat(64))] },
  ]);
  assert.deepEqual(three.map((x) => [x.first.id, x.second.id]), [['a@amd64', 'b@amd64']]);
});

test('staging conflicts: at most `limit` are listed; the messages name both packages, the path and what to do', () => {
  const many = Array.from({ length: 9 }, (_, i) => `usr/share/f${i}`);
  const got = stagingConflicts([{ id: 'a@amd64', entries: many.map((p) => file(p)) }, { id: 'b@amd64', entries: many.map((p) => dir(p)) }], 3);
  assert.equal(got.length, 3);
  assert.equal(
    conflictMessage(got.slice(0, 1)),
    'two packages staged for this build (its build-depends and what they depend on) install the same path as different kinds of thing, so the sysroot would depend on their order: usr/share/f0 is a file (3 bytes, sha256 aaaaaaaaaaaa, mode 0644) in a@amd64 and a directory in b@amd64. Make one of them not install it, or install it as the other does',
  );
  const same = stagingConflicts([{ id: 'a@amd64', entries: [file('usr/share/info/dir')] }, { id: 'b@amd64', entries: [file('usr/share/info/dir', 'b'.repeat(64))] }]);
  assert.equal(overlapNote(same), 'staged packages install the same path with other contents: usr/share/info/dir (a@amd64, then b@amd64: b@amd64\'s is staged)');
});
