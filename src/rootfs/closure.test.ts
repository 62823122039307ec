import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KilnError } from '../errors.ts';
import { selectClosure, whyText, type IndexPackage } from './closure.ts';

const pkg = (name: string, o: Partial<IndexPackage> = {}): IndexPackage => ({
  name, version: '1.0', release: 1, arch: 'amd64', depends: [], provides: [], size: 10, sha256: 'aa', path: `/cache/${name}.tar.zst`, ...o,
});

/** `name (why)` in install order. */
const run = (packages: readonly IndexPackage[], targets: readonly string[], arch = 'amd64'): string[] =>
  selectClosure(packages, targets, arch).map((s) => `${s.pkg.name}@${s.pkg.arch} (${whyText(s.why)})`);

const cases: readonly { name: string; packages: IndexPackage[]; targets: string[]; arch?: string; want: string[] }[] = [
  {
    name: 'a program and the library it needs, not the rest',
    packages: [pkg('app', { depends: ['libfoo'] }), pkg('libfoo'), pkg('unrelated')],
    targets: ['app'],
    want: ['libfoo@amd64 (needed by app)', 'app@amd64 (named)'],
  },
  {
    name: 'a category folder\'s packages, as build\'s targets name them (libs/*)',
    packages: [pkg('zlib', { category: 'libs' }), pkg('libpng', { category: 'libs', depends: ['zlib'] }), pkg('app', { depends: ['libpng'] })],
    targets: ['libs/*'],
    want: ['zlib@amd64 (named)', 'libpng@amd64 (named)'],
  },
  {
    name: 'transitive depends, in dependency order',
    packages: [pkg('a', { depends: ['b'] }), pkg('b', { depends: ['c'] }), pkg('c')],
    targets: ['a'],
    want: ['c@amd64 (needed by b)', 'b@amd64 (needed by a)', 'a@amd64 (named)'],
  },
  {
    name: 'alternatives: the first that exists',
    packages: [pkg('app', { depends: ['missing | second | third'] }), pkg('second'), pkg('third')],
    targets: ['app'],
    want: ['second@amd64 (needed by app)', 'app@amd64 (named)'],
  },
  {
    name: 'alternatives: one already installed is used rather than a second',
    packages: [pkg('app', { depends: ['first | second'] }), pkg('first'), pkg('second')],
    targets: ['app', 'second'],
    want: ['second@amd64 (named)', 'app@amd64 (named)'],
  },
  {
    name: 'versions: an alternative whose version is too old is passed over',
    packages: [pkg('app', { depends: ['libfoo (>= 2) | libfoo-compat'] }), pkg('libfoo', { version: '1.9' }), pkg('libfoo-compat')],
    targets: ['app'],
    want: ['libfoo-compat@amd64 (needed by app)', 'app@amd64 (named)'],
  },
  {
    name: 'versions compare as Debian versions (1.10 >= 1.9)',
    packages: [pkg('app', { depends: ['libfoo (>= 1.9~rc1)'] }), pkg('libfoo', { version: '1.10' })],
    targets: ['app'],
    want: ['libfoo@amd64 (needed by app)', 'app@amd64 (named)'],
  },
  {
    name: 'provides: a virtual name resolves to its provider',
    packages: [pkg('app', { depends: ['mail-transport-agent'] }), pkg('tinymta', { provides: ['mail-transport-agent'] })],
    targets: ['app'],
    want: ['tinymta@amd64 (needed by app)', 'app@amd64 (named)'],
  },
  {
    name: 'provides with a version satisfies a versioned depends',
    packages: [pkg('app', { depends: ['libssl (>= 3)'] }), pkg('openssl-libs', { provides: ['libssl (= 3.1)'] })],
    targets: ['app'],
    want: ['openssl-libs@amd64 (needed by app)', 'app@amd64 (named)'],
  },
  {
    name: 'all-arch packages count for every arch; other arches do not',
    packages: [pkg('app', { arch: 'riscv64', depends: ['data', 'libfoo'] }), pkg('data', { arch: 'all' }), pkg('libfoo', { arch: 'riscv64' }), pkg('libfoo', { arch: 'amd64' })],
    targets: ['app'],
    arch: 'riscv64',
    want: ['data@all (needed by app)', 'libfoo@riscv64 (needed by app)', 'app@riscv64 (named)'],
  },
  {
    name: 'an all-arch package named, and what it needs at the arch',
    packages: [pkg('scripts', { arch: 'all', depends: ['shell'] }), pkg('shell', { arch: 'arm64' }), pkg('shell')],
    targets: ['scripts'],
    arch: 'arm64',
    want: ['shell@arm64 (needed by scripts)', 'scripts@all (named)'],
  },
  {
    name: 'a cycle in runtime depends is fine',
    packages: [pkg('a', { depends: ['b'] }), pkg('b', { depends: ['a'] }), pkg('c', { depends: ['a'] })],
    targets: ['c'],
    want: ['b@amd64 (needed by a)', 'a@amd64 (needed by b, c)', 'c@amd64 (named)'],
  },
  {
    name: 'globs name several packages; a package both named and needed is named',
    packages: [pkg('lib-a'), pkg('lib-b', { depends: ['lib-a'] }), pkg('tool')],
    targets: ['lib-*'],
    want: ['lib-a@amd64 (named)', 'lib-b@amd64 (named)'],
  },
  {
    name: 'arch-restricted depends for another arch are left out',
    packages: [pkg('app', { depends: ['libx86 [amd64]', 'libarm [arm64]'] }), pkg('libx86'), pkg('libarm')],
    targets: ['app'],
    want: ['libx86@amd64 (needed by app)', 'app@amd64 (named)'],
  },
  {
    name: 'alternatives: one another package needs anyway is taken, not the first (one MTA, not two)',
    packages: [pkg('app', { depends: ['mta-a | mta-b'] }), pkg('other', { depends: ['mta-b'] }), pkg('mta-a'), pkg('mta-b')],
    targets: ['app', 'other'],
    want: ['mta-b@amd64 (needed by app, other)', 'app@amd64 (named)', 'other@amd64 (named)'],
  },
  {
    name: 'alternatives: also when what needs it anyway is reached later, through a depends',
    packages: [pkg('app', { depends: ['mta-a | mta-b', 'lib'] }), pkg('lib', { depends: ['helper'] }), pkg('helper', { depends: ['mta-b'] }), pkg('mta-a'), pkg('mta-b')],
    targets: ['app'],
    want: ['mta-b@amd64 (needed by app, helper)', 'helper@amd64 (needed by lib)', 'lib@amd64 (needed by app)', 'app@amd64 (named)'],
  },
  {
    name: 'alternatives: a virtual name with two providers, one already needed',
    packages: [pkg('app', { depends: ['mail-transport-agent'] }), pkg('other', { depends: ['tiny'] }), pkg('big', { provides: ['mail-transport-agent'] }), pkg('tiny', { provides: ['mail-transport-agent'] })],
    targets: ['app', 'other'],
    want: ['tiny@amd64 (needed by app, other)', 'app@amd64 (named)', 'other@amd64 (named)'],
  },
  {
    name: 'alternatives waiting: the first still open takes its first candidate, and what that needs satisfies the next',
    packages: [pkg('app', { depends: ['x | y', 'w | z'] }), pkg('x', { depends: ['z'] }), pkg('y'), pkg('w'), pkg('z')],
    targets: ['app'],
    want: ['z@amd64 (needed by app, x)', 'x@amd64 (needed by app)', 'app@amd64 (named)'],
  },
  {
    name: 'arch qualifiers :any, :native and the root\'s own arch are the root\'s arch; a foreign alternative is passed over',
    packages: [pkg('app', { depends: ['a:any', 'b:native', 'c:amd64', 'd:i386 | e'] }), pkg('a'), pkg('b'), pkg('c'), pkg('d'), pkg('e')],
    targets: ['app'],
    want: ['a@amd64 (needed by app)', 'b@amd64 (needed by app)', 'c@amd64 (needed by app)', 'e@amd64 (needed by app)', 'app@amd64 (named)'],
  },
];

