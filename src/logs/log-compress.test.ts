import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readLogTail } from '../publish/report.ts';
import { followLog } from './follow.ts';
import { compressedLogPath, compressFinishedLog, EXCERPT, logExists, openLogText } from './log-compress.ts';
import { linesOf, rawLogFilter } from './read-log.ts';

function scratch(t: { after: (f: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-log-compress-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A log in job-log.ts's format: a kiln header, then `n` lines of build output. */
function writeLog(path: string, n: number): string {
  const lines = ['[   0.000] k ==> log opened at 2026-11-23T09:00:00.000Z (times are seconds since then)'];
  for (let i = 0; i < n; i++) lines.push(`[${(i / 1000).toFixed(3).padStart(8)}] ${i % 7 === 0 ? 'e' : 'o'} compiling unit ${i} of the build, with some words to make it long`);
  lines.push(`[${(n / 1000).toFixed(3).padStart(8)}] k ==> phase pack at 2026-11-23T09:00:10.000Z`);
  const text = `${lines.join('\n')}\n`;
  writeFileSync(path, text);
  return text;
}

async function textOf(path: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of await openLogText(path)) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

test('a log under the threshold stays as it is', async (t) => {
  const log = join(scratch(t), 'small_amd64.log');
  const text = writeLog(log, 100);
  assert.equal(await compressFinishedLog(log, 1024 * 1024), undefined);
  assert.equal(readFileSync(log, 'utf8'), text);
  assert.equal(existsSync(compressedLogPath(log)), false);
  assert.equal(await textOf(log), text);
});

test('a large log: the .zst holds all of it, the log becomes an excerpt whose end is the log\'s end', async (t) => {
  const dir = scratch(t);
  const log = join(dir, 'loud_amd64.log');
  const text = writeLog(log, 40_000);
  const r = await compressFinishedLog(log, 1024 * 1024);
  assert.ok(r !== undefined);
  assert.equal(r.bytes, Buffer.byteLength(text));
  assert.ok(r.compressedBytes < r.bytes / 5, `${r.compressedBytes} of ${r.bytes} bytes`);
  // The whole log, through kiln and through the zstd tool alike.
  assert.equal(await textOf(log), text);
  assert.equal(execFileSync('zstd', ['-dc', compressedLogPath(log)], { maxBuffer: 64 * 1024 * 1024 }).toString('utf8'), text);
  // The excerpt: the first lines, a kiln line naming the .zst, the last lines.
  const excerpt = readFileSync(log, 'utf8');
  assert.ok(statSync(log).size <= EXCERPT.headBytes + EXCERPT.tailBytes + 512);
  const lines = excerpt.split('\n').slice(0, -1);
  const all = text.split('\n').slice(0, -1);
  assert.deepEqual(lines.slice(0, EXCERPT.headLines), all.slice(0, EXCERPT.headLines));
  assert.match(lines[EXCERPT.headLines]!, /^\[[ \d.]+\] k ==> \d+ bytes of this log left out here: the whole log is loud_amd64\.log\.zst beside it/);
  assert.deepEqual(lines.slice(EXCERPT.headLines + 1), all.slice(-EXCERPT.tailLines));
  // What reads a log's end reads the excerpt as it read the log.
  assert.deepEqual(readLogTail(log, 50), all.slice(-50));
  // --raw leaves kiln's note out.
  const raw = rawLogFilter();
  assert.ok(!lines.map((l) => raw(l)).some((l) => l?.includes('left out')));
  assert.ok(logExists(log));
  // Nothing else left in the folder (no temp file).
  assert.deepEqual(readdirSync(dir).sort(), ['loud_amd64.log', 'loud_amd64.log.zst']);
  // Done once: a second call leaves both as they are.
  assert.equal(await compressFinishedLog(log, 1024 * 1024), undefined);
  assert.equal(await textOf(log), text);
});

test('openLogText: a missing log is ENOENT; a corrupt .zst is an error, not a short log', async (t) => {
  const dir = scratch(t);
  await assert.rejects(openLogText(join(dir, 'gone.log')), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  assert.equal(logExists(join(dir, 'gone.log')), false);
  const log = join(dir, 'bad.log');
  writeFileSync(log, 'excerpt\n');
  writeFileSync(compressedLogPath(log), Buffer.from('not zstd at all'));
  await assert.rejects(textOf(log));
});

test('following a log that is compressed as its job ends yields every line once', async (t) => {
  const dir = scratch(t);
  const log = join(dir, 'follow_amd64.log');
  const text = writeLog(log, 40_000);
  let done = false;
  const seen: string[] = [];
  let compressed = false;
  for await (const line of followLog(log, { fromStart: true, isDone: () => done, pollMs: 20 })) {
    seen.push(line);
    // Mid-way through, the job ends: its log is compressed, then it is said done.
    if (seen.length === 1000 && !compressed) {
      compressed = (await compressFinishedLog(log, 1024 * 1024)) !== undefined;
      done = true;
    }
  }
  assert.ok(compressed);
  assert.deepEqual(seen, text.split('\n').slice(0, -1));
});

test('following a log already compressed yields the whole log, not its excerpt', async (t) => {
  const dir = scratch(t);
  const log = join(dir, 'done_amd64.log');
  const text = writeLog(log, 40_000);
  assert.ok(await compressFinishedLog(log, 1024 * 1024));
  const seen: string[] = [];
  for await (const line of followLog(log, { fromStart: true, isDone: () => true })) seen.push(line);
  assert.deepEqual(seen, text.split('\n').slice(0, -1));
  const fromLines: string[] = [];
  for await (const line of linesOf(await openLogText(log))) fromLines.push(line);
  assert.deepEqual(fromLines, seen);
});

test('the excerpt keeps the log\'s bytes (any bytes), counts what it left out exactly, and its end is the log\'s end even with long lines', async (t) => {
  const dir = scratch(t);
  const log = join(dir, 'long_amd64.log');
  // 8 KiB lines: 256 KiB of tail holds fewer than 50 of them; a byte that is no UTF-8 in each.
  const lines: Buffer[] = [Buffer.from('[   0.000] k ==> log opened at 2026-11-23T09:00:00.000Z (times are seconds since then)\n')];
  // Short lines first (the excerpt's head takes 100 of them), one saying "error" near its end.
  for (let i = 0; i < 150; i++) lines.push(Buffer.from(i === 97 ? '[   0.001] e ./configure: line 99: error: optional libfoo not found\n' : `[   0.001] o checking for feature ${i}... yes\n`));
  for (let i = 0; i < 600; i++) lines.push(Buffer.concat([Buffer.from(`[${(i / 100).toFixed(3).padStart(8)}] o cc -c f${i}.c `), Buffer.from([0xff, 0xfe]), Buffer.from(`${'-DX '.repeat(2000)}\n`)]));
  lines.push(Buffer.from('[   9.000] e f599.c:10:5: error: the real cause\n'));
  lines.push(Buffer.from('[   9.001] k failed: the build script exited with status 2\n'));
  const whole = Buffer.concat(lines);
  writeFileSync(log, whole);
  assert.ok(await compressFinishedLog(log, 1024 * 1024));
  const excerpt = readFileSync(log);
  const note = excerpt.indexOf(' bytes of this log left out here');
  const noteStart = excerpt.lastIndexOf(10, note) + 1;
  const noteEnd = excerpt.indexOf(10, note) + 1;
  const head = excerpt.subarray(0, noteStart);
  const tail = excerpt.subarray(noteEnd);
  // Byte for byte the log's start and end (0xff survives), and the count is what is between.
  assert.ok(whole.subarray(0, head.length).equals(head));
  assert.ok(whole.subarray(whole.length - tail.length).equals(tail));
  const left = Number(/ k ==> (\d+) bytes of this log left out here/.exec(excerpt.subarray(noteStart, noteEnd).toString())![1]);
  assert.equal(head.length + left + tail.length, whole.length);
  assert.ok(tail.length <= EXCERPT.tailBytes);
  // The end as the report and the console read it: the tail's lines, never the head's.
  const end = readLogTail(log, 50);
  assert.equal(end.at(-1), '[   9.001] k failed: the build script exited with status 2');
  assert.ok(!end.some((l) => l.includes('optional libfoo')), 'a head line read as the log\'s end');
  assert.ok(end.length < 50 && end.length > 10, `${end.length} lines`);
});

test('a last line longer than the tail kept (no newline in it): the excerpt keeps no piece of it as the log\'s end', async (t) => {
  const dir = scratch(t);
  const log = join(dir, 'oneline_amd64.log');
  const whole = Buffer.concat([Buffer.from('[   0.000] k ==> log opened at 2026-11-23T09:00:00.000Z (times are seconds since then)\n'), Buffer.from(`[   1.000] o ${'y'.repeat(1_500_000)}`)]);
  writeFileSync(log, whole);
  assert.ok(await compressFinishedLog(log, 1024 * 1024));
  const excerpt = readFileSync(log, 'utf8');
  assert.ok(excerpt.endsWith('zstdless oneline_amd64.log.zst)\n'), excerpt.slice(-200));
  const left = Number(/ k ==> (\d+) bytes of this log left out here/.exec(excerpt)![1]);
  assert.equal(left, whole.length - whole.indexOf(10) - 1);
  assert.equal(await textOf(log), whole.toString('utf8'));
});
