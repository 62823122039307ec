// The daemon's records on a full disk: a build the API accepted must be stored, or the
// request must fail. Needs root (mounts a small tmpfs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { sha256 } from '../lib/hash.ts';
import { recordsPath } from './db.ts';
import { migrations } from './migrations.ts';
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

test('tokens that expire stop working then; a session ends with its token', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-records-tokens-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const records = openServerRecords(dir);
  t.after(() => records.close());
  const now = 1_000_000;
  const short = records.createToken('alice', { now, expiresAt: now + 60_000 });
  const forever = records.createToken('bob', { now });
  assert.equal(records.tokenFor(short.token, now + 59_999)?.tenant, 'alice');
  assert.equal(records.tokenFor(short.token, now + 60_000), undefined);
  assert.equal(records.tokenFor(forever.token, now + 10 * 365 * 86_400_000)?.tenant, 'bob');
  assert.deepEqual(records.listTokens().map((x) => [x.tenant, x.expiresAt]), [['alice', now + 60_000], ['bob', null]]);
  // A 12-hour session of a token that expires in a minute ends with the token.
  const session = records.createSession(short.id, 12 * 3600_000, now);
  assert.equal(records.sessionToken(session, now + 1)?.tenant, 'alice');
  assert.equal(records.sessionToken(session, now + 60_000), undefined);
  // Revoking ends the sessions of a token; endSession ends one.
  const bobSession = records.createSession(forever.id, 3600_000, now);
  assert.equal(records.sessionToken(bobSession, now + 1)?.tenant, 'bob');
  records.endSession(bobSession);
  assert.equal(records.sessionToken(bobSession, now + 1), undefined);
  const other = records.createSession(forever.id, 3600_000, now);
  records.revokeTokens('bob', now + 2);
  assert.equal(records.sessionToken(other, now + 3), undefined);
});

test('a token\'s last use is recorded when it is looked up, at most once a minute; kiln token list reads it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-srv-rec-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  using r = openServerRecords(dir);
  const { id, token } = r.createToken('alice', { now: 1_000 });
  const last = (): number | null => r.listTokens().find((x) => x.id === id)!.lastUsedAt;
  assert.equal(last(), null, 'never used');
  assert.ok(r.tokenFor(token, 100_000) !== undefined);
  assert.equal(last(), 100_000);
  r.tokenFor(token, 130_000);
  assert.equal(last(), 100_000, 'not written again within the minute');
  r.tokenFor(token, 160_000);
  assert.equal(last(), 160_000);
  assert.equal(r.tokenFor('kiln_nope_nope', 170_000), undefined);
  assert.equal(last(), 160_000);
  // A database that cannot be written (a full disk, a lock held too long) does not refuse a good token.
  (r as unknown as { db: { exec(sql: string): void } }).db.exec('PRAGMA query_only = ON');
  assert.equal(r.tokenFor(token, 300_000)?.id, id);
  (r as unknown as { db: { exec(sql: string): void } }).db.exec('PRAGMA query_only = OFF');
});

test('read-only tokens: created with readOnly (with or without admin), listed so; other tokens are full-access', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-srv-rec-ro-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  using r = openServerRecords(dir);
  const full = r.createToken('alice');
  const watcher = r.createToken('alice', { readOnly: true });
  const monitor = r.createToken('ops', { admin: true, readOnly: true });
  assert.deepEqual([full, watcher, monitor].map((x) => [r.tokenFor(x.token)?.admin, r.tokenFor(x.token)?.readOnly]), [[false, false], [false, true], [true, true]]);
  assert.deepEqual(r.listTokens().map((x) => [x.id, x.readOnly]), [[full.id, false], [watcher.id, true], [monitor.id, true]]);
});

test('a records database from before read-only tokens upgrades in place: its tokens keep working, full-access', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-srv-rec-mig-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // The schema as kiln left it before read_only (version 18), with a token in it.
  const before = migrations.find((m) => m.sql.includes('read_only'))!.version - 1;
  const old = new DatabaseSync(recordsPath(dir));
  for (const m of migrations.filter((x) => x.version <= before)) old.exec(m.sql);
  old.exec(`PRAGMA user_version = ${before}`);
  const secret = 'kiln_0ld70ken_secretsecretsecretsecretsecret';
  old.prepare('INSERT INTO tokens (id, tenant, admin, hash, created_at) VALUES (?, ?, ?, ?, ?)').run('0ld70ken', 'ops', 1, sha256(secret), 1_000);
  assert.ok(!old.prepare('PRAGMA table_info(tokens)').all().some((c) => c['name'] === 'read_only'));
  old.close();

  using r = openServerRecords(dir);
  const token = r.tokenFor(secret);
  assert.equal(token?.id, '0ld70ken');
  assert.equal(token?.admin, true);
  assert.equal(token?.readOnly, false, 'an old token stays full-access');
  const ro = r.createToken('alice', { readOnly: true });
  assert.equal(r.tokenFor(ro.token)?.readOnly, true);
});
