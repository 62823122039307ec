// The CLI against things that are not a kiln daemon, through a real local HTTP server and
// the real CLI (in-process): another web server's 404 page, a 200 that is not JSON, a
// proxy's 502, a daemon's own `internal` and `not-found` errors, and a port fetch refuses.

import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { runMain } from '../../test/helpers/cli-streams.ts';
import { excerptOf, kilnErrorOf } from './remote.ts';

/** What `python3 -m http.server` answers for a path it does not have. */
const PYTHON_404 = `<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: 404</p>
        <p>Message: File not found.</p>
        <p>Error code explanation: 404 - Nothing matches the given URI.</p>
    </body>
</html>
`;

async function server(t: TestContext, answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const s = createServer(answer);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  t.after(() => s.close());
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

/** The `kiln: error [CODE]: message` line and the hint line of stderr. */
function errorLines(err: string): { code: string; message: string; hint: string | undefined } {
  const m = /^kiln: error \[([a-z-]+)\]: (.*)$/m.exec(err);
  assert.ok(m, `no error line in: ${err}`);
  return { code: m[1]!, message: m[2]!, hint: /^ {2}hint: (.*)$/m.exec(err)?.[1] };
}

test('kiln status --server pointing at a web server that is not kiln: server-not-kiln naming the URL and status, no HTML dumped', async (t) => {
  const url = await server(t, (_req, res) => {
    res.writeHead(404, { 'content-type': 'text/html;charset=utf-8' });
    res.end(PYTHON_404);
  });
  for (const args of [['status'], ['status', 'b1'], ['logs', 'tool']]) {
    const r = await runMain([...args, '--server', url, '--token', 't']);
    assert.equal(r.code, 1, r.err);
    const e = errorLines(r.err);
    assert.equal(e.code, 'server-not-kiln', r.err);
    assert.match(e.message, new RegExp(`^the server at ${url} answered GET /api/v1/builds\\S* with HTTP 404 \\(text/html\\), which is not a kiln daemon's answer: "Error response Error response Error code: 404`));
    assert.doesNotMatch(r.err, /<|DOCTYPE/, 'no HTML in the error');
    assert.ok(e.message.length < 250, `a short message: ${e.message}`);
    assert.match(e.hint ?? '', /--server .*`kiln serve`/);
    assert.doesNotMatch(r.err, /--help/);
    assert.equal(r.err.trimEnd().split('\n').length, 2, `one error line and one hint line: ${r.err}`);
  }
});

test('a 200 that is not JSON is server-not-kiln too; a proxy answering 502 is server-unreachable', async (t) => {
  const ok = await server(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html><body>Welcome to nginx!</body></html>');
  });
  const r = await runMain(['status', '--server', ok, '--token', 't']);
  assert.equal(r.code, 1, r.err);
  assert.equal(errorLines(r.err).code, 'server-not-kiln', r.err);
  assert.match(r.err, /HTTP 200 \(text\/html\), which is not a kiln daemon's answer: "Welcome to nginx!"/);

  const proxy = await server(t, (_req, res) => {
    res.writeHead(502, { 'content-type': 'text/html' });
    res.end('<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>');
  });
  const p = await runMain(['status', '--server', proxy, '--token', 't']);
  assert.equal(p.code, 1, p.err);
  const e = errorLines(p.err);
  assert.equal(e.code, 'server-unreachable', p.err);
  assert.match(e.message, /HTTP 502 .*a proxy whose daemon is down\?.*"502 Bad Gateway 502 Bad Gateway"/);
});

test("a kiln daemon's own errors keep their code: internal exits 70 (not usage), not-found says the versions may differ, an unknown code keeps its name", async (t) => {
  const answers: Array<[number, unknown]> = [
    [500, { error: { code: 'internal', message: 'internal error (logged by the server)', hint: 'a bug in kiln: the daemon logged the details on its stderr; please report it' } }],
    [404, { error: { code: 'not-found', message: 'no such endpoint: GET /api/v1/builds', hint: 'see /api/v1/docs' } }],
    [409, { error: { code: 'some-newer-code', message: 'something new' } }],
  ];
  let next = 0;
  const url = await server(t, (_req, res) => {
    const [status, body] = answers[next++]!;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  const internal = await runMain(['status', '--server', url, '--token', 't']);
  assert.equal(internal.code, 70, internal.err);
  assert.deepEqual(errorLines(internal.err), { code: 'internal', message: 'the server says: internal error (logged by the server)', hint: 'a bug in kiln: the daemon logged the details on its stderr; please report it' });
  const notFound = await runMain(['status', '--server', url, '--token', 't']);
  assert.equal(notFound.code, 2, notFound.err);
  const nf = errorLines(notFound.err);
  assert.equal(nf.code, 'not-found');
  assert.match(nf.hint ?? '', /another kiln version/);
  const newer = await runMain(['status', '--server', url, '--token', 't']);
  assert.equal(newer.code, 2, newer.err);
  assert.deepEqual(errorLines(newer.err), { code: 'usage', message: 'the server says [some-newer-code]: something new', hint: 'this kiln does not know the code "some-newer-code": the daemon may run a newer kiln' });
});

test('--server on a port fetch refuses (http://127.0.0.1:1) names the URL and says so, instead of "bad port"', async () => {
  const r = await runMain(['status', '--server', 'http://127.0.0.1:1', '--token', 't']);
  assert.equal(r.code, 2, r.err);
  const e = errorLines(r.err);
  assert.equal(e.code, 'usage');
  assert.match(e.message, /^--server http:\/\/127\.0\.0\.1:1: fetch refuses to connect to port 1 /);
  assert.match(e.hint ?? '', /kiln serve --listen/);
});

test('excerptOf: one short line of text, tags, scripts, styles and comments dropped', () => {
  const cases: Array<[string, string]> = [
    ['', ''],
    ['plain text\n\nover lines\t', 'plain text over lines'],
    ['<p>a</p><script>var x = "<b>";</script><style>p{}</style><!-- c -->b', 'a b'],
    ['x'.repeat(100), `${'x'.repeat(79)}…`],
    ['bell\u0007 and\r\nCRLF', 'bell and CRLF'],
  ];
  for (const [text, want] of cases) assert.equal(excerptOf(text), want, JSON.stringify(text));
});

test("kilnErrorOf: only kiln's {error: {code, message}} shape", () => {
  assert.deepEqual(kilnErrorOf('{"error":{"code":"usage","message":"m","hint":"h"}}'), { code: 'usage', message: 'm', hint: 'h' });
  assert.deepEqual(kilnErrorOf('{"error":{"code":"usage","message":"m","hint":3}}'), { code: 'usage', message: 'm' });
  for (const text of ['', '<html>', 'null', '{"error":"nope"}', '{"error":{"message":"m"}}', '{"error":{"code":"Not Found","message":"m"}}', '{"detail":"Not Found"}']) {
    assert.equal(kilnErrorOf(text), undefined, text);
  }
});
