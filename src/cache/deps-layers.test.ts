import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { depsLayerKey, depsLayers, type DepsLayerInputs } from './deps-layers.ts';

const base: DepsLayerInputs = { envId: 'bookworm-amd64@v1', arch: 'amd64', mode: 'binary', profiles: [], nocheck: false, extras: ['fakeroot'], chosen: ['debhelper=13#aa', 'libc6-dev=2.36#bb'], staged: {} };

test('depsLayerKey changes with every input, not with their order', () => {
  const k = depsLayerKey(base);
  assert.equal(depsLayerKey({ ...base, chosen: [...base.chosen].reverse() }), k);
  for (const changed of [
    { envId: 'bookworm-amd64@v2' }, { arch: 'riscv64' }, { mode: 'binary-arch' }, { profiles: ['nocheck'] }, { nocheck: true },
    { extras: ['fakeroot', 'faketime'] }, { chosen: ['debhelper=13#ab', 'libc6-dev=2.36#bb'] }, { staged: { 'libfoo@amd64': 'x' } },
  ] as Partial<DepsLayerInputs>[]) {
    assert.notEqual(depsLayerKey({ ...base, ...changed }), k, JSON.stringify(changed));
  }
  // --nocheck is the nocheck profile for apt-get build-dep: the same layer either way.
  assert.equal(depsLayerKey({ ...base, nocheck: true }), depsLayerKey({ ...base, profiles: ['nocheck'] }));
  assert.equal(depsLayerKey({ ...base, nocheck: true, profiles: ['nocheck', 'nodoc'] }), depsLayerKey({ ...base, profiles: ['nodoc', 'nocheck'] }));
});

test('depsLayers: absent until added; add is atomic and a second add of the key keeps the first', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-layers-'));
  try {
    const layers = depsLayers(dir);
    const key = depsLayerKey(base);
    assert.equal(await layers.find(key), undefined);
    const root = await layers.add(key, async (d) => {
      await mkdir(join(d, 'usr/bin'), { recursive: true });
      await writeFile(join(d, 'usr/bin/tool'), 'one');
    });
    assert.equal(await layers.find(key), root);
    await layers.add(key, async (d) => {
      await mkdir(d);
      await writeFile(join(d, 'other'), 'two');
    });
    assert.ok(existsSync(join(root, 'usr/bin/tool')));
    assert.ok(!existsSync(join(root, 'other')));
    assert.deepEqual(readdirSync(join(dir, 'deps-layers')), [key], 'no temp dirs left');
    // A failed capture leaves nothing.
    await assert.rejects(layers.add('k2', async () => { throw new Error('boom'); }), /boom/);
    assert.deepEqual(readdirSync(join(dir, 'deps-layers')), [key]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
