import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOptions, optionEnvironment, optionWords, parseOptionArg, type OptionSetting } from './options.ts';
import type { OptionSpec, PackageSpec } from './spec.ts';
import { parseRelations } from '../debian/relation.ts';

const rel = (text: string) => parseRelations(text).groups;

function spec(name: string, options?: OptionSpec[], extra: Partial<PackageSpec> = {}): PackageSpec {
  return {
    name, version: '1.0', release: 1, summary: 's', license: 'MIT', archs: ['any'], buildDepends: rel('base'), depends: [], provides: [], sources: [],
    build: { script: ':', cpus: 1, memoryBytes: 1, timeoutMs: undefined, silentTimeoutMs: undefined },
    dir: `/t/${name}`, file: `/t/${name}/recipe.toml`, recipeHash: `h-${name}`, sourcesHash: 's', env: undefined,
    ...(options === undefined ? {} : { options }), ...extra,
  };
}
const opt = (name: string, dflt: boolean, buildDepends = '', depends = ''): OptionSpec => ({ name, default: dflt, buildDepends: buildDepends === '' ? [] : rel(buildDepends), depends: depends === '' ? [] : rel(depends) });
const set = (text: string): OptionSetting => parseOptionArg(text);

test('parseOptionArg: [PKG:]NAME=on|off and its spellings; what is wrong is said', () => {
  const table: [string, OptionSetting | RegExp][] = [
    ['ssl=on', { name: 'ssl', on: true, from: '--option ssl=on' }],
    ['ssl=OFF', { name: 'ssl', on: false, from: '--option ssl=OFF' }],
    ['curl:ssl=yes', { pkg: 'curl', name: 'ssl', on: true, from: '--option curl:ssl=yes' }],
    ['g++:with-gui=0', { pkg: 'g++', name: 'with-gui', on: false, from: '--option g++:with-gui=0' }],
    ['ssl', /write it as NAME=on\|off/],
    ['ssl=maybe', /"maybe" is neither on nor off/],
    ['SSL=on', /"SSL" is not an option name/],
    ['Curl:ssl=on', /"Curl" is not a package name/],
    ['a:b:c=on', /write it as NAME=on\|off/],
  ];
  for (const [text, want] of table) {
    if (want instanceof RegExp) assert.throws(() => parseOptionArg(text), want, text);
    else assert.deepEqual(parseOptionArg(text), want, text);
  }
});

test('applyOptions: defaults, then the settings in order (later wins); one package\'s own setting only for it', () => {
  const specs = [spec('app', [opt('ssl', true, 'tls'), opt('docs', false)]), spec('lib', [opt('docs', true)]), spec('tls')];
  const values = (settings: OptionSetting[]) => Object.fromEntries(applyOptions(specs, settings).specs.map((s) => [s.name, s.optionValues]));
  const table: [string, OptionSetting[], Record<string, Record<string, boolean> | undefined>][] = [
    ['defaults', [], { app: { ssl: true, docs: false }, lib: { docs: true }, tls: undefined }],
    ['every package', [set('docs=off')], { app: { ssl: true, docs: false }, lib: { docs: false }, tls: undefined }],
    ['one package', [set('app:docs=on')], { app: { ssl: true, docs: true }, lib: { docs: true }, tls: undefined }],
    ['later wins', [set('app:docs=on'), set('docs=off')], { app: { ssl: true, docs: false }, lib: { docs: false }, tls: undefined }],
    ['later wins, the other way', [set('docs=off'), set('app:docs=on')], { app: { ssl: true, docs: true }, lib: { docs: false }, tls: undefined }],
  ];
  for (const [what, settings, want] of table) assert.deepEqual(values(settings), want, what);
});

test('applyOptions: the relations of an option that is on are added; the values are part of the recipe hash', () => {
  const specs = [spec('app', [opt('ssl', true, 'tls (>= 1)', 'tls-runtime'), opt('docs', false, 'doc-tools')])];
  const on = applyOptions(specs, []).specs[0]!;
  assert.deepEqual(on.buildDepends.flat().map((r) => r.name), ['base', 'tls']);
  assert.deepEqual(on.depends.flat().map((r) => r.name), ['tls-runtime']);
  const off = applyOptions(specs, [set('ssl=off'), set('docs=on')]).specs[0]!;
  assert.deepEqual(off.buildDepends.flat().map((r) => r.name), ['base', 'doc-tools']);
  assert.deepEqual(off.depends, []);
  // Each set of values is its own build; the same set, the same hash.
  const hashes = new Set([on, off, applyOptions(specs, [set('ssl=off')]).specs[0]!].map((s) => s.recipeHash));
  assert.equal(hashes.size, 3);
  assert.ok(!hashes.has('h-app'));
  assert.equal(applyOptions(specs, [set('app:ssl=on')]).specs[0]!.recipeHash, on.recipeHash);
  assert.equal(optionWords(off.optionValues!), 'docs=1 ssl=0');
});

test('applyOptions: a tree without options and a run without settings gives the specs back as they are', () => {
  const specs = [spec('a'), spec('b')];
  const r = applyOptions(specs, []);
  assert.equal(r.specs, specs);
  assert.deepEqual([r.problems, r.notes], [[], []]);
});

test('applyOptions: a setting naming no package or option is a problem; one for every package that none has is a note', () => {
  const specs = [spec('app', [opt('ssl', true), opt('docs', false)]), spec('tls')];
  const table: [OptionSetting, string[], string[]][] = [
    [set('app:sssl=on'), ['--option app:sssl=on: app has no option "sssl" (did you mean "ssl"?): its options are ssl, docs'], []],
    [set('tls:ssl=on'), ['--option tls:ssl=on: tls has no option "ssl": its recipe declares none (/t/tls/recipe.toml)'], []],
    [set('ap:ssl=on'), ['--option ap:ssl=on: the tree has no package "ap" (did you mean "app"?)'], []],
    [set('broken:ssl=on'), [], []],
    [set('gui=on'), [], ['--option gui=on: no package of the tree has an option "gui"; the tree\'s options: docs, ssl']],
    [set('doc=on'), [], ['--option doc=on: no package of the tree has an option "doc" (did you mean "docs"?); the tree\'s options: docs, ssl']],
  ];
  for (const [setting, problems, notes] of table) {
    const r = applyOptions(specs, [setting], ['broken']);
    assert.deepEqual([r.problems, r.notes], [problems, notes], setting.from);
  }
});

test('optionEnvironment: $KILN_OPTIONS lists those on, $KILN_OPTION_NAME says 1 or 0; a name that is not an option name is left out', () => {
  assert.deepEqual(optionEnvironment(undefined), { KILN_OPTIONS: '' });
  assert.deepEqual(optionEnvironment({ ssl: true, 'with-gui': false, docs: true }), { KILN_OPTIONS: 'docs ssl', KILN_OPTION_DOCS: '1', KILN_OPTION_SSL: '1', KILN_OPTION_WITH_GUI: '0' });
  assert.deepEqual(optionEnvironment({ 'x=1 evil': true, PATH: true }), { KILN_OPTIONS: '' });
});
