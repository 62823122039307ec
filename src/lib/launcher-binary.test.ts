import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { buildLauncher } from './launcher-binary.ts';

/** The helper's first frame: R "rusage reaper". */
async function readyFrame(bin: string): Promise<string> {
  const child = spawn(bin, ['20'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const first = await new Promise<Buffer>((resolve) => child.stdout.once('data', resolve));
  child.stdin.end();
  await new Promise((resolve) => child.once('exit', resolve));
  return `${String.fromCharCode(first[0]!)} ${first.subarray(5, 5 + first.readUInt32BE(1)).toString()}`;
}

test('the launcher is built once into a private folder, then reused', async () => {
  await using tmp = await tmpDir();
  const root = join(tmp.path, 'cache', 'kiln', 'launcher');
  const bin = await buildLauncher(root, 'cc');
  assert.ok(bin !== undefined, 'cc is installed here (build-essential)');
  assert.equal(statSync(root).mode & 0o777, 0o700);
  assert.match(await readyFrame(bin), /^R 1 [01]$/);
  const mtime = statSync(bin).mtimeMs;
  assert.equal(await buildLauncher(root, 'cc'), bin);
  assert.equal(statSync(bin).mtimeMs, mtime, 'not built again');
  assert.deepEqual(readdirSync(join(bin, '..')), ['kiln-launcher'], 'no build leftovers');
});

test('no launcher (perl is used) without a compiler, when the build fails, or in a folder others can write', async () => {
  await using tmp = await tmpDir();
  assert.equal(await buildLauncher(join(tmp.path, 'a'), join(tmp.path, 'no-such-cc')), undefined);
  const failing = join(tmp.path, 'failing-cc');
  writeFileSync(failing, '#!/bin/sh\n[ "$1" = --version ] && { echo failing-cc 1.0; exit 0; }\necho "error: nope" >&2; exit 1\n');
  chmodSync(failing, 0o755);
  const root = join(tmp.path, 'b');
  assert.equal(await buildLauncher(root, failing), undefined);
  for (const d of readdirSync(root)) assert.deepEqual(readdirSync(join(root, d)), [], 'the failed build left nothing');
  const open = join(tmp.path, 'open');
  mkdirSync(open, { mode: 0o777 });
  chmodSync(open, 0o777);
  assert.equal(await buildLauncher(open, 'cc'), undefined);
});
