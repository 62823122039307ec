import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { fetchFile, isFileUrl, statusForFileError } from './file-fetch.ts';
import { kilnFetch } from '../config/credentials.ts';

test('statusForFileError: what a web server would answer', () => {
  const table: [string | undefined, number][] = [['ENOENT', 404], ['ENOTDIR', 404], ['EISDIR', 404], ['EACCES', 403], ['EPERM', 403], ['EIO', 500], [undefined, 500]];
  for (const [code, status] of table) assert.equal(statusForFileError(code).status, status, String(code));
});

test('isFileUrl: file: strings and URLs only', () => {
  assert.equal(isFileUrl('file:///srv/x'), true);
  assert.equal(isFileUrl(new URL('file:///srv/x')), true);
  assert.equal(isFileUrl('http://host.example/x'), false);
  assert.equal(isFileUrl(new URL('https://host.example/x')), false);
  assert.equal(isFileUrl(undefined), false);
});

test('fetchFile and kilnFetch read a file: URL; a missing file or a folder is 404', async () => {
  await using dir = await tmpDir('kiln-file-fetch-');
  const file = join(dir.path, 'dists', 'InRelease');
  await mkdir(join(dir.path, 'dists'));
  await writeFile(file, 'Suite: bookworm\n');
  for (const f of [fetchFile, kilnFetch]) {
    const ok = await f(pathToFileURL(file).href);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('content-length'), '16');
    assert.equal(await ok.text(), 'Suite: bookworm\n');
    assert.equal((await f(pathToFileURL(join(dir.path, 'nope')).href)).status, 404);
    assert.equal((await f(pathToFileURL(join(dir.path, 'dists')).href)).status, 404);
  }
  const head = await fetchFile(pathToFileURL(file).href, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), '16');
  assert.equal(head.body, null, 'HEAD opens no stream');
  assert.equal((await fetchFile('file:///proc/self/status')).headers.get('content-length'), null, 'a /proc file has no known length');
  const aborted = AbortSignal.abort(new Error('stop'));
  await assert.rejects(fetchFile(pathToFileURL(file).href, { signal: aborted }), /stop/);
  if (process.getuid?.() !== 0) {
    await chmod(file, 0);
    assert.equal((await fetchFile(pathToFileURL(file).href)).status, 403);
  }
});
