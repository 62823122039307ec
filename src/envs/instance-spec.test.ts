import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseTreeConfig } from '../config/tree-config.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { contentHash } from './instance-layer.ts';
import { fileSourceDir, instanceSpecHash, renderSources, sourceProblems, type InstanceSpec } from './instance-spec.ts';

const spec: InstanceSpec = {
  name: 'stable',
  packages: ['hello', 'libfoo-dev=1.2-1'],
  debianLists: false,
  sources: [
    { uri: 'https://repo.example/debian', suite: 'stable', components: ['main', 'contrib'], signedBy: '/keys/repo.asc', trusted: false },
    { uri: 'file:///srv/local%20repo/', suite: './', components: [], trusted: true },
  ],
};

test('kiln.toml [instance] is read: signed-by relative to kiln.toml, defaults filled in', () => {
  const { config, diagnostics } = parseTreeConfig(
    `env = "bookworm-{arch}"\n[instance]\nname = "stable"\npackages = ["hello"]\n[[instance.sources]]\nuri = "https://repo.example/debian"\nsuite = "stable"\ncomponents = ["main"]\nsigned-by = "keys/repo.asc"\n`,
    '/trees/t/kiln.toml',
  );
  assert.deepEqual(diagnostics, []);
  assert.deepEqual(config.instance, {
    name: 'stable', packages: ['hello'], debianLists: false,
    sources: [{ uri: 'https://repo.example/debian', suite: 'stable', components: ['main'], trusted: false, signedBy: '/trees/t/keys/repo.asc' }],
  });
  assert.equal(parseTreeConfig('env = "x"\n', '/k.toml').config.instance, undefined);
});

test('kiln.toml [instance] problems are diagnostics with their key', () => {
  const cases: [string, string, RegExp][] = [
    ['env = "e"\n[instance]\nsources = []\n', 'instance.sources', /at least 1|too small|>=1/i],
    ['env = "e"\n[[instance.sources]]\nuri = "ftp://x"\nsuite = "./"\n', 'instance.sources[0].uri', /http:\/\/, https:\/\/ or file:\/\/\//],
    ['env = "e"\n[[instance.sources]]\nuri = "file:///r"\nsuite = "stable"\n', 'instance.sources[0]', /needs components/],
    ['env = "e"\n[[instance.sources]]\nuri = "file:///r"\nsuite = "./"\ncomponents = ["main"]\n', 'instance.sources[0]', /flat repository .* has no components/],
    ['env = "e"\n[[instance.sources]]\nuri = "file:///r"\nsuite = "./"\ntrusted = true\nsigned-by = "k.asc"\n', 'instance.sources[0]', /either signed-by or trusted/],
    ['env = "e"\n[instance]\npackages = ["Bad Name"]\n[[instance.sources]]\nuri = "file:///r"\nsuite = "./"\n', 'instance.packages[0]', /Debian package name/],
    ['[[instance.sources]]\nuri = "file:///r"\nsuite = "./"\n', 'instance', /set env/],
  ];
  for (const [toml, key, message] of cases) {
    const { diagnostics } = parseTreeConfig(toml, '/k.toml');
    const d = diagnostics.find((x) => x.key === key);
    assert.ok(d !== undefined, `${JSON.stringify(toml)}: no diagnostic for ${key} in ${JSON.stringify(diagnostics)}`);
    assert.match(d.message, message, toml);
  }
});

test('the sources file: deb822, file sources at their mount inside the root, keyrings and trust', () => {
  assert.equal(
    renderSources(spec, ['kiln-stable-0.asc', undefined]),
    [
      '# kiln instance "stable", source 0', 'Types: deb', 'URIs: https://repo.example/debian', 'Suites: stable', 'Components: main contrib',
      'Signed-By: /etc/apt/keyrings/kiln-stable-0.asc', '',
      '# kiln instance "stable", source 1: file:///srv/local%20repo/', 'Types: deb', 'URIs: file:/run/kiln-sources/0', 'Suites: ./', 'Trusted: yes', '',
    ].join('\n'),
  );
  assert.equal(fileSourceDir(spec.sources[1]!), '/srv/local repo');
  assert.equal(fileSourceDir(spec.sources[0]!), undefined);
  assert.deepEqual(sourceProblems(spec), []);
});

test('the spec hash: stable, package order does not matter, keyring content and every field do', () => {
  const h = instanceSpecHash({ spec, keyringHashes: ['aa', undefined] });
  assert.match(h, /^[0-9a-f]{16}$/);
  assert.equal(instanceSpecHash({ spec: { ...spec, packages: [...spec.packages].reverse() }, keyringHashes: ['aa', undefined] }), h);
  for (const other of [
    { spec, keyringHashes: ['bb', undefined] },
    { spec: { ...spec, name: 'unstable' }, keyringHashes: ['aa', undefined] },
    { spec: { ...spec, debianLists: true }, keyringHashes: ['aa', undefined] },
    { spec: { ...spec, packages: ['hello'] }, keyringHashes: ['aa', undefined] },
    { spec: { ...spec, sources: [spec.sources[0]!] }, keyringHashes: ['aa'] },
  ]) {
    assert.notEqual(instanceSpecHash(other), h);
  }
});

test('the content hash of a layer: content, modes and link targets count; times, logs and apt caches do not', async () => {
  await using a = await tmpDir('kiln-layer-a-');
  const make = async (root: string, o: { text?: string; target?: string; log?: string } = {}): Promise<void> => {
    await mkdir(join(root, 'usr/bin'), { recursive: true });
    await mkdir(join(root, 'var/log/apt'), { recursive: true });
    await mkdir(join(root, 'var/cache/apt'), { recursive: true });
    await writeFile(join(root, 'usr/bin/hello'), o.text ?? 'hello 1', { mode: 0o755 });
    await symlink(o.target ?? 'hello', join(root, 'usr/bin/hi'));
    await writeFile(join(root, 'var/log/apt/history.log'), o.log ?? 'Start-Date: 1');
    await writeFile(join(root, 'var/cache/apt/pkgcache.bin'), o.log ?? 'x');
  };
  const hashOf = async (name: string, o: Parameters<typeof make>[1] = {}, touch = false): Promise<string> => {
    const root = join(a.path, name);
    await make(root, o);
    if (touch) await utimes(join(root, 'usr/bin/hello'), 1, 1);
    return contentHash(root);
  };
  const base = await hashOf('base');
  assert.equal(await hashOf('touched', {}, true), base, 'mtimes do not count');
  assert.equal(await hashOf('logs', { log: 'Start-Date: 2' }), base, 'logs and apt caches do not count');
  assert.notEqual(await hashOf('content', { text: 'hello 2' }), base);
  assert.notEqual(await hashOf('link', { target: 'hello2' }), base);
});
