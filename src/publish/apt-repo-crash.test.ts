// Crash consistency of kiln's apt repository, on real .debs and real signatures: a publish,
// remove or rollback killed (SIGKILL) at the swap of `dists` leaves the old repository
// whole (every pool file with the bytes its index lists) and the undo of the change before
// it; what a killed one left goes at the start of the next locked operation. The kill is
// strace's fault injection on symlink(2), which only the swap calls (skipped without strace).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, readlink, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as openpgp from 'openpgp';
import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import { parseControlParagraphs } from '../debian/deb-file.ts';
import { parseRelease } from '../debian/inrelease.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { publishRepo } from './apt-repo.ts';
import { atUniquePath, poolCopyError, uniqueDir } from './apt-repo-place.ts';
import { entryFromParagraph } from './apt-repo-index.ts';
import { listRepo, removeFromRepo } from './apt-repo-remove.ts';
import { rollbackRepo } from './apt-repo-rollback.ts';
import { buildTestDeb } from './apt-repo-test-debs.ts';
import { generateSigningKey } from './signing.ts';

const execFileP = promisify(execFile);
const secret = await generateSigningKey({ name: 'kiln apt-repo crash test' });
const key = await openpgp.readPrivateKey({ armoredKey: secret.secretArmored });
const later = (minutes: number): Date => new Date(Math.ceil(Date.now() / 1000) * 1000 + minutes * 60_000);
const strace = ['/usr/bin/strace', '/bin/strace'].find((p) => existsSync(p));
const child = join(import.meta.dirname, 'apt-repo-test-child.ts');

const listing = async (repo: string, suite: string): Promise<string[]> => (await listRepo(repo, suite)).map((p) => `${p.package} ${p.version} ${p.architecture}`);

/** Every index of the live suite lists pool files that hold the bytes it says (else: what differs). */
async function poolMismatches(repo: string, suite: string): Promise<string[]> {
  const dir = join(repo, 'dists', suite);
  const release = parseRelease(await readFile(join(dir, 'Release'), 'utf8'), 'Release');
  const out: string[] = [];
  for (const f of release.files.values()) {
    if (!f.path.endsWith('/Packages')) continue;
    for (const p of parseControlParagraphs(await readFile(join(dir, f.path), 'utf8'), f.path)) {
      const e = entryFromParagraph(p, f.path);
      const have = await readFile(join(repo, e.filename)).then(sha256, () => 'missing');
      if (have !== e.sha256) out.push(`${e.filename}: ${have === 'missing' ? 'missing' : 'other bytes'}`);
    }
  }
  return out;
}

/** Runs one operation in a child process killed (SIGKILL) at its swap of `dists`. */
async function killedAtSwap(keyFile: string, args: string[]): Promise<void> {
  const r = await execFileP(strace!, ['-f', '-qq', '-o', '/dev/null', '-e', 'trace=symlink', '-e', 'inject=symlink:signal=KILL', process.execPath, child, keyFile, ...args])
    .then(() => 'exited', (e: { signal?: string; code?: number; stderr?: string }) => `${e.signal ?? ''}${e.code ?? ''} ${e.stderr ?? ''}`);
  assert.match(r, /^(SIGKILL|137)/, `the child was killed at the swap: ${r}`);
}

async function setup(prefix: string): Promise<{ dir: Awaited<ReturnType<typeof tmpDir>>; repo: string; debs: string; keyFile: string }> {
  const dir = await tmpDir(prefix);
  const debs = join(dir.path, 'debs');
  await mkdir(debs);
  const keyFile = join(dir.path, 'key.asc');
  await writeFile(keyFile, secret.secretArmored);
  return { dir, repo: join(dir.path, 'repo'), debs, keyFile };
}

