import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fairShare, mayTakeSlot, SlotPool, wakeOrder, type MemberState, type SlotGrant, type SlotMember } from './slot-pool.ts';

const G = 1024 ** 3;
const one = { cpus: 1, memoryBytes: 1 };

test('fairShare: ceil(total / builds with ready work), at least 1', () => {
  const rows: [total: number, wanting: number, want: number][] = [
    [2, 1, 2],
    [2, 2, 1],
    [2, 3, 1],
    [4, 3, 2],
    [8, 3, 3],
    [3, 0, 3],
  ];
  for (const [total, wanting, want] of rows) assert.equal(fairShare(total, wanting), want, `${total} slots, ${wanting} builds`);
});

const m = (id: string, held: number, waitingSince?: number): MemberState => ({ id, held, waitingSince });

test('mayTakeSlot: the rule, row by row', () => {
  const rows: { name: string; members: MemberState[]; id: string; free: number; total: number; want: boolean }[] = [
    { name: 'a lone build takes every slot', members: [m('a', 3)], id: 'a', free: 1, total: 4, want: true },
    { name: 'never past the total', members: [m('a', 4)], id: 'a', free: 0, total: 4, want: false },
    { name: 'above its share, but nobody else waits', members: [m('a', 1), m('b', 1)], id: 'a', free: 2, total: 4, want: true },
    { name: 'at its share while another waits: no', members: [m('a', 2), m('b', 1, 1)], id: 'a', free: 1, total: 4, want: false },
    { name: 'the waiting build below its share: yes', members: [m('a', 2), m('b', 1, 1)], id: 'b', free: 1, total: 4, want: true },
    { name: 'below share, but a waiter holding fewer goes first', members: [m('a', 1), m('b', 0, 5)], id: 'a', free: 1, total: 4, want: false },
    { name: 'equal holdings: the one waiting longer goes first', members: [m('a', 0, 7), m('b', 0, 3)], id: 'a', free: 1, total: 2, want: false },
    { name: 'equal holdings: the longer waiter itself', members: [m('a', 0, 7), m('b', 0, 3)], id: 'b', free: 1, total: 2, want: true },
    { name: 'equal holdings: one not waiting yields to one waiting', members: [m('a', 0), m('b', 0, 3), m('c', 1)], id: 'a', free: 1, total: 2, want: false },
    { name: 'a waiter at its share does not hold back one below it', members: [m('a', 0), m('b', 1, 1)], id: 'a', free: 1, total: 2, want: true },
    { name: 'builds without ready work do not count in the share', members: [m('a', 1), m('b', 1), m('c', 0)], id: 'a', free: 1, total: 3, want: true },
    { name: 'an unknown build gets nothing', members: [m('a', 0)], id: 'x', free: 1, total: 1, want: false },
  ];
  for (const r of rows) assert.equal(mayTakeSlot(r.members, r.id, { free: r.free, total: r.total }), r.want, r.name);
});

test('wakeOrder: fewest held first, then longest waiting; only waiting builds', () => {
  assert.deepEqual(wakeOrder([m('a', 2, 1), m('b', 0, 9), m('c', 0, 4), m('d', 0)]), ['c', 'b', 'a']);
});

/** A build that keeps asking for slots while it has jobs left, the way runScheduler does. */
function greedy(pool: SlotPool, id: string, jobs: number) {
  const member = pool.join(id);
  const grants: SlotGrant[] = [];
  let left = jobs;
  let wakes = 0;
  member.onWake(() => wakes++);
  const fill = (): void => {
    while (left > 0) {
      const g = member.tryAcquire(one);
      if (g === undefined) break;
      grants.push(g);
      left--;
    }
    member.want(left > 0);
  };
  return {
    member,
    fill,
    get held() {
      return grants.length;
    },
    get wakes() {
      return wakes;
    },
    /** One of its jobs ends. */
    finishOne(): void {
      grants.shift()!.release();
    },
  };
}

