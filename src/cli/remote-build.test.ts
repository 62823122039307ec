import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { followBuild, type RemoteBuild } from './remote-build.ts';

const build = (state: RemoteBuild['state']): RemoteBuild => ({
  id: 'b1',
  state,
  runId: 'r1',
  error: null,
  startedAt: null,
  endedAt: null,
  counts: null,
});

test('followBuild waits for a daemon that dies between its two calls or in the middle of an answer', async (t) => {
  // The daemon's answers in order; a function answers by itself (here: by dropping the connection).
  type Drop = (req: IncomingMessage, res: ServerResponse) => void;
  const answers: unknown[] = [
    build('running'),
    ((req) => req.socket.destroy()) satisfies Drop, // killed between the build and its jobs: ECONNRESET
    ((_req, res) => {
      // killed in the middle of an answer: headers and half a body
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"id":"b1","sta');
      setTimeout(() => res.socket?.destroy(), 20);
    }) satisfies Drop,
    build('running'),
    { jobs: [{ jobId: 'x@1', state: 'built', durationMs: 5, cause: null, failureReason: null }] },
    build('done'),
    { jobs: [{ jobId: 'x@1', state: 'built', durationMs: 5, cause: null, failureReason: null }] },
  ];
  const asked: string[] = [];
  const server = createServer((req, res) => {
    asked.push(req.url ?? '');
    const a = answers.shift();
    if (typeof a === 'function') return void (a as Drop)(req, res);
    res.writeHead(a === undefined ? 500 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(a ?? { error: { code: 'usage', message: 'asked too often' } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const [stdout, stderr] = [new PassThrough(), new PassThrough()];
  const text = (s: PassThrough): string => String(s.read() ?? '');

  const final = await followBuild({ url, token: 't' }, 'b1', { exitCode: 0, stdout, stderr }, { pollMs: 10 });

  assert.equal(final.state, 'done');
  assert.equal(answers.length, 0, `not every answer was asked for: ${asked.join(' ')}`);
  const err = text(stderr);
  assert.match(err, /cannot reach the kiln daemon .*; waiting up to 120s for it to come back/);
  assert.equal(err.match(/waiting up to/g)?.length, 1, 'said once per outage');
  assert.match(text(stdout), /built\s+x@1 5ms/);
});
