import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { isKilnError } from '../errors.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { openDatabase, openDatabaseIn, recordsPath } from './db.ts';

test('records kiln cannot open are a path-unusable error naming the file and what to do, not an internal error', async () => {
  await using dir = await tmpDir();
  assert.throws(() => openDatabase(join(dir.path, 'no-such-dir', 'kiln.db')), (e: unknown) => {
    assert.ok(isKilnError(e) && e.code === 'path-unusable', String(e));
    // Root may write anywhere: for it the folder itself is in question, not its owner.
    if (process.getuid?.() === 0) {
      assert.match(e.message, /no-such-dir\/kiln\.db: cannot open kiln's records \(unable to open database file\)/);
      assert.match(e.hint ?? '', /that it is a directory on a writable, not full, file system/);
    } else {
      assert.match(e.message, /no-such-dir\/kiln\.db: this user .*cannot write kiln's records there/);
      assert.match(e.hint ?? '', /--state/);
    }
    return true;
  });
});

// Root writes anywhere: another user reads a state dir it may not write (exit 2, no stack).
test('another user on a state dir it may not write gets exit 2 and the hint', { skip: process.getuid?.() !== 0 }, async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'st');
  openDatabaseIn(state).close();
  await chmod(dir.path, 0o755);
  await chmod(state, 0o755);
  await chmod(recordsPath(state), 0o644);
  const kiln = join(import.meta.dirname, '..', '..', 'scripts', 'kiln');
  const r = spawnSync('runuser', ['-u', 'nobody', '--', kiln, 'status', '--state', state], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /\[path-unusable\].*cannot write kiln's records there/);
  assert.doesNotMatch(r.stderr, /internal error|at openDatabase/);
});

test('a kiln.db that is not a database (overwritten, cut short) is records-damaged, with how to start afresh', async () => {
  await using dir = await tmpDir();
  const { writeFile, truncate } = await import('node:fs/promises');
  const garbage = join(dir.path, 'garbage', 'kiln.db');
  openDatabaseIn(join(dir.path, 'garbage')).close();
  await writeFile(garbage, 'not a database at all, but long enough to be read as a header '.repeat(10));
  const cut = join(dir.path, 'cut', 'kiln.db');
  openDatabaseIn(join(dir.path, 'cut')).close();
  await truncate(cut, 100);
  for (const path of [garbage, cut]) {
    assert.throws(() => openDatabase(path), (e: unknown) => {
      assert.ok(isKilnError(e) && e.code === 'records-damaged', String(e));
      assert.match(e.message, /kiln\.db: kiln's records are damaged \((file is not a database|database disk image is malformed)\)/);
      assert.match(e.hint ?? '', /move the file aside \(mv \S+kiln\.db \S+kiln\.db\.damaged/);
      return true;
    }, path);
  }
});

test('recordsGoneNote: a state dir with runs but no kiln.db says so, with what to do; one without runs says nothing', async () => {
  await using dir = await tmpDir();
  const { mkdir } = await import('node:fs/promises');
  const { recordsGoneNote } = await import('./db.ts');
  assert.equal(recordsGoneNote(dir.path), '');
  await mkdir(join(dir.path, 'runs', '20261124-000000-abcd'), { recursive: true });
  assert.match(recordsGoneNote(dir.path), /^: its kiln\.db is gone, though runs\/ holds 1 run\(s\) .*remove \S+runs and \S+logs by hand\)$/);
});
