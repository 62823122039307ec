// One job's log file: the build's stdout and stderr interleaved in arrival order, plus
// kiln's own notes and phase markers, one line each:
//
//   [   0.000] k ==> log opened at 2026-11-21T12:00:00.000Z (times are seconds since then)
//   [   0.004] k ==> phase build at 2026-11-21T12:00:00.004Z
//   [  12.345] o checking for gcc... gcc
//   [  12.346] e warning: unused variable 'x'
//   [  13.000] o+ <first 64 KiB of a very long line>
//   [  13.000] o <rest of it>
//
// The stamp is seconds since the log was opened, not wall time: two runs of the same job
// line up when diffed, the time a step took is read off directly, and there is no time
// zone to get wrong; the header and phase lines carry the absolute ISO time. The tag is
// o (stdout), e (stderr) or k (kiln); a trailing `+` means the line was cut (at
// maxLineBytes, 64 KiB by default, on a UTF-8 boundary) and continues on the next piece
// with the same tag, so a build printing megabytes without a newline never sits in memory.
// A trailing \r before the newline is dropped.
//
// Memory stays flat: each chunk becomes one write to a WriteStream, and when the stream's
// buffer passes its high-water mark write() returns a promise that settles on 'drain'.
// runGroup pauses the child's pipe while that promise is pending, so the bytes waiting in
// kiln are bounded by the high-water mark plus one pipe chunk. The last lines are kept in
// a small ring (tail), so a failure report never has to re-read the file. Writes below
// 64 KiB are gathered for up to 100 ms (see flush). The file is opened synchronously (one
// syscall, no thread-pool round trip) and the write stream is only made by the first
// flush: a job that ends within 100 ms (a no-op build) writes its whole log with one
// synchronous write at close().
//
// Reading a log back (its last lines, `kiln logs --raw`) is read-log.ts.

