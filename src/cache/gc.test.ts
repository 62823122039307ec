import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, open, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeHeld, gcCache } from './gc.ts';
import { openFilesUnder } from './open-files.ts';
import { registerInUse } from './in-use.ts';
import { cacheUsage, walkStat } from './du.ts';
import { createArtifactStore } from './artifacts.ts';
import { sha256 } from '../lib/hash.ts';

const DAY = 86_400_000;
const NOW = Date.now();
const info = { name: 'p', version: '1', arch: 'amd64' };
const key = (c: string): string => c.repeat(64);

async function age(path: string, ms: number): Promise<void> {
  const t = new Date(NOW - ms);
  await utimes(path, t, t);
}

/**
 * A cache with: downloads old/new; artifacts old (aaa…), old but kept (bbb…), new (ccc…),
 * empty+old (ddd…); tmp: an abandoned dir, a fresh file, an old dir with a fresh file.
 */
async function makeCache(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'kiln-gc-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const cacheDir = join(root, 'cache');
  await mkdir(join(cacheDir, 'downloads'), { recursive: true });
  await writeFile(join(cacheDir, 'downloads', sha256('old')), 'old download');
  await age(join(cacheDir, 'downloads', sha256('old')), 40 * DAY);
  await writeFile(join(cacheDir, 'downloads', sha256('new')), 'new download!');

  const store = createArtifactStore({ cacheDir });
  await mkdir(join(root, 'dest/usr'), { recursive: true });
  await writeFile(join(root, 'dest/usr/file'), 'x'.repeat(1000));
  await mkdir(join(root, 'empty'));
  for (const c of ['a', 'b', 'c']) await store.put(key(c), { destDir: join(root, 'dest'), meta: info, sourceDateEpoch: 0 });
  await store.put(key('d'), { destDir: join(root, 'empty'), meta: info, sourceDateEpoch: 0 });
  for (const c of ['a', 'b', 'd']) await age(join(store.dir(key(c)), 'meta.json'), 40 * DAY);

  const tmp = join(cacheDir, 'tmp');
  await mkdir(join(tmp, 'abandoned'), { recursive: true });
  await writeFile(join(tmp, 'abandoned/part'), 'abc');
  await age(join(tmp, 'abandoned/part'), 2 * 3_600_000);
  await age(join(tmp, 'abandoned'), 2 * 3_600_000);
  await writeFile(join(tmp, 'dl-fresh'), 'being written');
  await mkdir(join(tmp, 'art-writing'));
  await writeFile(join(tmp, 'art-writing/pkg.tar.zst'), 'growing');
  await age(join(tmp, 'art-writing'), 5 * 3_600_000);
  return cacheDir;
}

test('gc removes old unkept artifacts, old downloads and abandoned tmp entries only', async (t) => {
  const cacheDir = await makeCache(t);
  const store = createArtifactStore({ cacheDir });
  const before = await cacheUsage(cacheDir);
  const dry = await gcCache(cacheDir, { olderThanMs: 30 * DAY, keep: new Set([key('b')]), dryRun: true, now: NOW });
  assert.deepEqual(await cacheUsage(cacheDir), before, 'dry run removes nothing');

  const result = await gcCache(cacheDir, { olderThanMs: 30 * DAY, keep: new Set([key('b')]), now: NOW });
  assert.deepEqual(result, dry, 'dry run reports exactly what a real run removes');
  assert.deepEqual(result.removed.map((r) => [r.kind, r.path]), [
    ['artifact', store.dir(key('a'))],
    ['artifact', store.dir(key('d'))],
    ['download', join(cacheDir, 'downloads', sha256('old'))],
    ['tmp', join(cacheDir, 'tmp', 'abandoned')],
  ]);
  assert.equal(result.freedBytes, result.removed.reduce((n, r) => n + r.bytes, 0));
  assert.equal(result.removed.find((r) => r.kind === 'download')?.bytes, 'old download'.length);
  assert.equal(result.removed.find((r) => r.kind === 'tmp')?.bytes, 3);

  assert.equal(await store.has(key('a')), false);
  assert.equal(await store.has(key('b')), true);
  assert.equal(await store.has(key('c')), true);
  assert.deepEqual(await readdir(join(cacheDir, 'downloads')), [sha256('new')]);
  assert.deepEqual((await readdir(join(cacheDir, 'tmp'))).sort(), ['art-writing', 'dl-fresh']);
  const after = await cacheUsage(cacheDir);
  assert.equal(before.artifacts.bytes + before.downloads.bytes + before.tmp.bytes - result.freedBytes,
    after.artifacts.bytes + after.downloads.bytes + after.tmp.bytes);
});

