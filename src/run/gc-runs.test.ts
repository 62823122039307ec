import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runsToRemove } from './gc-runs.ts';

test('runsToRemove: ended before the cutoff and not among the newest kept; running runs stay', () => {
  const runs = [
    { id: 'r1', startedAt: 100, endedAt: 110 },
    { id: 'r2', startedAt: 200, endedAt: 210 },
    { id: 'r3', startedAt: 300, endedAt: null },
    { id: 'r4', startedAt: 400, endedAt: 410 },
    { id: 'r5', startedAt: 500, endedAt: 510 },
  ];
  const rows: [number, number, string[]][] = [
    [1000, 0, ['r1', 'r2', 'r4', 'r5']],
    [1000, 2, ['r1', 'r2']],
    [300, 0, ['r1', 'r2']],
    [0, 0, []],
    [1000, 10, []],
  ];
  for (const [cutoff, keep, want] of rows) assert.deepEqual(runsToRemove(runs, cutoff, keep), want, `cutoff ${cutoff}, keep ${keep}`);
});

test('gcBundles: an old bundle no queued or running build names goes, with its record; one still needed, or new, stays', async (t) => {
  const { mkdtempSync, mkdirSync, writeFileSync, existsSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { openServerRecords } = await import('../records/server-records.ts');
  const { bundleDir } = await import('../server/bundles.ts');
  const { stateLayout } = await import('./state-layout.ts');
  const { gcBundles } = await import('./gc-runs.ts');
  const root = mkdtempSync(join(tmpdir(), 'kiln-gc-bundles-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const state = stateLayout({ state: root });
  const records = openServerRecords(root);
  const add = (tenant: string, id: string, createdAt: number): string => {
    records.insertBundle({ tenant, id, sha256: 'a'.repeat(64), size: 1, entries: 1, bytes: 1, createdAt });
    const dir = bundleDir(root, tenant, id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'f'), 'x'.repeat(100));
    return dir;
  };
  const old = add('alice', 'old', 1000);
  const needed = add('alice', 'needed', 1000);
  const fresh = add('bob', 'fresh', 5000);
  records.insertBuild({ tenant: 'alice', tree: 'bundle:needed', request: { bundle: 'needed' } });
  records.close();
  const dry = await gcBundles(state, { cutoff: 2000, dryRun: true });
  assert.deepEqual(dry.map((r) => r.path), [old]);
  assert.ok(existsSync(old));
  const done = await gcBundles(state, { cutoff: 2000, dryRun: false });
  assert.deepEqual(done.map((r) => [r.kind, r.path, r.bytes]), [['bundle', old, 100]]);
  assert.equal(existsSync(old), false);
  assert.ok(existsSync(needed) && existsSync(fresh));
  using again = openServerRecords(root);
  assert.equal(again.getBundle('alice', 'old'), undefined);
  assert.ok(again.getBundle('alice', 'needed') !== undefined);
});

test('deleteUnneededBundle: one statement checks age and the queue, so a build queued after gc listed the bundles keeps it', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { openServerRecords } = await import('../records/server-records.ts');
  const root = mkdtempSync(join(tmpdir(), 'kiln-gc-bundle-race-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  using records = openServerRecords(root);
  records.insertBundle({ tenant: 'alice', id: 'b1', sha256: 'a'.repeat(64), size: 1, entries: 1, bytes: 1, createdAt: 1000 });
  const build = records.insertBuild({ tenant: 'alice', tree: 'bundle:b1', request: { bundle: 'b1' } });
  assert.equal(records.deleteUnneededBundle('alice', 'b1', 2000), false, 'a queued build names it');
  assert.equal(records.deleteUnneededBundle('alice', 'b1', 500), false, 'newer than the cutoff');
  records.markStarted(build.id);
  assert.equal(records.deleteUnneededBundle('alice', 'b1', 2000), false, 'a running build names it');
  records.markEnded(build.id, { state: 'done' });
  assert.equal(records.deleteUnneededBundle('alice', 'b1', 2000), true);
  assert.equal(records.getBundle('alice', 'b1'), undefined);
});

test('gcRuns: an old run whose logs partly stay lists each removed log file as a log, not as a run', async (t) => {
  const { mkdtempSync, mkdirSync, writeFileSync, existsSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { stateLayout } = await import('./state-layout.ts');
  const { gcRuns } = await import('./gc-runs.ts');
  const root = mkdtempSync(join(tmpdir(), 'kiln-gc-runs-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const state = stateLayout({ state: root });
  // r1 built hello and world; world's log there is its last one (r2 did not build it).
  // A compressed log's whole is beside its excerpt (logs/log-compress.ts): it goes and stays with it.
  // (A job whose name holds ".log." too: its compressed log is known by its end.)
  for (const [run, files] of [['r1', ['hello_amd64.log', 'hello_amd64.log.zst', 'world_amd64.log', 'world_amd64.log.zst', 'a.log.b_amd64.log', 'a.log.b_amd64.log.zst']], ['r2', ['hello_amd64.log']]] as const) {
    mkdirSync(join(state.logs, run), { recursive: true });
    for (const f of files) writeFileSync(join(state.logs, run, f), 'log\n');
    mkdirSync(join(root, 'runs', run), { recursive: true });
    writeFileSync(join(root, 'runs', run, 'report.json'), '{}');
  }
  // Our own double of the two queries gcRuns makes.
  const records = {
    listRuns: () => [{ id: 'r2', startedAt: 200, endedAt: 210 }, { id: 'r1', startedAt: 100, endedAt: 110 }],
    latestLogs: () => new Set([join(state.logs, 'r2', 'hello_amd64.log'), join(state.logs, 'r1', 'world_amd64.log'), join(state.logs, 'r1', 'a.log.b_amd64.log')]),
  } as unknown as Parameters<typeof gcRuns>[1];
  const dry = await gcRuns(state, records, { cutoff: 1000, keepLastRuns: 1, dryRun: true });
  assert.deepEqual(dry.map((r) => [r.kind, r.path]).sort(), [
    ['log', join(state.logs, 'r1', 'hello_amd64.log')],
    ['log', join(state.logs, 'r1', 'hello_amd64.log.zst')],
    ['run', join(root, 'runs', 'r1')],
  ]);
  assert.ok(existsSync(join(state.logs, 'r1', 'hello_amd64.log')), 'a dry run removes nothing');
});
