import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { liveInUse, registerInUse } from './in-use.ts';

test('in-use: a live run holds its keys and its start until released; a dead kiln\'s file is dropped', async () => {
  await using dir = await tmpDir();
  assert.deepEqual(await liveInUse(dir.path), { keys: new Set(), since: undefined });
  const a = await registerInUse(dir.path, 'run-a', ['k1', 'k2'], 1000);
  const b = await registerInUse(dir.path, 'run-b', ['k3'], 500);
  // A run of a kiln that died: pid 2^22 + 1 is above Linux's pid_max, so never alive.
  await mkdir(join(dir.path, 'in-use'), { recursive: true });
  const dead = join(dir.path, 'in-use', 'run-dead.json');
  await writeFile(dead, JSON.stringify({ pid: 4194305, start: null, startedAt: 1, keys: ['k9'] }));
  const dry = await liveInUse(dir.path, { dryRun: true });
  assert.deepEqual([...dry.keys].sort(), ['k1', 'k2', 'k3']);
  assert.equal(dry.since, 500);
  assert.ok(existsSync(dead), 'a dry run removes nothing');
  await liveInUse(dir.path);
  assert.ok(!existsSync(dead), 'the dead run\'s file stays');
  await b.release();
  assert.deepEqual(await liveInUse(dir.path), { keys: new Set(['k1', 'k2']), since: 1000 });
  await a.release();
  assert.deepEqual(await liveInUse(dir.path), { keys: new Set(), since: undefined });
});

test('in-use: a run of another machine (a cache on a shared file system) counts as live until it is a week old, whatever its pid here', async () => {
  await using dir = await tmpDir();
  await mkdir(join(dir.path, 'in-use'), { recursive: true });
  const other = join(dir.path, 'in-use', 'run-other.json');
  const old = join(dir.path, 'in-use', 'run-old.json');
  // pid 4194305 is alive on no Linux machine: only the host tells them apart.
  await writeFile(other, JSON.stringify({ pid: 4194305, start: null, startedAt: Date.now() - 3_600_000, keys: ['k1'], host: 'builder-2.invalid' }));
  await writeFile(old, JSON.stringify({ pid: 4194305, start: null, startedAt: Date.now() - 8 * 86_400_000, keys: ['k2'], host: 'builder-3.invalid' }));
  const live = await liveInUse(dir.path);
  assert.deepEqual([...live.keys], ['k1']);
  assert.ok(existsSync(other));
  assert.ok(!existsSync(old), 'a week-old run of another machine is gone');
});
