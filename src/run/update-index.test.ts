import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../../test/helpers/tmp.ts';
import type { ArtifactStore } from '../cache/artifact-types.ts';
import type { Plan } from '../plan/plan.ts';
import { pruneIndex, updatePackageIndex } from './update-index.ts';
import { createSigningKey } from '../publish/signing.ts';

test('an index written when release was a string is rewritten with integers, even when no package changed', async () => {
  await using tmp = await tmpDir();
  const file = join(tmp.path, 'index.json');
  const artifact = join(tmp.path, 'meta-only');
  writeFileSync(artifact, '');
  const old = { name: 'zlib', version: '1.3', release: '2', arch: 'amd64', depends: [], provides: [], size: 1, sha256: 'a'.repeat(64), path: artifact };
  writeFileSync(file, JSON.stringify({ packages: [old] }));
  const nothing = { nodes: [] } as unknown as Plan;
  await updatePackageIndex(file, nothing, {} as ArtifactStore, new Map(), () => undefined, tmp.path);
  const written = JSON.parse(readFileSync(file, 'utf8')) as { packages: Array<{ release: unknown }> };
  assert.equal(written.packages[0]!.release, 2);
  // Already integers and nothing new: the file is left alone.
  writeFileSync(file, `${JSON.stringify({ packages: [{ ...old, release: 2 }] })}`);
  const before = readFileSync(file, 'utf8');
  await updatePackageIndex(file, nothing, {} as ArtifactStore, new Map(), () => undefined, tmp.path);
  assert.equal(readFileSync(file, 'utf8'), before);
});

test('two runs updating one index at once both land (the merge holds the index lock); pruneIndex drops entries whose artifact is gone', async () => {
  await using tmp = await tmpDir();
  const file = join(tmp.path, 'packages', 'index.json');
  const artifact = (name: string): string => {
    const path = join(tmp.path, `${name}.tar.zst`);
    writeFileSync(path, name);
    return path;
  };
  const run = (name: string): Promise<string | undefined> => {
    const node = { id: `${name}@amd64` };
    const meta = { name, version: '1', release: 1, arch: 'amd64', depends: [], provides: [], size: 1, sha256: 'b'.repeat(64), archive: `${name}.tar.zst` };
    const store = { get: async () => meta, remembered: () => undefined, dir: () => tmp.path } as unknown as ArtifactStore;
    artifact(name);
    return updatePackageIndex(file, { nodes: [node] } as unknown as Plan, store, new Map([[node.id, 'built']]), () => `key-${name}`, tmp.path);
  };
  await Promise.all(['a', 'b', 'c', 'd'].map(run));
  const names = (): string[] => (JSON.parse(readFileSync(file, 'utf8')) as { packages: Array<{ name: string }> }).packages.map((p) => p.name).sort();
  assert.deepEqual(names(), ['a', 'b', 'c', 'd']);
  rmSync(join(tmp.path, 'b.tar.zst'));
  assert.equal(await pruneIndex(file, tmp.path), 1);
  assert.deepEqual(names(), ['a', 'c', 'd']);
  assert.equal(await pruneIndex(file, tmp.path), 0);
});

test('an entry whose artifact is gone from the cache (gc from another state dir) is dropped when the index is next written', async () => {
  await using tmp = await tmpDir();
  const file = join(tmp.path, 'index.json');
  const gone = { name: 'gone', version: '1', release: 1, arch: 'amd64', depends: [], provides: [], size: 1, sha256: 'b'.repeat(64), path: join(tmp.path, 'gone.tar.zst') };
  writeFileSync(file, JSON.stringify({ packages: [gone] }));
  await updatePackageIndex(file, { nodes: [] } as unknown as Plan, {} as ArtifactStore, new Map(), () => undefined, tmp.path);
  assert.deepEqual((JSON.parse(readFileSync(file, 'utf8')) as { packages: unknown[] }).packages, []);
});

