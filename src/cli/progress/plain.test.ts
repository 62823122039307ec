import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { flushProgress, jsonRenderer, plainRenderer } from './plain.ts';

function sink(): { out: Writable; text: () => string } {
  const chunks: string[] = [];
  const out = new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c.toString()), done()) });
  return { out, text: () => chunks.join('') };
}

test('progress lines are gathered, and flushProgress writes them before what kiln writes itself', () => {
  const { out, text } = sink();
  const onEvent = plainRenderer(out);
  onEvent({ type: 'note', at: Date.now(), text: 'first' });
  onEvent({ type: 'run-finished', runId: 'r', at: Date.now(), state: 'done', counts: { built: 0, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 0 } });
  // A note after run-finished (publishing): still gathered until something flushes it.
  onEvent({ type: 'note', at: Date.now(), text: 'published' });
  assert.equal(text(), 'kiln: first\n', 'run-finished flushed what came before it');
  flushProgress();
  out.write('summary\n');
  assert.equal(text(), 'kiln: first\nkiln: published\nsummary\n');
  flushProgress();
  assert.equal(text(), 'kiln: first\nkiln: published\nsummary\n', 'nothing is written twice');
});

test('--json: one line per event, in order, flushed at run-finished', () => {
  const { out, text } = sink();
  const onEvent = jsonRenderer(out);
  onEvent({ type: 'note', at: 1, text: 'a' });
  assert.equal(text(), '');
  onEvent({ type: 'run-finished', runId: 'r', at: 2, state: 'done', counts: { built: 0, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 0 } });
  assert.deepEqual(text().trimEnd().split('\n').map((l) => (JSON.parse(l) as { type: string }).type), ['note', 'run-finished']);
});

