// readTar against GNU tar's own archives (ustar and GNU long names, pax headers, symlinks,
// hardlinks, empty files, setuid modes): every member with the metadata and sha256 that
// the files on disk have.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, createReadStream, link, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { normaliseTarPath, readTar } from './deb-tar.ts';

test('GNU and pax tar archives: names, types, links, modes, owners, sha256, kept data', async () => {
  await using dir = await tmpDir();
  const root = join(dir.path, 'root');
  const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(80)}.txt`;
  mkdirSync(join(root, long, '..'), { recursive: true });
  writeFileSync(join(root, long), 'long name\n');
  writeFileSync(join(root, 'empty'), '');
  writeFileSync(join(root, 'tool'), 'x'.repeat(1500));
  chmodSync(join(root, 'tool'), 0o4755);
  symlinkSync('tool', join(root, 'sym'));
  await promisify(link)(join(root, 'tool'), join(root, 'hard'));
  for (const format of ['gnu', 'pax']) {
    const tar = join(dir.path, `t-${format}.tar`);
    execFileSync('tar', [`--format=${format}`, '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000', '--sort=name', '-cf', tar, '-C', root, '.']);
    const r = await readTar(createReadStream(tar), { source: tar, keep: (p) => p === long });
    const by = new Map(r.entries.map((e) => [e.path, e]));
    assert.deepEqual([...by.keys()].sort(), ['.', 'dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd', `${'d'.repeat(60)}/${'e'.repeat(60)}`, long, 'empty', 'hard', 'sym', 'tool'].sort(), format);
    assert.equal(by.get(long)?.sha256, createHash('sha256').update('long name\n').digest('hex'));
    assert.equal(r.data.get(long)?.toString(), 'long name\n');
    assert.equal(r.data.size, 1);
    assert.equal(by.get('sym')?.type, 'symlink');
    assert.equal(by.get('sym')?.link, 'tool');
    // GNU tar stores the second name of a hardlink pair (sorted: tool) as a link to the first.
    assert.deepEqual([by.get('hard')?.type, by.get('hard')?.size, by.get('hard')?.mode], ['file', 1500, 0o4755]);
    assert.equal(by.get('hard')?.sha256, createHash('sha256').update('x'.repeat(1500)).digest('hex'));
    assert.deepEqual([by.get('tool')?.type, by.get('tool')?.link, by.get('tool')?.size], ['hardlink', 'hard', 0]);
    assert.equal(by.get('.')?.type, 'dir');
    assert.equal(by.get('empty')?.mtime, 1700000000);
    assert.equal(by.get('empty')?.uid, 0);
  }
});

test('a truncated archive is refused', async () => {
  await using dir = await tmpDir();
  writeFileSync(join(dir.path, 'f'), 'y'.repeat(5000));
  const tar = join(dir.path, 't.tar');
  execFileSync('tar', ['-cf', tar, '-C', dir.path, 'f']);
  const whole = execFileSync('cat', [tar]);
  const stream = (async function* () { yield whole.subarray(0, 2048); })();
  await assert.rejects(readTar(stream, { source: 't.tar' }), /truncated/);
});

test('normaliseTarPath', () => {
  assert.deepEqual(['./', './usr/bin/', 'usr//lib', '/etc/x'].map(normaliseTarPath), ['.', 'usr/bin', 'usr/lib', 'etc/x']);
});
