import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandFlavours } from './flavours.ts';
import { applyOptions, parseOptionArg } from '../plan/options.ts';
import type { PackageSpec } from '../plan/spec.ts';
import { spec } from '../../test/helpers/specs.ts';

const app = (flavours: PackageSpec['flavours']): PackageSpec => ({
  ...spec('app', { provides: ['app-api'] }),
  options: [{ name: 'ssl', default: true, buildDepends: [], depends: [] }, { name: 'docs', default: false, buildDepends: [], depends: [] }],
  flavours,
});

test('expandFlavours: the recipe\'s package, then one per flavour: its name, no provides, a recipe hash of its own, what it pins', () => {
  const base = app([{ id: 'full', name: 'app-full', options: { docs: true } }, { id: 'nossl', name: 'app-nossl', options: { ssl: false } }]);
  const { specs, invalid } = expandFlavours([base, spec('tls')], []);
  assert.deepEqual(invalid, []);
  assert.deepEqual(specs.map((s) => [s.name, s.flavour?.id, s.flavour?.of, s.provides.map((p) => p.name)]), [
    ['app', undefined, undefined, ['app-api']],
    ['app-full', 'full', 'app', []],
    ['app-nossl', 'nossl', 'app', []],
    ['tls', undefined, undefined, []],
  ]);
  assert.equal(new Set(specs.map((s) => s.recipeHash)).size, 4);
  assert.equal(specs[0], base, 'the recipe\'s own package is as scanned');
  // Without flavours: the same specs.
  const plain = [spec('a'), spec('b')];
  assert.deepEqual(expandFlavours(plain, []).specs, plain);
});

test('expandFlavours: a flavour named like another package (or another recipe\'s flavour) makes its recipe invalid; the others stay', () => {
  const base = app([{ id: 'full', name: 'tls', options: {} }, { id: 'nossl', name: 'app-nossl', options: {} }]);
  const other = { ...spec('other'), flavours: [{ id: 'x', name: 'app-nossl', options: {} }] };
  const { specs, invalid } = expandFlavours([base, spec('tls'), other], []);
  assert.deepEqual(specs.map((s) => s.name), ['tls']);
  assert.deepEqual(invalid.map((x) => [x.name, x.diagnostics.map((d) => `${d.key}: ${d.message}`), x.provides?.map((p) => p.name)]), [
    ['app', ['flavours.full: its package name "tls" is taken by the package in /tree/tls: give the flavour another name (name = "…")'], ['app-api', 'app-nossl']],
    ['other', ['flavours.x: its package name "app-nossl" is taken by flavour nossl of app: give the flavour another name (name = "…")'], []],
  ]);
});

test('applyOptions: a flavour\'s pinned values win over the run\'s settings; a setting against a pin is said', () => {
  const { specs } = expandFlavours([app([{ id: 'nossl', name: 'app-nossl', options: { ssl: false } }])], []);
  const r = applyOptions(specs, [parseOptionArg('ssl=on'), parseOptionArg('docs=on'), parseOptionArg('app-nossl:ssl=on')]);
  assert.deepEqual(r.specs.map((s) => [s.name, s.optionValues]), [['app', { ssl: true, docs: true }], ['app-nossl', { ssl: false, docs: true }]]);
  assert.deepEqual(r.notes, ['--option app-nossl:ssl=on: app-nossl is flavour nossl of app, which has ssl off whatever the run says']);
  assert.deepEqual(r.problems, []);
});
