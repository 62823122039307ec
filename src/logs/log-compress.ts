// A finished job's log, when large, is kept compressed: `X.log.zst` holds the whole log
// (zstd, readable with zstdcat/zstdless/zstdgrep), and `X.log` is rewritten as an excerpt
// of it: its first lines, one line saying what was left out and where the whole log is,
// and its last lines. Everything that reads only a log's end (the report's failures, the
// console's failure tail, junit.xml, failure triage) reads the excerpt as it read the log;
// what shows a whole log (`kiln logs`, the daemon's log route) reads the .zst (readLogText).
// Records and events keep naming `X.log`.
//
// Order, so that a reader never sees half of it: the .zst is written aside and renamed into
// place first, then the excerpt replaces `X.log` (atomicWrite). A reader that opens `X.log`
// and only then finds no .zst has the whole plain log open (openLogText); a crash in between
// leaves both whole. A failure (a full disk) leaves the plain log as it was.

import { execFile } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createZstdDecompress } from 'node:zlib';
import { atomicWrite, tempPathFor } from '../lib/atomic-write.ts';

const execFileAsync = promisify(execFile);

/** Logs at least this large are compressed when their job ends (1 MiB). */
export const COMPRESS_LOGS_ABOVE = 1024 * 1024;

/** What the excerpt keeps of the log's start and end: lines, and bytes at most. */
export const EXCERPT = { headLines: 100, headBytes: 32 * 1024, tailLines: 200, tailBytes: 256 * 1024 } as const;

export function compressedLogPath(log: string): string {
  return `${log}.zst`;
}

export interface CompressResult {
  /** The .zst written. */
  readonly path: string;
  readonly bytes: number;
  readonly compressedBytes: number;
}

/**
 * Compresses a finished log of at least `above` bytes (see the header). Returns what it
 * wrote, or undefined when the log is smaller, missing, already compressed, or the
 * compression failed (the plain log then stays as it was).
 */
export async function compressFinishedLog(log: string, above = COMPRESS_LOGS_ABOVE): Promise<CompressResult | undefined> {
  const size = (await stat(log).catch(() => undefined))?.size;
  const zst = compressedLogPath(log);
  if (size === undefined || size < above || existsSync(zst)) return undefined;
  const tmp = tempPathFor(zst);
  try {
    const excerpt = await excerptOf(log, size, basename(zst));
    // The zstd tool, as for artifacts: three times as fast as node:zlib here, and its memory
    // is its own (node:zlib grew kiln by 20-30 MB for a 50 MB log).
    await execFileAsync('zstd', ['-q', '-3', '--check', '-o', tmp, '--', log]);
    const fh = await open(tmp, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    const compressedBytes = (await stat(tmp)).size;
    await rename(tmp, zst);
    await atomicWrite(log, excerpt);
    return { path: zst, bytes: size, compressedBytes };
  } catch {
    await rm(tmp, { force: true });
    return undefined;
  }
}

/** The excerpt that replaces a compressed log: its head, a line naming the .zst, its tail; bytes as in the log. */
async function excerptOf(log: string, size: number, zstName: string): Promise<Buffer> {
  const fh = await open(log, 'r');
  try {
    const headBuf = Buffer.alloc(Math.min(size, EXCERPT.headBytes));
    await fh.read(headBuf, 0, headBuf.length, 0);
    const tailLength = Math.min(size, EXCERPT.tailBytes);
    const tailBuf = Buffer.alloc(tailLength);
    await fh.read(tailBuf, 0, tailLength, size - tailLength);
    // Whole lines only, cut at newline bytes (a line may hold any bytes): the head's first
    // lines, the tail's last ones (from a line start: the file's, or after a newline).
    let headEnd = 0;
    for (let n = 0; n < EXCERPT.headLines; n++) {
      const nl = headBuf.indexOf(10, headEnd);
      if (nl === -1) break;
      headEnd = nl + 1;
    }
    // (No newline in the window: the log's last line is longer than it, and no tail is kept.)
    const tailFloor = tailLength === size ? 0 : tailBuf.includes(10) ? tailBuf.indexOf(10) + 1 : tailLength;
    let tailStart = tailLength;
    // The last line may lack its newline: it counts as a line all the same.
    let at = tailBuf[tailLength - 1] === 10 ? tailLength - 1 : tailLength;
    for (let n = 0; n < EXCERPT.tailLines && at > tailFloor; n++) {
      const nl = tailBuf.lastIndexOf(10, at - 1);
      tailStart = nl < tailFloor ? tailFloor : nl + 1;
      at = nl;
    }
    // Never the same bytes twice (only a log shorter than head and tail together could).
    tailStart = Math.max(tailStart, headEnd - (size - tailLength), 0);
    const tail = tailBuf.subarray(tailStart);
    const head = headBuf.subarray(0, headEnd);
    const left = size - head.length - tail.length;
    // In the log's own line format (a kiln line), so that `kiln logs --raw` leaves it out.
    const stamp = /^\[[ \d.]+\]/.exec(tail.subarray(0, 16).toString('latin1'))?.[0] ?? `[${'0.000'.padStart(8)}]`;
    const note = `${stamp} k ==> ${left} bytes of this log left out here: the whole log is ${zstName} beside it (kiln logs, or zstdless ${zstName})\n`;
    return Buffer.concat([head, Buffer.from(note), tail]);
  } finally {
    await fh.close();
  }
}

/** The line an excerpt has in place of what it left out: what reads a log's end stops there. */
export const EXCERPT_NOTE = /^\[[ \d.]+\] k ==> \d+ bytes of this log left out here: /;

/**
 * A job's whole log as a stream of its text: the .zst decompressed when the log was
 * compressed, else the plain file. ENOENT (an Error with code) when neither is there.
 */
export async function openLogText(log: string): Promise<Readable> {
  const plain = await open(log, 'r').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  // Opened first, looked for the .zst after: with no .zst now, the file open is the whole log.
  const zst = compressedLogPath(log);
  if (existsSync(zst)) {
    await plain?.close();
    // Through pipeline, not pipe(): a read error or a corrupt .zst reaches the reader.
    const out = new PassThrough();
    pipeline(createReadStream(zst), createZstdDecompress(), out).catch(() => undefined);
    return out;
  }
  if (plain === undefined) throw Object.assign(new Error(`no log file at ${log}`), { code: 'ENOENT' });
  return plain.createReadStream();
}

/** Whether a job's log is there, plain or compressed. */
export function logExists(log: string): boolean {
  return existsSync(log) || existsSync(compressedLogPath(log));
}
