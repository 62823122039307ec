// kiln verify's arguments through the real CLI (in-process): a missing path and a directory
// are said so before any network work, not as dpkg-deb's text under deb-invalid.

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runMain } from '../../test/helpers/cli-streams.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';

test('kiln verify: a missing file and a directory are usage errors naming the path (exit 2), before the mirror is asked', async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  // A mirror nothing listens on: reaching it would be an error of another kind.
  const common = ['--suite', 'bookworm', '--mirror', 'http://127.0.0.1:9/debian', '--state', state];
  const missing = join(dir.path, 'nonexistent.deb');
  const r = await runMain(['verify', missing, ...common]);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, new RegExp(`^kiln: error \\[usage\\]: ${missing}: no such file$`, 'm'));
  assert.match(r.err, /^ {2}hint: check the path: kiln verify takes the \.deb files you built$/m);
  assert.doesNotMatch(r.err + r.out, /deb-invalid|dpkg-deb/);

  const debs = join(dir.path, 'debs');
  await mkdir(debs);
  await writeFile(join(dir.path, 'ok.deb'), 'not checked: the directory after it stops the run first');
  const d = await runMain(['verify', join(dir.path, 'ok.deb'), `${debs}/`, ...common]);
  assert.equal(d.code, 2, d.err);
  assert.match(d.err, new RegExp(`^kiln: error \\[usage\\]: ${debs}/: is a directory; kiln verify takes \\.deb files$`, 'm'));
  assert.match(d.err, new RegExp(`^ {2}hint: name the files, e\\.g\\. \`kiln verify ${debs}/\\*\\.deb\`$`, 'm'));
  assert.equal(d.out, '', 'nothing verified');
});