test('without olderThan everything unkept goes, but young tmp entries stay', async (t) => {
  const cacheDir = await makeCache(t);
  const result = await gcCache(cacheDir, { keep: new Set(), keepDownloads: new Set([sha256('new')]), now: NOW + 1000 });
  const u = await cacheUsage(cacheDir);
  assert.equal(u.artifacts.count, 0);
  assert.equal(u.downloads.count, 1);
  assert.equal(u.tmp.count, 2);
  assert.equal(result.removed.filter((r) => r.kind === 'artifact').length, 4);
});

test('a tmp entry whose kiln is gone (killed while packing) goes once unwritten for 10 minutes, not at once (a pid gone here may be another machine\'s writer)', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-gc-dead-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const tmp = join(root, 'cache', 'tmp');
  const dead = spawnSync('true').pid!;
  const live = process.pid;
  const make = async (): Promise<[string, number][]> => {
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    const entries: [string, number][] = [
      [`art-${'a'.repeat(16)}-${dead}-abc123-1`, 20 * 60_000], // dead, quiet for 20 min
      [`art-${'b'.repeat(16)}-${dead}-abc123-2`, 2 * 60_000], // dead, written 2 min ago
      [`learn-${dead}-0a0b0c0d0e0f`, 2 * 60_000], // dead, written 2 min ago
      [`dl-${'c'.repeat(16)}-${live}-0a0b0c0d`, 20 * 60_000], // alive (this process): stays
      ['no-pid-in-this-name', 20 * 60_000], // unknown owner: the hour rule
    ];
    for (const [name, ms] of entries) {
      await mkdir(join(tmp, name));
      await writeFile(join(tmp, name, 'part'), 'x');
      await age(join(tmp, name, 'part'), ms);
      await age(join(tmp, name), ms);
    }
    return entries;
  };
  const entries = await make();
  const result = await gcCache(join(root, 'cache'), { keep: new Set(), now: NOW });
  assert.deepEqual(result.removed.map((r) => [r.kind, r.path]), [['tmp', join(tmp, entries[0]![0])]]);
  assert.deepEqual((await readdir(tmp)).sort(), entries.slice(1).map(([n]) => n).sort());
});

test('a touched artifact is not old any more', async (t) => {
  const cacheDir = await makeCache(t);
  const store = createArtifactStore({ cacheDir });
  await store.touch(key('a'));
  await gcCache(cacheDir, { olderThanMs: 30 * DAY, keep: new Set(), now: NOW });
  assert.equal(await store.has(key('a')), true);
  assert.equal(await store.has(key('b')), false);
});

test('gc of an empty or missing cache removes nothing', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-gc-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  assert.deepEqual(await gcCache(join(root, 'none'), { keep: new Set() }), { removed: [], freedBytes: 0 });
});

test('gc removes deps layers not mounted since the cutoff and abandoned layer captures', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-gc-layers-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const cacheDir = join(root, 'cache');
  const layers = join(cacheDir, 'deps-layers');
  for (const d of ['old', 'new', '.tmp-1-dead', '.tmp-2-live']) {
    await mkdir(join(layers, d, 'root', 'usr'), { recursive: true });
    await writeFile(join(layers, d, 'root', 'usr', 'f'), d);
  }
  for (const p of [join(layers, 'old', 'root', 'usr', 'f'), join(layers, 'old', 'root', 'usr'), join(layers, 'old', 'root'), join(layers, 'old')]) await age(p, 40 * DAY);
  for (const p of [join(layers, '.tmp-1-dead', 'root', 'usr', 'f'), join(layers, '.tmp-1-dead', 'root', 'usr'), join(layers, '.tmp-1-dead', 'root'), join(layers, '.tmp-1-dead')]) await age(p, 2 * DAY);
  const result = await gcCache(cacheDir, { olderThanMs: 30 * DAY, keep: new Set(), now: NOW });
  assert.deepEqual(result.removed.map((r) => `${r.kind} ${r.path.slice(layers.length + 1)}`).sort(), ['deps-layer old', 'tmp .tmp-1-dead']);
  assert.deepEqual((await readdir(layers)).sort(), ['.tmp-2-live', 'new']);
});

