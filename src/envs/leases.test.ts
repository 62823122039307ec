import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { leaseAlive, liveLeases, parseLeaseName, processStartTime, readLeases, versionsToRemove, writeLease, type Lease, type LivenessProbe } from './leases.ts';

const V1 = '20261122T001500-ab12cd34';
const V2 = '20261123T001500-00000001';
const V3 = '20261124T001500-00000002';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-leases-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(r.stdout.toString().trim());
}

test('lease names: <version>.<pid>.<random>', () => {
  assert.deepEqual(parseLeaseName(`${V1}.4242.abcdef`), { versionId: V1, pid: 4242 });
  for (const bad of [`${V1}.x.ab`, 'junk', `${V1}.12`, `20261122T001500.12.ab`]) assert.equal(parseLeaseName(bad), undefined, bad);
});

test('processStartTime reads field 22 even when the command name has spaces and parens', async (t) => {
  assert.ok((processStartTime(process.pid) ?? 0) > 0);
  assert.equal(processStartTime(deadPid()), undefined);
  const proc = await tempDir(t);
  await mkdir(join(proc, '77'));
  const fields = ['S', ...Array.from({ length: 18 }, (_, i) => String(i + 4)), '9999'];
  await writeFile(join(proc, '77/stat'), `77 (a) b (c)) ${fields.join(' ')} 0 0\n`);
  assert.equal(processStartTime(77, proc), 9999);
});

test('leaseAlive: dead pid or reused pid is stale; other hosts always count', () => {
  const probe: LivenessProbe = { host: 'h', startTime: (pid) => (pid === 1 ? 100 : undefined) };
  const lease = (o: Partial<Lease>): Lease => ({ file: 'f', versionId: V1, pid: 1, host: 'h', startTime: 100, ...o });
  assert.equal(leaseAlive(lease({}), probe), true);
  assert.equal(leaseAlive(lease({ startTime: 55 }), probe), false, 'pid reused by another process');
  assert.equal(leaseAlive(lease({ startTime: undefined }), probe), true);
  assert.equal(leaseAlive(lease({ pid: 2 }), probe), false);
  assert.equal(leaseAlive(lease({ pid: 2, host: 'other' }), probe), true);
});

test('versionsToRemove keeps the current and every leased version', () => {
  const table: [string[], string, string[], string[]][] = [
    [[V1], V1, [], []],
    [[V1, V2], V2, [], [V1]],
    [[V1, V2, V3], V3, [V1], [V2]],
    [[V1, V2, V3], V3, [V1, V2, V2], []],
    [[V3, V1, V2], V2, [V2], [V1, V3]],
  ];
  for (const [versions, current, leased, expected] of table) {
    assert.deepEqual(versionsToRemove(versions, current, leased.map((versionId) => ({ versionId }))), expected, JSON.stringify({ versions, current, leased }));
  }
});

test('writeLease/readLeases round-trip; liveLeases removes the files of dead processes', async (t) => {
  const dir = await tempDir(t);
  const mine = await writeLease(dir, V1);
  assert.match(basename(mine), new RegExp(`^${V1}\\.${process.pid}\\.[0-9a-f]+$`));
  const dead = deadPid();
  await writeFile(join(dir, `${V2}.${dead}.aa`), `${dead} ${hostname()} 1\n`);
  await writeFile(join(dir, `${V2}.${dead}.bb`), `${dead} elsewhere.example 1\n`);
  await writeFile(join(dir, 'not-a-lease'), '');
  const all = await readLeases(dir);
  assert.equal(all.length, 3);
  const live = await liveLeases(dir);
  assert.deepEqual(live.map((l) => [l.versionId, l.host]).sort(), [[V1, hostname()], [V2, 'elsewhere.example']]);
  assert.deepEqual((await readdir(dir)).sort(), [`${V2}.${dead}.bb`, basename(mine), 'not-a-lease'].sort());
  assert.deepEqual(await readLeases(join(dir, 'missing')), []);
});
