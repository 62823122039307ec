// fetch() for file: URLs, which Node's fetch does not implement: a local mirror
// (`--mirror file:///srv/mirror/debian`) or a repository on disk (`--extra-repository
// "deb file:///srv/repo bookworm main"`) is read as a web server would serve it: 200 with
// the file's bytes streamed, 404 for a missing file or a folder, 403 for one kiln may not
// read. The caller checks what it reads (signatures, sha256) as for any download.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** The status a web server would answer for a file that cannot be read for `code` (pure). */
export function statusForFileError(code: string | undefined): { status: number; statusText: string } {
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return { status: 404, statusText: 'Not Found' };
  if (code === 'EACCES' || code === 'EPERM') return { status: 403, statusText: 'Forbidden' };
  return { status: 500, statusText: `cannot read the file (${code ?? 'unknown error'})` };
}

/** Whether `input` is a file: URL (a string or a URL; a Request is never one here). */
export function isFileUrl(input: unknown): input is string | URL {
  if (input instanceof URL) return input.protocol === 'file:';
  return typeof input === 'string' && input.startsWith('file:');
}

/** A Response for the file `url` names. An aborted signal rejects, as fetch does. */
export async function fetchFile(url: string | URL, init?: RequestInit): Promise<Response> {
  init?.signal?.throwIfAborted();
  let path: string;
  try {
    path = fileURLToPath(url);
  } catch (e) {
    throw new TypeError(`fetch failed: ${(e as Error).message}`, { cause: e });
  }
  const st = await stat(path).catch((e: NodeJS.ErrnoException) => e);
  if (st instanceof Error || !st.isFile()) {
    const { status, statusText } = statusForFileError(st instanceof Error ? st.code : 'EISDIR');
    return new Response(null, { status, statusText });
  }
  // A size of 0 may be a file the kernel makes as it is read (/proc): no length then.
  const headers: Record<string, string> = st.size > 0 ? { 'content-length': String(st.size) } : {};
  if ((init?.method ?? 'GET').toUpperCase() === 'HEAD') return new Response(null, { status: 200, headers });
  const stream = createReadStream(path, init?.signal ? { signal: init.signal } : {});
  // Opened before answering, so a file that cannot be read is a status, not a broken body.
  const opened = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    stream.once('open', () => resolve(undefined));
    stream.once('error', (e: NodeJS.ErrnoException) => resolve(e));
  });
  if (opened !== undefined) {
    stream.destroy();
    if (init?.signal?.aborted === true) throw init.signal.reason;
    const { status, statusText } = statusForFileError(opened.code);
    return new Response(null, { status, statusText });
  }
  const body = Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array>;
  return new Response(body, { status: 200, headers });
}