test('content-unique pool paths: a .deb\'s Filename, a source\'s Directory and every file in it (pure)', () => {
  const sha = 'ab'.repeat(32);
  assert.equal(uniqueDir('pool/main/h/hello', sha), 'pool/main/h/hello/+abababababababab');
  const deb = atUniquePath({
    path: '/x/hello_1_amd64.deb',
    entry: entryFromParagraph([{ name: 'Package', value: 'hello' }, { name: 'Version', value: '1' }, { name: 'Architecture', value: 'amd64' }, { name: 'Filename', value: 'pool/main/h/hello/hello_1_amd64.deb' }, { name: 'SHA256', value: sha }], 't'),
    files: [{ from: '/x/hello_1_amd64.deb', filename: 'pool/main/h/hello/hello_1_amd64.deb', sha256: sha }],
  });
  assert.equal(deb.entry.filename, 'pool/main/h/hello/+abababababababab/hello_1_amd64.deb');
  assert.deepEqual(deb.entry.fields.find((f) => f.name === 'Filename'), { name: 'Filename', value: deb.entry.filename });
  assert.deepEqual(deb.files.map((f) => f.filename), [deb.entry.filename]);
  const src = atUniquePath({
    path: '/x/hello_1.dsc',
    entry: { package: 'hello', version: '1', architecture: 'source', filename: 'pool/main/h/hello/hello_1.dsc', sha256: sha, fields: [{ name: 'Package', value: 'hello' }, { name: 'Directory', value: 'pool/main/h/hello' }] },
    files: [{ from: '/x/hello_1.dsc', filename: 'pool/main/h/hello/hello_1.dsc', sha256: sha }, { from: '/x/hello_1.tar.gz', filename: 'pool/main/h/hello/hello_1.tar.gz', sha256: 'cd'.repeat(32) }],
  });
  assert.equal(src.entry.filename, 'pool/main/h/hello/+abababababababab/hello_1.dsc');
  assert.deepEqual(src.entry.fields, [{ name: 'Package', value: 'hello' }, { name: 'Directory', value: 'pool/main/h/hello/+abababababababab' }]);
  assert.deepEqual(src.files.map((f) => f.filename), ['pool/main/h/hello/+abababababababab/hello_1.dsc', 'pool/main/h/hello/+abababababababab/hello_1.tar.gz']);
});

test('poolCopyError: a full disk names the repository and the pool file, not the .deb (pure)', () => {
  const full = Object.assign(new Error("ENOSPC: no space left on device, copyfile '/in/hello.deb' -> '/r/.kiln/incoming/x.tmp'"), { code: 'ENOSPC', path: '/in/hello.deb' });
  const e = poolCopyError(full, '/r', '/r/pool/main/h/hello/hello_1_amd64.deb');
  assert.ok(e instanceof KilnError && e.code === 'path-unusable');
  assert.match(e.message, /^cannot copy into the pool of the repository \/r: \/r\/pool\/main\/h\/hello\/hello_1_amd64\.deb: no space left on the device \(ENOSPC\): the disk of the repository is full$/);
  assert.doesNotMatch(e.message, /\/in\/hello\.deb/);
  assert.match(e.hint ?? '', /free space on the disk holding \/r/);
  assert.match(poolCopyError(Object.assign(new Error('q'), { code: 'EDQUOT' }), '/r', '/r/pool/f')?.message ?? '', /disk quota exceeded/);
  assert.equal(poolCopyError(Object.assign(new Error('x'), { code: 'EACCES' }), '/r', '/r/pool/f'), undefined);
});

