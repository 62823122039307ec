import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ManifestEntry } from '../cache/archive.ts';
import { conflictMessage, stagingConflicts } from './staging-conflicts.ts';

const dir = (path: string): ManifestEntry => ({ path, type: 'dir', mode: 0o755, size: 0 });
const file = (path: string, sha256 = 'a'.repeat(64), mode = 0o644): ManifestEntry => ({ path, type: 'file', mode, size: 3, sha256 });
const link = (path: string, target: string): ManifestEntry => ({ path, type: 'symlink', mode: 0o777, size: 0, target });

test('staging conflicts: what two dependencies install differently, whatever the order; alike paths are fine', () => {
  const cases: { name: string; a: ManifestEntry[]; b: ManifestEntry[]; want: string[] }[] = [
    { name: 'shared directories', a: [dir('usr'), dir('usr/lib'), file('usr/lib/a')], b: [dir('usr'), dir('usr/lib'), file('usr/lib/b')], want: [] },
    { name: 'an identical file', a: [file('usr/share/x')], b: [file('usr/share/x')], want: [] },
    { name: 'an identical link', a: [link('usr/lib/x', 'y')], b: [link('usr/lib/x', 'y')], want: [] },
    { name: 'a file with other contents', a: [file('usr/share/x')], b: [file('usr/share/x', 'b'.repeat(64))], want: ['usr/share/x'] },
    { name: 'a file with another mode', a: [file('usr/bin/x')], b: [file('usr/bin/x', 'a'.repeat(64), 0o755)], want: ['usr/bin/x'] },
    { name: 'a link and a directory', a: [link('usr/lib/x', '/tmp/out')], b: [dir('usr/lib/x'), file('usr/lib/x/evil')], want: ['usr/lib/x'] },
    { name: 'a file and a directory', a: [file('usr/share/x')], b: [dir('usr/share/x'), file('usr/share/x/y')], want: ['usr/share/x'] },
    { name: 'links to other places', a: [link('lnk', 'a')], b: [link('lnk', 'b')], want: ['lnk'] },
  ];
  for (const c of cases) {
    for (const [first, second] of [[c.a, c.b], [c.b, c.a]] as const) {
      const got = stagingConflicts([{ id: 'one@amd64', entries: first }, { id: 'two@amd64', entries: second }]);
      assert.deepEqual(got.map((x) => x.path), c.want, c.name);
      for (const x of got) assert.deepEqual([x.first.id, x.second.id], ['one@amd64', 'two@amd64'], c.name);
    }
  }
});

test('staging conflicts: at most `limit` are listed; the message names both packages, the path and what to do', () => {
  const many = Array.from({ length: 9 }, (_, i) => `usr/share/f${i}`);
  const got = stagingConflicts([{ id: 'a@amd64', entries: many.map((p) => file(p)) }, { id: 'b@amd64', entries: many.map((p) => dir(p)) }], 3);
  assert.equal(got.length, 3);
  assert.equal(
    conflictMessage(got.slice(0, 1)),
    'two build dependencies install the same path differently, so the sysroot would be neither\'s: usr/share/f0 is a file (3 bytes, sha256 aaaaaaaaaaaa, mode 0644) in a@amd64 and a directory in b@amd64. Make one of them not install it (or install it alike), or drop one from build-depends',
  );
});
