import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from '../../test/helpers/tmp.ts';
import {
  CCACHE_INSIDE, DEFAULT_CCACHE_BYTES, ccacheBytes, ccacheDirName, ccacheMaxSize, ccacheSettingsOf, ccacheVariables, ccacheWanted, gcCcache, rootHasCcache, runCcache, withCcachePath,
} from './ccache.ts';
import type { SandboxEnv } from '../sandbox/sandbox.ts';

const wantedRows: { flag: boolean | undefined; config: boolean | undefined; onDaemon?: boolean; want: boolean }[] = [
  { flag: undefined, config: undefined, want: false },
  { flag: true, config: undefined, want: true },
  { flag: undefined, config: true, want: true },
  { flag: false, config: true, want: false },
  { flag: true, config: false, want: true },
  { flag: undefined, config: false, want: false },
  { flag: true, config: true, onDaemon: true, want: false },
];
for (const r of wantedRows) {
  test(`ccacheWanted: flag ${r.flag}, kiln.toml ${r.config}${r.onDaemon ? ', daemon' : ''} → ${r.want}`, () => {
    assert.equal(ccacheWanted(r), r.want);
  });
}

test('the size: --ccache-size over kiln.toml over 5 GiB; given to ccache in decimal k (a bare number is G to ccache)', () => {
  assert.equal(ccacheBytes({ flag: undefined, config: undefined }), DEFAULT_CCACHE_BYTES);
  assert.equal(ccacheBytes({ flag: 2, config: 3 }), 2);
  assert.equal(ccacheBytes({ flag: undefined, config: 3 }), 3);
  assert.equal(ccacheMaxSize(5 * 1024 ** 3), '5368709k');
  assert.equal(ccacheMaxSize(10), '1k');
});

test('one directory per build root and arch', () => {
  assert.equal(ccacheDirName(undefined, 'amd64'), 'host-amd64');
  assert.equal(ccacheDirName({ name: 'bookworm-arm64' }, 'arm64'), 'bookworm-arm64-arm64');
  assert.notEqual(ccacheDirName({ name: 'bookworm' }, 'amd64'), ccacheDirName({ name: 'trixie' }, 'amd64'));
});

test('a job\'s variables and PATH', () => {
  assert.deepEqual(ccacheVariables({ dir: '/c', basedir: '/w/job', maxBytes: 1_000_000 }), {
    CCACHE_DIR: '/c', CCACHE_BASEDIR: '/w/job', CCACHE_NOHASHDIR: '1', CCACHE_COMPILERCHECK: 'content', CCACHE_MAXSIZE: '1000k',
  });
  assert.equal(withCcachePath('/s/usr/bin:/usr/bin:/bin'), '/usr/lib/ccache:/s/usr/bin:/usr/bin:/bin');
  assert.equal(withCcachePath('/usr/bin:/usr/lib/ccache'), '/usr/lib/ccache:/usr/bin');
});

function fakeRoot(dir: string, withCcache: boolean): string {
  mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  if (withCcache) {
    mkdirSync(join(dir, 'usr/lib/ccache'), { recursive: true });
    writeFileSync(join(dir, 'usr/bin/ccache'), '');
    writeFileSync(join(dir, 'usr/lib/ccache/gcc'), '');
  }
  return dir;
}

const envOf = (layers: string[]): SandboxEnv => ({ id: 'bookworm-amd64@1', name: 'bookworm-amd64', arch: 'amd64', layers });

