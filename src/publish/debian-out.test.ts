import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyUploadFiles, isUploadFile } from './debian-out.ts';

test('isUploadFile: what an upload takes, not the rest of a build output', () => {
  const rows: [string, boolean][] = [
    ['hello_2.10-3_amd64.changes', true],
    ['hello_2.10-3_amd64.buildinfo', true],
    ['hello_2.10-3_amd64.deb', true],
    ['hello-dbgsym_2.10-3_amd64.deb', true],
    ['d-i_1_amd64.udeb', true],
    ['hello_2.10-3.dsc', false],
    ['hello_2.10-3.debian.tar.xz', false],
    ['.hidden.deb', false],
    ['log', false],
  ];
  for (const [name, want] of rows) assert.equal(isUploadFile(name), want, name);
});

test('copyUploadFiles: regular upload files only, replacing an older copy, leaving nothing aside', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-out-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const from = join(dir, 'staged');
  const out = join(dir, 'out', 'upload');
  mkdirSync(from);
  for (const [name, text] of [['a_1_amd64.changes', 'changes'], ['a_1_amd64.buildinfo', 'info'], ['a_1_amd64.deb', 'deb'], ['a_1.dsc', 'dsc']] as const) writeFileSync(join(from, name), text);
  symlinkSync('/etc/shadow', join(from, 'evil_1_amd64.deb'));
  assert.deepEqual(await copyUploadFiles(from, out), ['a_1_amd64.buildinfo', 'a_1_amd64.changes', 'a_1_amd64.deb']);
  assert.deepEqual(readdirSync(out).sort(), ['a_1_amd64.buildinfo', 'a_1_amd64.changes', 'a_1_amd64.deb']);
  // A rebuild's files replace the earlier ones.
  writeFileSync(join(from, 'a_1_amd64.deb'), 'deb, rebuilt');
  await copyUploadFiles(from, out);
  assert.equal(readFileSync(join(out, 'a_1_amd64.deb'), 'utf8'), 'deb, rebuilt');
  assert.deepEqual(readdirSync(out).sort(), ['a_1_amd64.buildinfo', 'a_1_amd64.changes', 'a_1_amd64.deb']);
});

test('copyUploadFiles never writes through a link planted in DIR', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-out-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const from = join(dir, 'staged');
  const out = join(dir, 'out');
  mkdirSync(from);
  mkdirSync(out);
  writeFileSync(join(from, 'x_1_amd64.deb'), 'DEB');
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'precious');
  // Whatever name kiln would write aside, and the final name itself, planted as links.
  symlinkSync(victim, join(out, `.x_1_amd64.deb.kiln-${process.pid}`));
  symlinkSync(victim, join(out, 'x_1_amd64.deb'));
  await copyUploadFiles(from, out);
  assert.equal(readFileSync(victim, 'utf8'), 'precious');
  assert.equal(readFileSync(join(out, 'x_1_amd64.deb'), 'utf8'), 'DEB');
});
