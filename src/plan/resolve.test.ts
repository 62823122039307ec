import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildIndex, groupOptions, type Candidate } from './resolve.ts';
import { provides, relations } from '../../test/helpers/specs.ts';

type At = Candidate & { readonly arch: string };

function cand(name: string, version: string | undefined, arch: string, prov: readonly string[] = []): At {
  return { nodeId: `${name}@${arch}`, name, version, provides: provides(prov), arch };
}

// The tree the rows resolve against. Target arches amd64 and riscv64, host amd64.
const index = buildIndex([
  cand('zlib', '1.2.13', 'amd64'),
  cand('zlib', '1.2.13', 'riscv64'),
  cand('libfoo', '1.10', 'amd64'),
  cand('rc', '1.0~rc1', 'amd64'),
  cand('epochy', '1:0.1', 'amd64'),
  cand('libssl', '3.0', 'amd64'),
  cand('libressl', '3.8', 'amd64'),
  cand('libpng', '1.6.39', 'amd64', ['libpng16', 'libpng-dev (= 1.6.39)']),
  // A provider whose name sorts before the real package: the real one still wins.
  cand('apkgconf', '1.9', 'amd64', ['pkg-config (= 0.29)']),
  cand('pkg-config', '0.29', 'amd64'),
  // Two providers, no real package: the first by name wins.
  cand('mawk', '1.3', 'amd64', ['awk']),
  cand('gawk', '5.2', 'amd64', ['awk']),
  // archs = ["amd64"]: not available for riscv64.
  cand('fastlib', '2.0', 'amd64'),
  cand('gcc', '12', 'amd64'),
  // archs = ["all"]: satisfies any arch.
  cand('data', '2.0', 'all'),
  // A real `all` package beats an arch-specific provider of its name.
  cand('fonts', '1.0', 'all'),
  cand('afontpack', '1.0', 'amd64', ['fonts']),
  // An invalid recipe: version unknown.
  cand('broken', undefined, 'amd64'),
]);

const rows: { rel: string; arch?: string; want: string }[] = [
  { rel: 'zlib', want: 'zlib@amd64' },
  { rel: 'zlib', arch: 'riscv64', want: 'zlib@riscv64' },
  { rel: 'zlib (>= 1.2.11)', want: 'zlib@amd64' },
  { rel: 'zlib (= 1.2.13)', want: 'zlib@amd64' },
  { rel: 'zlib (>= 1.3)', want: 'needs zlib (>= 1.3), tree has 1.2.13' },
  { rel: 'zlib (<< 1.2.13)', want: 'needs zlib (<< 1.2.13), tree has 1.2.13' },
  { rel: 'zlib (<= 1.2.13)', want: 'zlib@amd64' },
  // Debian ordering: numeric parts compare as numbers, ~ sorts before anything, epochs win.
  { rel: 'libfoo (>> 1.9)', want: 'libfoo@amd64' },
  { rel: 'libfoo (<< 1.9)', want: 'needs libfoo (<< 1.9), tree has 1.10' },
  { rel: 'rc (>= 1.0)', want: 'needs rc (>= 1.0), tree has 1.0~rc1' },
  { rel: 'rc (<< 1.0)', want: 'rc@amd64' },
  { rel: 'rc (>= 1.0~)', want: 'rc@amd64' },
  { rel: 'epochy (>= 2.0)', want: 'epochy@amd64' },
  // Provides.
  { rel: 'libpng16', want: 'libpng@amd64' },
  // An unversioned provide against a versioned relation: Debian's rule, said, with the fix.
  { rel: 'libpng16 (>= 1.6)', want: `needs libpng16 (>= 1.6), tree has libpng providing libpng16 (an unversioned provide never satisfies a versioned relation, as in Debian: give the provide a version in libpng's recipe, provides = ["libpng16 (= 1.6.39)"])` },
  { rel: 'libpng16 (>= 2)', want: `needs libpng16 (>= 2), tree has libpng providing libpng16 (an unversioned provide never satisfies a versioned relation, as in Debian: give the provide a version in libpng's recipe, provides = ["libpng16 (= 2)"])` },
  { rel: 'libpng-dev (>= 1.6)', want: 'libpng@amd64' },
  { rel: 'libpng-dev (>= 1.7)', want: 'needs libpng-dev (>= 1.7), tree has libpng providing libpng-dev (= 1.6.39)' },
  { rel: 'pkg-config', want: 'pkg-config@amd64' },
  { rel: 'pkg-config (= 0.29)', want: 'pkg-config@amd64' },
  { rel: 'awk', want: 'gawk@amd64' },
  // Alternatives: the first satisfiable.
  { rel: 'libssl (>= 3) | libressl', want: 'libssl@amd64' },
  { rel: 'libssl (>= 4) | libressl', want: 'libressl@amd64' },
  { rel: 'nosuch | zlib', want: 'zlib@amd64' },
  {
    rel: 'libssl (>= 4) | libressl (>= 4) | nosuch',
    want: 'needs one of libssl (>= 4) | libressl (>= 4) | nosuch: libssl (>= 4), tree has 3.0; libressl (>= 4), tree has 3.8; nosuch, which is not in the tree',
  },
  // Missing, or not for this arch.
  { rel: 'nosuch', want: 'needs nosuch, which is not in the tree' },
  { rel: 'fastlib', want: 'fastlib@amd64' },
  { rel: 'fastlib', arch: 'riscv64', want: 'needs fastlib, which is not built for riscv64' },
  // :native resolves for the build machine.
  { rel: 'gcc', arch: 'riscv64', want: 'needs gcc, which is not built for riscv64' },
  { rel: 'gcc:native', arch: 'riscv64', want: 'gcc@amd64' },
  // `all` packages satisfy every arch.
  { rel: 'data', want: 'data@all' },
  { rel: 'data (>= 2)', arch: 'riscv64', want: 'data@all' },
  { rel: 'data (>= 3)', want: 'needs data (>= 3), tree has 2.0' },
  { rel: 'fonts', want: 'fonts@all' },
  // An invalid package still resolves, so the graph can say "which is broken".
  { rel: 'broken (>= 5)', want: 'broken@amd64' },
];

for (const row of rows) {
  const arch = row.arch ?? 'amd64';
  test(`resolve "${row.rel}" for ${arch}`, () => {
    const groups = relations([row.rel]);
    assert.equal(groups.length, 1);
    // The graph takes the first candidate that can be built; here every one can.
    const r = groupOptions(groups[0]!, { arch, hostArch: 'amd64', index });
    assert.equal(r.candidates[0]?.nodeId ?? r.problem, row.want);
  });
}

test('index: candidates list real packages first, and versionsOf lists own versions only', () => {
  assert.deepEqual(index.candidates('pkg-config', 'amd64').map((c) => c.nodeId), ['pkg-config@amd64', 'apkgconf@amd64']);
  assert.deepEqual(index.candidates('fonts', 'amd64').map((c) => c.nodeId), ['fonts@all', 'afontpack@amd64']);
  assert.deepEqual(index.candidates('data', 'all').map((c) => c.nodeId), ['data@all']);
  assert.deepEqual(index.candidates('fastlib', 'riscv64'), []);
  assert.deepEqual(index.versionsOf('zlib'), ['1.2.13']);
  assert.deepEqual(index.versionsOf('awk'), []);
  assert.deepEqual(index.versionsOf('broken'), []);
});
