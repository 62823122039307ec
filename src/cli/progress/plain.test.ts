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
