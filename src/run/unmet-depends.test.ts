import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildGraph } from '../plan/graph.ts';
import { spec } from '../../test/helpers/specs.ts';
import { noteUnmetDepends } from './prepare-plan.ts';

test('a package whose own depends do not resolve is said once, whatever the number of arches', () => {
  const graph = buildGraph({
    specs: [spec('zlib'), spec('libpng', { deps: ['zlb'] }), spec('pngcrush', { bdeps: ['libpng'] }), spec('ok', { deps: ['zlib'] })],
    invalid: [],
    archs: ['amd64', 'arm64'],
    hostArch: 'amd64',
    targets: [],
  });
  const notes: string[] = [];
  noteUnmetDepends(graph, (t) => notes.push(t));
  assert.deepEqual(notes, [
    'libpng: depends: needs zlb, which is not in the tree (did you mean "zlib"?): it builds, but a package that build-depends on it is broken (fix its recipe\'s depends, or the package they name)',
  ]);
  // What stages it is broken by the same words.
  assert.match(graph.byId.get('pngcrush@arm64')!.broken ?? '', /its runtime dependency: needs zlb/);
});
