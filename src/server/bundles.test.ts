// Bundle uploads: the member rules as a table, then real uploads through the app (no
// socket): gzip/zstd/xz bundles stored, hostile ones refused with the member named and
// nothing left on disk, the upload / extracted-size / member-count bounds, and tenants'
// namespaces (another tenant's bundle is a 404, also for POST /builds).

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTarball, type FakeMember } from '../envs/test-tarballs.ts';
import type { TarMember } from '../envs/tar-scan.ts';
import { isKilnError } from '../errors.ts';
import { openServerRecords } from '../records/server-records.ts';
import { createApp } from './app.ts';
import { bundlesRoot, checkBundleMembers, DEFAULT_BUNDLE_LIMITS, type BundleLimits } from './bundles.ts';
import type { BuildRunner } from './queue.ts';
import { readResponse } from '../../test/helpers/read-response.ts';

const m = (name: string, type: TarMember['type'], extra: Partial<TarMember> = {}): TarMember => ({ name, type, linkName: '', size: 0, ...extra });

test('checkBundleMembers: the bundle rules and bounds, naming the member', () => {
  const limits: BundleLimits = { maxUploadBytes: 1000, maxExtractedBytes: 100, maxEntries: 3 };
  const cases: Array<{ what: string; members: TarMember[]; code?: string; match?: RegExp }> = [
    { what: 'a plain tree', members: [m('./', 'dir'), m('./hello/recipe.toml', 'file', { size: 50 })] },
    { what: 'a relative symlink inside', members: [m('a', 'file', { size: 1 }), m('b', 'symlink', { linkName: 'a' })] },
    { what: 'a hardlink to an earlier member', members: [m('a', 'file', { size: 1 }), m('b', 'hardlink', { linkName: 'a' })] },
    { what: '..', members: [m('../evil', 'file')], code: 'unsafe-path', match: /"\.\.\/evil" contains "\.\."/ },
    { what: 'an absolute name', members: [m('/etc/cron.d/x', 'file')], code: 'unsafe-path', match: /"\/etc\/cron\.d\/x" is an absolute path/ },
    { what: 'an absolute symlink', members: [m('link', 'symlink', { linkName: '/etc/passwd' })], code: 'unsafe-path', match: /symlink "link" -> "\/etc\/passwd" points outside the bundle/ },
    { what: 'a relative symlink climbing out', members: [m('d/link', 'symlink', { linkName: '../../x' })], code: 'unsafe-path', match: /symlink "d\/link" .* points outside/ },
    { what: 'writing through a symlink', members: [m('d', 'symlink', { linkName: '.' }), m('d/x', 'file')], code: 'unsafe-path', match: /through the symlink "d"/ },
    { what: 'a hardlink outside', members: [m('h', 'hardlink', { linkName: '../../etc/shadow' })], code: 'unsafe-path', match: /"h"/ },
    { what: 'a device node', members: [m('dev/null', 'char')], code: 'unsafe-path', match: /"dev\/null" is a device node/ },
    { what: 'a fifo', members: [m('p', 'fifo')], code: 'unsafe-path', match: /"p" is a fifo/ },
    { what: 'too many members', members: [m('a', 'file'), m('b', 'file'), m('c', 'file'), m('d', 'file')], code: 'too-large', match: /member "d" is number 4, over the limit of 3/ },
    { what: 'too large extracted', members: [m('a', 'file', { size: 60 }), m('big', 'file', { size: 41 })], code: 'too-large', match: /member "big" \(41 bytes\) takes the extracted size over the limit of 100/ },
  ];
  for (const c of cases) {
    if (c.code === undefined) {
      assert.doesNotThrow(() => checkBundleMembers(c.members, 'b', limits), c.what);
      continue;
    }
    assert.throws(
      () => checkBundleMembers(c.members, 'b', limits),
      (e) => isKilnError(e) && e.code === c.code && c.match!.test(e.message),
      c.what,
    );
  }
});

const RECIPE = 'name = "hello"\nversion = "1.0"\nsummary = "hi"\nlicense = "MIT"\n\n[build]\nscript = "true"\n';

