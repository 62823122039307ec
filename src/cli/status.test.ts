import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMain as kiln } from '../../test/helpers/cli-streams.ts';
import { openRecords } from '../records/records.ts';

test('status --runs N and history --limit N take a whole number >= 1: anything else is a usage error naming the option', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-status-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  {
    using r = openRecords(dir);
    for (let i = 1; i <= 3; i++) {
      r.createRun({ id: `run-${i}`, tree: '/t', targets: [], archs: ['amd64'], maxJobs: 1, startedAt: i * 1000 });
      r.recordJobSettled({ runId: `run-${i}`, jobId: 'p@amd64', name: 'p', version: '1', arch: 'amd64', state: 'broken', cause: 'x', at: i * 1000 });
      r.finishRun(`run-${i}`, { state: 'failed', endedAt: i * 1000 + 5, counts: { broken: 1 } });
    }
  }
  for (const [option, cmd] of [['--runs', ['status']], ['--limit', ['history', 'p']]] as const) {
    for (const bad of ['abc', '1.5', '-3', '0', '2x', '']) {
      const r = await kiln([...cmd, `${option}=${bad}`, '--state', dir]);
      assert.equal(r.code, 2, `${option}=${bad}: ${r.out}${r.err}`);
      assert.match(r.err, new RegExp(`^kiln: error \\[usage\\]: ${option}: expected a whole number of at least 1, got "${bad}"`), `${option}=${bad}`);
      assert.equal(r.out, '');
    }
  }
  // The separate form too (commander takes `-3` as the value of an optional option).
  const neg = await kiln(['status', '--runs', '-3', '--state', dir]);
  assert.equal(neg.code, 2, neg.out);
  const two = await kiln(['status', '--runs', '2', '--state', dir]);
  assert.equal(two.code, 0, two.err);
  assert.deepEqual(two.out.trim().split('\n').map((l) => l.split(' ')[0]), ['run-3', 'run-2']);
  const dflt = await kiln(['status', '--runs', '--state', dir]);
  assert.equal(dflt.out.trim().split('\n').length, 3);
  const hist = await kiln(['history', 'p', '--limit', '1', '--state', dir]);
  assert.equal(hist.out.trim().split('\n').length, 1);
});