test('an env without ccache: the job builds without it, and is told how to add it; with it: a bind at the fixed path', async () => {
  await using tmp = await tmpDir();
  const dir = tmp.path;
  const bare = fakeRoot(join(dir, 'bare'), false);
  const withIt = fakeRoot(join(dir, 'with'), true);
  assert.equal(rootHasCcache([bare]), false);
  assert.equal(rootHasCcache([bare, withIt]), true);
  const root = join(dir, 'cache', 'ccache');
  const off = await runCcache({ root, maxBytes: 1 << 30 }, { name: 'rootless' }).forJob(envOf([bare]), 'amd64');
  assert.equal(off.kind, 'off');
  assert.match(off.kind === 'off' ? off.why : '', /env bookworm-amd64 has no ccache .*kiln env create bookworm-amd64 --include ccache/);
  const cc = runCcache({ root, maxBytes: 1 << 30 }, { name: 'rootless' });
  const on = await cc.forJob(envOf([bare, withIt]), 'amd64');
  assert.equal(on.kind, 'on');
  if (on.kind !== 'on') return;
  assert.equal(on.hostDir, join(root, 'bookworm-amd64-amd64'));
  assert.deepEqual(on.bind, { host: on.hostDir, inside: CCACHE_INSIDE });
  assert.equal(on.variables('/kiln')['CCACHE_DIR'], CCACHE_INSIDE);
  assert.equal(statSync(on.hostDir).uid, process.getuid!());
  // The same build root: the same answer, made once.
  assert.equal(await cc.forJob(envOf([bare, withIt]), 'amd64'), on);
});

test('the host sandbox uses the directory where it is (no bind)', { skip: rootHasCcache(undefined) ? false : 'no ccache on this host' }, async () => {
  await using tmp = await tmpDir();
  const dir = tmp.path;
  const on = await runCcache({ root: dir, maxBytes: 1 << 30 }, { name: 'host' }).forJob(undefined, 'amd64');
  assert.equal(on.kind, 'on');
  if (on.kind !== 'on') return;
  assert.equal(on.bind, undefined);
  assert.equal(on.variables('/w')['CCACHE_DIR'], join(dir, 'host-amd64'));
});

test('a run\'s settings: off by default, notes for a daemon, --nats and --twice', () => {
  const notes: string[] = [];
  const base = { state: { cache: '/s/cache' }, twice: false, note: (t: string) => notes.push(t) };
  assert.equal(ccacheSettingsOf({ ...base, config: {} }), undefined);
  assert.deepEqual(ccacheSettingsOf({ ...base, ccache: true, config: { ccacheBytes: 7 << 20 } }), { root: '/s/cache/ccache', maxBytes: 7 << 20 });
  assert.deepEqual(ccacheSettingsOf({ ...base, ccacheSize: 9 << 20, config: { ccache: true, ccacheBytes: 7 << 20 } }), { root: '/s/cache/ccache', maxBytes: 9 << 20 });
  assert.deepEqual(notes, []);
  assert.equal(ccacheSettingsOf({ ...base, onDaemon: true, config: { file: '/t/kiln.toml', ccache: true } }), undefined);
  assert.equal(ccacheSettingsOf({ ...base, ccache: true, nats: 'nats://q.example:4222', config: {} }), undefined);
  assert.equal(ccacheSettingsOf({ ...base, ccache: true, config: {}, twice: true }), undefined);
  assert.equal(notes.length, 3);
  assert.match(notes[0]!, /kiln.toml: ccache is not used on a daemon/);
  assert.match(notes[1]!, /not with --nats/);
  assert.match(notes[2]!, /not with --twice/);
});

test('gc: a dry run lists the bytes of files older than the cutoff, stats and config aside', async () => {
  await using tmp = await tmpDir();
  const dir = tmp.path;
  const d = join(dir, 'ccache', 'host-amd64', 'a', 'b');
  mkdirSync(d, { recursive: true });
  const old = new Date(Date.now() - 40 * 86_400_000);
  for (const [name, size, date] of [['oldR', 100, old], ['newR', 50, new Date()], ['stats', 10, old]] as const) {
    writeFileSync(join(d, name), Buffer.alloc(size));
    utimesSync(join(d, name), date, date);
  }
  const now = Date.now();
  assert.deepEqual(gcCcache(dir, { now, cutoff: now - 30 * 86_400_000, dryRun: true }), [{ kind: 'ccache', path: join(dir, 'ccache', 'host-amd64'), bytes: 100 }]);
  assert.deepEqual(gcCcache(join(dir, 'none'), { now, cutoff: now, dryRun: true }), []);
});
