import assert from 'node:assert/strict';
import { appendFile, rename, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { runGroup } from '../lib/spawn-group.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { followLog } from './follow.ts';
import { openJobLog } from './job-log.ts';

/** Pull the next value, failing the test instead of hanging if it never comes. */
async function next(it: AsyncIterator<string>, withinMs = 3000): Promise<IteratorResult<string>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no line within ${withinMs} ms`)), withinMs);
  });
  try {
    return await Promise.race([it.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A signal aborted when the test ends, so a failed test never leaves a follower polling. */
function endsWith(t: TestContext): AbortSignal {
  const ac = new AbortController();
  t.after(() => ac.abort());
  return ac.signal;
}

describe('followLog', () => {
  test('yields appended lines as they come and joins partial ones', async (t) => {
    await using dir = await tmpDir();
    const path = join(dir.path, 'job.log');
    await writeFile(path, 'old\n');
    // A long poll interval: only fs.watch can make this test fast.
    const it = followLog(path, { isDone: () => false, pollMs: 10_000, signal: endsWith(t) })[Symbol.asyncIterator]();
    const first = next(it);
    await appendFile(path, 'one\ntw');
    assert.deepEqual(await first, { value: 'one', done: false });
    const second = next(it);
    await appendFile(path, 'o\r\nthree');
    assert.deepEqual(await second, { value: 'two', done: false });
  });

  test('once done, reads to the end, yields an unterminated last line and ends', async (t) => {
    await using dir = await tmpDir();
    const path = join(dir.path, 'job.log');
    let done = false;
    const it = followLog(path, { isDone: () => done, pollMs: 20, signal: endsWith(t) })[Symbol.asyncIterator]();
    const first = next(it);
    await writeFile(path, 'a\nlast words');
    done = true;
    assert.deepEqual(await first, { value: 'a', done: false });
    assert.deepEqual(await next(it), { value: 'last words', done: false });
    assert.equal((await next(it)).done, true);
  });

  test('fromStart reads what is already there', async () => {
    await using dir = await tmpDir();
    const path = join(dir.path, 'job.log');
    await writeFile(path, 'a\nb\n');
    const got = [];
    for await (const line of followLog(path, { fromStart: true, isDone: () => true })) got.push(line);
    assert.deepEqual(got, ['a', 'b']);
  });

  test('waits for a file that does not exist yet, then reads it from its start', async (t) => {
    await using dir = await tmpDir();
    const path = join(dir.path, 'later.log');
    let done = false;
    const it = followLog(path, { isDone: () => done, pollMs: 20, signal: endsWith(t) })[Symbol.asyncIterator]();
    const first = next(it);
    await writeFile(path, 'hello\n');
    assert.deepEqual(await first, { value: 'hello', done: false });
    done = true;
    assert.equal((await next(it)).done, true);
  });

  test('ends at once when the job is done and no log was ever written', async () => {
    await using dir = await tmpDir();
    const got = [];
    for await (const line of followLog(join(dir.path, 'none.log'), { isDone: async () => true })) got.push(line);
    assert.deepEqual(got, []);
  });

  test('abort ends a wait promptly', async () => {
    await using dir = await tmpDir();
    const path = join(dir.path, 'job.log');
    await writeFile(path, '');
    const ac = new AbortController();
    const it = followLog(path, { isDone: () => false, pollMs: 60_000, signal: ac.signal })[Symbol.asyncIterator]();
    const pending = next(it);
    ac.abort();
    assert.equal((await pending).done, true);
  });

  test('follows a truncated file from its start again', async (t) => {
    await using dir = await tmpDir();
    const path = join(dir.path, 'job.log');
    await writeFile(path, 'x\n');
    let done = false;
    const it = followLog(path, { fromStart: true, isDone: () => done, pollMs: 20, signal: endsWith(t) })[Symbol.asyncIterator]();
    assert.equal((await next(it)).value, 'x');
    const after = next(it);
    await truncate(path, 0);
    await appendFile(path, 'fresh\n');
    assert.equal((await after).value, 'fresh');
    done = true;
    assert.equal((await next(it)).done, true);
  });

  test('follows a file replaced by rename', async (t) => {
    await using dir = await tmpDir();
    const path = join(dir.path, 'job.log');
    await writeFile(path, 'x\n');
    let done = false;
    const it = followLog(path, { fromStart: true, isDone: () => done, pollMs: 20, signal: endsWith(t) })[Symbol.asyncIterator]();
    assert.equal((await next(it)).value, 'x');
    const after = next(it);
    await writeFile(join(dir.path, 'new'), 'attempt 2 line 1\n');
    await rename(join(dir.path, 'new'), path);
    assert.equal((await after).value, 'attempt 2 line 1');
    done = true;
    assert.equal((await next(it)).done, true);
  });

  test('breaking out of the loop releases the file', async (t) => {
    await using dir = await tmpDir();
    const path = join(dir.path, 'job.log');
    await writeFile(path, 'a\nb\n');
    for await (const line of followLog(path, { fromStart: true, isDone: () => false, signal: endsWith(t) })) {
      assert.equal(line, 'a');
      break;
    }
  });

  test('sees every line a running build writes into its job log', async (t) => {
    await using dir = await tmpDir();
    const log = await openJobLog(join(dir.path, 'job.log'));
    let closed = false;
    const reader = (async () => {
      const got: string[] = [];
      for await (const line of followLog(log.path, { fromStart: true, isDone: () => closed, pollMs: 20, signal: endsWith(t) })) got.push(line);
      return got;
    })();
    const r = await runGroup(['sh', '-c', 'for i in $(seq 1 2000); do echo "line $i"; done; echo bye >&2'], {
      env: { PATH: '/usr/bin:/bin' },
      cwd: '/',
      onOutput: (s, chunk) => log.write(s, chunk),
    });
    await log.close();
    closed = true;
    const got = await reader;
    assert.equal(r.exitCode, 0);
    const out = got.filter((l) => / o /.test(l)).map((l) => l.replace(/^\[ *[\d.]+\] o /, ''));
    assert.deepEqual(out, Array.from({ length: 2000 }, (_, i) => `line ${i + 1}`));
    // stdout and stderr are separate pipes: the stderr line may land anywhere after it is written.
    assert.equal(got.filter((l) => /\] e bye$/.test(l)).length, 1, 'the stderr line is followed too');
  });
});