test('fair share with 1, 2 and 3 builds on 4 slots, never past the total', () => {
  const pool = new SlotPool({ slots: 4, cpus: 64, memoryBytes: 64 * G });
  const a = greedy(pool, 'a', 100);
  a.fill();
  assert.equal(a.held, 4, 'a lone build gets all slots');

  const b = greedy(pool, 'b', 100);
  b.fill();
  assert.equal(b.held, 0, 'nothing free yet');
  // a's jobs end one by one; b is below its share (2) and waiting, so b takes the slots.
  a.finishOne();
  a.fill();
  b.fill();
  a.finishOne();
  a.fill();
  b.fill();
  assert.deepEqual([a.held, b.held], [2, 2]);
  a.finishOne();
  b.fill();
  a.fill();
  assert.deepEqual([a.held, b.held], [2, 2], 'at its share, b waits for a to take its slot back');

  const c = greedy(pool, 'c', 100);
  c.fill();
  // Share is now ceil(4/3) = 2; c holds fewest, so it gets the next freed slots.
  for (const x of [a, b, a, b]) {
    x.finishOne();
    for (const y of [a, b, c]) y.fill();
    assert.ok(a.held + b.held + c.held <= 4);
  }
  assert.deepEqual([a.held, b.held, c.held].sort(), [1, 1, 2]);
  assert.equal(pool.free().slots, 0);
});

test('a build that finishes frees its share to the others', () => {
  const pool = new SlotPool({ slots: 2, cpus: 64, memoryBytes: 64 * G });
  const a = greedy(pool, 'a', 100);
  const b = greedy(pool, 'b', 100);
  a.fill();
  a.finishOne();
  b.fill();
  a.fill();
  assert.deepEqual([a.held, b.held], [1, 1]);
  const before = a.wakes;
  b.member.want(false);
  b.finishOne();
  b.member.leave();
  assert.ok(a.wakes > before, 'a is woken when b leaves');
  a.fill();
  assert.equal(a.held, 2, 'the survivor gets both slots');
});

test('cancel: leaving releases every slot still held, once', () => {
  const pool = new SlotPool({ slots: 3, cpus: 64, memoryBytes: 64 * G });
  const a = greedy(pool, 'a', 100);
  a.fill();
  const b = greedy(pool, 'b', 100);
  b.fill();
  assert.equal(pool.free().slots, 0);
  a.member.leave();
  assert.equal(pool.free().slots, 3);
  assert.deepEqual(pool.snapshot().members.map((x) => x.id), ['b']);
  a.finishOne(); // the job's late release after the cancel changes nothing
  assert.equal(pool.free().slots, 3);
  assert.equal(a.member.tryAcquire(one), undefined, 'a member that left gets nothing');
  b.fill();
  assert.equal(b.held, 3);
  const again = pool.join('a');
  again[Symbol.dispose]();
  assert.deepEqual(pool.snapshot().members.map((x) => x.id), ['b']);
});

test('no build starves: 3 builds on 2 slots take turns', () => {
  const pool = new SlotPool({ slots: 2, cpus: 64, memoryBytes: 64 * G });
  // Every job started, oldest first: the oldest running job is the next to end.
  const running: Array<{ id: string; grant: SlotGrant }> = [];
  const started = new Map<string, number>();
  const members = ['a', 'b', 'c'].map((id) => pool.join(id));
  const fill = (): void => {
    for (const x of members) {
      for (let g = x.tryAcquire(one); g !== undefined; g = x.tryAcquire(one)) {
        running.push({ id: x.id, grant: g });
        started.set(x.id, (started.get(x.id) ?? 0) + 1);
      }
      x.want(true);
    }
  };
  fill();
  for (let round = 0; round < 60; round++) {
    running.shift()!.grant.release();
    fill();
    assert.equal(running.length, 2, 'every slot in use, never more');
  }
  for (const id of ['a', 'b', 'c']) assert.ok((started.get(id) ?? 0) >= 18, `${id} started ${started.get(id)} of 62 jobs`);
});

