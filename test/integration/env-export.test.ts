// kiln env export / import through the CLI, as a coordinator's operator readies a worker:
// the env imported on the other side has the same id (NAME@VERSION), so the keys of the
// builds in it match. A tiny root tarball stands in for an mmdebstrap'd one (what is
// packed and unpacked is the same code). Needs root (importing an env does).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tinyRoot, writeTarball } from '../../src/envs/test-tarballs.ts';
import { explain, runKiln } from '../helpers/run-kiln.ts';
import { tmpDir } from '../helpers/tmp.ts';

const skip = process.getuid?.() !== 0 ? 'importing an env needs root' : undefined;

test('kiln env export, then kiln env import elsewhere: the same env id; list says so', { skip }, async () => {
  await using dir = await tmpDir();
  const root = join(dir.path, 'root.tar.gz');
  writeTarball(root, tinyRoot({ codename: 'bookworm', arch: 'amd64' }), { compression: 'gz' });
  const a = join(dir.path, 'coordinator');
  const b = join(dir.path, 'worker');
  const env = { KILN_ENVS: '' };
  const imported = await runKiln(['env', 'import', 'bookworm-amd64', root, '--state', a], { env });
  assert.equal(imported.code, 0, explain(imported));
  // What env.json says of how the env reads its mirror travels with it (a snapshot mirror's flag, the keyring).
  const metaA = join(a, 'envs', 'bookworm-amd64', 'env.json');
  const keyring = { path: '/keys/archive.asc', sha256: 'a'.repeat(64) };
  writeFileSync(metaA, JSON.stringify({ ...JSON.parse(readFileSync(metaA, 'utf8')), keyring, checkValidUntil: false }));
  const file = join(dir.path, 'bookworm-amd64.tar.zst');
  const exported = await runKiln(['env', 'export', 'bookworm-amd64', file, '--state', a], { env });
  assert.equal(exported.code, 0, explain(exported));
  assert.match(exported.stdout, /kiln: exported bookworm-amd64: bookworm amd64, version \S+ .* to \S+bookworm-amd64\.tar\.zst/);
  assert.match(exported.stdout, /`kiln env import bookworm-amd64 bookworm-amd64\.tar\.zst` makes version \S+ there/);
  const again = await runKiln(['env', 'import', 'bookworm-amd64', file, '--state', b], { env });
  assert.equal(again.code, 0, explain(again));
  const ids = async (state: string): Promise<string[]> => {
    const r = await runKiln(['env', 'list', '--json', '--state', state], { env });
    assert.equal(r.code, 0, explain(r));
    return (JSON.parse(r.stdout) as { id: string }[]).map((e) => e.id);
  };
  assert.deepEqual(await ids(b), await ids(a));
  const metaB = JSON.parse(readFileSync(join(b, 'envs', 'bookworm-amd64', 'env.json'), 'utf8')) as { keyring?: unknown; checkValidUntil?: unknown };
  assert.deepEqual([metaB.keyring, metaB.checkValidUntil], [keyring, false]);
  const bad = await runKiln(['env', 'export', 'bookworm-amd64', join(dir.path, 'x.zip'), '--state', a], { env });
  assert.equal(bad.code, 2, explain(bad));
  assert.match(bad.stderr, /x\.zip: the export's name says how it is packed: end it in \.tar\.zst/);
  const missing = await runKiln(['env', 'export', 'nope', file, '--state', a], { env });
  assert.equal(missing.code, 2, explain(missing));
  assert.match(missing.stderr, /no environment named "nope"/);
});