test('gc removes Debian indexes not used since the cutoff, but never one used in the last hour or held open', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-gc-indexes-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const cacheDir = join(root, 'cache');
  const dir = join(cacheDir, 'indexes');
  await mkdir(dir, { recursive: true });
  const file = (n: string): string => join(dir, sha256(n));
  for (const n of ['old', 'new', 'open', 'minutes']) await writeFile(file(n), `Package: ${n}\n`);
  await age(file('old'), 40 * DAY);
  await age(file('open'), 40 * DAY);
  await age(file('minutes'), 10 * 60_000);
  // What indexes.ts leaves while writing (atomicWrite, decompress): abandoned and live.
  const deadTmp = join(dir, `.index.tmp-1-${'ab'.repeat(4)}`);
  const liveTmp = join(dir, `.index.tmp-2-${'cd'.repeat(4)}`);
  await writeFile(deadTmp, 'partial');
  await age(deadTmp, 2 * 3_600_000);
  await writeFile(liveTmp, 'growing');
  // A kiln (here: this process) reading an index keeps it, however old its last touch.
  const reader = await open(file('open'), 'r');
  t.after(() => reader.close());

  const u = await cacheUsage(cacheDir);
  assert.equal(u.indexes.count, 6);
  const result = await gcCache(cacheDir, { olderThanMs: 30 * DAY, keep: new Set(), now: NOW });
  assert.deepEqual(result.removed.map((r) => [r.kind, r.path]), [['index', file('old')], ['tmp', deadTmp]].sort((a, b) => a[1]!.localeCompare(b[1]!)));
  assert.equal(result.removed.find((r) => r.kind === 'index')?.bytes, 'Package: old\n'.length);
  assert.deepEqual((await readdir(dir)).sort(), [liveTmp, file('new'), file('open'), file('minutes')].map((p) => p.slice(dir.length + 1)).sort());

  // --older-than 0 removes what is not open and older than an hour: nothing here.
  const zero = await gcCache(cacheDir, { olderThanMs: 0, keep: new Set(), now: NOW + 1000 });
  assert.deepEqual(zero.removed, []);
  // Once closed and an hour passed, the open one goes too.
  await reader.close();
  const later = await gcCache(cacheDir, { olderThanMs: 30 * DAY, keep: new Set(), now: NOW });
  assert.deepEqual(later.removed.map((r) => r.path), [file('open')]);
  assert.equal((await cacheUsage(cacheDir)).indexes.count, 3);
});

test('openFilesUnder lists the files of a directory that a process holds open', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-gc-open-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'sub'));
  for (const n of ['a', 'b', 'sub/c']) await writeFile(join(root, n), n);
  const fa = await open(join(root, 'a'), 'r');
  const fc = await open(join(root, 'sub/c'), 'r');
  try {
    assert.deepEqual([...(await openFilesUnder(root))], ['a']);
  } finally {
    await fa.close();
    await fc.close();
  }
  assert.deepEqual([...(await openFilesUnder(root))], []);
  assert.deepEqual([...(await openFilesUnder(join(root, 'none')))], []);
});

test('gc keeps what a live run registered, and what was used since the oldest live run started', async (t) => {
  const cacheDir = await makeCache(t);
  const store = createArtifactStore({ cacheDir });
  // A run that started 10 days ago relies on aaa… (40 days old); ddd… and the old download are not its.
  const run = await registerInUse(cacheDir, 'run-x', [key('a')], NOW - 10 * DAY);
  t.after(() => run.release());
  await age(join(cacheDir, 'downloads', sha256('new')), 5 * DAY);
  const r = await gcCache(cacheDir, { olderThanMs: 0, keep: new Set(), now: NOW });
  const gone = r.removed.filter((x) => x.kind === 'artifact' || x.kind === 'download').map((x) => x.path).sort();
  assert.deepEqual(gone, [store.dir(key('b')), store.dir(key('d')), join(cacheDir, 'downloads', sha256('old'))].sort());
  assert.ok((await readdir(join(cacheDir, 'downloads'))).includes(sha256('new')), 'used 5 days ago, after the run started');
  assert.ok((await readdir(store.dir(key('c')))).includes('meta.json'), 'made now, after the run started');
  await run.release();
  const after = await gcCache(cacheDir, { olderThanMs: 0, keep: new Set(), now: NOW + 1000 });
  assert.ok(after.removed.some((x) => x.path === store.dir(key('a'))), 'released: removed like the rest');
});

