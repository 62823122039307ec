import assert from 'node:assert/strict';
import { lstatSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { atomicWrite } from './atomic-write.ts';

test('atomicWrite replaces a link planted at the name instead of writing through it (a kept workspace was a build\'s); nothing is left aside', async () => {
  await using dir = await tmpDir();
  const victim = join(dir.path, 'victim');
  writeFileSync(victim, 'precious\n');
  const kept = join(dir.path, 'shell.json');
  symlinkSync(victim, kept);
  await atomicWrite(kept, '{}\n', { mode: 0o644 });
  assert.equal(readFileSync(victim, 'utf8'), 'precious\n', 'the link\'s target is untouched');
  assert.ok(!lstatSync(kept).isSymbolicLink());
  assert.equal(readFileSync(kept, 'utf8'), '{}\n');
  assert.equal(lstatSync(kept).mode & 0o777, 0o644);
  assert.deepEqual(readdirSync(dir.path).sort(), ['shell.json', 'victim']);
});