function setup(t: TestContext, limits: Partial<BundleLimits> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bundles-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'state');
  const tokens = openServerRecords(state);
  const alice = tokens.createToken('alice').token;
  const bob = tokens.createToken('bob').token;
  tokens.close();
  // Builds never start here: the runner waits until aborted.
  const runner: BuildRunner = (_b, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({ runId: 'r', state: 'cancelled' })));
  const kiln = createApp({ stateDir: state, runner, bundleLimits: limits, maxConcurrentBuilds: 1 });
  t.after(() => kiln.close());
  const call = async (method: string, path: string, token: string, body?: string | Uint8Array | ReadableStream<Uint8Array>, headers: Record<string, string> = {}) => {
    const res = await kiln.app.request(path, { method, headers: { authorization: `Bearer ${token}`, ...headers }, ...(body === undefined ? {} : { body }), ...(body instanceof ReadableStream ? { duplex: 'half' } : {}) } as RequestInit);
    return readResponse(res);
  };
  /** Nothing of a refused bundle stays: no tree, no temp dir content. */
  const leftovers = (): string[] => {
    const root = bundlesRoot(state);
    if (!existsSync(root)) return [];
    const out: string[] = [];
    for (const n of readdirSync(root)) {
      if (n === '.tmp') out.push(...readdirSync(join(root, n)).map((x) => `.tmp/${x}`));
      else out.push(...readdirSync(join(root, n)).map((x) => `${n}/${x}`));
    }
    return out;
  };
  return { dir, state, alice, bob, call, leftovers };
}

function packTree(dir: string, compress: string): Buffer {
  const tree = join(dir, `tree-${compress}`);
  mkdirSync(join(tree, 'hello'), { recursive: true });
  writeFileSync(join(tree, 'hello', 'recipe.toml'), RECIPE);
  writeFileSync(join(tree, 'hello', 'tool'), '#!/bin/sh\n', { mode: 0o4755 });
  const out = join(dir, `bundle-${compress}`);
  execFileSync('tar', ['--create', `--file=${out}`, `--directory=${tree}`, ...(compress === 'none' ? [] : [`--${compress}`]), '.']);
  return readFileSync(out);
}

test('bundles: gzip, zstd, xz and plain tars are stored per tenant; setuid bits dropped; immutable; other tenants get 404', async (t) => {
  const s = setup(t);
  for (const comp of ['gzip', 'zstd', 'xz', 'none']) {
    const r = await s.call('PUT', `/api/v1/bundles/t-${comp}`, s.alice, packTree(s.dir, comp), { 'content-type': 'application/octet-stream' });
    assert.equal(r.status, 201, `${comp}: ${r.text}`);
    assert.equal(r.json.tenant, 'alice');
    assert.ok(r.json.entries >= 4 && r.json.bytes > 0);
    const tree = join(bundlesRoot(s.state), 'alice', `t-${comp}`);
    assert.equal(readFileSync(join(tree, 'hello', 'recipe.toml'), 'utf8'), RECIPE);
    assert.equal(statSync(join(tree, 'hello', 'tool')).mode & 0o7777, 0o755, 'setuid dropped');
  }
  assert.equal((await s.call('GET', '/api/v1/bundles/t-gzip', s.alice)).status, 200);
  const again = await s.call('PUT', '/api/v1/bundles/t-gzip', s.alice, packTree(s.dir, 'gzip'));
  assert.equal(again.status, 409);
  // Bob sees none of Alice's bundles, and cannot build one.
  const peek = await s.call('GET', '/api/v1/bundles/t-gzip', s.bob);
  assert.equal(peek.status, 404);
  assert.equal(peek.json.error.code, 'bundle-not-found');
  const steal = await s.call('POST', '/api/v1/builds', s.bob, JSON.stringify({ bundle: 't-gzip' }), { 'content-type': 'application/json' });
  assert.equal(steal.status, 404, steal.text);
  const own = await s.call('POST', '/api/v1/builds', s.alice, JSON.stringify({ bundle: 't-gzip' }), { 'content-type': 'application/json' });
  assert.equal(own.status, 201, own.text);
  const view = await s.call('GET', `/api/v1/builds/${own.json.id}`, s.alice);
  assert.equal(view.json.bundle, 't-gzip');
  assert.equal(view.json.tree, 'bundle:t-gzip');
  const both = await s.call('POST', '/api/v1/builds', s.alice, JSON.stringify({ bundle: 't-gzip', tree: 'main' }), { 'content-type': 'application/json' });
  assert.equal(both.status, 400);
  assert.match(both.json.error.message, /exactly one of "tree".*"bundle"/);
  const bad = await s.call('PUT', '/api/v1/bundles/-x', s.alice, 'x');
  assert.equal(bad.status, 400);
  assert.match(bad.json.error.message, /"-x" is not a bundle id/);
});