test('maxBytes: after the age pass, the least recently used entries go until the cache fits; kept ones never', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-gc-size-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const cacheDir = join(root, 'cache');
  const store = createArtifactStore({ cacheDir });
  await mkdir(join(root, 'dest/usr'), { recursive: true });
  // Four artifacts of about 40 KiB (random bytes: zstd cannot shrink them), used 4, 3, 2 and 1 days ago.
  const { randomBytes } = await import('node:crypto');
  for (const [i, c] of ['a', 'b', 'c', 'e'].entries()) {
    await writeFile(join(root, 'dest/usr/file'), randomBytes(40 * 1024));
    await store.put(key(c), { destDir: join(root, 'dest'), meta: info, sourceDateEpoch: 0 });
    await age(join(store.dir(key(c)), 'meta.json'), (4 - i) * DAY);
  }
  const total = (await cacheUsage(cacheDir)).artifacts.bytes;
  const each = total / 4;
  // Room for two and a half: the two least recently used go, but 'a' (the oldest) is kept.
  const dry = await gcCache(cacheDir, { olderThanMs: 30 * DAY, keep: new Set([key('a')]), maxBytes: Math.floor(2.5 * each), dryRun: true, now: NOW });
  const r = await gcCache(cacheDir, { olderThanMs: 30 * DAY, keep: new Set([key('a')]), maxBytes: Math.floor(2.5 * each), now: NOW });
  assert.deepEqual(r.removed.map((x) => x.path), [store.dir(key('b')), store.dir(key('c'))]);
  assert.deepEqual(dry.removed.map((x) => x.path), r.removed.map((x) => x.path), 'the dry run lists the same');
  assert.ok(r.sizeAfter! <= 2.5 * each, `${r.sizeAfter} bytes left`);
  assert.equal(await store.has(key('a')), true);
  assert.equal(await store.has(key('e')), true);
  // Already under: nothing more goes.
  const again = await gcCache(cacheDir, { olderThanMs: 30 * DAY, keep: new Set(), maxBytes: Math.floor(2.5 * each), now: NOW });
  assert.deepEqual(again.removed, []);
});

test('maxBytes: when the cache stays over, the result says what each rule kept (used in the last hour, kept, a running build, indexes)', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-gc-held-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const cacheDir = join(root, 'cache');
  const store = createArtifactStore({ cacheDir });
  await mkdir(join(root, 'dest/usr'), { recursive: true });
  await writeFile(join(root, 'dest/usr/file'), 'x'.repeat(5000));
  // a: kept; b and e: two days old (the size pass takes them); c: made just now.
  for (const c of ['a', 'b', 'c', 'e']) await store.put(key(c), { destDir: join(root, 'dest'), meta: info, sourceDateEpoch: 0 });
  for (const c of ['a', 'b', 'e']) await age(join(store.dir(key(c)), 'meta.json'), 2 * DAY);
  await mkdir(join(cacheDir, 'downloads'), { recursive: true });
  await writeFile(join(cacheDir, 'downloads', sha256('fresh')), 'fresh download');
  await mkdir(join(cacheDir, 'indexes'), { recursive: true });
  await writeFile(join(cacheDir, 'indexes', sha256('index')), 'Package: x\n');
  const opts = { olderThanMs: 30 * DAY, keep: new Set([key('a')]), maxBytes: 1, now: NOW };
  const dry = await gcCache(cacheDir, { ...opts, dryRun: true });
  const r = await gcCache(cacheDir, opts);
  assert.deepEqual(r.removed.map((x) => x.path), [store.dir(key('b')), store.dir(key('e'))]);
  assert.deepEqual(dry.held, r.held, 'the dry run says the same');
  const artifactBytes = (await walkStat(store.dir(key('c')))).bytes;
  assert.deepEqual(r.held, [
    { reason: 'recent', count: 2, bytes: artifactBytes + 'fresh download'.length },
    { reason: 'kept', count: 1, bytes: artifactBytes },
    { reason: 'index', count: 1, bytes: 'Package: x\n'.length },
  ]);
  assert.equal(r.held.reduce((n, h) => n + h.bytes, 0), r.sizeAfter, 'every byte left is accounted for');
  assert.match(describeHeld(r.held, (n) => `${n} B`), /^2 entries \(\d+ B\) used in the last hour \(.*--older-than.*\); 1 entry \(\d+ B\) kept by --keep-last-runs; 1 entry \(11 B\) Debian indexes/);
  // A build running since yesterday: what was used since is its, not merely recent.
  const run = await registerInUse(cacheDir, 'run-held', [], NOW - DAY);
  t.after(() => run.release());
  const running = await gcCache(cacheDir, opts);
  assert.deepEqual(running.removed, []);
  assert.deepEqual(running.held?.map((h) => [h.reason, h.count]), [['kept', 1], ['in-use', 2], ['index', 1]]);
  assert.match(describeHeld(running.held!, (n) => `${n} B`), /2 entries \(\d+ B\) relied on by a running build/);
  // Under the limit: nothing to explain.
  const fits = await gcCache(cacheDir, { ...opts, maxBytes: 10 * 1024 * 1024 });
  assert.equal(fits.held, undefined);
});

