import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spec } from '../../test/helpers/specs.ts';
import { recipeHashOf } from '../plan/spec.ts';
import { artifactInfoOf } from './pack-output.ts';

test("artifactInfoOf: the package's relations as Debian writes them, and what its key was made of", () => {
  const s = { ...spec('libpng', { version: '1.6.39', deps: ['zlib (>= 1.2) | libz'], provides: ['libpng-dev (= 1.6.39)', 'png'] }), sources: [{ url: 'mirror://debian/pool/main/libp/libpng1.6/libpng1.6_1.6.39.orig.tar.gz', sha256: 'ab'.repeat(32), dest: '', strip: 1 }, { url: 'git+https://git.example/png.git', sha256: undefined, rev: 'ef'.repeat(20), dest: 'extra', strip: 0 }] };
  const info = artifactInfoOf(s, { arch: 'amd64', envId: 'host:1' }, { 'zlib@amd64': 'cd'.repeat(32) });
  assert.deepEqual(info, {
    name: 'libpng',
    version: '1.6.39',
    release: 1,
    arch: 'amd64',
    depends: ['zlib (>= 1.2) | libz'],
    provides: ['libpng-dev (= 1.6.39)', 'png'],
    inputs: {
      recipeHash: recipeHashOf(s, 'amd64'),
      sourcesHash: 'sources-of-libpng',
      envId: 'host:1',
      depOutputs: { 'zlib@amd64': 'cd'.repeat(32) },
      // Where and how a source is unpacked is in the recipe's hash already: not repeated here.
      sources: [
        { url: 'mirror://debian/pool/main/libp/libpng1.6/libpng1.6_1.6.39.orig.tar.gz', sha256: 'ab'.repeat(32) },
        { url: 'git+https://git.example/png.git', sha256: null, rev: 'ef'.repeat(20) },
      ],
    },
  });
});
