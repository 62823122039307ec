// kiln build --min-free through the real CLI: with less free on the state dir's disk than
// the limit, no job starts, every package is skipped saying why, the report is written and
// the run fails; --min-free 0 turns the guard off.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tmpDir } from '../helpers/tmp.ts';
import { eventsOf, explain, fixtureTree, readReport, runKiln, statesOf } from '../helpers/run-kiln.ts';

test('--min-free above the free space: no job starts, every package is skipped naming --min-free, one note, exit 1', async () => {
  await using dir = await tmpDir();
  const r = await runKiln(['build', '--tree', fixtureTree('diamond'), '--state', dir.path, '--min-free', '4096T', '--json']);
  assert.equal(r.code, 1, explain(r));
  assert.equal(r.summary?.state, 'failed');
  assert.deepEqual(eventsOf(r.events, 'job-started'), [], 'nothing starts');
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { a: 'skipped', b: 'skipped', c: 'skipped', d: 'skipped' });
  for (const p of report.packages) {
    assert.match(p.cause ?? '', /^not started: only \d+(\.\d)? [KMGT]?i?B free on \/\S+ \(under --min-free 4096\.0 TiB\); free space \(kiln cache gc --older-than 30d\) and build again, or give a lower --min-free \(0: no limit\)$/, p.name);
  }
  const notes = eventsOf(r.events, 'note').filter((e) => e.text.startsWith('--min-free'));
  assert.equal(notes.length, 1, explain(r));
  assert.match(notes[0]!.text, /no more jobs start \(running ones finish\)/);
});

test('--min-free 0: no guard, the tree builds', async () => {
  await using dir = await tmpDir();
  const r = await runKiln(['build', '--tree', fixtureTree('diamond'), '--state', dir.path, '--min-free', '0', '--json']);
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(statesOf(await readReport(r)), { a: 'built', b: 'built', c: 'built', d: 'built' });
});
