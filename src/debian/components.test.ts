import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KilnError } from '../errors.ts';
import { hasComponent, joinPackages, layeredSources, parseComponentList, unknownComponents } from './components.ts';
import { lazySources } from './lazy-index.ts';
import { selectSource } from './debian-select.ts';

const stanza = (name: string, version: string, component: string): string =>
  `Package: ${name}\nBinary: ${name}\nVersion: ${version}\nArchitecture: any\nDirectory: pool/${component}/${name[0]}/${name}\nChecksums-Sha256:\n ${'a'.repeat(64)} 10 ${name}_${version}.dsc\n`;
const index = (component: string, ...entries: [string, string][]) => ({ component, index: lazySources(entries.map(([n, v]) => stanza(n, v, component)).join('\n'), `${component} Sources`) });

test('parseComponentList: names in the order given, each once; an empty item, no name or a bad name is a usage error', () => {
  const rows: [string, string[] | RegExp][] = [
    ['main', ['main']],
    ['main,contrib,non-free', ['main', 'contrib', 'non-free']],
    ['contrib,main', ['contrib', 'main']],
    ['main,contrib,main', ['main', 'contrib']],
    ['main,contrib,', ['main', 'contrib']],
    ['updates/main', ['updates/main']],
    ['main,,contrib', /^--components: "main,,contrib" has an empty item$/],
    ['', /^--components: give at least one component/],
    ['main;contrib', /^--components: "main;contrib" is not an archive component name$/],
    ['-main', /is not an archive component name/],
  ];
  for (const [text, want] of rows) {
    if (Array.isArray(want)) assert.deepEqual(parseComponentList(text), want, text);
    else assert.throws(() => parseComponentList(text), (e: unknown) => e instanceof KilnError && e.code === 'usage' && want.test(e.message), text);
  }
});

test('unknownComponents: one the Release does not list is named with where it was given and the Release\'s list', () => {
  const listed = ['main', 'contrib', 'non-free-firmware', 'non-free'];
  const url = 'http://mirror.invalid/debian/dists/bookworm/InRelease';
  const flag = { code: 'usage', where: '--components' } as const;
  assert.equal(unknownComponents(['main', 'contrib'], listed, { suite: 'bookworm', url, origin: flag }), undefined);
  assert.equal(unknownComponents(['anything'], [], { suite: 'bookworm', url, origin: flag }), undefined, 'a Release listing none is taken at its word');
  assert.equal(unknownComponents(['main'], ['updates/main'], { suite: 'bookworm-security', url, origin: flag }), undefined, 'updates/main serves main');
  const e = unknownComponents(['main', 'contribb'], listed, { suite: 'bookworm', url, origin: flag })!;
  assert.equal(e.code, 'usage');
  assert.equal(e.message, `--components: bookworm has no component "contribb" (${url} lists main contrib non-free-firmware non-free)`);
  assert.match(e.hint ?? '', /^did you mean "contrib"\? /);
  const t = unknownComponents(['universe'], listed, { suite: 'bookworm', url, origin: { code: 'config-invalid', where: '/t/debian.toml: components' } })!;
  assert.equal(t.code, 'config-invalid');
  assert.match(t.message, /^\/t\/debian\.toml: components: bookworm has no component "universe"/);
  assert.ok(hasComponent(listed, 'non-free') && !hasComponent(listed, 'universe'));
});

test('layeredSources: each name from the first component that has it, names in component order, said by componentOf', () => {
  const s = layeredSources([
    index('main', ['hello', '2.10-3'], ['both', '1.0-1']),
    index('contrib', ['b43-fwcutter', '1:019-8'], ['both', '9.0-1']),
    index('non-free', ['unrar-nonfree', '1:6.2.6-1']),
  ]);
  assert.deepEqual(s.components, ['main', 'contrib', 'non-free']);
  assert.deepEqual(s.names(), ['hello', 'both', 'b43-fwcutter', 'unrar-nonfree']);
  assert.equal(s.componentOf('b43-fwcutter'), 'contrib');
  assert.equal(s.componentOf('unrar-nonfree'), 'non-free');
  assert.equal(s.componentOf('nothing'), undefined);
  // A name in two components: the first listed has it, whatever the versions (as sbuild takes the first).
  assert.deepEqual(s.versions('both').map((x) => x.version), ['1.0-1']);
  assert.equal(s.componentOf('both'), 'main');
  assert.equal(s.stanza('both', '9.0-1'), undefined);
  assert.match(s.raw('b43-fwcutter')[0]!, /Directory: pool\/contrib\/b\/b43-fwcutter/);
  // The other order: contrib first.
  assert.deepEqual(layeredSources([index('contrib', ['both', '9.0-1']), index('main', ['both', '1.0-1'])]).versions('both').map((x) => x.version), ['9.0-1']);
});

test('selectSource over the run\'s components: the component found in is in the answer; a name in none names the components searched and --components', () => {
  const s = layeredSources([index('main', ['hello', '2.10-3']), index('contrib', ['b43-fwcutter', '1:019-8'])]);
  const req = { suite: 'bookworm', all: false };
  assert.deepEqual(selectSource(s, 'b43-fwcutter', req, undefined)?.component, 'contrib');
  assert.deepEqual(selectSource(s, 'hello=2.10-3', req, undefined)?.component, 'main');
  assert.throws(() => selectSource(s, 'nvidia-graphics-drivers', req, undefined), (e: unknown) => {
    assert.ok(e instanceof KilnError && e.code === 'source-not-found');
    assert.equal(e.message, 'no source package nvidia-graphics-drivers in bookworm main, contrib');
    assert.match(e.hint ?? '', /^searched bookworm main, contrib only: if nvidia-graphics-drivers is in another component \(non-free, non-free-firmware\), add it with --components \(e\.g\. --components main,contrib,non-free\) or components = \[\.\.\.\] in debian\.toml/);
    return true;
  });
  // main alone (the default): the hint suggests contrib.
  const mainOnly = layeredSources([index('main', ['hello', '2.10-3'])]);
  assert.throws(() => selectSource(mainOnly, 'b43-fwcutter', req, undefined), (e: unknown) => e instanceof KilnError && e.message === 'no source package b43-fwcutter in bookworm main' && /--components main,contrib\b/.test(e.hint ?? ''));
});

test('joinPackages: the components\' Packages one after the other, one blank line between stanzas, empty ones left out', () => {
  assert.equal(joinPackages(['Package: a\nVersion: 1\n', '', 'Package: b\nVersion: 2\n\n\n']), 'Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\n');
  assert.equal(joinPackages(['', '']), '');
});