test('bundles: hostile archives are refused with a 4xx naming the member, and nothing is written', async (t) => {
  const s = setup(t);
  const hostile: Array<{ what: string; members: FakeMember[]; match: RegExp }> = [
    { what: 'dotdot', members: [{ name: 'ok', type: 'file', data: 'x' }, { name: '../../escape', type: 'file', data: 'x' }], match: /"\.\.\/\.\.\/escape" contains "\.\."/ },
    { what: 'absolute', members: [{ name: '/tmp/kiln-abs-escape', type: 'file', data: 'x' }], match: /"\/tmp\/kiln-abs-escape" is an absolute path/ },
    { what: 'symlink-abs', members: [{ name: 'etc', type: 'symlink', target: '/etc' }], match: /symlink "etc" -> "\/etc" points outside/ },
    { what: 'symlink-rel', members: [{ name: 'up', type: 'symlink', target: '../../..' }], match: /symlink "up" -> "\.\.\/\.\.\/\.\." points outside/ },
    { what: 'symlink-write', members: [{ name: 'd', type: 'symlink', target: 'x' }, { name: 'd/f', type: 'file', data: 'x' }], match: /through the symlink "d"/ },
    { what: 'hardlink-out', members: [{ name: 'h', type: 'hardlink', target: '/etc/shadow' }], match: /hardlink target of "h".*absolute/ },
    { what: 'device', members: [{ name: 'null', type: 'char' }], match: /"null" is a device node/ },
    {
      // Each link looks inside on its own; chained, they reach the tenants' bundles folder and /.
      what: 'symlink-chain',
      members: [{ name: '.c/l0', type: 'symlink', target: '..' }, { name: '.c/l1', type: 'symlink', target: 'l0/..' }, { name: '.c/l2', type: 'symlink', target: 'l1/..' }, { name: 'steal/recipe.toml', type: 'symlink', target: '../.c/l2/alice/x/recipe.toml' }],
      match: /symlink "\.c\/l1" -> "l0\/\.\." points outside the root through other symlinks/,
    },
  ];
  for (const h of hostile) {
    const file = join(s.dir, `${h.what}.tar`);
    writeTarball(file, h.members, { compression: 'gz' });
    const r = await s.call('PUT', `/api/v1/bundles/${h.what}`, s.alice, readFileSync(file));
    assert.equal(r.status, 400, `${h.what}: ${r.text}`);
    assert.equal(r.json.error.code, 'unsafe-path');
    assert.match(r.json.error.message, h.match, h.what);
    assert.match(r.json.error.message, /nothing was extracted/);
    assert.equal((await s.call('GET', `/api/v1/bundles/${h.what}`, s.alice)).status, 404);
  }
  assert.deepEqual(s.leftovers(), []);
  assert.equal(existsSync('/tmp/kiln-abs-escape'), false);
  const notTar = await s.call('PUT', '/api/v1/bundles/junk', s.alice, 'this is not a tar archive at all, just text'.repeat(20));
  assert.equal(notTar.status, 400, notTar.text);
  assert.match(notTar.json.error.message, /not a tar archive/);
  // Shorter than one tar header: not a tar archive either (not a "truncated" or "malicious" one).
  const short = await s.call('PUT', '/api/v1/bundles/junk1', s.alice, 'hello, not a tar\n');
  assert.equal(short.status, 400, short.text);
  assert.match(short.json.error.message, /refused: not a tar archive \(it ends before a first tar header\)/);
  assert.doesNotMatch(short.json.error.hint, /malicious/);
  assert.deepEqual(s.leftovers(), []);
});

/** One raw ustar header (512 bytes), its checksum made; `size` as written into the field (12 bytes). */
function rawHeader(name: string, type: string, size: string, linkName = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'latin1');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  Buffer.from(size, 'latin1').copy(h, 124);
  h.write('14000000000\0', 136, 'latin1');
  h.write(type, 156, 'latin1');
  h.write(linkName, 157, 'latin1');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

test('bundles: an archive GNU tar reads otherwise than kiln\'s parser (a size field with a leading NUL hides a K header from tar) is refused once extracted, by what tar made', async (t) => {
  const s = setup(t);
  const block = (text: string): Buffer => Buffer.concat([Buffer.from(text, 'latin1'), Buffer.alloc(512 - text.length)]);
  const tar = Buffer.concat([
    rawHeader('ok', '0', '00000000004\0'), block('fine'),
    // tar skips one leading NUL of a number: 1024 bytes of data to it (the next two blocks), 0 to kiln's parser.
    rawHeader('junk', '0', '\u000000000002000'),
    rawHeader('././@LongLink', 'K', '00000000003\0'), block('ok\0'),
    rawHeader('l', '2', '00000000000\0', '../../../../../..'),
    Buffer.alloc(1024),
  ]);
  const r = await s.call('PUT', '/api/v1/bundles/desync', s.alice, tar);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.error.code, 'unsafe-path');
  assert.match(r.json.error.message, /symlink "l" -> "\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\." points outside the tree \(as extracted/);
  assert.equal((await s.call('GET', '/api/v1/bundles/desync', s.alice)).status, 404);
  assert.deepEqual(s.leftovers(), []);
});

