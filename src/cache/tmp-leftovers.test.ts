import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { DEAD_OWNER_TMP_AGE_MS, deadOwnerTmp, tmpLeftovers, tmpOwnerPid, type TmpVerdict } from './tmp-leftovers.ts';

test('tmpOwnerPid reads the writer pid of every kind of cache tmp/ name', () => {
  const cases: [string, number | undefined][] = [
    ['art-0123456789abcdef-4242-a1b2c3-7', 4242],
    ['dl-0123456789abcdef-4242-a1b2c3d4', 4242],
    ['dl-1234567890123456-4242-12345678', 4242], // a key prefix and a random part of digits only
    ['git-0123456789abcdef-4242-home-XyZ123', 4242],
    ['gc-zlib_1.3-1_amd6-4242-a1b2c3d4', undefined], // gc names by the entry's name, not hex: no pid read
    ['torn-0123456789abcdef-4242-1732500000000-a1b2c3', 4242],
    ['learn-4242-0a0b0c0d0e0f', 4242],
    ['learn-4242-123456789012', 4242],
    ['no-pid-in-this-name', undefined],
    ['abandoned', undefined],
    ['art-0123456789abcdef-0-x', undefined],
  ];
  for (const [name, pid] of cases) assert.equal(tmpOwnerPid(name), pid, name);
});

test('deadOwnerTmp: a dead writer\'s entry is left over once left unwritten for a while; written lately it is recent (maybe another machine\'s)', () => {
  const cases: [Parameters<typeof deadOwnerTmp>[0], TmpVerdict][] = [
    [{ owner: undefined, ownerAlive: false, quietMs: 0 }, 'unowned'],
    [{ owner: 7, ownerAlive: true, quietMs: 10 * DEAD_OWNER_TMP_AGE_MS }, 'owner-alive'],
    [{ owner: 7, ownerAlive: false, quietMs: 0 }, 'recent'],
    [{ owner: 7, ownerAlive: false, quietMs: DEAD_OWNER_TMP_AGE_MS - 1 }, 'recent'],
    [{ owner: 7, ownerAlive: false, quietMs: DEAD_OWNER_TMP_AGE_MS }, 'left-over'],
  ];
  for (const [input, verdict] of cases) assert.equal(deadOwnerTmp(input), verdict, JSON.stringify(input));
});

test('tmpLeftovers lists the entries of dead writers only, the ones written lately marked recent', async () => {
  await using dir = await tmpDir();
  const cache = join(dir.path, 'cache');
  const dead = spawnSync('true').pid!;
  const tmp = join(cache, 'tmp');
  await mkdir(join(tmp, `art-0123456789abcdef-${dead}-a1b2c3-1`), { recursive: true });
  await writeFile(join(tmp, `art-0123456789abcdef-${dead}-a1b2c3-1`, 'pkg.tar.zst'), 'x');
  await writeFile(join(tmp, `dl-0123456789abcdef-${dead}-a1b2c3d4`), 'x');
  await writeFile(join(tmp, `dl-0123456789abcdef-${process.pid}-a1b2c3d4`), 'x');
  await writeFile(join(tmp, 'no-pid-in-this-name'), 'x');
  const old = new Date(Date.now() - 2 * DEAD_OWNER_TMP_AGE_MS);
  await utimes(join(tmp, `dl-0123456789abcdef-${dead}-a1b2c3d4`), old, old);
  assert.deepEqual((await tmpLeftovers(cache)).map((l) => [l.path, l.owner, l.recent]).sort(), [
    [join(tmp, `art-0123456789abcdef-${dead}-a1b2c3-1`), dead, true],
    [join(tmp, `dl-0123456789abcdef-${dead}-a1b2c3d4`), dead, false],
  ]);
});

test('tmpLeftovers of a cache without tmp/ is empty', async () => {
  await using dir = await tmpDir();
  assert.deepEqual(await tmpLeftovers(join(dir.path, 'none')), []);
});