test('cpu and memory are one budget for all builds', () => {
  const pool = new SlotPool({ slots: 4, cpus: 4, memoryBytes: 8 * G });
  const a = pool.join('a');
  const b = pool.join('b');
  const big = a.tryAcquire({ cpus: 1, memoryBytes: 6 * G });
  assert.ok(big !== undefined);
  assert.equal(b.tryAcquire({ cpus: 1, memoryBytes: 4 * G }), undefined, 'only 2 GiB left');
  const small = b.tryAcquire({ cpus: 3, memoryBytes: 2 * G });
  assert.ok(small !== undefined);
  assert.deepEqual(pool.free(), { slots: 2, cpus: 0, memoryBytes: 0 });
  big.release();
  big.release();
  assert.deepEqual(pool.free(), { slots: 3, cpus: 1, memoryBytes: 6 * G });
  // A job asking for more than the machine has is clamped to it, so it can run alone.
  small.release();
  const huge = a.tryAcquire({ cpus: 99, memoryBytes: 99 * G });
  assert.ok(huge !== undefined);
  assert.deepEqual(pool.free(), { slots: 3, cpus: 0, memoryBytes: 0 });
});

test('waiting builds are woken in fair order when a slot frees', () => {
  const pool = new SlotPool({ slots: 1, cpus: 64, memoryBytes: 64 * G });
  const order: string[] = [];
  const members: SlotMember[] = ['a', 'b', 'c'].map((id) => {
    const x = pool.join(id);
    x.onWake(() => order.push(id));
    return x;
  });
  const [a, b, c] = members as [SlotMember, SlotMember, SlotMember];
  const g = a.tryAcquire(one)!;
  c.want(true);
  b.want(true);
  order.length = 0;
  g.release();
  assert.deepEqual(order, ['c', 'b'], 'c waited longer than b');
  assert.equal(b.tryAcquire(one), undefined, 'b yields to c');
  assert.ok(c.tryAcquire(one) !== undefined);
});

test('a build joined planning counts as waiting: one started after it, planned sooner, takes only its share until the plan is done (or endPlanning)', () => {
  const pool = new SlotPool({ slots: 2, cpus: 64, memoryBytes: 64 * G });
  const alice = pool.join('alice', { planning: true });
  const bob = pool.join('bob');
  bob.want(true);
  const first = bob.tryAcquire(one);
  assert.ok(first !== undefined, 'bob takes its share');
  assert.equal(bob.tryAcquire(one), undefined, 'but not alice\'s while she plans');
  // Alice's plan is done: she wants, and keeps her place (she waited since she joined).
  alice.want(true);
  const aliceSlot = alice.tryAcquire(one);
  assert.ok(aliceSlot !== undefined);
  assert.equal(bob.tryAcquire(one), undefined, 'no slot left');
  // Without planning: the same two, bob takes both.
  const pool2 = new SlotPool({ slots: 2, cpus: 64, memoryBytes: 64 * G });
  pool2.join('alice');
  const bob2 = pool2.join('bob');
  bob2.want(true);
  assert.ok(bob2.tryAcquire(one) !== undefined && bob2.tryAcquire(one) !== undefined, 'a member not planning holds nobody back');
  // endPlanning: a plan that runs long gives the slot it kept to the others (they are woken).
  const pool3 = new SlotPool({ slots: 2, cpus: 64, memoryBytes: 64 * G });
  const slowPlan = pool3.join('slow', { planning: true });
  const other = pool3.join('other');
  let woken = 0;
  other.onWake(() => woken++);
  other.want(true);
  assert.ok(other.tryAcquire(one) !== undefined);
  assert.equal(other.tryAcquire(one), undefined);
  other.want(true);
  slowPlan.endPlanning();
  assert.ok(woken > 0, 'the others are woken');
  assert.ok(other.tryAcquire(one) !== undefined, 'and may take the second slot');
  // endPlanning after the plan is done changes nothing (its waiting is its scheduler's).
  alice.want(true);
  alice.endPlanning();
  assert.ok(pool.snapshot().members.find((m) => m.id === 'alice')?.waitingSince !== undefined, 'alice still waits');
});