test('bundles: upload limit, archive bomb and member count get 413, nothing written', async (t) => {
  const s = setup(t, { maxUploadBytes: 64 * 1024, maxExtractedBytes: 1024 * 1024, maxEntries: 50 });
  // Over the upload limit, with and without a Content-Length the server can check first.
  const big = Buffer.alloc(100 * 1024, 7);
  const declared = await s.call('PUT', '/api/v1/bundles/big', s.alice, big);
  assert.equal(declared.status, 413, declared.text);
  assert.equal(declared.json.error.code, 'too-large');
  // Whatever content type it claims: a JSON one must not get it read whole into memory.
  const claimsJson = await s.call('PUT', '/api/v1/bundles/big', s.alice, big, { 'content-type': 'application/json' });
  assert.equal(claimsJson.status, 413, claimsJson.text);
  assert.equal(claimsJson.json.error.code, 'too-large');
  const streamed = await s.call(
    'PUT',
    '/api/v1/bundles/big2',
    s.alice,
    new ReadableStream({
      start(c) {
        for (let i = 0; i < 10; i++) c.enqueue(new Uint8Array(16 * 1024));
        c.close();
      },
    }),
    {},
  );
  assert.equal(streamed.status, 413, streamed.text);
  assert.match(streamed.json.error.message, /over the upload limit of 65536 bytes/);
  // A bomb: 20 MiB of zeros is a few KiB of zstd, far over the 1 MiB extracted limit.
  const bombDir = join(s.dir, 'bomb');
  mkdirSync(bombDir);
  execFileSync('truncate', ['-s', '20M', join(bombDir, 'zeros')]);
  const bomb = join(s.dir, 'bomb.tar.zst');
  execFileSync('tar', ['--create', '--zstd', `--file=${bomb}`, `--directory=${bombDir}`, 'zeros']);
  assert.ok(statSync(bomb).size < 64 * 1024);
  const r = await s.call('PUT', '/api/v1/bundles/bomb', s.alice, readFileSync(bomb));
  assert.equal(r.status, 413, r.text);
  assert.match(r.json.error.message, /more than the limit of 1048576 bytes \(--bundle-max-extracted; an archive bomb\?\)|member "zeros" .* over the limit/);
  // Many tiny members.
  const many: FakeMember[] = Array.from({ length: 60 }, (_, i) => ({ name: `f${i}`, type: 'file' as const, data: '' }));
  const manyFile = join(s.dir, 'many.tar');
  writeTarball(manyFile, many, { compression: 'gz' });
  const r2 = await s.call('PUT', '/api/v1/bundles/many', s.alice, readFileSync(manyFile));
  assert.equal(r2.status, 413, r2.text);
  assert.match(r2.json.error.message, /member "f50" is number 51, over the limit of 50 members/);
  assert.deepEqual(s.leftovers(), []);
  assert.equal(DEFAULT_BUNDLE_LIMITS.maxUploadBytes, 64 * 1024 * 1024);
});

test('a daemon starting removes the upload temp dirs of dead daemons, not those of live ones', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bundles-sweep-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'state');
  const tmp = join(bundlesRoot(state), '.tmp');
  // A pid that is gone: a child that has exited and been reaped.
  const gone = Number(execFileSync('sh', ['-c', 'sh -c "echo \\$\\$"'], { encoding: 'utf8' }).trim());
  const dead = `alice-my-bundle-${gone}-0a1b2c3d`;
  // This process's own pid at start is a predecessor's (pid 1 in a container): dead too.
  const mine = `carol-b-${process.pid}-0badf00d`;
  // Pid 1 is alive: another daemon's upload in progress, as far as this one can tell.
  const live = `bob-other-1-deadbeef`;
  for (const name of [dead, mine, live]) {
    mkdirSync(join(tmp, name, 'tree'), { recursive: true });
    writeFileSync(join(tmp, name, 'upload'), 'partial');
  }
  const logged: string[] = [];
  const kiln = createApp({ stateDir: state, runner: async () => ({ runId: 'r', state: 'done' }), onError: (m) => logged.push(m) });
  t.after(() => kiln.close());
  assert.deepEqual(readdirSync(tmp), [live]);
  assert.ok(logged.some((l) => l.includes(dead)) && logged.some((l) => l.includes(mine)), logged.join('\n'));
});