test('plain: a failed build shows the end of its log; builds that print nothing for a while are named as running', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'kiln-plain-'));
  try {
    const log = join(dir, 'a.log');
    writeFileSync(log, Array.from({ length: 40 }, (_, i) => `[   0.00${i % 10}] o line ${i + 1}`).join('\n') + '\n');
    const { out, text } = sink();
    const onEvent = plainRenderer(out, { quietMs: 30 });
    const t = Date.now();
    const job = { runId: 'r', jobId: 'a@amd64', name: 'a', version: '1', arch: 'amd64' };
    onEvent({ type: 'run-started', runId: 'r', at: t, tree: '/t', targets: [], archs: ['amd64'], total: 2, maxJobs: 2 });
    onEvent({ type: 'job-started', ...job, why: { kind: 'new' }, attempt: 1, log, at: t, expectedMs: undefined });
    onEvent({ type: 'job-phase', runId: 'r', jobId: 'a@amd64', phase: 'build', at: t });
    await new Promise((r) => setTimeout(r, 120));
    assert.match(text(), /running {4}a@amd64 \(build, for \d+ms\)\n/);
    onEvent({ type: 'job-finished', ...job, state: 'failed', key: 'k', failure: { reason: 'exit-status', message: 'the build script exited with status 2' }, log, startedAt: t, at: t + 5 });
    onEvent({ type: 'run-finished', runId: 'r', at: t + 6, state: 'failed', counts: { built: 0, 'up-to-date': 0, failed: 1, skipped: 0, broken: 0, cancelled: 0 } });
    const lines = text().split('\n');
    const at = lines.findIndex((l) => l.includes(`the last 15 lines of ${log}:`));
    assert.ok(at > 0, text());
    assert.deepEqual(lines.slice(at + 1, at + 16).map((l) => l.replace(/^ +\| \[[^\]]*\] o /, '')), Array.from({ length: 15 }, (_, i) => `line ${i + 26}`));
    // Nothing runs any more: no more running lines.
    const before = text();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(text(), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('plain: a job waiting for another kiln\'s build is named by the quiet lines too', async () => {
  const { out, text } = sink();
  const onEvent = plainRenderer(out, { quietMs: 30 });
  const t = Date.now();
  onEvent({ type: 'run-started', runId: 'r', at: t, tree: '/t', targets: [], archs: ['amd64'], total: 1, maxJobs: 1 });
  onEvent({ type: 'job-waiting', runId: 'r', jobId: 'a@amd64', holderPid: 4242, at: t });
  await new Promise((r) => setTimeout(r, 120));
  onEvent({ type: 'run-finished', runId: 'r', at: Date.now(), state: 'done', counts: { built: 0, 'up-to-date': 1, failed: 0, skipped: 0, broken: 0, cancelled: 0 } });
  assert.match(text(), /running {4}a@amd64 \(waiting for kiln pid 4242, for \d+ms\)\n/);
});

test('plain: the quiet line comes when the output has been quiet for quietMs, not at the first tick after (5 minutes was said at 6)', async () => {
  const { out, text } = sink();
  const onEvent = plainRenderer(out, { quietMs: 400 });
  const t = Date.now();
  const job = { runId: 'r', jobId: 'a@amd64', name: 'a', version: '1', arch: 'amd64' };
  onEvent({ type: 'run-started', runId: 'r', at: t, tree: '/t', targets: [], archs: ['amd64'], total: 1, maxJobs: 1 });
  // A line 150 ms into the run: quiet from then on, so the line is due at about 550 ms (a
  // fixed 400 ms tick would say it at 800 ms).
  await new Promise((r) => setTimeout(r, 150));
  onEvent({ type: 'job-started', ...job, why: { kind: 'new' }, attempt: 1, log: '/l', at: Date.now(), expectedMs: undefined });
  await new Promise((r) => setTimeout(r, 550));
  flushProgress();
  const quietAt = Date.now() - t;
  assert.match(text(), /running {4}a@amd64/, `no quiet line by ${quietAt} ms`);
  onEvent({ type: 'run-finished', runId: 'r', at: Date.now(), state: 'done', counts: { built: 1, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 0 } });
});

test('plain: the run header says how many at once here, or how many in flight to the workers with --nats', () => {
  const { out, text } = sink();
  const onEvent = plainRenderer(out);
  onEvent({ type: 'run-started', runId: 'r1', at: 1, tree: '/t', targets: [], archs: ['amd64'], total: 3, maxJobs: 2 });
  onEvent({ type: 'run-started', runId: 'r2', at: 1, tree: '/t', targets: [], archs: ['amd64'], total: 3, maxJobs: 256, workers: 'nats://nats.example:4222' });
  flushProgress();
  assert.match(text(), /kiln: run r1: 3 package\(s\) for amd64, up to 2 job\(s\) at once\n/);
  assert.match(text(), /kiln: run r2: 3 package\(s\) for amd64, built by the workers of nats:\/\/nats\.example:4222, up to 256 job\(s\) in flight\n/);
});

test('plain: a failure message names files as kiln status does, relative to the working directory', () => {
  const { out, text } = sink();
  const onEvent = plainRenderer(out);
  const t = Date.now();
  const job = { runId: 'r', jobId: 'esc@amd64', name: 'esc', version: '1', arch: 'amd64' };
  const file = `${process.cwd()}/esc/recipe.toml`;
  onEvent({ type: 'job-finished', ...job, state: 'failed', key: 'k', failure: { reason: 'fetch-failed', message: `${file}: "file:x": x leaves the recipe folder` }, startedAt: t, at: t + 5 });
  flushProgress();
  assert.match(text(), /failed {5}esc@amd64 after 5ms: esc\/recipe\.toml: "file:x": x leaves the recipe folder\n/);
});

test('plain: a built Debian binNMU says its binary version', () => {
  const { out, text } = sink();
  const onEvent = plainRenderer(out);
  const job = { runId: 'r', jobId: 'hello@amd64', name: 'hello', version: '2.10-3', arch: 'amd64' };
  onEvent({ type: 'job-finished', ...job, state: 'built', key: 'k', binaryVersion: '2.10-3+b1', startedAt: 0, at: 26_300 });
  onEvent({ type: 'job-finished', ...job, jobId: 'zlib@amd64', name: 'zlib', state: 'built', key: 'k2', startedAt: 0, at: 1000 });
  flushProgress();
  assert.match(text(), /built +hello@amd64 in 26\.3s as the binNMU 2\.10-3\+b1\n/);
  assert.match(text(), /built +zlib@amd64 in 1\.0s\n/);
});

test('plain: a failed build\'s log tail is printed without its escape sequences and control characters (tabs kept)', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'kiln-plain-'));
  try {
    const log = join(dir, 'esc.log');
    writeFileSync(log, ['[   0.019] o \x1b[31mred error\x1b[0m', '[   0.020] o \x1b]0;evil title\x07after-title', '[   0.020] o \x1b]52;c;ZXZpbA==\x07clip', '[   0.020] o 10%\r20%\r100%', '[   0.020] o bell\x07 and tab\there', ''].join('\n'));
    const { out, text } = sink();
    const onEvent = plainRenderer(out);
    const job = { runId: 'r', jobId: 'esc@amd64', name: 'esc', version: '1', arch: 'amd64' };
    onEvent({ type: 'job-finished', ...job, state: 'failed', key: 'k', failure: { reason: 'exit-status', message: 'the build script exited with status 5' }, log, startedAt: 0, at: 23 });
    flushProgress();
    const tail = text().split('\n').filter((l) => l.startsWith('           | '));
    assert.deepEqual(tail.map((l) => l.slice('           | '.length)), ['[   0.019] o red error', '[   0.020] o after-title', '[   0.020] o clip', '[   0.020] o 10% 20% 100%', '[   0.020] o bell and tab\there']);
    assert.doesNotMatch(text(), /[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
