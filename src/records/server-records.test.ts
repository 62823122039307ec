// The daemon's records on a full disk: a build the API accepted must be stored, or the
// request must fail. Needs root (mounts a small tmpfs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServerRecords } from './server-records.ts';

test('a full disk: insertBuild and insertBundle throw instead of returning a row that was never stored', { skip: process.getuid?.() !== 0 ? 'needs root (mounts a tmpfs)' : false }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-records-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'kiln-test-records-full', dir]);
  t.after(() => {
    execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  const records = openServerRecords(dir);
  t.after(() => records.close());
  const before = records.insertBuild({ tenant: 'alice', tree: 'main', request: { tree: 'main' } });
  try {
    writeFileSync(join(dir, 'filler'), Buffer.alloc(4 << 20));
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
  }
  const big = { tree: 'main', targets: Array.from({ length: 2000 }, (_, i) => `package-with-a-long-name-${i}`) };
  assert.throws(() => records.insertBuild({ tenant: 'alice', tree: 'main', request: big }), /full|SQLITE_FULL|disk/i);
  assert.throws(() => records.insertBundle({ tenant: 'alice', id: 'x'.repeat(64), sha256: 'a'.repeat(64), size: 1, entries: 1, bytes: 1 }), /full|disk/i);
  // What was stored before is still there; nothing half-made is.
  assert.deepEqual(records.listBuilds({ tenant: 'alice' }).map((b) => b.id), [before.id]);
});
