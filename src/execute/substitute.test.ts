import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { manifestHash } from '../cache/archive.ts';
import { createArtifactStore } from '../cache/artifacts.ts';
import { EventBus, type KilnEvent } from '../events/events.ts';
import type { Job } from '../plan/job.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { createSubstituter } from './substitute.ts';

const KEY = 'a'.repeat(64);

/** A substituter serving one entry (installing nothing) whose build had a warning; `big` serves a meta.json far over the limit, without a length. */
async function serveEntry(o: { big?: boolean } = {}): Promise<{ url: string; close(): void }> {
  const meta = JSON.stringify({ name: 'p', version: '1', arch: 'amd64', key: KEY, outputHash: manifestHash([]), size: 0, sha256: null, archive: null, installedSize: 0, fileCount: 0, warnings: ['buildpaths: usr/share/p/f holds the build path'], createdAt: '2026-11-23T00:00:00.000Z' });
  const server = createServer((req, res) => {
    if (req.url !== `/api/v1/artifacts/${KEY}/meta.json`) return void res.writeHead(404).end();
    if (o.big !== true) return void res.writeHead(200).end(meta);
    // Chunked, no content-length: only a running count stops it.
    res.writeHead(200);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const more = (): void => {
      while (sent < 64 && res.write(chunk)) sent++;
      if (sent < 64) res.once('drain', more);
      else res.end();
    };
    more();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

async function ask(o: { warningsFail: boolean; big?: boolean }): Promise<{ outcome: Awaited<ReturnType<ReturnType<typeof createSubstituter>>>; notes: string[] }> {
  await using dir = await tmpDir();
  const server = await serveEntry(o);
  try {
    const bus = new EventBus();
    const notes: string[] = [];
    bus.on((e: KilnEvent) => void (e.type === 'note' && notes.push(e.text)));
    const artifacts = createArtifactStore({ cacheDir: dir.path });
    const substitute = createSubstituter({ urls: [server.url] }, { artifacts, bus, ...(o.warningsFail ? { warningsFail: true } : {}) }, dir.path);
    const job = { id: 'p@amd64', arch: 'amd64', why: { kind: 'new' }, spec: { name: 'p' } } as unknown as Job;
    const outcome = await substitute(job, KEY, { startedAt: Date.now(), log: `${dir.path}/p.log`, signal: new AbortController().signal });
    return { outcome, notes };
  } finally {
    server.close();
  }
}

test('a substituted artifact keeps its build\'s warnings; with --fail-on-warnings it is not taken (built here, as a local one would fail)', async () => {
  const taken = await ask({ warningsFail: false });
  assert.equal(taken.outcome?.state, 'up-to-date');
  assert.deepEqual(taken.outcome?.warnings, ['buildpaths: usr/share/p/f holds the build path']);
  const refused = await ask({ warningsFail: true });
  assert.equal(refused.outcome, undefined);
  assert.match(refused.notes.join('\n'), /p@amd64: not substituted from \S+: its build had warnings \(buildpaths: .*\), and --fail-on-warnings fails them: built here; building it/);
});

test('a meta.json over the limit is refused by what comes, not by what the headers say (chunked, no length)', async () => {
  const r = await ask({ warningsFail: false, big: true });
  assert.equal(r.outcome, undefined);
  assert.match(r.notes.join('\n'), /its meta\.json is over 1048576 bytes/);
});