test('describeHeld names only the rules that kept something, most bytes first', () => {
  const size = (n: number): string => `${n} B`;
  assert.equal(describeHeld([{ reason: 'kept', count: 3, bytes: 10 }, { reason: 'recent', count: 1, bytes: 900 }], size),
    '1 entry (900 B) used in the last hour (the size pass never takes those: a running kiln may have just found them up to date; --older-than goes by age alone, e.g. --older-than 1m); 3 entries (10 B) kept by --keep-last-runs');
  assert.doesNotMatch(describeHeld([{ reason: 'recent', count: 1, bytes: 1 }], size), /keep-last-runs|running build|indexes/);
  assert.match(describeHeld([], size), /not named as cache entries/);
});

test('gc evicts ccache entries not used since the cutoff with ccache itself; recent ones and the dry run stay', { skip: spawnSync('ccache', ['--version']).status === 0 ? false : 'no ccache on this host' }, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-gc-cc-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const cacheDir = join(root, 'cache');
  const compile = (dir: string, n: number): void => {
    const src = join(root, `f${n}.c`);
    spawnSync('sh', ['-c', `printf 'int f${n}(void) { return ${n}; }\\n' > ${src}`]);
    const r = spawnSync('ccache', ['gcc', '-c', src, '-o', join(root, `f${n}.o`)], { env: { PATH: '/usr/bin:/bin', CCACHE_DIR: dir } });
    assert.equal(r.status, 0, String(r.stderr));
  };
  const oldDir = join(cacheDir, 'ccache', 'host-amd64');
  const newDir = join(cacheDir, 'ccache', 'bookworm-amd64-amd64');
  compile(oldDir, 1);
  compile(newDir, 2);
  const old = new Date(Date.now() - 40 * 86_400_000);
  for (const e of await readdir(oldDir, { recursive: true })) await utimes(join(oldDir, e), old, old);
  const objects = async (dir: string): Promise<string[]> => (await readdir(dir, { recursive: true })).filter((e) => /[RM]$/.test(e));
  assert.equal((await objects(oldDir)).length > 0, true);

  const dry = await gcCache(cacheDir, { olderThanMs: 30 * 86_400_000, keep: new Set(), dryRun: true });
  assert.deepEqual(dry.removed.filter((r) => r.kind === 'ccache').map((r) => r.path), [oldDir]);
  assert.equal((await objects(oldDir)).length > 0, true, 'a dry run removes nothing');

  const r = await gcCache(cacheDir, { olderThanMs: 30 * 86_400_000, keep: new Set() });
  const cc = r.removed.filter((x) => x.kind === 'ccache');
  assert.deepEqual(cc.map((x) => x.path), [oldDir]);
  assert.ok(cc[0]!.bytes > 0);
  assert.deepEqual(await objects(oldDir), []);
  assert.equal((await objects(newDir)).length > 0, true, 'used since the cutoff: kept');
});
