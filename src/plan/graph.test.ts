import { test } from 'node:test';
import assert from 'node:assert/strict';
import { archsOf, buildGraph, isIgnoredCause, type Graph, type GraphInput } from './graph.ts';
import { globToRegExp } from './glob.ts';
import { isKilnError } from '../errors.ts';
import type { InvalidPackage, PackageSpec } from './spec.ts';
import { invalid, spec } from '../../test/helpers/specs.ts';

function graph(specs: PackageSpec[], o: Partial<Omit<GraphInput, 'specs'>> & { invalid?: InvalidPackage[] } = {}): Graph {
  const g = buildGraph({ specs, invalid: o.invalid ?? [], archs: o.archs ?? ['amd64'], hostArch: o.hostArch ?? 'amd64', ...(o.allArch === undefined ? {} : { allArch: o.allArch }), targets: o.targets ?? [], profiles: o.profiles ?? [] });
  assertDependencyOrder(g);
  return g;
}

/** Every node comes after everything it waits for, unless it is broken (cycles have no order). */
function assertDependencyOrder(g: Graph): void {
  const pos = new Map(g.nodes.map((n, i) => [n.id, i]));
  for (const [i, n] of g.nodes.entries()) {
    assert.equal(g.byId.get(n.id), n);
    if (n.broken !== undefined) continue;
    for (const w of n.waitsFor) assert.ok((pos.get(w) ?? Infinity) < i, `${n.id} comes after ${w}`);
  }
}

/** id → broken reason ('' when fine), for the whole graph. */
function states(g: Graph): Record<string, string> {
  return Object.fromEntries(g.nodes.map((n) => [n.id, n.broken ?? '']));
}

test('diamond: one node per package, dependency order, waitsFor sorted', () => {
  const g = graph([spec('top', { bdeps: ['right', 'left'] }), spec('left', { bdeps: ['base'] }), spec('right', { bdeps: ['base'] }), spec('base')]);
  assert.deepEqual(g.nodes.map((n) => n.id), ['base@amd64', 'left@amd64', 'right@amd64', 'top@amd64']);
  const top = g.byId.get('top@amd64')!;
  assert.deepEqual(top.buildDeps, ['right@amd64', 'left@amd64']);
  assert.deepEqual(top.waitsFor, ['left@amd64', 'right@amd64']);
  assert.deepEqual(g.byId.get('left@amd64')!.waitsFor, ['base@amd64']);
  assert.equal(top.version, '1.0');
  assert.equal(top.spec?.name, 'top');
  assert.deepEqual(Object.values(states(g)), ['', '', '', '']);
});

test('cycle of three: all broken with the cycle in order; what needs it is broken; the rest is fine', () => {
  const g = graph([
    spec('c', { bdeps: ['a'] }),
    spec('b', { bdeps: ['c'] }),
    spec('a', { bdeps: ['b'] }),
    spec('app', { bdeps: ['b'] }),
    spec('top', { bdeps: ['app'] }),
    spec('fine', { bdeps: ['leaf'] }),
    spec('leaf'),
  ]);
  const cycle = 'dependency cycle: a -> b -> c -> a';
  assert.deepEqual(states(g), {
    'fine@amd64': '',
    'leaf@amd64': '',
    'a@amd64': cycle,
    'b@amd64': cycle,
    'c@amd64': cycle,
    'app@amd64': `needs b, which is broken: ${cycle}`,
    'top@amd64': `needs app, which is broken: needs b, which is broken: ${cycle}`,
  } satisfies Record<string, string>);
  // Keys checked above regardless of order; the order puts sound nodes first, cycle members next.
  assert.deepEqual(g.nodes.map((n) => n.id), ['leaf@amd64', 'fine@amd64', 'a@amd64', 'b@amd64', 'c@amd64', 'app@amd64', 'top@amd64']);
});

test('self-dependency is a cycle of one', () => {
  const g = graph([spec('a', { bdeps: ['a'] }), spec('b', { bdeps: ['a'] })]);
  assert.deepEqual(states(g), { 'a@amd64': 'dependency cycle: a -> a', 'b@amd64': 'needs a, which is broken: dependency cycle: a -> a' });
});

test('a package may list itself in depends (runtime) without being a cycle', () => {
  const g = graph([spec('a', { deps: ['a'] }), spec('b', { bdeps: ['a'] })]);
  assert.deepEqual(states(g), { 'a@amd64': '', 'b@amd64': '' });
  assert.deepEqual(g.byId.get('b@amd64')!.waitsFor, ['a@amd64']);
});

