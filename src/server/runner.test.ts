import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus } from '../events/events.ts';
import type { BuildRequest, BuildResult } from '../run/run-build.ts';
import { stateLayout } from '../run/state-layout.ts';
import type { BuildRecord } from '../records/server-record-types.ts';
import { BuildBodySchema } from './schemas.ts';
import { localRunner } from './runner.ts';

function record(request: unknown): BuildRecord {
  return { id: 'b1', tenant: 't', tree: 'main', request, priority: 0, state: 'running', runId: null, error: null, errorCode: null, errorHint: null, retryOf: null, createdAt: 0, startedAt: 0, endedAt: null, priorRuns: [], cancelledBy: null };
}

test('POST /builds may name Debian source packages; the runner hands them to runBuild like kiln build --debian', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-runner-'));
  try {
    const body = BuildBodySchema.parse({ tree: 'main', debian: { suite: 'bookworm', sources: ['hello', 'zlib=1:1.2.13.dfsg-1'], nocheck: true, autopkgtest: true, tryInstall: true, checkValidUntil: false, binnmu: 'auto' } });
    let seen: BuildRequest | undefined;
    const run = localRunner({
      state: stateLayout({ state: join(dir, 'state') }),
      trees: new Map([['main', dir]]),
      runBuild: async (req) => {
        seen = req;
        return { runId: 'r1', state: 'done' } as unknown as BuildResult;
      },
    });
    await run(record(body), { bus: new EventBus(), maxJobs: 1, signal: new AbortController().signal });
    assert.deepEqual(seen?.debian?.sources, ['hello', 'zlib=1:1.2.13.dfsg-1']);
    assert.equal(seen?.debian?.suite, 'bookworm');
    assert.equal(seen?.debian?.nocheck, true);
    assert.equal(seen?.debian?.autopkgtest, true);
    assert.equal(seen?.debian?.tryInstall, true);
    assert.equal(seen?.debian?.binnmu, 'auto');
    assert.equal(seen?.debian?.checkValidUntil, false);
    assert.equal(seen?.debian?.withTree, true);
    // Each tenant publishes into a repository of its own: never over another tenant's packages.
    assert.equal(seen?.repoDir, join(dir, 'state', 'repos', 't'));
    assert.equal(BuildBodySchema.safeParse({ tree: 'main', debian: { suite: 'bookworm', sources: ['hello'], binnmu: 0 } }).success, false);
    assert.equal(BuildBodySchema.parse({ tree: 'main', debian: { suite: 'bookworm', sources: ['hello'], binnmu: 2 } }).debian?.binnmu, 2);
    await run({ ...record(body), tenant: 'other' }, { bus: new EventBus(), maxJobs: 1, signal: new AbortController().signal });
    assert.equal(seen?.repoDir, join(dir, 'state', 'repos', 'other'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad Debian part of POST /builds is refused naming the field', () => {
  const r = BuildBodySchema.safeParse({ tree: 'main', debian: { suite: 'bookworm', sources: ['Bad Name'] } });
  assert.equal(r.success, false);
  assert.deepEqual(r.error?.issues[0]?.path, ['debian', 'sources', 0]);
  const extra = BuildBodySchema.safeParse({ tree: 'main', debian: { suite: 'bookworm', sources: ['hello'], colour: 'red' } });
  assert.equal(extra.success, false);
});