test('killed at the swap, a same-version rebuild leaves the live repository whole; the next publish and a rollback work', { skip: strace === undefined ? 'strace is not installed' : false }, async () => {
  const { dir, repo, debs, keyFile } = await setup('kiln-aptrepo-crash-rsv-');
  await using _ = dir;
  const a = await buildTestDeb(debs, { package: 'alpha', version: '1.0', architecture: 'amd64' });
  const other = join(dir.path, 'other');
  await mkdir(other);
  const b = await buildTestDeb(other, { package: 'alpha', version: '1.0', architecture: 'amd64', salt: 'rebuilt' });
  const beta = await buildTestDeb(debs, { package: 'beta', version: '1', architecture: 'all' });
  await publishRepo({ repoDir: repo, suite: 's', debs: [a], key, now: later(1) });
  await publishRepo({ repoDir: repo, suite: 's', debs: [beta], key, now: later(2) });
  const canonical = join(repo, 'pool/main/a/alpha/alpha_1.0_amd64.deb');
  const tree = await readlink(join(repo, 'dists'));

  await killedAtSwap(keyFile, ['publish', repo, 's', '--same-version', b]);
  assert.equal(await readlink(join(repo, 'dists')), tree, 'the old tree is live');
  assert.equal(sha256(await readFile(canonical)), sha256(await readFile(a)), 'the listed pool file keeps its bytes');
  assert.deepEqual(await poolMismatches(repo, 's'), []);

  // The rebuild again, to the end: listed at its own path; the old one still whole.
  const r = await publishRepo({ repoDir: repo, suite: 's', debs: [b], key, replaceSameVersion: true, now: later(3) });
  assert.deepEqual(r.packages.map((p) => [p.filename, p.outcome]), [[`pool/main/a/alpha/+${sha256(await readFile(b)).slice(0, 16)}/alpha_1.0_amd64.deb`, 'replaced']]);
  assert.deepEqual(await poolMismatches(repo, 's'), []);
  assert.equal(sha256(await readFile(canonical)), sha256(await readFile(a)));
  // A rollback killed at its swap changes nothing either; done, it lists the first build again.
  await killedAtSwap(keyFile, ['rollback', repo, 's']);
  assert.deepEqual(await poolMismatches(repo, 's'), []);
  await rollbackRepo({ repoDir: repo, suite: 's', key, now: later(4) });
  assert.deepEqual(await poolMismatches(repo, 's'), []);
  const listed = await readFile(join(repo, 'dists/s/main/binary-amd64/Packages'), 'utf8');
  assert.match(listed, /^Filename: pool\/main\/a\/alpha\/alpha_1\.0_amd64\.deb$/m);
});

test('killed at the swap, a publish, remove or rollback keeps the undo of the change before it', { skip: strace === undefined ? 'strace is not installed' : false }, async () => {
  const { dir, repo: base, debs, keyFile } = await setup('kiln-aptrepo-crash-undo-');
  await using _ = dir;
  const v = await Promise.all(['1', '2', '3'].map((x) => buildTestDeb(debs, { package: 'hello', version: x, architecture: 'amd64' })));
  await publishRepo({ repoDir: base, suite: 's', debs: [v[0]!], key, now: later(1) });
  await publishRepo({ repoDir: base, suite: 's', debs: [v[1]!], key, now: later(2) });
  for (const args of [['publish', 's', v[2]!], ['remove', 's', 'hello'], ['rollback', 's']]) {
    const repo = join(dir.path, `repo-${args[0]!}`);
    await cp(base, repo, { recursive: true, verbatimSymlinks: true });
    const [op, ...rest] = args;
    await killedAtSwap(keyFile, [op!, repo, ...rest]);
    assert.deepEqual(await listing(repo, 's'), ['hello 2 amd64'], `${op}: the old tree is live`);
    // The undo of publishing 2 is still there: back to 1.
    const r = await rollbackRepo({ repoDir: repo, suite: 's', key, now: later(3) });
    assert.deepEqual(r.changes.map((c) => `${c.outcome} ${c.version}`), ['restored 1'], op);
    assert.deepEqual(await listing(repo, 's'), ['hello 1 amd64'], op);
    assert.deepEqual(await poolMismatches(repo, 's'), [], op);
  }
});

