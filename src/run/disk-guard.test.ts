import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus, type KilnEvent } from '../events/events.ts';
import { diskGuardOf, lowSpaceCause, READ_EVERY_MS } from './disk-guard.ts';
import { stateLayout } from './state-layout.ts';

const G = 1024 ** 3;

test('lowSpaceCause: a job may start unless the disk has less free than --min-free; the cause says how much and what to do', () => {
  const cases: { name: string; free: { bytes: number; where: string } | undefined; min: number; want: string | undefined }[] = [
    { name: 'plenty', free: { bytes: 10 * G, where: '/srv/kiln' }, min: G, want: undefined },
    { name: 'exactly the limit', free: { bytes: G, where: '/srv/kiln' }, min: G, want: undefined },
    { name: 'off (0)', free: { bytes: 0, where: '/srv/kiln' }, min: 0, want: undefined },
    { name: 'unknown (statfs failed)', free: undefined, min: G, want: undefined },
    {
      name: 'below',
      free: { bytes: 812 * 1024 ** 2, where: '/srv/kiln' },
      min: G,
      want: 'not started: only 812.0 MiB free on /srv/kiln (under --min-free 1.0 GiB); free space (kiln cache gc --older-than 30d) and build again, or give a lower --min-free (0: no limit)',
    },
  ];
  for (const c of cases) assert.equal(lowSpaceCause(c.free, c.min), c.want, c.name);
});

test('diskGuardOf: off at 0; reads the disk at most once per second; once low it holds every start and notes it once', () => {
  const bus = new EventBus();
  const notes: string[] = [];
  bus.on((e: KilnEvent) => e.type === 'note' && notes.push(e.text));
  const state = stateLayout({ state: '/srv/kiln' });
  assert.equal(diskGuardOf({ state, bus, minFreeBytes: 0 }), undefined);
  assert.equal(diskGuardOf({ state, bus }), undefined);
  let now = 0;
  let bytes = 2 * G;
  let reads = 0;
  const guard = diskGuardOf({ state, bus, minFreeBytes: G }, { now: () => now, free: () => (reads++, { bytes, where: '/srv/kiln' }) })!;
  for (let i = 0; i < 10_000; i++) assert.equal(guard.holdStart(), undefined);
  assert.equal(reads, 1, '10,000 starts within a second read the disk once');
  bytes = G / 2;
  now += READ_EVERY_MS - 1;
  assert.equal(guard.holdStart(), undefined, 'the last reading is trusted for a second');
  now += 1;
  assert.match(guard.holdStart() ?? '', /^not started: only 512\.0 MiB free on \/srv\/kiln \(under --min-free 1\.0 GiB\)/);
  bytes = 10 * G;
  now += 10 * READ_EVERY_MS;
  assert.match(guard.holdStart() ?? '', /^not started: only 512\.0 MiB/, 'once held, it stays held');
  assert.equal(reads, 2);
  assert.equal(notes.length, 1);
  assert.match(notes[0]!, /^--min-free: only 512\.0 MiB free on \/srv\/kiln, under 1\.0 GiB: no more jobs start \(running ones finish\)/);
});