test('a bundle upload that finds the disk full answers 503 server-disk-full, and leaves nothing behind', { skip: process.getuid?.() !== 0 ? 'needs root (mounts a tmpfs)' : false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bundles-full-'));
  const state = join(dir, 'state');
  mkdirSync(state);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'kiln-test-bundles-full', state]);
  t.after(() => {
    execFileSync('umount', ['-l', state]);
    rmSync(dir, { recursive: true, force: true });
  });
  const tokens = openServerRecords(state);
  const alice = tokens.createToken('alice').token;
  tokens.close();
  const kiln = createApp({ stateDir: state, runner: async () => ({ runId: 'r', state: 'done' }), onError: () => undefined });
  t.after(() => kiln.close());
  // Random bytes do not compress: 6 MiB does not fit in what is left of 4.
  const { randomBytes } = await import('node:crypto');
  const file = join(dir, 'big.tar');
  writeTarball(file, [{ name: 'big', type: 'file', data: randomBytes(3 * 1024 * 1024).toString('base64') }]);
  const res = await kiln.app.request('/api/v1/bundles/big', { method: 'PUT', headers: { authorization: `Bearer ${alice}` }, body: readFileSync(file) });
  const json = (await res.json()) as { error: { code: string; message: string } };
  assert.equal(res.status, 503, JSON.stringify(json));
  assert.equal(json.error.code, 'server-disk-full');
  assert.deepEqual(readdirSync(join(bundlesRoot(state), '.tmp')), []);
});

test("--bundle-quota: a tenant's bundles together stay under it; the upload past it is refused and not kept; another tenant is not held back", async (t) => {
  const s = setup(t, { tenantQuotaBytes: 0 });
  const one = await s.call('PUT', '/api/v1/bundles/first', s.alice, packTree(s.dir, 'gzip'));
  assert.equal(one.status, 201, one.text);
  const size = one.json.bytes as number;
  // A daemon whose quota holds one such bundle and a half.
  const q = setup(t, { tenantQuotaBytes: Math.floor(size * 1.5) });
  assert.equal((await q.call('PUT', '/api/v1/bundles/a1', q.alice, packTree(q.dir, 'gzip'))).status, 201);
  const over = await q.call('PUT', '/api/v1/bundles/a2', q.alice, packTree(q.dir, 'zstd'));
  assert.equal(over.status, 413, over.text);
  assert.match(over.json.error.message, /tenant alice's bundles (would take \d+ bytes, over|take \d+ bytes, and this one would take them over) this daemon's quota of \d+ bytes per tenant/);
  assert.equal((await q.call('GET', '/api/v1/bundles/a2', q.alice)).status, 404, 'the refused bundle was kept');
  assert.deepEqual(q.leftovers(), ['alice/a1'], 'only the bundle within the quota is on disk');
  assert.equal((await q.call('PUT', '/api/v1/bundles/b1', q.bob, packTree(q.dir, 'gzip'))).status, 201);
  // Re-sending a stored bundle is the 409 the CLI expects, even at the quota.
  assert.equal((await q.call('PUT', '/api/v1/bundles/a1', q.alice, packTree(q.dir, 'gzip'))).status, 409);
  // Another limit than the quota says itself, not the quota (every refusal ends "nothing was extracted").
  const few = setup(t, { tenantQuotaBytes: size * 100, maxEntries: 1 });
  const many = await few.call('PUT', '/api/v1/bundles/m1', few.alice, packTree(few.dir, 'gzip'));
  assert.equal(many.status, 413, many.text);
  assert.match(many.json.error.message, /is number \d+, over the limit of 1 members; nothing was extracted/);
  // Uploads side by side do not each pass on the same old total.
  const carol = setup(t, { tenantQuotaBytes: Math.floor(size * 1.5) });
  const results = await Promise.all([1, 2, 3, 4, 5].map((i) => carol.call('PUT', `/api/v1/bundles/c${i}`, carol.alice, packTree(carol.dir, 'gzip'))));
  assert.equal(results.filter((r) => r.status === 201).length, 1, results.map((r) => r.status).join(' '));
  assert.ok(results.every((r) => r.status === 201 || r.status === 413), results.map((r) => r.text).join('\n'));
});