test('missing and unsatisfiable dependencies: the reason chain, exactly', () => {
  const g = graph(
    [
      spec('libbar', { version: '1.0' }),
      spec('libfoo', { bdeps: ['libbar (>= 2)'] }),
      spec('app', { bdeps: ['libfoo'] }),
      spec('top', { bdeps: ['app', 'zlib'] }),
      spec('nozlib', { bdeps: ['zlib'] }),
      spec('usesbad', { bdeps: ['bad'] }),
      spec('twoproblems', { bdeps: ['zlib', 'libbar (>> 1.0)'] }),
    ],
    { invalid: [invalid('bad')] },
  );
  assert.deepEqual(states(g), {
    'libbar@amd64': '',
    'libfoo@amd64': 'needs libbar (>= 2), tree has 1.0',
    'app@amd64': 'needs libfoo, which is broken: needs libbar (>= 2), tree has 1.0',
    // Its own problem first, then the one inherited from app: every unsatisfied relation.
    'top@amd64': 'needs zlib, which is not in the tree; needs app, which is broken: needs libfoo, which is broken: needs libbar (>= 2), tree has 1.0',
    'nozlib@amd64': 'needs zlib, which is not in the tree',
    'bad@amd64': 'invalid recipe: /tree/bad/recipe.toml: build.cpus: expected a whole number, got "two"',
    'usesbad@amd64': 'needs bad, which is broken: invalid recipe: /tree/bad/recipe.toml: build.cpus: expected a whole number, got "two"',
    'twoproblems@amd64': 'needs zlib, which is not in the tree; needs libbar (>> 1.0), tree has 1.0',
  });
  const bad = g.byId.get('bad@amd64')!;
  assert.equal(bad.spec, undefined);
  assert.equal(bad.version, '?');
});

test('a package needing several broken dependencies names every one, and its text stays one chain deep', () => {
  const g = graph(
    [
      spec('liba', { bdeps: ['gone'] }),
      spec('libb', { bdeps: ['gone2'] }),
      spec('libc'),
      spec('app', { bdeps: ['libc', 'liba', 'libb'] }),
      // Many paths to the broken libraries: the text must not repeat them.
      spec('top', { bdeps: ['app', 'liba', 'libb'] }),
    ],
  );
  assert.deepEqual(states(g), {
    'liba@amd64': 'needs gone, which is not in the tree',
    'libb@amd64': 'needs gone2, which is not in the tree',
    'libc@amd64': '',
    'app@amd64': 'needs liba, which is broken (also broken: libb): needs gone, which is not in the tree',
    'top@amd64': 'needs app, which is broken (also broken: liba, libb): needs liba, which is broken (also broken: libb): needs gone, which is not in the tree',
  });
});

test('a broken dependency of another arch (:native) is named with its arch, and no name twice', () => {
  const g = graph([spec('t', { bdeps: ['gone'] }), spec('a', { bdeps: ['t:native', 't'] })], { archs: ['amd64', 'riscv64'], hostArch: 'amd64' });
  assert.equal(states(g)['a@amd64'], 'needs t, which is broken: needs gone, which is not in the tree');
  assert.equal(states(g)['a@riscv64'], 'needs t (amd64), which is broken (also broken: t): needs gone, which is not in the tree');
});

test('runtime closure: A build-depends on B, B depends on C (and C on D) → A waits for B, C and D', () => {
  const g = graph([spec('a', { bdeps: ['b'] }), spec('b', { deps: ['c'] }), spec('c', { deps: ['d'] }), spec('d', { deps: ['c'] })]);
  const a = g.byId.get('a@amd64')!;
  assert.deepEqual(a.buildDeps, ['b@amd64']);
  assert.deepEqual(a.waitsFor, ['b@amd64', 'c@amd64', 'd@amd64']);
  // A package's own depends are not staged for its own build; runtime cycles are fine.
  assert.deepEqual(g.byId.get('b@amd64')!.waitsFor, []);
  assert.deepEqual(g.byId.get('c@amd64')!.waitsFor, []);
  assert.deepEqual(Object.values(states(g)), ['', '', '', '']);
});

test('runtime closure: an unresolvable or broken runtime dependency breaks the package that stages it', () => {
  const g = graph(
    [
      spec('libpng', { deps: ['zlib'] }),
      spec('pngcrush', { bdeps: ['libpng'] }),
      spec('libx', { deps: ['liby'] }),
      spec('liby', { deps: ['nosuch'] }),
      spec('usex', { bdeps: ['libx'] }),
      spec('libz', { deps: ['bad'] }),
      spec('usez', { bdeps: ['libz'] }),
    ],
    { invalid: [invalid('bad', 'unknown key "colour"')] },
  );
  assert.deepEqual(states(g), {
    // A runtime problem does not stop the package itself from building.
    'libpng@amd64': '',
    'liby@amd64': '',
    'libx@amd64': '',
    'libz@amd64': '',
    'bad@amd64': 'invalid recipe: /tree/bad/recipe.toml: unknown key "colour"',
    'pngcrush@amd64': 'needs libpng, but its runtime dependency: needs zlib, which is not in the tree',
    'usex@amd64': 'needs libx, but its runtime dependency liby: needs nosuch, which is not in the tree',
    'usez@amd64': 'needs bad, which is broken: invalid recipe: /tree/bad/recipe.toml: unknown key "colour"',
  });
  // Each one that builds all the same says which of its own depends did not resolve.
  const unmet = Object.fromEntries(g.nodes.filter((x) => x.unmetDepends !== undefined).map((x) => [x.id, x.unmetDepends]));
  assert.deepEqual(unmet, {
    'libpng@amd64': ['needs zlib, which is not in the tree'],
    'liby@amd64': ['needs nosuch, which is not in the tree'],
    // One the tree has but cannot build is unmet too (its root filesystem would lack it).
    'libz@amd64': ['needs bad, which is broken (invalid recipe: /tree/bad/recipe.toml: unknown key "colour")'],
  });
});