import { once } from 'node:events';
import { closeSync, createWriteStream, openSync, writeSync, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { JobPhase } from '../events/events.ts';


export type LogStream = 'stdout' | 'stderr';

export interface JobLog {
  readonly path: string;
  /** Log a chunk of the build's output. A returned promise means "wait before writing more". */
  write(stream: LogStream, chunk: Buffer): void | Promise<void>;
  phase(name: JobPhase): void;
  /** A message from kiln itself. */
  note(text: string): void;
  /** Bytes this log put in its file so far (what compression of a finished log looks at). */
  readonly bytes: number;
  /** The last n lines written (n ≤ the ring's size), as they appear in the file. */
  tail(n?: number): string[];
  /** Flush unterminated lines and close the file. */
  close(): Promise<void>;
}

export interface JobLogOptions {
  /** Append to an existing log instead of replacing it. */
  readonly append?: boolean;
  /** Clock, for tests. */
  readonly now?: () => number;
  /** Cut lines longer than this many bytes (default 64 KiB). */
  readonly maxLineBytes?: number;
  /** Lines kept for tail() (default and maximum 200). */
  readonly tailLines?: number;
  /** WriteStream buffer size above which write() asks the caller to wait (default 1 MiB). */
  readonly highWaterMark?: number;
  /**
   * The build's output written to the file at most (default 1 GiB; 0: no limit). Past it,
   * output is counted but not written, kiln's own lines still are, and close() appends
   * the last lines (the tail ring), so a build printing without end cannot fill the disk
   * and its failure still shows its end.
   */
  readonly maxBytes?: number;
  /**
   * Called with each complete line of the build's output as it is split (without its
   * newline or a trailing \r; of a cut line, its last piece; not kiln's own lines), before
   * it is written: the loop watchdog (loop-watch.ts). The buffer may be a view of the
   * chunk written, which the caller never reuses.
   */
  readonly onLine?: (body: Buffer) => void;
}

/** The default of JobLogOptions.maxBytes. */
export const DEFAULT_LOG_LIMIT = 1024 ** 3;

/** Longest line kept in the tail ring; longer ones are shortened there (not in the file). */
const TAIL_LINE_BYTES = 4096;
const TAGS = { stdout: 'o', stderr: 'e' } as const;
const FLUSH_MS = 100;

export async function openJobLog(path: string, options: JobLogOptions = {}): Promise<JobLog> {
  const now = options.now ?? Date.now;
  const maxLine = Math.max(options.maxLineBytes ?? 64 * 1024, 4);
  const ring = newRing(Math.min(Math.max(options.tailLines ?? 200, 1), 200));
  const onLine = options.onLine;

  await ensureDir(dirname(path));
  // After the directory is made (that can take a while on a busy disk): the header is 0.000.
  const start = now();
  const flags = options.append ? 'a' : 'w';
  let failure: Error | undefined;
  let fd: number;
  try {
    fd = openSync(path, flags);
  } catch (e) {
    throw new Error(`cannot open job log ${path}: ${(e as Error).message}`, { cause: e });
  }
  // Made by the first flush (see the header): until then the log lives in `pending`.
  let out: WriteStream | undefined;
  const openStream = (): WriteStream => {
    if (out !== undefined) return out;
    const s = createWriteStream(path, { fd, highWaterMark: options.highWaterMark ?? 1024 * 1024 });
    s.on('error', (e) => (failure ??= new Error(`cannot write job log ${path}: ${e.message}`, { cause: e })));
    return (out = s);
  };

  const partial: Record<LogStream, { parts: Buffer[]; len: number }> = {
    stdout: { parts: [], len: 0 },
    stderr: { parts: [], len: 0 },
  };
  let closed = false;

  const stamp = (): string => `[${((now() - start) / 1000).toFixed(3).padStart(8)}] `;
  const limit = options.maxBytes ?? DEFAULT_LOG_LIMIT;
  /** Bytes of the build's output written to the file, and dropped past the limit. */
  let written = 0;
  let dropped = 0;
  /** Lines not written: the tail shown at close takes no more (the rest are in the file). */
  let droppedLines = 0;

  /**
   * Format lines into the file and the ring; returns false when the stream wants a pause.
   * `kilnLines`: kiln's own, written whatever the limit.
   */
  /** The last lines as the file shows them, for tail() (long ones shortened). */
  const remember = (lines: Array<{ tag: string; body: Buffer }>, prefix: string): void => {
    for (const { tag, body } of lines.slice(-ring.capacity)) {
      ring.push(`${prefix}${tag} ${body.length > TAIL_LINE_BYTES ? `${body.subarray(0, TAIL_LINE_BYTES).toString()}…` : body.toString()}`);
    }
  };

  const emit = (lines: Array<{ tag: string; body: Buffer }>, kilnLines = false): boolean => {
    if (lines.length === 0) return true;
    const prefix = stamp();
    if (!kilnLines && limit > 0) {
      // As written: the stamp, the tag and a space, the line, a newline.
      let bytes = 0;
      for (const { tag, body } of lines) bytes += prefix.length + tag.length + body.length + 2;
      if (dropped > 0 || written + bytes > limit) {
        if (dropped === 0) {
          emit([{ tag: 'k', body: Buffer.from(`==> the log limit of ${limit} bytes is reached: the build's further output is not written here (its last lines are, at the end)`) }], true);
        }
        dropped += bytes;
        droppedLines += lines.length;
        remember(lines, prefix);
        return true;
      }
      written += bytes;
    }
    // One stamp per chunk (a chunk arrives at one instant) and one buffer per write.
    const heads = new Map<string, Buffer>();
    let size = 0;
    for (const { tag, body } of lines) {
      let head = heads.get(tag);
      if (head === undefined) heads.set(tag, (head = Buffer.from(`${prefix}${tag} `)));
      size += head.length + body.length + 1;
    }
    const buf = Buffer.allocUnsafe(size);
    let at = 0;
    for (const { tag, body } of lines) {
      at += heads.get(tag)!.copy(buf, at);
      at += body.copy(buf, at);
      buf[at++] = 10;
    }
    remember(lines, prefix);
    pending.push(buf);
    pendingBytes += buf.length;
    fileBytes += buf.length;
    if (pendingBytes >= flushBytes) return flush();
    flushTimer ??= setTimeout(flush, FLUSH_MS).unref();
    return true;
  };

  // Small writes are gathered and written together (a no-op build's whole log is then one
  // write at close): at most FLUSH_MS late for someone following the log, never more than
  // flushBytes held.
  const flushBytes = Math.min(64 * 1024, options.highWaterMark ?? 1024 * 1024);
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let fileBytes = 0;
  let flushTimer: NodeJS.Timeout | undefined;
  function flush(): boolean {
    if (flushTimer !== undefined) clearTimeout(flushTimer);
    flushTimer = undefined;
    if (pendingBytes === 0 || out?.destroyed === true) return true;
    const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return openStream().write(data);
  }

  const kiln = (text: string): void => {
    if (closed || failure) return;
    emit(text.split('\n').map((line) => ({ tag: 'k', body: Buffer.from(line) })), true);
  };

  const log: JobLog = {
    path,
    get bytes() {
      return fileBytes;
    },
    write(stream, chunk) {
      if (failure) throw failure;
      if (closed) throw new Error(`job log ${path} is closed`);
      const lines: Array<{ tag: string; body: Buffer }> = [];
      const tag = TAGS[stream];
      const st = partial[stream];
      let from = 0;
      while (from < chunk.length) {
        const nl = chunk.indexOf(10, from);
        let piece = chunk.subarray(from, nl === -1 ? chunk.length : nl);
        while (st.len + piece.length > maxLine) {
          const room = maxLine - st.len;
          let take = room > 0 ? utf8Boundary(piece, room) : 0;
          if (take === 0 && st.len === 0) take = room;
          lines.push({ tag: `${tag}+`, body: Buffer.concat([...st.parts, piece.subarray(0, take)]) });
          st.parts = [];
          st.len = 0;
          piece = piece.subarray(take);
        }
        if (nl === -1) {
          if (piece.length > 0) {
            st.parts.push(piece);
            st.len += piece.length;
          }
          break;
        }
        const whole = st.len === 0 ? piece : Buffer.concat([...st.parts, piece]);
        const body = whole.at(-1) === 13 ? whole.subarray(0, -1) : whole;
        lines.push({ tag, body });
        onLine?.(body);
        st.parts = [];
        st.len = 0;
        from = nl + 1;
      }
      if (emit(lines)) return undefined;
      return once(openStream(), 'drain').then(() => undefined, () => Promise.reject(failure));
    },
    phase(name) {
      kiln(`==> phase ${name} at ${new Date(now()).toISOString()}`);
    },
    note(text) {
      kiln(text);
    },
    tail(n = ring.capacity) {
      return ring.last(n);
    },
    async close() {
      if (closed) return;
      const rest: Array<{ tag: string; body: Buffer }> = [];
      for (const stream of ['stdout', 'stderr'] as const) {
        const st = partial[stream];
        if (st.len > 0) rest.push({ tag: TAGS[stream], body: Buffer.concat(st.parts) });
        st.parts = [];
        st.len = 0;
      }
      closed = true;
      if (!failure) {
        emit(rest);
        if (dropped > 0) {
          // The end of the output, from the ring (lines there are cut at 4 KiB).
          const last = ring.last(ring.capacity).filter((l) => !/^\[[ \d.]+\] k /.test(l)).slice(-droppedLines);
          emit([{ tag: 'k', body: Buffer.from(`==> ${dropped} bytes of output were not written (log limit ${limit} bytes); its last ${last.length} lines, as they came:`) }], true);
          // As they would have been written, with their own times.
          const raw = Buffer.from(last.map((l) => `${l}\n`).join(''));
          pending.push(raw);
          pendingBytes += raw.length;
          fileBytes += raw.length;
        }
        if (out === undefined) {
          // Everything fitted in one batch: one synchronous write, no stream.
          if (flushTimer !== undefined) clearTimeout(flushTimer);
          flushTimer = undefined;
          const data = Buffer.concat(pending, pendingBytes);
          pending = [];
          pendingBytes = 0;
          try {
            for (let at = 0; at < data.length; ) at += writeSync(fd, data, at);
          } catch (e) {
            failure = new Error(`cannot write job log ${path}: ${(e as Error).message}`, { cause: e });
          }
        } else {
          flush();
        }
      }
      if (out === undefined) closeSync(fd);
      if (out !== undefined && !out.destroyed) {
        out.end();
        await once(out, 'close').catch(() => undefined);
      }
      if (failure) throw failure;
    },
  };
  kiln(`==> log opened at ${new Date(start).toISOString()} (times are seconds since then)`);
  return log;
}

// A run opens thousands of logs in one directory: make it once, not once per job.
const dirsMade = new Map<string, Promise<unknown>>();
function ensureDir(dir: string): Promise<unknown> {
  let p = dirsMade.get(dir);
  if (p === undefined) {
    p = mkdir(dir, { recursive: true });
    p.catch(() => dirsMade.delete(dir));
    dirsMade.set(dir, p);
  }
  return p;
}

/** The largest cut ≤ at that does not split a UTF-8 sequence (0 if there is none). */
function utf8Boundary(buf: Buffer, at: number): number {
  if (at >= buf.length) return at;
  let cut = at;
  // Back over at most 3 continuation bytes (10xxxxxx) to the start of the character.
  while (cut > 0 && at - cut < 3 && ((buf[cut] ?? 0) & 0xc0) === 0x80) cut--;
  return ((buf[cut] ?? 0) & 0xc0) === 0x80 ? at : cut;
}

interface Ring {
  readonly capacity: number;
  push(line: string): void;
  last(n: number): string[];
}

function newRing(capacity: number): Ring {
  const items: string[] = [];
  let next = 0;
  return {
    capacity,
    push(line) {
      if (items.length < capacity) items.push(line);
      else items[next] = line;
      next = (next + 1) % capacity;
    },
    last(n) {
      const ordered = items.length < capacity ? items : [...items.slice(next), ...items.slice(0, next)];
      return n <= 0 ? [] : ordered.slice(-n);
    },
  };
}