test('with the state dir\'s signing key, each write of the index is clearsigned beside it (index.json.asc, the same JSON); without one none is left', async () => {
  await using tmp = await tmpDir();
  const file = join(tmp.path, 'packages', 'index.json');
  const path = join(tmp.path, 'a.tar.zst');
  writeFileSync(path, 'a');
  const node = { id: 'a@amd64' };
  const meta = { name: 'a', version: '1', release: 1, arch: 'amd64', depends: [], provides: [], size: 1, sha256: 'b'.repeat(64), archive: 'a.tar.zst' };
  const store = { get: async () => meta, remembered: () => undefined, dir: () => tmp.path } as unknown as ArtifactStore;
  const update = (): Promise<string | undefined> => updatePackageIndex(file, { nodes: [node] } as unknown as Plan, store, new Map([[node.id, 'built']]), () => 'key-a', tmp.path);
  await update();
  assert.ok(!existsSync(`${file}.asc`), 'no key: no signature');
  await createSigningKey(tmp.path, { name: 'test', email: 'test@kiln.example' });
  // Nothing changed, but a key was made since: the index is signed now.
  await update();
  const signed = readFileSync(`${file}.asc`, 'utf8');
  const { loadSigningKey } = await import('../publish/signing.ts');
  const key = await loadSigningKey(tmp.path);
  const openpgp = await import('openpgp');
  const message = await openpgp.readCleartextMessage({ cleartextMessage: signed });
  const verified = await openpgp.verify({ message, verificationKeys: key.toPublic() });
  await verified.signatures[0]!.verified;
  assert.deepEqual(JSON.parse(message.getText()), JSON.parse(readFileSync(file, 'utf8')), 'the signed text is the index');
  // An index pruned (cache gc) is signed again; with the key gone, the old signature goes too.
  rmSync(path);
  assert.equal(await pruneIndex(file, tmp.path), 1);
  const resigned = await openpgp.readCleartextMessage({ cleartextMessage: readFileSync(`${file}.asc`, 'utf8') });
  assert.deepEqual(JSON.parse(resigned.getText()), JSON.parse(readFileSync(file, 'utf8')));
  rmSync(join(tmp.path, 'keys'), { recursive: true });
  writeFileSync(path, 'a');
  writeFileSync(file, JSON.stringify({ packages: [] }));
  await update();
  assert.ok(!existsSync(`${file}.asc`), 'a signature of an older index is not left without a key');
});

test('a key that cannot sign leaves no signature of an older index beside the new one, and is said, not thrown (the build is done)', async () => {
  await using tmp = await tmpDir();
  const file = join(tmp.path, 'packages', 'index.json');
  const path = join(tmp.path, 'a.tar.zst');
  writeFileSync(path, 'a');
  const meta = (v: string) => ({ name: 'a', version: v, release: 1, arch: 'amd64', depends: [], provides: [], size: 1, sha256: 'b'.repeat(64), archive: 'a.tar.zst' });
  const update = (v: string): Promise<string | undefined> => {
    const store = { get: async () => meta(v), remembered: () => undefined, dir: () => tmp.path } as unknown as ArtifactStore;
    return updatePackageIndex(file, { nodes: [{ id: 'a@amd64' }] } as unknown as Plan, store, new Map([['a@amd64', 'built']]), () => `key-${v}`, tmp.path);
  };
  await createSigningKey(tmp.path, { name: 'test' });
  assert.equal(await update('1'), undefined);
  assert.ok(existsSync(`${file}.asc`));
  // The key file damaged: the new index is written, unsigned, and the old signature goes.
  writeFileSync(join(tmp.path, 'keys', 'repo-signing.key'), 'not a key');
  const problem = await update('2');
  assert.match(problem ?? '', /^the package index .*index\.json is not signed: .*repo-signing\.key is not an OpenPGP secret key.*its old signature is removed/);
  assert.match(readFileSync(file, 'utf8'), /"version": "2"/);
  assert.ok(!existsSync(`${file}.asc`), 'no signature of the older index is left');
});