test('a run-time dependency ignored by its recipe is unmet, said as ignored; the package itself builds', () => {
  const g = graph([{ ...spec('ign'), ignore: 'upstream is dead' }, spec('allpkg', { deps: ['ign'] })]);
  const all = g.byId.get('allpkg@amd64')!;
  assert.equal(all.broken, undefined);
  assert.deepEqual(all.unmetDepends, ['needs ign, which is ignored by its recipe (ignored: upstream is dead)']);
});

test('targets: names and globs select them plus what they wait for', () => {
  const specs = [
    spec('zlib'),
    spec('libpng', { bdeps: ['zlib'], deps: ['zlib'] }),
    spec('libjpeg'),
    spec('pngcrush', { bdeps: ['libpng'] }),
    spec('runtime-only', { deps: ['libjpeg'] }),
    spec('unrelated'),
  ];
  const ids = (targets: string[]): string[] => graph(specs, { targets }).nodes.map((n) => n.id).sort();
  assert.deepEqual(ids([]), specs.map((s) => `${s.name}@amd64`).sort());
  assert.deepEqual(ids(['pngcrush']), ['libpng@amd64', 'pngcrush@amd64', 'zlib@amd64']);
  assert.deepEqual(ids(['lib*']), ['libjpeg@amd64', 'libpng@amd64', 'zlib@amd64']);
  assert.deepEqual(ids(['z?ib', 'unrelated']), ['unrelated@amd64', 'zlib@amd64']);
  // Runtime depends of a target are not part of its own build.
  assert.deepEqual(ids(['runtime-only']), ['runtime-only@amd64']);
});

test('targets with a slash name category/name: a category folder\'s packages, broken ones too; a plain glob names only names', () => {
  const specs = [
    spec('zlib'),
    { ...spec('libpng', { bdeps: ['zlib'] }), category: 'graphics' },
    { ...spec('pngcrush', { bdeps: ['libpng'] }), category: 'graphics' },
    { ...spec('curl'), category: 'net' },
  ];
  const bad = { ...invalid('gimp'), category: 'graphics' };
  const ids = (targets: string[]): string[] => graph(specs, { targets, invalid: [bad] }).nodes.map((n) => n.id).sort();
  assert.deepEqual(ids(['graphics/*']), ['gimp@amd64', 'libpng@amd64', 'pngcrush@amd64', 'zlib@amd64']);
  assert.deepEqual(ids(['net/curl', 'graphics/png*']), ['curl@amd64', 'libpng@amd64', 'pngcrush@amd64', 'zlib@amd64']);
  assert.deepEqual(ids(['*/curl']), ['curl@amd64']);
  assert.deepEqual(ids(['curl']), ['curl@amd64']);
  // A plain glob does not reach into category paths (g* is not "graphics/…").
  assert.deepEqual(ids(['g*']), ['gimp@amd64']);
  // A package outside any category has no category path.
  assert.throws(() => graph(specs, { targets: ['*/zlib'] }), (e: unknown) => isKilnError(e) && e.code === 'target-not-found');
  assert.throws(() => graph(specs, { targets: ['net/zlib'] }), (e: unknown) => isKilnError(e) && e.code === 'target-not-found');
});

test('an unknown target is a KilnError target-not-found', () => {
  assert.throws(
    () => graph([spec('zlib')], { targets: ['zlib', 'nope*'] }),
    (e: unknown) => isKilnError(e) && e.code === 'target-not-found' && e.message === 'target "nope*" matches no package of the tree',
  );
});

test('arches: arch-specific packages, `all` packages built once, relations limited by arch', () => {
  const g = graph(
    [
      spec('fastlib', { archs: ['amd64'] }),
      spec('app', { bdeps: ['fastlib'] }),
      spec('docs', { archs: ['all'], bdeps: ['tool'] }),
      spec('tool'),
      spec('viewer', { bdeps: ['docs', 'nasm [amd64]', 'check <!nocheck>'] }),
      spec('nasm'),
      spec('check'),
      spec('s390only', { archs: ['s390x'] }),
    ],
    { archs: ['amd64', 'riscv64'], profiles: ['nocheck'] },
  );
  assert.deepEqual(states(g), {
    'fastlib@amd64': '',
    'app@amd64': '',
    'app@riscv64': 'needs fastlib, which is not built for riscv64',
    'docs@all': '',
    'tool@amd64': '',
    'tool@riscv64': '',
    'viewer@amd64': '',
    'viewer@riscv64': '',
    'nasm@amd64': '',
    'nasm@riscv64': '',
    'check@amd64': '',
    'check@riscv64': '',
  } satisfies Record<string, string>);
  // `all` resolves for the build machine; both viewers share the one docs@all.
  assert.deepEqual(g.byId.get('docs@all')!.waitsFor, ['tool@amd64']);
  assert.deepEqual(g.byId.get('viewer@amd64')!.waitsFor, ['docs@all', 'nasm@amd64']);
  assert.deepEqual(g.byId.get('viewer@riscv64')!.waitsFor, ['docs@all']);
});

