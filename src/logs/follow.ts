// followLog: yield a log file's lines as they are appended, like `tail -f`, until the job
// is done and everything it wrote has been read. Backs `kiln logs -f` and the daemon's
// live log stream.
//
// Changes are noticed through fs.watch (inotify) and, because watch events can be lost
// or unsupported (network file systems, exhausted inotify watches), through a poll timer
// as well; either one just triggers a read to the current end of the file. isDone() is
// checked *before* that read, so a last write that lands just before the job is marked
// done is still read. A file that does not exist yet is waited for; a file that shrinks
// (truncated or replaced) is followed again from its start, unless it was replaced by the
// excerpt of its compressed self (log-compress.ts): then it was whole and is done.

import { existsSync, statSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { compressedLogPath, openLogText } from './log-compress.ts';
import { linesOf } from './read-log.ts';

export interface FollowOptions {
  /** True once nothing more will be written; then the rest of the file is read and iteration ends. */
  readonly isDone: () => boolean | Promise<boolean>;
  /** Start with what the file already holds (default: only lines appended from now on). */
  readonly fromStart?: boolean;
  /** Fallback poll interval in ms (default 200). */
  readonly pollMs?: number;
  /** Ends the iteration (without an error). */
  readonly signal?: AbortSignal;
}

export function followLog(path: string, options: FollowOptions): AsyncGenerator<string, void, undefined> {
  // "From now on" means from this call, not from the first next(): measure the size here.
  const startAt = options.fromStart ? 0 : (statSync(path, { throwIfNoEntry: false })?.size ?? 0);
  return follow(path, startAt, options);
}

async function* follow(path: string, startAt: number, options: FollowOptions): AsyncGenerator<string, void, undefined> {
  const { signal } = options;
  const pollMs = options.pollMs ?? 200;
  let fh: FileHandle | undefined;
  let watcher: FSWatcher | undefined;
  let pos: number | undefined;
  let partial: Buffer[] = [];

  // A change event sets `pending`, so one arriving between a read and the next wait is not lost.
  let pending = false;
  let resolveWait: (() => void) | undefined;
  const wake = (): void => {
    pending = true;
    resolveWait?.();
  };
  signal?.addEventListener('abort', wake);

  try {
    for (let first = true; ; first = false) {
      if (signal?.aborted) return;
      const done = await options.isDone();

      if (fh === undefined) {
        fh = await open(path, 'r').catch((e: NodeJS.ErrnoException) => {
          if (e.code === 'ENOENT') return undefined;
          throw e;
        });
        // Opened first, then looked for: a job that ended and had its log compressed
        // (log-compress.ts) is read whole from the .zst, the file open being its excerpt.
        if (existsSync(compressedLogPath(path))) {
          await fh?.close();
          fh = undefined;
          if (first && startAt > 0) return;
          for await (const line of linesOf(await openLogText(path))) {
            yield line.endsWith('\r') ? line.slice(0, -1) : line;
            if (signal?.aborted) return;
          }
          return;
        }
        if (fh !== undefined) {
          // A file first seen later (or a replacement) is new content from its start.
          pos = first ? startAt : 0;
          try {
            watcher = watch(path, { persistent: false }, wake);
            watcher.on('error', () => undefined); // the poll timer still covers us
          } catch {
            watcher = undefined;
          }
        }
      }

      if (fh !== undefined && pos !== undefined) {
        const { size } = await fh.stat();
        if (size < pos) {
          pos = 0;
          partial = [];
        }
        const buf = Buffer.allocUnsafe(64 * 1024);
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
          const chunk = buf.subarray(0, bytesRead);
          let from = 0;
          for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, from)) {
            const line = Buffer.concat([...partial, chunk.subarray(from, nl)]);
            partial = [];
            from = nl + 1;
            yield decodeLine(line);
            if (signal?.aborted) return;
          }
          if (from < chunk.length) partial.push(Buffer.from(chunk.subarray(from)));
        }
        // Replaced by a new file (log rotation, a retried job): follow the new one from its start.
        const now = await stat(path).catch(() => undefined);
        if (now !== undefined && now.ino !== (await fh.stat()).ino) {
          // Replaced by the excerpt of its compressed whole: what was read is the whole log.
          if (existsSync(compressedLogPath(path))) {
            if (partial.length > 0) yield decodeLine(Buffer.concat(partial));
            return;
          }
          watcher?.close();
          watcher = undefined;
          await fh.close();
          fh = undefined;
          partial = [];
          continue;
        }
      }

      if (done) {
        if (partial.length > 0) yield decodeLine(Buffer.concat(partial));
        return;
      }

      if (!pending) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pollMs);
          resolveWait = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        resolveWait = undefined;
      }
      pending = false;
    }
  } finally {
    signal?.removeEventListener('abort', wake);
    watcher?.close();
    await fh?.close();
  }
}

function decodeLine(line: Buffer): string {
  const text = line.toString('utf8');
  return text.endsWith('\r') ? text.slice(0, -1) : text;
}
