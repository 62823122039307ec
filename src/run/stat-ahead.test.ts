import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createArtifactStore } from '../cache/artifacts.ts';
import { openRecords } from '../records/records.ts';
import { COLD_STAT_US, PROBE_STATS, statAhead } from './stat-ahead.ts';

const inputs = { recipeHash: 'r', sourcesHash: 's', envId: 'e', depOutputs: {} };

test('statAhead: the records\' artifacts are stat\'ed ahead only when most of the first few went to the disk', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-stat-ahead-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = createArtifactStore({ cacheDir: join(dir, 'cache') });
  using records = openRecords(join(dir, 'state'));
  const timed: string[] = [];
  const timing = (us: readonly number[]) => (path: string): number => us[timed.push(path) - 1] ?? 0;

  // Fewer known artifacts than the probe takes: nothing to gain.
  const key = (i: number): string => i.toString(16).padStart(64, '0');
  const known = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      const d = store.dir(key(i));
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'meta.json'), '{}');
      records.recordPackageState(`p${i}@amd64`, { state: 'built', key: key(i), inputs, outputHash: 'o', artifact: d });
    }
  };
  known(0, PROBE_STATS - 1);
  assert.equal(statAhead(store, records, { timeStat: timing([500, 500, 500, 500, 500, 500, 500]) }), undefined);

  // An artifact of another cache (--cache changed since: its path is not this store's) is
  // not stat'ed, nor does it hide the others, even among the oldest.
  records.recordPackageState('elsewhere@amd64', { state: 'built', key: key(999), inputs, outputHash: 'o', artifact: '/other/cache/x' });
  known(PROBE_STATS - 1, 300);
  timed.length = 0;
  // Cached: the first stat is slow anyway, the rest are not.
  assert.equal(statAhead(store, records, { timeStat: timing([COLD_STAT_US * 3, 5, 5, 6, 4, 5, 5, 5]) }), undefined);
  assert.deepEqual(timed, Array.from({ length: PROBE_STATS }, (_, i) => join(store.dir(key(i)), 'meta.json')), 'the oldest packages\' meta.json');
  // Half slow is not most.
  timed.length = 0;
  assert.equal(statAhead(store, records, { timeStat: timing([300, 5, 300, 5, 300, 5, 300, 5]) }), undefined);
  // Most went to the disk: worker threads stat them all ahead, until stopped.
  timed.length = 0;
  const ahead = statAhead(store, records, { timeStat: timing([300, 250, 5, 400, 180, 220, 300, 260]) });
  assert.notEqual(ahead, undefined);
  ahead!.stop();
  // A record that is not a key (it would throw in the store) only means nothing is started.
  assert.equal(statAhead(store, { lastArtifacts: () => [{ key: '../x', artifact: '/x' }] }), undefined);
});