test(':native resolves for the build machine', () => {
  const g = graph([spec('gcc'), spec('app', { bdeps: ['gcc:native', 'zlib'] }), spec('zlib')], { archs: ['amd64', 'riscv64'], hostArch: 'amd64' });
  assert.deepEqual(g.byId.get('app@riscv64')!.waitsFor, ['gcc@amd64', 'zlib@riscv64']);
  assert.deepEqual(g.byId.get('app@amd64')!.waitsFor, ['gcc@amd64', 'zlib@amd64']);
  // A cross-only run: the tool is not built for the build machine, and the message says what to do.
  const cross = graph([spec('gcc'), spec('app', { bdeps: ['gcc:native'] })], { archs: ['riscv64'], hostArch: 'amd64' });
  assert.match(cross.byId.get('app@riscv64')!.broken!, /^needs gcc:native, which is not built for amd64 \(a :native tool builds for the build machine's arch, amd64, .*add amd64 to --arch/);
});

test(':ARCH takes the package built for that arch, whatever arch needs it; :any the same arch', () => {
  const specs = [spec('data'), spec('onlyarm', { archs: ['arm64'] }), spec('app', { bdeps: ['data:arm64', 'onlyarm:arm64', 'data:any'] })];
  const g = graph(specs, { archs: ['amd64', 'arm64'], hostArch: 'amd64' });
  assert.deepEqual(g.byId.get('app@amd64')!.waitsFor, ['data@amd64', 'data@arm64', 'onlyarm@arm64']);
  assert.deepEqual(g.byId.get('app@arm64')!.waitsFor, ['data@arm64', 'onlyarm@arm64']);
  // A run without arm64: broken, and the message says what to add.
  const one = graph(specs, { archs: ['amd64'], hostArch: 'amd64' });
  assert.match(one.byId.get('app@amd64')!.broken!, /^needs data:arm64, which is not built for arm64 \(a :arm64 relation takes the package built for arm64, which this run does not target: add arm64 to --arch\)/);
  // An arch the run does build but the package does not: no hint to add it.
  const i386 = graph([spec('onlyarm', { archs: ['arm64'] }), spec('b', { bdeps: ['onlyarm:amd64'] })], { archs: ['amd64', 'arm64'], hostArch: 'amd64' });
  assert.equal(i386.byId.get('b@amd64')!.broken, 'needs onlyarm:amd64, which is not built for amd64');
});

test('a package of the tree built for none of the run\'s archs is "not built for" it, not "not in the tree"', () => {
  const g = graph([spec('onlyarm', { archs: ['arm64'] }), spec('app', { bdeps: ['onlyarm'] }), spec('typo', { bdeps: ['onlyarn'] })], { archs: ['amd64'], hostArch: 'amd64' });
  assert.equal(g.byId.get('app@amd64')!.broken, 'needs onlyarm, which is not built for amd64');
  assert.equal(g.byId.get('typo@amd64')!.broken, 'needs onlyarn, which is not in the tree (did you mean "onlyarm"?)');
});

test('a cycle through a provided name says the name each step was needed for', () => {
  const g = graph([spec('a', { bdeps: ['b'], provides: ['pa'] }), spec('b', { bdeps: ['pa'] })]);
  assert.equal(g.byId.get('b@amd64')!.broken, 'dependency cycle: a -> b -> a (for pa)');
});

test('archsOf', () => {
  const rows: [string[], string[], string[]][] = [
    [['any'], ['amd64', 'arm64'], ['amd64', 'arm64']],
    [['all'], ['amd64', 'arm64'], ['all']],
    [['amd64'], ['amd64', 'arm64'], ['amd64']],
    [['amd64'], ['riscv64'], []],
  ];
  for (const [archs, run, want] of rows) assert.deepEqual(archsOf(spec('x', { archs }), run), want, `${archs} in ${run}`);
});

test('globToRegExp', () => {
  const rows: [string, string, boolean][] = [
    ['lib*', 'libpng', true],
    ['lib*', 'zlib', false],
    ['z?ib', 'zlib', true],
    ['g++', 'g++', true],
    ['g++', 'gxx', false],
    ['a.b', 'axb', false],
    ['*', 'anything', true],
    ['c[xyz]', 'cy', true],
    ['c[xyz]', 'ca', false],
    ['lib[a-c]*', 'libbz2', true],
    ['lib[a-c]*', 'libz', false],
    ['[!l]*', 'zlib', true],
    ['[!l]*', 'libz', false],
    ['a[+.]b', 'a.b', true],
    ['a[+.]b', 'axb', false],
    ['a[b', 'a[b', true],
  ];
  assert.throws(() => globToRegExp('p[z-a]'), (e) => isKilnError(e) && e.code === 'usage' && /reversed range z-a/.test(e.message));
  for (const [glob, name, want] of rows) assert.equal(globToRegExp(glob).test(name), want, `${glob} ~ ${name}`);
});

test('alternatives: a broken first choice is passed over for the next one that can be built', () => {
  const g = graph(
    [
      spec('libfoo'),
      spec('needsmissing', { bdeps: ['nosuch'] }),
      spec('rtbroken', { deps: ['nosuch'] }),
      spec('cx', { bdeps: ['cy'] }),
      spec('cy', { bdeps: ['cx'] }),
      spec('c5', { bdeps: ['bad | libfoo'] }),
      spec('c6', { bdeps: ['needsmissing | libfoo'] }),
      spec('c7', { bdeps: ['cx | libfoo'] }),
      spec('c8', { bdeps: ['rtbroken | libfoo'] }),
      spec('c9', { deps: ['bad | libfoo'] }),
      spec('c10', { bdeps: ['c9'] }),
      // Nothing to fall back on: the first choice's trouble is what is reported.
      spec('none', { bdeps: ['bad | needsmissing'] }),
    ],
    { invalid: [invalid('bad')] },
  );
  const s = states(g);
  for (const id of ['c5', 'c6', 'c7', 'c8', 'c9', 'c10']) {
    assert.equal(s[`${id}@amd64`], '', `${id}: ${s[`${id}@amd64`]}`);
  }
  for (const id of ['c5', 'c6', 'c7', 'c8']) assert.deepEqual(g.byId.get(`${id}@amd64`)!.buildDeps, ['libfoo@amd64'], id);
  assert.deepEqual(g.byId.get('c10@amd64')!.waitsFor, ['c9@amd64', 'libfoo@amd64']);
  assert.match(s['none@amd64']!, /^needs one of bad \| needsmissing: needsmissing \(broken\); bad, which is broken: invalid recipe/);
  assert.equal(s['cx@amd64'], 'dependency cycle: cx -> cy -> cx');
  assert.equal(s['needsmissing@amd64'], 'needs nosuch, which is not in the tree');
});

test('alternatives: a cycle that another choice avoids is no cycle', () => {
  const g = graph([spec('a', { bdeps: ['b | c'] }), spec('b', { bdeps: ['a'] }), spec('c')]);
  assert.deepEqual(states(g), { 'a@amd64': '', 'b@amd64': '', 'c@amd64': '' });
  assert.deepEqual(g.byId.get('a@amd64')!.buildDeps, ['c@amd64']);
  assert.deepEqual(g.byId.get('b@amd64')!.buildDeps, ['a@amd64']);
});

test('every package of a tangle of cycles is shown on a cycle of its own', () => {
  const g = graph([spec('a', { bdeps: ['b'] }), spec('b', { bdeps: ['a', 'c'] }), spec('c', { bdeps: ['b'] }), spec('d', { bdeps: ['c'] })]);
  assert.deepEqual(states(g), {
    'a@amd64': 'dependency cycle: a -> b -> a',
    'b@amd64': 'dependency cycle: a -> b -> a',
    'c@amd64': 'dependency cycle: c -> b -> c',
    'd@amd64': 'needs c, which is broken: dependency cycle: c -> b -> c',
  });
});

test('a cycle through a runtime dependency spells out its steps', () => {
  const g = graph([spec('rta', { bdeps: ['rtb'] }), spec('rtb', { deps: ['rtc'] }), spec('rtc', { deps: ['rta'] })]);
  assert.equal(states(g)['rta@amd64'], 'dependency cycle: rta -> rtb -(depends)-> rtc -(depends)-> rta');
});

test('an "all" package in a run that does not target the build machine says why it cannot get its tools', () => {
  const specs = [spec('tool'), spec('data', { archs: ['all'], bdeps: ['tool'] })];
  const cross = graph(specs, { archs: ['arm64', 'riscv64'], hostArch: 'amd64' });
  assert.equal(
    states(cross)['data@all'],
    'needs tool, which is not built for amd64 (an "all" package builds with the packages of the arch it builds on, amd64, which this run does not target: add amd64 to --arch)',
  );
  assert.equal(states(graph(specs, { archs: ['amd64', 'riscv64'], hostArch: 'amd64' }))['data@all'], '');
});

test('an "all" package resolves for the arch it builds with (allArch), not the build machine\'s; :native stays the build machine\'s', () => {
  // yamlcheck: a program of the tree, run by board-config's build; hostgen: a :native tool.
  const specs = [
    spec('yamlcheck'),
    spec('hostgen'),
    spec('only-amd64', { archs: ['amd64'] }),
    spec('board-config', { archs: ['all'], bdeps: ['yamlcheck'] }),
    spec('with-native', { archs: ['all'], bdeps: ['hostgen:native'] }),
    spec('picky', { archs: ['all'], bdeps: ['yamlcheck [riscv64] | only-amd64'] }),
    spec('no-tool', { archs: ['all'], bdeps: ['only-amd64'] }),
  ];
  const rows: Array<{ archs: string[]; allArch: string | undefined; waits: string; broken: string }> = [
    // Envs, --arch riscv64,amd64: `all` jobs build in the riscv64 env, with riscv64's builds.
    { archs: ['riscv64', 'amd64'], allArch: 'riscv64', waits: 'yamlcheck@riscv64', broken: '' },
    // Envs, --arch riscv64 alone: riscv64's yamlcheck runs there; nothing is missing.
    { archs: ['riscv64'], allArch: 'riscv64', waits: 'yamlcheck@riscv64', broken: '' },
    // The host sandbox (allArch = the host's): amd64's, as before.
    { archs: ['riscv64', 'amd64'], allArch: 'amd64', waits: 'yamlcheck@amd64', broken: '' },
    { archs: ['riscv64', 'amd64'], allArch: undefined, waits: 'yamlcheck@amd64', broken: '' },
    // The host sandbox with a cross-only --arch: the host's builds are missing, and said.
    {
      archs: ['riscv64'], allArch: 'amd64', waits: '',
      broken: 'needs yamlcheck, which is not built for amd64 (an "all" package builds with the packages of the arch it builds on, amd64, which this run does not target: add amd64 to --arch)',
    },
    // An env run whose `all` jobs build where the run does not target (--cross from arm64, say).
    {
      archs: ['riscv64', 'amd64'], allArch: 'arm64', waits: '',
      broken: 'needs yamlcheck, which is not built for arm64 (an "all" package builds with the packages of the arch it builds on, arm64, which this run does not target: add arm64 to --arch)',
    },
  ];
  for (const r of rows) {
    const g = graph(specs, { archs: r.archs, hostArch: 'amd64', ...(r.allArch === undefined ? {} : { allArch: r.allArch }) });
    const board = g.byId.get('board-config@all')!;
    const what = `--arch ${r.archs.join(',')}, allArch ${r.allArch}`;
    assert.equal(board.broken ?? '', r.broken, what);
    assert.deepEqual(board.waitsFor.join(' '), r.waits, what);
  }
  const env = graph(specs, { archs: ['riscv64'], hostArch: 'amd64', allArch: 'riscv64' });
  // :native is the build machine's arch wherever the job runs (docs/recipes.md): a riscv64-only run lacks it.
  assert.match(env.byId.get('with-native@all')!.broken!, /^needs hostgen:native, which is not built for amd64 \(a :native tool builds for the build machine's arch, amd64, .*add amd64 to --arch\)$/);
  assert.deepEqual(graph(specs, { archs: ['riscv64', 'amd64'], hostArch: 'amd64', allArch: 'riscv64' }).byId.get('with-native@all')!.waitsFor, ['hostgen@amd64']);
  // Arch lists of an `all` package's relations apply to the arch it builds with.
  assert.deepEqual(env.byId.get('picky@all')!.waitsFor, ['yamlcheck@riscv64']);
  assert.deepEqual(graph(specs, { archs: ['riscv64', 'amd64'], hostArch: 'amd64', allArch: 'amd64' }).byId.get('picky@all')!.waitsFor, ['only-amd64@amd64']);
  // A package of another arch only: not built for the arch the `all` job builds with, which the run targets (no --arch hint).
  assert.equal(env.byId.get('no-tool@all')!.broken, 'needs only-amd64, which is not built for riscv64');
});

test('an "all" package\'s broken alternatives are said for the arch it builds with', () => {
  const specs = [spec('yamlcheck', { bdeps: ['gone'] }), spec('pycheck', { archs: ['amd64'] }), spec('board-config', { archs: ['all'], bdeps: ['yamlcheck | pycheck'] })];
  const g = graph(specs, { archs: ['riscv64'], hostArch: 'amd64', allArch: 'riscv64' });
  assert.equal(
    g.byId.get('board-config@all')!.broken,
    'needs one of yamlcheck | pycheck: pycheck, which is not built for riscv64; yamlcheck, which is broken: needs gone, which is not in the tree',
  );
});

test('an invalid recipe whose archs parsed is one node per arch it would build for: "all" once', () => {
  const g = graph([spec('user', { bdeps: ['badall'] })], {
    archs: ['amd64', 'arm64'],
    invalid: [{ ...invalid('badall'), archs: ['all'] }, { ...invalid('armonly'), archs: ['arm64'] }, invalid('unknown'), { ...invalid('riscvonly'), archs: ['riscv64'] }],
  });
  // riscvonly builds for no target arch, but its recipe is invalid: reported all the same.
  assert.deepEqual(Object.keys(states(g)).sort(), ['armonly@arm64', 'badall@all', 'riscvonly@amd64', 'riscvonly@arm64', 'unknown@amd64', 'unknown@arm64', 'user@amd64', 'user@arm64']);
  assert.match(states(g)['user@arm64']!, /^needs badall, which is broken: invalid recipe/);
});

test('alternatives: breaking a cycle does not put its members out for others; a cycle nothing breaks does', () => {
  const g = graph(
    [
      spec('y', { bdeps: ['x | z'] }),
      spec('x', { bdeps: ['y'] }),
      spec('z'),
      spec('w', { bdeps: ['bad | x'] }),
      spec('v', { bdeps: ['x | z'] }),
      // An unbreakable cycle: who can choose something else does.
      spec('p', { bdeps: ['q'] }),
      spec('q', { bdeps: ['p'] }),
      spec('u', { bdeps: ['p | z'] }),
    ],
    { invalid: [invalid('bad')] },
  );
  const s = states(g);
  for (const id of ['x', 'y', 'z', 'w', 'v', 'u']) assert.equal(s[`${id}@amd64`], '', `${id}: ${s[`${id}@amd64`]}`);
  assert.deepEqual(g.byId.get('y@amd64')!.buildDeps, ['z@amd64']);
  assert.deepEqual(g.byId.get('w@amd64')!.buildDeps, ['x@amd64']);
  assert.deepEqual(g.byId.get('v@amd64')!.buildDeps, ['x@amd64'], 'the first alternative, which builds');
  assert.deepEqual(g.byId.get('u@amd64')!.buildDeps, ['z@amd64']);
  assert.equal(s['p@amd64'], 'dependency cycle: p -> q -> p');
});

test('a broken package at the bottom of a long chain breaks the chain, whatever the order of the names', () => {
  // z0 needs z1 needs … z199 needs the missing one: each link's dependency sorts after it.
  const specs = Array.from({ length: 200 }, (_, i) => spec(`z${String(i).padStart(3, '0')}`, { bdeps: [i === 199 ? 'nosuch | alsonot' : `z${String(i + 1).padStart(3, '0')} | fallback`] }));
  const g = graph([...specs, spec('fallback', { bdeps: ['nosuch'] })]);
  const s = states(g);
  assert.match(s['z000@amd64']!, /^needs one of z001 \| fallback: fallback \(broken\); z001, which is broken: needs one of z002/);
  assert.match(s['z199@amd64']!, /^needs one of nosuch \| alsonot/);
});

test('a broken package still provides what its recipe says: what needs that hears it is broken, not that it is missing', () => {
  const g = graph([spec('app', { bdeps: ['greet-api (>= 1.0)'] }), spec('plain', { bdeps: ['greet-cli'] })], {
    invalid: [{ ...invalid('libgreet'), provides: [{ name: 'greet-api', version: '1.0' }, { name: 'greet-cli', version: undefined }] }],
  });
  const s = states(g);
  // The relation as written, and the provider: it is the package that is broken.
  assert.match(s['app@amd64']!, /^needs greet-api \(>= 1\.0\), provided by libgreet, which is broken: invalid recipe/);
  assert.match(s['plain@amd64']!, /^needs greet-cli, provided by libgreet, which is broken: invalid recipe/);
});

test('a misspelt dependency or target gets a did-you-mean, a merely short one does not', () => {
  const g = graph([spec('libgreet'), spec('app', { bdeps: ['libgret'] }), spec('tool', { bdeps: ['zlib'] }), spec('libx'), spec('libpng', { bdeps: ['libpnh'] })]);
  assert.equal(g.byId.get('libpng@amd64')!.broken, 'needs libpnh, which is not in the tree', 'suggested the package itself');
  assert.equal(g.byId.get('app@amd64')!.broken, 'needs libgret, which is not in the tree (did you mean "libgreet"?)');
  assert.equal(g.byId.get('tool@amd64')!.broken, 'needs zlib, which is not in the tree');
  assert.throws(() => graph([spec('greeter')], { targets: ['greeterr'] }), (e: unknown) => isKilnError(e) && e.code === 'target-not-found' && e.message.endsWith('(did you mean "greeter"?)'));
  assert.throws(() => graph([spec('greeter')], { targets: ['gr*x'] }), (e: unknown) => isKilnError(e) && !e.message.includes('did you mean'));
});

test('ignore: the package and what needs only ignored packages are broken but ignored; a real breakage is not hidden by one', () => {
  const ig = (name: string, o: Parameters<typeof spec>[1] = {}): PackageSpec => ({ ...spec(name, o), ignore: 'needs a GPU to build' });
  const g = graph([
    ig('gpu'),
    spec('viewer', { bdeps: ['gpu'] }),
    spec('suite', { bdeps: ['viewer'] }),
    spec('both', { bdeps: ['gpu', 'nosuch'] }),
    spec('either', { bdeps: ['gpu | soft'] }),
    spec('soft'),
    ig('odd', { bdeps: ['nosuch'] }),
  ]);
  assert.deepEqual(states(g), {
    'gpu@amd64': 'ignored: needs a GPU to build',
    'viewer@amd64': 'needs gpu, which is ignored: needs a GPU to build',
    // viewer is broken (by an ignored package), not ignored itself: each link says what it is.
    'suite@amd64': 'needs viewer, which is broken: needs gpu, which is ignored: needs a GPU to build',
    'both@amd64': 'needs nosuch, which is not in the tree; needs gpu, which is ignored: needs a GPU to build',
    'either@amd64': '',
    'soft@amd64': '',
    'odd@amd64': 'needs nosuch, which is not in the tree; ignored: needs a GPU to build',
  });
  const ignored = g.nodes.filter((n) => n.ignored).map((n) => n.name).sort();
  assert.deepEqual(ignored, ['gpu', 'suite', 'viewer']);
  assert.deepEqual(g.byId.get('either@amd64')!.waitsFor, ['soft@amd64'], 'an alternative passes an ignored package over');
});

test('every unsatisfied relation is listed: failed alternatives each with why, a broken dependency after an own problem', () => {
  // The walkthrough's tree: zfake's recipe is invalid TOML.
  const zfake: InvalidPackage = { name: 'zfake', dir: '/tree/zfake', diagnostics: [{ file: '/tree/zfake/recipe.toml', message: 'invalid TOML: control characters are not allowed in strings at line 2, column 17' }] };
  const g = graph([spec('altuser', { bdeps: ['nonexistent (>= 3) | zfake (>= 1.0)', 'libz-dev (>= 1.2)'] }), spec('meta', { bdeps: ['altuser'] })], { invalid: [zfake] });
  const zcause = 'invalid recipe: /tree/zfake/recipe.toml: invalid TOML: control characters are not allowed in strings at line 2, column 17';
  const unread = ' (unless zfake provides it: its recipe is broken, it cannot be read)';
  const altuser = `needs libz-dev (>= 1.2), which is not in the tree${unread}; needs one of nonexistent (>= 3) | zfake (>= 1.0): nonexistent (>= 3), which is not in the tree${unread}; zfake (>= 1.0), which is broken: ${zcause}`;
  assert.deepEqual(states(g), { 'zfake@amd64': zcause, 'altuser@amd64': altuser, 'meta@amd64': `needs altuser, which is broken: ${altuser}` });
});

test('a provider whose provides item does not parse is broken, not missing; an unreadable recipe is named as a possible provider only then', () => {
  const zfake: InvalidPackage = {
    name: 'zfake', dir: '/tree/zfake',
    diagnostics: [{ file: '/tree/zfake/recipe.toml', key: 'provides[0]', message: '"libz-dev (>= 1.2)": only "=" is allowed in Provides, not ">="' }],
  };
  const g = graph([spec('user', { bdeps: ['libz-dev (>= 1.2)'] }), spec('typo', { bdeps: ['libgret'] }), spec('libgreet')], { invalid: [zfake] });
  const s = states(g);
  assert.equal(s['user@amd64'], 'needs libz-dev (>= 1.2), provided by zfake, which is broken: invalid recipe: /tree/zfake/recipe.toml: provides[0]: "libz-dev (>= 1.2)": only "=" is allowed in Provides, not ">="');
  assert.equal(s['typo@amd64'], 'needs libgret, which is not in the tree (did you mean "libgreet"?)', 'no unreadable recipe: no note');
});

test('ignore: each link of a chain says what its package is, and isIgnoredCause reads the text as the graph flags it', () => {
  const ig = (name: string, o: Parameters<typeof spec>[1] = {}): PackageSpec => ({ ...spec(name, o), ignore: 'needs a GPU' });
  const g = graph([
    ig('zfake', { provides: ['libz-dev (= 1.2.3)'] }),
    spec('altuser', { bdeps: ['nonexistent (>= 3) | zfake (>= 1.0)', 'libz-dev (>= 1.2)'] }),
    spec('meta', { bdeps: ['altuser', 'hello'] }),
    spec('hello'),
    ig('gpu'),
    spec('viewer', { bdeps: ['gpu'] }),
    spec('wide', { bdeps: ['viewer', 'gpu', 'altuser'] }),
    spec('mixed', { bdeps: ['nosuch', 'viewer'] }),
    spec('above', { bdeps: ['mixed', 'viewer'] }),
    spec('alt2', { bdeps: ['mixed | gpu'] }),
    spec('alt3', { bdeps: ['nosuch | viewer'] }),
  ]);
  const s = states(g);
  const altuser = 'needs one of nonexistent (>= 3) | zfake (>= 1.0): nonexistent (>= 3), which is not in the tree; zfake (>= 1.0), which is ignored: needs a GPU';
  assert.equal(s['altuser@amd64'], altuser);
  assert.equal(s['meta@amd64'], `needs altuser, which is broken: ${altuser}`);
  assert.equal(s['wide@amd64'], 'needs altuser, which is broken (also broken: viewer; also ignored: gpu): ' + altuser);
  assert.equal(s['mixed@amd64'], 'needs nosuch, which is not in the tree; needs viewer, which is broken: needs gpu, which is ignored: needs a GPU');
  // With nothing usable the first alternative is taken: mixed, broken for real.
  assert.equal(s['alt2@amd64'], 'needs one of mixed | gpu: gpu (ignored); mixed, which is broken: needs nosuch, which is not in the tree; needs viewer, which is broken: needs gpu, which is ignored: needs a GPU');
  assert.equal(s['alt3@amd64'], 'needs one of nosuch | viewer: nosuch, which is not in the tree; viewer, which is broken: needs gpu, which is ignored: needs a GPU');
  const ignored = g.nodes.filter((n) => n.ignored).map((n) => n.name).sort();
  assert.deepEqual(ignored, ['alt3', 'altuser', 'gpu', 'meta', 'viewer', 'wide', 'zfake']);
  for (const n of g.nodes) assert.equal(isIgnoredCause(n.broken), n.ignored, `${n.name}: ${n.broken ?? ''}`);
});

test('an alternative that builds but cannot be staged (its own depends do not resolve) says so, not "broken"', () => {
  const ig = (name: string): PackageSpec => ({ ...spec(name), ignore: 'needs a GPU' });
  const g = graph([spec('zlib', { deps: ['gone'] }), ig('gpu'), spec('alt', { bdeps: ['gpu | zlib'] })]);
  const s = states(g);
  assert.equal(s['zlib@amd64'], '');
  assert.equal(s['alt@amd64'], 'needs one of gpu | zlib: zlib (cannot be staged: its depends: needs gone, which is not in the tree); gpu, which is ignored: needs a GPU');
});