test('a restricted package (recipe key restricted) is left out of the index and packages/All, and its earlier entry goes; others say their summary and license', async () => {
  await using tmp = await tmpDir();
  const file = join(tmp.path, 'packages', 'index.json');
  const archive = (name: string): string => {
    const path = join(tmp.path, `${name}.tar.zst`);
    writeFileSync(path, name);
    return path;
  };
  const metaOf = (name: string, extra: Record<string, unknown> = {}) => ({ name, version: '1', release: 1, arch: 'amd64', depends: [], provides: [], size: 1, sha256: 'b'.repeat(64), archive: `${name}.tar.zst`, ...extra });
  const run = async (metas: Record<string, ReturnType<typeof metaOf>>, specs: Record<string, object> = {}): Promise<void> => {
    const nodes = Object.keys(metas).map((name) => ({ id: `${name}@amd64`, ...(specs[name] === undefined ? {} : { spec: specs[name] }) }));
    for (const name of Object.keys(metas)) archive(name);
    const store = { get: async (key: string) => metas[key.slice('key-'.length)], remembered: () => undefined, dir: () => tmp.path } as unknown as ArtifactStore;
    await updatePackageIndex(file, { nodes } as unknown as Plan, store, new Map(nodes.map((n) => [n.id, 'built' as const])), (id) => `key-${id.split('@')[0]!}`, tmp.path);
  };
  const indexed = (): Array<{ name: string; summary?: string; license?: string; file?: string }> => (JSON.parse(readFileSync(file, 'utf8')) as { packages: Array<{ name: string }> }).packages;
  // First built free; its meta.json says its summary and license.
  await run({ free: metaOf('free', { summary: 'a free package', license: 'MIT' }), fw: metaOf('fw', { summary: 'firmware', license: 'LicenseRef-vendor' }) });
  assert.deepEqual(indexed().map((p) => [p.name, p.summary, p.license, p.file]), [['free', 'a free package', 'MIT', 'All/free_1-1_amd64.tar.zst'], ['fw', 'firmware', 'LicenseRef-vendor', 'All/fw_1-1_amd64.tar.zst']]);
  // Then its recipe says restricted: built again, its entry and its file go; the other stays.
  await run({ fw: metaOf('fw', { restricted: 'the vendor forbids redistribution' }) });
  assert.deepEqual(indexed().map((p) => p.name), ['free']);
  assert.ok(!existsSync(join(tmp.path, 'packages', 'All', 'fw_1-1_amd64.tar.zst')), 'no packages/All file for it');
  // The recipe's restricted counts even when the artifact's meta.json does not say it; an
  // artifact stored before meta.json kept summary and license takes the recipe's.
  await run({ fw: metaOf('fw'), old: metaOf('old') }, { fw: { restricted: 'no redistribution' }, old: { summary: 'from the recipe', license: 'BSD-2-Clause' } });
  assert.deepEqual(indexed().map((p) => [p.name, p.summary, p.license]), [['free', 'a free package', 'MIT'], ['old', 'from the recipe', 'BSD-2-Clause']]);
});

test("a recipe that went from any to all (or back) leaves no entry of the other kind: kiln rootfs would install the earlier recipe's; a Debian source's all and arch entries both stay", async () => {
  await using tmp = await tmpDir();
  const file = join(tmp.path, 'packages', 'index.json');
  const build = async (name: string, arch: string, debian: boolean): Promise<void> => {
    writeFileSync(join(tmp.path, `${name}-${arch}.tar.zst`), `${name} ${arch}`);
    const node = { id: `${name}@${arch}`, spec: debian ? { debian: {} } : { name } };
    const meta = { name, version: '1', release: 1, arch, depends: [], provides: [], size: 1, sha256: 'c'.repeat(64), archive: `${name}-${arch}.tar.zst` };
    const store = { get: async () => meta, remembered: () => undefined, dir: () => tmp.path } as unknown as ArtifactStore;
    await updatePackageIndex(file, { nodes: [node] } as unknown as Plan, store, new Map([[node.id, 'built']]), () => `key-${name}-${arch}`, tmp.path);
  };
  const ids = (): string[] => (JSON.parse(readFileSync(file, 'utf8')) as { packages: Array<{ name: string; arch: string }> }).packages.map((p) => `${p.name}@${p.arch}`).sort();
  await build('image', 'riscv64', false);
  await build('image', 'amd64', false);
  await build('other', 'riscv64', false);
  assert.deepEqual(ids(), ['image@amd64', 'image@riscv64', 'other@riscv64']);
  await build('image', 'all', false);
  assert.deepEqual(ids(), ['image@all', 'other@riscv64']);
  await build('image', 'riscv64', false);
  assert.deepEqual(ids(), ['image@riscv64', 'other@riscv64']);
  await build('src', 'all', true);
  await build('src', 'amd64', true);
  assert.deepEqual(ids(), ['image@riscv64', 'other@riscv64', 'src@all', 'src@amd64']);
});
