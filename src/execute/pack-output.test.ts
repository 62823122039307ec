import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spec } from '../../test/helpers/specs.ts';
import { createArtifactStore } from '../cache/artifacts.ts';
import type { Job } from '../plan/job.ts';
import { recipeHashOf, type PackageSpec } from '../plan/spec.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { artifactInfoOf, packOutput } from './pack-output.ts';

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
    summary: 'libpng for tests',
    license: 'MIT',
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

test("artifactInfoOf: a restricted recipe's reason is in meta.json (what kiln serve reads); a Debian source's made-up summary and empty license are not", () => {
  const info = artifactInfoOf({ ...spec('firmware'), license: 'LicenseRef-vendor', restricted: 'the vendor forbids redistribution' }, { arch: 'amd64', envId: 'host:1' }, {});
  assert.equal(info.restricted, 'the vendor forbids redistribution');
  assert.equal(info.license, 'LicenseRef-vendor');
  assert.equal(info.summary, 'firmware for tests');
  assert.equal(artifactInfoOf(spec('free'), { arch: 'amd64', envId: 'host:1' }, {}).restricted, undefined);
  const deb = artifactInfoOf({ ...spec('hello'), summary: 'Debian source package hello from trixie', license: '', debian: { options: {}, modeFor: {} } as unknown as NonNullable<PackageSpec['debian']> }, { arch: 'amd64', envId: 'host:1' }, {});
  assert.ok(!('summary' in deb) && !('license' in deb), JSON.stringify(deb));
});

/** A build's workspace with `files` installed under its DESTDIR, and a real artifact store beside it. */
async function packing(files: Record<string, string | { link: string }>) {
  const root = await mkdtemp(join(tmpdir(), 'kiln-pack-'));
  const ws = join(root, 'ws');
  const layout = { src: join(ws, 'src'), dest: join(ws, 'dest'), sysroot: join(ws, 'sysroot'), home: join(ws, 'home'), tmp: join(ws, 'tmp') };
  for (const d of Object.values(layout)) await mkdir(d, { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(layout.dest, path)), { recursive: true });
    if (typeof content === 'string') await writeFile(join(layout.dest, path), content);
    else await symlink(content.link, join(layout.dest, path));
  }
  const sandbox = { host: layout, inside: layout } as unknown as Sandbox;
  const artifacts = createArtifactStore({ cacheDir: join(root, 'cache') });
  const job = { arch: 'amd64', envId: 'host:1', why: { kind: 'new' } } as unknown as Job;
  const key = 'a1'.repeat(32);
  const pack = (o: { spec?: PackageSpec; warningsFail?: boolean; oomKills?: number } = {}) =>
    packOutput({ artifacts, job, spec: o.spec ?? spec('tool'), key, depOutputs: {}, sandbox, sourceDateEpoch: 315532800, warningsFail: o.warningsFail === true, oomKills: o.oomKills, signal: new AbortController().signal });
  return { root, artifacts, key, pack };
}

test('packOutput: the output checks warn and the output is stored with its warnings; --fail-on-warnings refuses it and stores nothing', async () => {
  const p = await packing({ 'usr/bin/tool': '#!/bin/sh\n', 'work/data': 'outside the usual folders' });
  try {
    await assert.rejects(p.pack({ warningsFail: true }), /hierarchy|outside/);
    assert.equal(await p.artifacts.get(p.key), undefined, 'refused: nothing stored');
    const { meta, warnings } = await p.pack();
    assert.deepEqual(warnings.map((w) => `${w.check} ${w.severity}`), ['hierarchy warning']);
    assert.equal(meta.fileCount, 2);
    assert.deepEqual((await p.artifacts.get(p.key))?.warnings?.map((w) => w.split(':')[0]), ['hierarchy']);
  } finally {
    await rm(p.root, { recursive: true, force: true });
  }
});

test("packOutput: a recipe's skip-checks skips the check; a Debian build's output is checked as .debs (no symlinks)", async () => {
  const p = await packing({ 'work/data': 'x', 'usr/lib/libx.so': { link: 'libx.so.1' } });
  try {
    await assert.rejects(p.pack({ spec: { ...spec('tool'), debian: { options: { profiles: [], nocheck: false, mode: 'binary' }, modeFor: {} } as unknown as NonNullable<PackageSpec['debian']> } }), /Debian build's output holds symlinks/);
    const s = spec('tool');
    const { warnings } = await p.pack({ spec: { ...s, build: { ...s.build, skipChecks: ['hierarchy'] } } });
    assert.deepEqual(warnings, []);
  } finally {
    await rm(p.root, { recursive: true, force: true });
  }
});

test('packOutput: processes killed for memory in a build that succeeded are a warning (the memory check), kept in its meta, for an empty output too; --fail-on-warnings stores nothing; skip-checks turns it off', async () => {
  const p = await packing({ 'usr/lib/libx.a': 'half' });
  const empty = await packing({});
  try {
    await assert.rejects(p.pack({ oomKills: 3, warningsFail: true }), /^KilnError: the memory limit \(512M\) killed 3 processes during this build .*--fail-on-warnings/);
    assert.equal(await p.artifacts.get(p.key), undefined, 'refused: nothing stored');
    const { warnings } = await p.pack({ oomKills: 3 });
    assert.deepEqual(warnings.map((w) => `${w.check} ${w.severity}`), ['memory warning']);
    assert.deepEqual((await p.artifacts.get(p.key))?.warnings, ['memory: the memory limit (512M) killed 3 processes during this build (the build went on: check its output; raise memory = "1G" under [build] in the recipe)']);
    // Nothing installed at all (the killed compiler's library never made): warned all the same.
    assert.deepEqual((await empty.pack({ oomKills: 1 })).warnings.map((w) => w.check), ['memory']);
    const s = spec('tool');
    assert.deepEqual((await empty.pack({ oomKills: 1, spec: { ...s, build: { ...s.build, skipChecks: ['memory'] } } })).warnings, []);
    // A Debian build (dpkg-buildpackage's run): said of its debian.toml's memory.
    const deb = await packing({ 'tool_1_amd64.deb': 'deb' });
    try {
      const debian = { options: { profiles: [], nocheck: false, mode: 'binary' }, modeFor: {} } as unknown as NonNullable<PackageSpec['debian']>;
      const { warnings: dw } = await deb.pack({ oomKills: 2, spec: { ...s, debian } });
      assert.deepEqual(dw.map((w) => `${w.check}: ${w.message}`), ['memory: the memory limit (512M) killed 2 processes during this build (the build went on: check its output; raise memory = "1G" in its debian.toml)']);
    } finally {
      await rm(deb.root, { recursive: true, force: true });
    }
  } finally {
    await rm(p.root, { recursive: true, force: true });
    await rm(empty.root, { recursive: true, force: true });
  }
});
