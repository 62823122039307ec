// Reading a job log back (job-log.ts writes it; see its header for the line format): the
// last lines of a log file, and `kiln logs --raw`, the build's own output without kiln's
// stamps, tags and notes, with cut lines joined again.

import { open } from 'node:fs/promises';
import { KilnError } from '../errors.ts';

/** The last n lines of a log file, reading backwards from its end in 64 KiB blocks. */
export async function readLogTail(path: string, n: number): Promise<string[]> {
  if (n <= 0) return [];
  const fh = await open(path, 'r').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') {
      throw new KilnError('log-not-found', `no log file at ${path}`, { hint: 'the job may not have started yet, or its log was removed by gc' });
    }
    throw e;
  });
  try {
    let pos = (await fh.stat()).size;
    const blocks: Buffer[] = [];
    let newlines = 0;
    // n lines need n + 1 newlines to be bounded on both sides (the file's last one included).
    while (pos > 0 && newlines <= n) {
      const len = Math.min(64 * 1024, pos);
      pos -= len;
      const block = Buffer.alloc(len);
      const { bytesRead } = await fh.read(block, 0, len, pos);
      for (let i = 0; i < bytesRead; i++) if (block[i] === 10) newlines++;
      blocks.unshift(block.subarray(0, bytesRead));
    }
    const lines = Buffer.concat(blocks).toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines.slice(-n);
  } finally {
    await fh.close();
  }
}

/**
 * For `kiln logs --raw`: the build's own output, for log scanners (blhc, grep) that expect
 * no stamps. Fed the log's lines in order (split on \n only: a lone \r is part of a line);
 * returns what to print for each, or undefined for kiln's own lines (`k`), anything that is
 * not a log line, and the pieces of a cut line: those are held per stream and printed
 * whole when the line ends, so the other stream's lines never land inside one.
 */
export function rawLogFilter(): (line: string) => string | undefined {
  const open: Record<string, string> = { o: '', e: '' };
  return (line) => {
    const m = /^\[[ \d.]+\] ([oe])(\+?)(?: (.*))?$/s.exec(line);
    if (m === null) return undefined;
    const tag = m[1]!;
    if (m[2] === '+') {
      open[tag] += m[3] ?? '';
      return undefined;
    }
    const text = `${open[tag]}${m[3] ?? ''}\n`;
    open[tag] = '';
    return text;
  };
}

/** The lines of a byte stream, split on \n only (readline would also split on a lone \r). */
export async function* linesOf(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<string> {
  let rest = Buffer.alloc(0);
  for await (const chunk of input) {
    let buf = rest.length === 0 ? Buffer.from(chunk) : Buffer.concat([rest, chunk]);
    for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10)) {
      yield buf.subarray(0, nl).toString('utf8');
      buf = buf.subarray(nl + 1);
    }
    rest = buf;
  }
  if (rest.length > 0) yield rest.toString('utf8');
}

/** `kiln logs --raw` of a whole log (a file, or the daemon's answer): the build's output only. */
export async function writeRawLog(input: AsyncIterable<Uint8Array>, write: (text: string) => void): Promise<void> {
  const raw = rawLogFilter();
  for await (const line of linesOf(input)) {
    const text = raw(line);
    if (text !== undefined) write(text);
  }
}
