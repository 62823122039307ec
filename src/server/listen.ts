// Serve a KilnServerApp on a socket, and stop it in order: either stop accepting and abort
// and re-queue the running builds ('cancel'), or let them finish while still answering
// (new builds refused, /healthz 503) and then stop accepting ('drain'; queued builds stay
// queued for the next start); close the remaining connections (live log streams), then
// close the records.

import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { maxHeaderSize, type Server } from 'node:http';
import { errorBody, KilnError } from '../errors.ts';
import type { KilnServerApp } from './app.ts';

export interface Listening {
  /** http://HOST:PORT, with the port actually bound (for port 0). */
  readonly url: string;
  readonly port: number;
  /** 'cancel' (default): running builds are aborted and re-queued; 'drain': they finish first. */
  stop(mode?: StopMode): Promise<void>;
}

export type StopMode = 'cancel' | 'drain';
export const STOP_MODES: readonly StopMode[] = ['cancel', 'drain'];

/** Parse HOST:PORT ("127.0.0.1:8080", "[::1]:8080", ":8080" for 127.0.0.1). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !Number.isInteger(port) || port > 65535) {
    throw new KilnError('usage', `--listen: expected HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080), got "${text}"`);
  }
  const host = m[1] ?? (m[2] === undefined || m[2] === '' ? '127.0.0.1' : m[2]);
  return { host, port };
}

export async function listen(kiln: KilnServerApp, options: { host: string; port: number }): Promise<Listening> {
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: kiln.app.fetch, hostname: options.host, port: options.port }, () => resolve(s));
    s.once('error', (e: NodeJS.ErrnoException) =>
      reject(new KilnError('usage', `cannot listen on ${options.host}:${options.port}: ${e.code ?? e.message}`, { hint: 'choose another --listen HOST:PORT', cause: e })),
    );
  });
  const http = server as Server;
  // Node answers a request whose line or headers are over its limit (16 KiB) itself, with an
  // empty 431: a JSON error as kiln's other answers, saying what to do.
  // (With a listener Node answers nothing itself: any other malformed request gets a 400 as it would.)
  http.on('clientError', (e: NodeJS.ErrnoException, socket) => {
    // As Node's own handler: nothing is written once a response has begun on this connection
    // (a request pipelined behind a live log stream), or to a socket that is gone.
    const answering = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if (e.code === 'ECONNRESET' || !socket.writable || answering) {
      socket.destroy();
      return;
    }
    const [status, error] = e.code === 'HPE_HEADER_OVERFLOW'
      ? ['431 Request Header Fields Too Large', new KilnError('too-large', `the request's URL and headers are over the limit of ${Math.round(maxHeaderSize / 1024)} KiB`, { hint: 'an id or a name in a URL is at most a few hundred characters: check what the client put there' })]
      : e.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ['408 Request Timeout', new KilnError('usage', 'the request did not arrive whole in time', { hint: 'send it again (a large bundle over a slow link: send it from closer to the daemon)' })]
        : e.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
          ? ['413 Payload Too Large', new KilnError('too-large', 'the request\'s chunk extensions are over the limit', { hint: 'use an HTTP/1.1 client (curl, kiln build --server)' })]
          : ['400 Bad Request', new KilnError('usage', `the request is not valid HTTP (${e.code ?? e.message})`, { hint: 'use an HTTP/1.1 client (curl, kiln build --server)' })];
    const body = JSON.stringify(errorBody(error));
    socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  const addr = http.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    stop: (mode = 'cancel') => {
      stopping ??= (async () => {
        // Draining keeps answering while the running builds finish: clients following them
        // see them end (new builds get 503 server-stopping, /healthz 503), not a refused
        // connection. Cancelling closes at once.
        if (mode === 'drain') await kiln.queue.drain();
        const closed = new Promise<void>((resolve) => http.close(() => resolve()));
        http.closeIdleConnections();
        await kiln.close();
        http.closeAllConnections();
        await closed;
      })();
      return stopping;
    },
  };
}
