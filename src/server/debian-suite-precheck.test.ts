// POST /builds {"debian": {"suite": …}} naming a suite the mirror does not have: refused
// at submit time with 422 suite-not-found naming the request's field (not a CLI flag),
// asked of the mirror the build would read; anything unsure is left to the build. A build
// error that still names a CLI flag (the mirror was down at submit time) speaks of the
// request's field instead.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostDebianMirror } from '../config/mirrors.ts';
import { isKilnError, KilnError } from '../errors.ts';
import { EventBus } from '../events/events.ts';
import type { BuildResult } from '../run/run-build.ts';
import { stateLayout } from '../run/state-layout.ts';
import type { BuildRecord } from '../records/server-record-types.ts';
import { openServerRecords } from '../records/server-records.ts';
import { createApp } from './app.ts';
import { precheckBuild } from './precheck.ts';
import { apiWording, localRunner } from './runner.ts';
import { readResponse } from '../../test/helpers/read-response.ts';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-suite-precheck-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A mirror that answers every request with `status`; the paths asked. */
async function fakeMirror(t: TestContext, status: number): Promise<{ url: string; asked: string[] }> {
  const asked: string[] = [];
  const server = createServer((req, res) => {
    asked.push(req.url ?? '');
    res.writeHead(status).end('no');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/debian`, asked };
}

test('precheck: a debian.suite the mirror has no InRelease of is 422 suite-not-found naming the field; a mirror in trouble is left to the build', async (t) => {
  const dir = tempDir(t);
  const base = { stateRoot: join(dir, 'state'), cacheDir: join(dir, 'cache'), sandbox: 'auto' as const, treeDir: dir, env: undefined, archs: undefined, debian: true };
  const missing = await fakeMirror(t, 404);
  await assert.rejects(
    precheckBuild({ ...base, debianSuite: 'nosuchsuite', mirror: missing.url }),
    (e) => {
      assert.ok(isKilnError(e));
      assert.equal(e.code, 'suite-not-found');
      assert.match(e.message, /^debian\.suite: the mirror .* has no suite "nosuchsuite"/);
      assert.doesNotMatch(`${e.message} ${e.hint}`, /--debian|--mirror/);
      assert.match(e.hint ?? '', /name a suite/);
      return true;
    },
  );
  assert.deepEqual(missing.asked, ['/debian/dists/nosuchsuite/InRelease']);
  // Not a suite name at all: refused without asking.
  await assert.rejects(precheckBuild({ ...base, debianSuite: 'a/../b', mirror: missing.url }), (e) => isKilnError(e) && e.code === 'suite-not-found');
  assert.equal(missing.asked.length, 1);
  // A mirror failing (500) or unreachable: not sure, the build will say.
  const broken = await fakeMirror(t, 500);
  await precheckBuild({ ...base, debianSuite: 'bookworm', mirror: broken.url });
  assert.equal(broken.asked.length, 1);
  await precheckBuild({ ...base, debianSuite: 'bookworm', mirror: 'http://127.0.0.1:9/debian' });
});

test('POST /builds with a debian.suite the host mirror lacks is refused at once (422), not queued', { skip: (await hostDebianMirror({})) === undefined ? 'the host has no Debian mirror in its apt sources' : false }, async (t) => {
  const dir = tempDir(t);
  const state = join(dir, 'state');
  const tree = join(dir, 'tree');
  mkdirSync(tree);
  const tokens = openServerRecords(state);
  const alice = tokens.createToken('alice').token;
  tokens.close();
  // No runner given: the daemon's own, with its submit-time checks.
  const kiln = createApp({ stateDir: state, trees: { slow: tree }, onError: () => undefined });
  t.after(() => kiln.close());
  const post = async (suite: string) =>
    readResponse(
      await kiln.app.request('/api/v1/builds', {
        method: 'POST',
        headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
        body: JSON.stringify({ tree: 'slow', debian: { suite, sources: ['hello'] } }),
      }),
    );
  const r = await post('nosuchsuite');
  if (r.status === 201) kiln.queue.cancel(r.json.id);
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.code, 'suite-not-found');
  assert.match(r.json.error.message, /^debian\.suite: .*has no suite "nosuchsuite"/);
  assert.doesNotMatch(r.json.error.message, /--debian/);
  assert.equal(kiln.queue.queueLength() + kiln.queue.active().length, 0);
});

test('a build error naming a CLI flag (--debian, --arch) names the request field instead', async (t) => {
  const cases: Array<[string, string]> = [
    ['--debian: the mirror http://mirror.example/debian has no suite "x" (http://mirror.example/debian/dists/x/InRelease: HTTP 404)', 'debian.suite: the mirror http://mirror.example/debian has no suite "x" (http://mirror.example/debian/dists/x/InRelease: HTTP 404)'],
    ['--arch: unknown architecture "amd46": bookworm has amd64 arm64', 'archs: unknown architecture "amd46": bookworm has amd64 arm64'],
    ['the mirror says --debian: x', 'the mirror says --debian: x'],
  ];
  for (const [given, want] of cases) assert.equal(apiWording(given), want);
  const dir = tempDir(t);
  const run = localRunner({
    state: stateLayout({ state: join(dir, 'state') }),
    trees: new Map([['main', dir]]),
    runBuild: async (): Promise<BuildResult> => {
      throw new KilnError('usage', '--debian: the mirror http://mirror.example/debian has no suite "nosuchsuite"', { hint: 'name a suite the mirror has' });
    },
  });
  const record = { id: 'b1', tenant: 't', tree: 'main', request: { tree: 'main', debian: { suite: 'nosuchsuite', sources: ['hello'] } }, priority: 0, state: 'running', runId: null, error: null, errorCode: null, errorHint: null, retryOf: null, createdAt: 0, startedAt: 0, endedAt: null, priorRuns: [], cancelledBy: null } as BuildRecord;
  await assert.rejects(run(record, { bus: new EventBus(), maxJobs: 1, signal: new AbortController().signal }), (e) => isKilnError(e) && e.code === 'usage' && e.message === 'debian.suite: the mirror http://mirror.example/debian has no suite "nosuchsuite"' && e.hint === 'name a suite the mirror has');
});