test('killed between the swap and the record\'s rename: the next locked operation takes the pending record, and the undo works', async () => {
  await using dir = await tmpDir('kiln-aptrepo-crash-pending-');
  const repo = join(dir.path, 'repo');
  const v = await Promise.all(['1', '2', '3'].map((x) => buildTestDeb(dir.path, { package: 'hello', version: x, architecture: 'amd64' })));
  await publishRepo({ repoDir: repo, suite: 's', debs: [v[0]!], key, now: later(1) });
  await publishRepo({ repoDir: repo, suite: 's', debs: [v[1]!], key, now: later(2) });
  const prev = join(repo, '.kiln/previous');
  const recordOf2 = await readFile(join(prev, 's.json'), 'utf8');
  await publishRepo({ repoDir: repo, suite: 's', debs: [v[2]!], key, now: later(3) });
  // As a kill right after the swap leaves it: 3 is live, its record still pending, the old one in place.
  await rename(join(prev, 's.json'), join(prev, '.s.next.json'));
  await writeFile(join(prev, 's.json'), recordOf2);
  const r = await rollbackRepo({ repoDir: repo, suite: 's', key, now: later(4) });
  assert.deepEqual(r.changes.map((c) => `${c.outcome} ${c.version} (was ${c.previous ?? ''})`), ['restored 2 (was 3)']);
  assert.deepEqual(await readdir(prev), ['s.json']);
  // A pending record of a change that never went live is dropped, the record kept.
  const record = await readFile(join(prev, 's.json'), 'utf8');
  await writeFile(join(prev, '.s.next.json'), JSON.stringify({ format: 1, suite: 's', after: '0'.repeat(64) }));
  await publishRepo({ repoDir: repo, suite: 's', debs: [v[1]!], key, now: later(5) });
  assert.deepEqual(await readdir(prev), ['s.json']);
  assert.equal(await readFile(join(prev, 's.json'), 'utf8'), record, 'a publish that changes nothing records nothing');
});

test('leftovers of killed operations go at the start of every locked operation: a publish that changes nothing, a refused remove, a refused rollback', async () => {
  await using dir = await tmpDir('kiln-aptrepo-crash-leftovers-');
  const repo = join(dir.path, 'repo');
  const deb = await buildTestDeb(dir.path, { package: 'hello', version: '1', architecture: 'amd64' });
  await publishRepo({ repoDir: repo, suite: 's', debs: [deb], key, now: later(1) });
  const live = await readlink(join(repo, 'dists'));
  const plant = async (): Promise<void> => {
    await mkdir(join(repo, 'dists.zz-1/s'), { recursive: true });
    await mkdir(join(repo, '.dists.zz-2.tmp/s'), { recursive: true });
    await mkdir(join(repo, '.kiln/incoming'), { recursive: true });
    await writeFile(join(repo, '.kiln/incoming/hello_1_amd64.deb.1234.tmp'), 'half');
    await mkdir(join(repo, '.kiln/previous'), { recursive: true });
    await writeFile(join(repo, '.kiln/previous/.s.next.json'), '{ half');
    await writeFile(join(repo, '.kiln/previous/.s.abcd.tmp'), '{ half');
  };
  const left = async (): Promise<string[]> => [
    ...(await readdir(repo)).filter((n) => n.includes('dists') && n !== 'dists' && n !== live),
    ...(await readdir(join(repo, '.kiln'))).filter((n) => n === 'incoming'),
    ...(await readdir(join(repo, '.kiln/previous')).catch(() => [] as string[])),
  ];
  const ops: [string, () => Promise<unknown>][] = [
    ['a publish that changes nothing', async () => assert.equal((await publishRepo({ repoDir: repo, suite: 's', debs: [deb], key, now: later(2) })).unchanged, true)],
    ['a refused remove', () => assert.rejects(removeFromRepo({ repoDir: repo, suite: 's', specs: ['nosuch'], key }), (e: unknown) => e instanceof KilnError && e.code === 'usage')],
    ['a refused rollback', () => assert.rejects(rollbackRepo({ repoDir: repo, suite: 's', key }), (e: unknown) => e instanceof KilnError && /no previous state/.test(e.message))],
  ];
  for (const [what, op] of ops) {
    await plant();
    await op();
    assert.deepEqual(await left(), [], what);
    assert.equal(await readlink(join(repo, 'dists')), live, what);
  }
});
