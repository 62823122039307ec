import assert from 'node:assert/strict';
import { readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isKilnError } from '../errors.ts';
import { runGroup } from '../lib/spawn-group.ts';
import { heldBufferBytes, heldBufferBytesNow } from '../../test/helpers/held-memory.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { openJobLog } from './job-log.ts';
import { linesOf, rawLogFilter, readLogTail } from './read-log.ts';

/** A clock the test moves by hand, starting at 2026-11-21T12:00:00Z. */
function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = Date.UTC(2026, 10, 21, 12, 0, 0);
  return { now: () => t, advance: (ms) => void (t += ms) };
}

async function lines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').slice(0, -1);
}

describe('openJobLog', () => {
  test('onLine: each complete line of the output, without its \\r, across chunks (of a cut line its last piece); not kiln\'s own lines', async () => {
    await using dir = await tmpDir();
    const seen: string[] = [];
    const log = await openJobLog(join(dir.path, 'job.log'), { maxLineBytes: 8, maxBytes: 1, onLine: (b) => seen.push(b.toString()) });
    log.note('a note');
    log.write('stdout', Buffer.from('one\r\ntw'));
    log.write('stderr', Buffer.from('err\n'));
    log.write('stdout', Buffer.from('o\nabcdefghijk\n\n'));
    log.write('stdout', Buffer.from('unterminated'));
    await log.close();
    // Past the log limit (1 byte) too: the watchdog sees what is not written.
    assert.deepEqual(seen, ['one', 'err', 'two', 'ijk', '']);
  });

  test('rawLogFilter: the build\'s output as printed, cut lines joined again, kiln\'s lines and stamps gone', async () => {
    await using dir = await tmpDir();
    const log = await openJobLog(join(dir.path, 'job.log'), { maxLineBytes: 8 });
    log.phase('build');
    log.write('stdout', Buffer.from('gcc -O2 -c x.c -o x.o\nshort\n'));
    log.write('stderr', Buffer.from('warning: [x] here\n\n'));
    log.note('failed: the build script exited with status 1');
    await log.close();
    const raw = rawLogFilter();
    const out = (await lines(log.path)).map((l) => raw(l)).filter((t) => t !== undefined).join('');
    assert.equal(out, 'gcc -O2 -c x.c -o x.o\nshort\nwarning: [x] here\n\n');
  });

  test('rawLogFilter: a cut stdout line is printed whole, after a stderr line that came in its middle; a lone \\r stays in its line', async () => {
    await using dir = await tmpDir();
    const log = await openJobLog(join(dir.path, 'job.log'), { maxLineBytes: 8 });
    log.write('stdout', Buffer.from('abcdefghijkl'));
    log.write('stderr', Buffer.from('warning: W\n'));
    log.write('stdout', Buffer.from('mno\n50%\r100%\n'));
    await log.close();
    const raw = rawLogFilter();
    const text = await readFile(log.path);
    const out: string[] = [];
    for await (const line of linesOf([text])) {
      const t = raw(line);
      if (t !== undefined) out.push(t);
    }
    assert.deepEqual(out, ['warning: W\n', 'abcdefghijklmno\n', '50%\r100%\n']);
  });

  test('the log limit counts what is written, stamps included: a build printing one-byte lines stays within it', async () => {
    await using dir = await tmpDir();
    const log = await openJobLog(join(dir.path, 'job.log'), { maxBytes: 10_000 });
    for (let i = 0; i < 200; i++) log.write('stdout', Buffer.from('y\n'.repeat(500)));
    await log.close();
    const size = (await stat(log.path)).size;
    // 10,000 bytes of lines, kiln's notes, and the last 200 lines of 14 bytes.
    assert.ok(size < 10_000 + 1_000 + 200 * 14, `a log of ${size} bytes for a limit of 10,000`);
  });

  test('the log limit: lines dropped are shown once at the end, not those already written', async () => {
    await using dir = await tmpDir();
    const log = await openJobLog(join(dir.path, 'job.log'), { maxBytes: 60 });
    for (const l of ['a1', 'a2', 'a3', 'b1', 'b2']) log.write('stdout', Buffer.from(`${l}\n`));
    await log.close();
    const out = (await lines(log.path)).filter((l) => / o /.test(l)).map((l) => l.slice(-2));
    assert.deepEqual(out, ['a1', 'a2', 'a3', 'b1', 'b2']);
  });

  test('the log limit: output past it is counted, not written; kiln\'s lines still are; the last lines come at the end', async () => {
    await using dir = await tmpDir();
    const clock = fakeClock();
    const log = await openJobLog(join(dir.path, 'job.log'), { now: clock.now, maxBytes: 200 });
    log.write('stdout', Buffer.from('line 1: twenty bytes\n'.repeat(4)));
    clock.advance(1000);
    for (let i = 2; i <= 500; i++) log.write('stdout', Buffer.from(`more ${i}\n`));
    log.note('failed: the build script exited with status 1');
    await log.close();
    const got = await lines(log.path);
    assert.equal(got.filter((l) => l.includes(' o line 1')).length, 4);
    // Counted as written (stamp, tag, line, newline): 4 × 34 + 3 × 20 bytes fit in 200; "more 5" does not.
    assert.deepEqual(got.slice(5, 8), ['[   1.000] o more 2', '[   1.000] o more 3', '[   1.000] o more 4']);
    assert.match(got[8]!, /k ==> the log limit of 200 bytes is reached/);
    assert.equal(got.filter((l) => l.endsWith(' o more 5')).length, 0, 'output past the limit was written');
    assert.ok(got.includes('[   1.000] k failed: the build script exited with status 1'), got.join('\n'));
    const at = got.findIndex((l) => /k ==> \d+ bytes of output were not written \(log limit 200 bytes\); its last \d+ lines, as they came:/.test(l));
    assert.ok(at !== -1, got.join('\n'));
    const shown = Number(/its last (\d+) lines/.exec(got[at]!)![1]);
    assert.ok(shown >= 190, String(shown));
    assert.equal(got.length, at + 1 + shown);
    assert.equal(got.at(-1), '[   1.000] o more 500');
    assert.ok((await stat(log.path)).size < 10_000);
  });

  test('stamps, tags, phases and notes', async () => {
    await using dir = await tmpDir();
    const clock = fakeClock();
    const log = await openJobLog(join(dir.path, 'sub/job.log'), { now: clock.now });
    log.phase('build');
    clock.advance(12_345);
    log.write('stdout', Buffer.from('hello\nwor'));
    log.write('stderr', Buffer.from('oops\r\n'));
    clock.advance(1);
    log.write('stdout', Buffer.from('ld\n'));
    log.note('two\nlines');
    await log.close();
    assert.deepEqual(await lines(log.path), [
      '[   0.000] k ==> log opened at 2026-11-21T12:00:00.000Z (times are seconds since then)',
      '[   0.000] k ==> phase build at 2026-11-21T12:00:00.000Z',
      '[  12.345] o hello',
      '[  12.345] e oops',
      '[  12.346] o world',
      '[  12.346] k two',
      '[  12.346] k lines',
    ]);
  });

  test('the header is stamped 0.000 even when making the directory takes time', async () => {
    await using dir = await tmpDir();
    const clock = fakeClock();
    const opening = openJobLog(join(dir.path, 'new/dir/job.log'), { now: clock.now });
    // openJobLog is now waiting for its directory: time passes meanwhile.
    clock.advance(10);
    const log = await opening;
    await log.close();
    assert.deepEqual(await lines(log.path), ['[   0.000] k ==> log opened at 2026-11-21T12:00:00.010Z (times are seconds since then)']);
  });

  test('keeps partial lines apart per stream and flushes them on close', async () => {
    await using dir = await tmpDir();
    const log = await openJobLog(join(dir.path, 'job.log'), { now: () => 0 });
    log.write('stdout', Buffer.from('out-'));
    log.write('stderr', Buffer.from('err-'));
    log.write('stdout', Buffer.from('1\nout-2'));
    log.write('stderr', Buffer.from('1'));
    await log.close();
    assert.deepEqual((await lines(log.path)).slice(1), [
      '[   0.000] o out-1',
      '[   0.000] o out-2',
      '[   0.000] e err-1',
    ]);
  });

  test('cuts overlong lines into marked pieces without splitting a character', async () => {
    await using dir = await tmpDir();
    const log = await openJobLog(join(dir.path, 'job.log'), { now: () => 0, maxLineBytes: 8 });
    log.write('stdout', Buffer.from('abcdef'));
    log.write('stdout', Buffer.from('ghij'));
    log.write('stdout', Buffer.from('klmnopqrstu\nab€€€x\n')); // € is 3 bytes
    await log.close();
    const body = (await lines(log.path)).slice(1).map((l) => l.slice(11));
    assert.deepEqual(body, ['o+ abcdefgh', 'o+ ijklmnop', 'o qrstu', 'o+ ab€€', 'o €x']);
  });

  test('tail() comes from memory, newest last, bounded by the ring', async () => {
    await using dir = await tmpDir();
    const log = await openJobLog(join(dir.path, 'job.log'), { now: () => 0, tailLines: 3 });
    await unlink(log.path); // the ring must not need the file
    log.write('stdout', Buffer.from('1\n2\n3\n'));
    log.write('stderr', Buffer.from('4\n5\n'));
    assert.deepEqual(log.tail(2), ['[   0.000] e 4', '[   0.000] e 5']);
    assert.deepEqual(log.tail(10), ['[   0.000] o 3', '[   0.000] e 4', '[   0.000] e 5']);
    assert.deepEqual(log.tail(0), []);
    await log.close();
  });

  test('append keeps what was there', async () => {
    await using dir = await tmpDir();
    const path = join(dir.path, 'job.log');
    await writeFile(path, 'attempt 1\n');
    const log = await openJobLog(path, { append: true, now: () => 0 });
    log.write('stdout', Buffer.from('x\n'));
    await log.close();
    const got = await lines(path);
    assert.equal(got[0], 'attempt 1');
    assert.equal(got.at(-1), '[   0.000] o x');
  });

  test('an unopenable path is named in the error', async () => {
    await using dir = await tmpDir();
    await assert.rejects(openJobLog(dir.path), (e: Error) => e.message.includes(dir.path));
  });

  test('asks the writer to wait once the stream buffer is full', async () => {
    await using dir = await tmpDir();
    const log = await openJobLog(join(dir.path, 'job.log'), { highWaterMark: 64 });
    const r = log.write('stdout', Buffer.from('x'.repeat(100) + '\n'));
    assert.ok(r instanceof Promise, 'write() should return a promise when over the high-water mark');
    await r;
    assert.equal(log.write('stdout', Buffer.from('partial only')), undefined);
    await log.close();
    assert.equal((await lines(log.path)).length, 3);
  });

  test('write after close is refused', async () => {
    await using dir = await tmpDir();
    const log = await openJobLog(join(dir.path, 'job.log'));
    await log.close();
    await log.close(); // idempotent
    assert.throws(() => log.write('stdout', Buffer.from('late\n')), /closed/);
  });

  test('50 MB of build output through runGroup keeps memory flat', async () => {
    await using dir = await tmpDir();
    const log = await openJobLog(join(dir.path, 'job.log'));
    const line = 'x'.repeat(99);
    const before = await heldBufferBytes();
    let peak = before;
    let chunks = 0;
    const r = await runGroup(['sh', '-c', `yes ${line} | head -c 50000000`], {
      env: { PATH: '/usr/bin:/bin' },
      cwd: '/',
      onOutput: (stream, chunk) => {
        if (++chunks % 100 === 0) peak = Math.max(peak, heldBufferBytesNow());
        return log.write(stream, chunk);
      },
    });
    await log.close();
    assert.equal(r.exitCode, 0);
    const after = await heldBufferBytes();
    const [peakMb, afterMb] = [(peak - before) / 1e6, (after - before) / 1e6];
    assert.ok(chunks >= 300, `only ${chunks} chunks`);
    assert.ok(peakMb < 10 && afterMb < 5, `buffers held: ${peakMb.toFixed(1)} MB at most during the 50 MB, ${afterMb.toFixed(1)} MB after`);
    // 500,000 lines of 100 bytes, each with an 11-byte stamp and a 2-byte tag, plus the header.
    const { size } = await stat(log.path);
    const header = (await readLogTail(log.path, 500_001))[0]!.length + 1;
    assert.equal(size, 500_000 * (100 + 11 + 2) + header);
    assert.match(log.tail(1)[0]!, /^\[ *\d+\.\d{3}\] o x{99}$/);
  });
});

