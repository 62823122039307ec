// The queue's turns among tenants: the pure choice (startOrder, a table) and the queue
// driven by a fake runner the test finishes by hand (as in app.test.ts): a tenant with
// a backlog does not hold back another tenant's build; priority still goes first; one
// tenant's builds still run one at a time, in order.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServerRecords } from '../records/server-records.ts';
import type { BuildRecord } from '../records/server-record-types.ts';
import { BuildQueue, startOrder, type BuildRunner, type RunnerResult } from './queue.ts';

test('startOrder: priority, then the tenant whose last start is oldest (none first), then submission order', () => {
  type Q = { id: string; tenant: string; priority: number };
  const q = (id: string, priority = 0): Q => ({ id, tenant: id.replace(/\d+$/, ''), priority });
  const cases: Array<{ name: string; queued: Q[]; busy?: string[]; last?: Record<string, number>; want: string[] }> = [
    { name: 'nothing queued', queued: [], want: [] },
    { name: 'no turns yet: submission order, one head per tenant', queued: [q('a1'), q('a2'), q('b1'), q('c1')], want: ['a1', 'b1', 'c1'] },
    { name: 'a busy tenant waits', queued: [q('a1'), q('b1')], busy: ['a'], want: ['b1'] },
    { name: 'the audit case: alice just had a turn, erin none', queued: [q('a2'), q('a3'), q('e1')], busy: ['b'], last: { b: 1, a: 2 }, want: ['e1', 'a2'] },
    { name: 'older last start first, whatever was submitted first', queued: [q('a2'), q('b2'), q('c2')], last: { a: 3, b: 1, c: 2 }, want: ['b2', 'c2', 'a2'] },
    { name: 'a tenant with no start yet before any that had one', queued: [q('a2'), q('b1')], last: { a: 1 }, want: ['b1', 'a2'] },
    { name: 'priority before turns', queued: [q('a2', 5), q('b1')], last: { a: 9 }, want: ['a2', 'b1'] },
    { name: 'a lower priority after, turns or not', queued: [q('a1', -1), q('b2')], last: { b: 4 }, want: ['b2', 'a1'] },
    { name: "priority is the head's: a later high build of a tenant waits its turn in the tenant's FIFO", queued: [q('a1'), q('b1'), q('a2', 9)], last: { a: 1 }, want: ['b1', 'a1'] },
  ];
  for (const c of cases) {
    const got = startOrder(c.queued, new Set(c.busy ?? []), new Map(Object.entries(c.last ?? {})));
    assert.deepEqual(
      got.map((b) => b.id),
      c.want,
      c.name,
    );
  }
});

interface FakeRun {
  readonly build: BuildRecord;
  finish(state: RunnerResult['state']): void;
}

/** A runner whose builds end when the test says so (or 'cancelled' when aborted). */
function fakeRunner(): { runner: BuildRunner; runs: FakeRun[]; running: () => string[] } {
  const runs: FakeRun[] = [];
  const live = new Set<string>();
  const runner: BuildRunner = (build, ctx) =>
    new Promise((resolve) => {
      const runId = `run-${build.id}`;
      live.add(build.id);
      ctx.bus.emit({ type: 'run-started', runId, at: Date.now(), tree: build.tree, targets: [], archs: ['amd64'], total: 1, maxJobs: ctx.maxJobs });
      ctx.signal.addEventListener('abort', () => {
        live.delete(build.id);
        resolve({ runId, state: 'cancelled' });
      });
      runs.push({
        build,
        finish: (state) => {
          live.delete(build.id);
          resolve({ runId, state });
        },
      });
    });
  return { runner, runs, running: () => [...live].sort() };
}

function setup(t: TestContext, maxConcurrent: number) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-queue-fair-'));
  const records = openServerRecords(dir);
  const fake = fakeRunner();
  const queue = new BuildQueue({ records, run: fake.runner, slots: 4, maxConcurrent, onError: () => undefined });
  t.after(async () => {
    await queue.stop();
    records.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const ids = new Map<string, string>();
  const names = new Map<string, string>();
  /** Submit a build named e.g. `A1` for `tenant`. */
  const submit = (tenant: string, name: string, priority = 0): void => {
    const b = queue.enqueue({ tenant, tree: 'main', request: { tree: 'main' }, priority });
    ids.set(name, b.id);
    names.set(b.id, name);
  };
  /** End the running build `name` and let the queue start what comes next. */
  const finish = async (name: string): Promise<void> => {
    const id = ids.get(name)!;
    fake.runs.find((r) => r.build.id === id)!.finish('done');
    await queue.settled(id);
  };
  const running = (): string[] => fake.running().map((id) => names.get(id)!).sort();
  const started = (): string[] => fake.runs.map((r) => names.get(r.build.id)!);
  return { submit, finish, running, started };
}

test("audit case: with 2 builds at once, erin's build goes before the rest of alice's backlog once alice's first ends", async (t) => {
  const { submit, finish, running, started } = setup(t, 2);
  submit('bob', 'B1'); // long
  submit('alice', 'A1');
  submit('alice', 'A2');
  submit('alice', 'A3');
  submit('erin', 'E1'); // later (the order is by submission, not by the clock)
  assert.deepEqual(running(), ['A1', 'B1']);
  await finish('A1');
  assert.deepEqual(running(), ['B1', 'E1'], "erin has had no turn, alice just had one: E1 before A2");
  await finish('E1');
  assert.deepEqual(running(), ['A2', 'B1']);
  await finish('A2');
  assert.deepEqual(running(), ['A3', 'B1']);
  await finish('A3');
  await finish('B1');
  assert.deepEqual(started(), ['B1', 'A1', 'E1', 'A2', 'A3']);
});

test('one build at a time: tenants with backlogs take turns (round-robin), each in its own order', async (t) => {
  const { submit, finish, running, started } = setup(t, 1);
  for (const n of ['1', '2', '3']) submit('alice', `A${n}`);
  for (const n of ['1', '2', '3']) submit('bob', `B${n}`);
  submit('carol', 'C1');
  for (;;) {
    const now = running();
    if (now.length === 0) break;
    assert.equal(now.length, 1);
    await finish(now[0]!);
  }
  assert.deepEqual(started(), ['A1', 'B1', 'C1', 'A2', 'B2', 'A3', 'B3']);
});

test('priority still goes before turns', async (t) => {
  const { submit, finish, running, started } = setup(t, 1);
  submit('alice', 'A1');
  submit('alice', 'A2', 5);
  submit('bob', 'B1');
  assert.deepEqual(running(), ['A1']);
  await finish('A1');
  assert.deepEqual(running(), ['A2'], "alice's head now asks for priority 5: it goes before bob's 0 though alice just had a turn");
  await finish('A2');
  await finish('B1');
  assert.deepEqual(started(), ['A1', 'A2', 'B1']);
});