for (const c of cases) {
  test(`selectClosure: ${c.name}`, () => {
    assert.deepEqual(run(c.packages, c.targets, c.arch), c.want);
  });
}

const errors: readonly { name: string; packages: IndexPackage[]; targets: string[]; arch?: string; code: string; message: RegExp }[] = [
  {
    name: 'a depends nothing satisfies names the package and the relation',
    packages: [pkg('app', { depends: ['libfoo (>= 2)'] }), pkg('libfoo', { version: '1.0' })],
    targets: ['app'],
    code: 'depends-unmet',
    message: /^app 1\.0-1 \(amd64\) needs libfoo \(>= 2\), the index has 1\.0$/,
  },
  {
    name: 'a depends on a name not in the index',
    packages: [pkg('app', { depends: ['a'] }), pkg('a', { depends: ['nosuch'] })],
    targets: ['app'],
    code: 'depends-unmet',
    message: /^a 1\.0-1 \(amd64\) needs nosuch, which is not in the package index/,
  },
  {
    name: 'a depends built only for another arch',
    packages: [pkg('app', { depends: ['libfoo'] }), pkg('libfoo', { arch: 'riscv64' })],
    targets: ['app'],
    code: 'depends-unmet',
    message: /needs libfoo, which is not built for amd64/,
  },
  {
    name: 'none of the alternatives',
    packages: [pkg('app', { depends: ['x | y'] })],
    targets: ['app'],
    code: 'depends-unmet',
    message: /^app 1\.0-1 \(amd64\) needs one of x \| y/,
  },
  {
    name: 'an unversioned provide does not satisfy a versioned depends',
    packages: [pkg('app', { depends: ['libssl (>= 3)'] }), pkg('openssl-libs', { provides: ['libssl'] })],
    targets: ['app'],
    code: 'depends-unmet',
    message: /needs libssl \(>= 3\)/,
  },
  {
    name: 'a target matching nothing',
    packages: [pkg('app')],
    targets: ['apq'],
    code: 'package-not-found',
    message: /"apq" matches no package in packages\/index\.json \(did you mean "app"\?\)/,
  },
  {
    name: 'a target built for another arch only',
    packages: [pkg('app', { arch: 'riscv64' })],
    targets: ['app'],
    code: 'package-not-found',
    message: /matches no package built for amd64 .* \(only for riscv64\)/,
  },
  {
    name: 'a provided name is not a target (as kiln build)',
    packages: [pkg('tinymta', { provides: ['mta'] })],
    targets: ['mta'],
    code: 'package-not-found',
    message: /"mta" matches no package/,
  },
  {
    name: 'an explicit foreign arch (libfoo:i386): a root holds one arch',
    packages: [pkg('app', { depends: ['libfoo:i386'] }), pkg('libfoo'), pkg('libfoo', { arch: 'i386' })],
    targets: ['app'],
    code: 'depends-unmet',
    message: /^app 1\.0-1 \(amd64\) needs libfoo:i386, a package of another architecture: a root holds amd64 \(and all\) packages only$/,
  },
];

for (const c of errors) {
  test(`selectClosure refuses: ${c.name}`, () => {
    assert.throws(() => selectClosure(c.packages, c.targets, c.arch ?? 'amd64'), (e: unknown) => {
      assert.ok(e instanceof KilnError, String(e));
      assert.equal(e.code, c.code);
      assert.match(e.message, c.message);
      assert.ok(e.hint !== undefined && e.hint.length > 0);
      return true;
    });
  });
}