describe('readLogTail', () => {
  test('reads the last lines across block boundaries', async () => {
    await using dir = await tmpDir();
    const path = join(dir.path, 'big.log');
    const all = Array.from({ length: 20_000 }, (_, i) => `line ${i} ${'é'.repeat(i % 7)}`);
    await writeFile(path, all.join('\n') + '\n');
    assert.deepEqual(await readLogTail(path, 3), all.slice(-3));
    assert.deepEqual(await readLogTail(path, 5000), all.slice(-5000));
    assert.deepEqual(await readLogTail(path, 50_000), all);
    assert.deepEqual(await readLogTail(path, 0), []);
  });

  test('an unterminated last line counts', async () => {
    await using dir = await tmpDir();
    const path = join(dir.path, 'x.log');
    await writeFile(path, 'a\nb\nc');
    assert.deepEqual(await readLogTail(path, 2), ['b', 'c']);
    await writeFile(path, '');
    assert.deepEqual(await readLogTail(path, 2), []);
  });

  test('a missing log is a log-not-found error naming the path', async () => {
    await assert.rejects(readLogTail('/nonexistent/kiln/job.log', 5), (e: unknown) => {
      assert.ok(isKilnError(e));
      assert.equal(e.code, 'log-not-found');
      assert.match(e.message, /\/nonexistent\/kiln\/job\.log/);
      return true;
    });
  });
});
