// Job slots shared by the builds running at once in one daemon: pure accounting, no I/O,
// no timers. The pool holds the machine's slots and its cpu/memory budget; each running
// build joins it and asks for one slot per job it starts, through runScheduler's
// `slotGate` option. A lone build gets every slot; builds running together share them:
//
//   a build may take a free slot (and its cpu/memory) when it is below its fair share,
//   ceil(total slots / builds with ready work), and no waiting build that holds no more
//   than it has waited longer; a build at or above its share may take one only when no
//   other build is waiting.
//
// A build "waits" while it has ready jobs it could not start (runScheduler says so with
// want()). When anything changes that could let a waiting build start (a slot or budget
// freed, a build taking a slot, a build no longer waiting, a build leaving) the waiting
// builds are woken in a fair order: fewest slots held first, then longest waiting. Being
// woken only means "try again"; the rule above decides. Because a build that takes a
// slot goes to the back of the line, builds with equal holdings take turns, so none
// starves even when there are more builds than slots. A waiting build whose next job
// needs more cpu/memory than is free keeps its place in line: builds behind it wait too
// rather than eat the budget it waits for (the budget frees as running jobs end).
//
// A build that has just started plans before it has ready work: it may join as `planning`,
// counted as waiting from its start, so that a build started a moment later with its plan
// done sooner does not take every slot meanwhile (nothing is taken back from a running
// job, which may hold its slot for hours). Its first want() or slot ends that; so does
// endPlanning(), which the daemon calls when planning runs long (the slot it kept free
// goes to the others).

import { clampToMachine, type Capacity } from './pick-next.ts';

/** What one job reserves: a slot, plus its cpus and memory (clamped to the pool). */
export interface SlotNeed {
  readonly cpus: number;
  readonly memoryBytes: number;
}

/** One job's slot; release() gives it back (once; later calls do nothing). */
export interface SlotGrant {
  release(): void;
}

/** One build's way into a shared pool: all runScheduler needs of it. */
export interface SlotGate {
  /** What the whole pool has (a job needing more is clamped to it). */
  readonly total: Capacity;
  /** What the whole pool has free now. */
  free(): Capacity;
  /** A slot for one job if this build may start one now, else undefined. */
  tryAcquire(need: SlotNeed): SlotGrant | undefined;
  /** Whether this build has ready jobs it could not start (it then waits its turn). */
  want(waiting: boolean): void;
  /** Called (synchronously; it must only schedule work) when this build should try again. */
  onWake(wake: () => void): void;
}

/** One member as the pure rule sees it. */
export interface MemberState {
  readonly id: string;
  readonly held: number;
  /** Order in which it started waiting; undefined when it is not waiting. */
  readonly waitingSince: number | undefined;
  /** Still planning: it counts among the builds sharing, but takes no slot yet (so none is left for it to take first). */
  readonly planning?: boolean;
}

/** A build's fair share of the slots when `wanting` builds have ready work. */
export function fairShare(totalSlots: number, wanting: number): number {
  return Math.max(1, Math.ceil(totalSlots / Math.max(1, wanting)));
}

/** The rule: may member `id` take one of `freeSlots` now? (cpu/memory are checked apart.) */
export function mayTakeSlot(members: readonly MemberState[], id: string, slots: { free: number; total: number }): boolean {
  if (slots.free <= 0) return false;
  const me = members.find((m) => m.id === id);
  if (me === undefined) return false;
  const others = members.filter((m) => m.id !== id && m.waitingSince !== undefined);
  // The asking build has ready work too, so it counts among the builds sharing.
  const share = fairShare(slots.total, others.length + 1);
  if (me.held >= share) return others.length === 0;
  const mine = me.waitingSince ?? Number.POSITIVE_INFINITY;
  return !others.some((w) => w.planning !== true && w.held < share && (w.held < me.held || (w.held === me.held && w.waitingSince! < mine)));
}

/** Order in which waiting builds are woken: fewest held, then longest waiting. */
export function wakeOrder(members: readonly MemberState[]): string[] {
  return members
    .filter((m) => m.waitingSince !== undefined)
    .sort((a, b) => a.held - b.held || a.waitingSince! - b.waitingSince!)
    .map((m) => m.id);
}

export interface PoolSnapshot {
  readonly total: Capacity;
  readonly free: Capacity;
  readonly members: ReadonlyArray<MemberState & { readonly cpus: number; readonly memoryBytes: number }>;
}

interface Member {
  readonly id: string;
  held: number;
  cpus: number;
  memoryBytes: number;
  waitingSince: number | undefined;
  /** Joined planning, and counted as waiting until its first want() or slot (or endPlanning). */
  planning: boolean;
  wake: () => void;
  readonly grants: Set<SlotGrant>;
}

export class SlotPool {
  readonly total: Capacity;
  #free: { slots: number; cpus: number; memoryBytes: number };
  #members = new Map<string, Member>();
  #seq = 0;

  constructor(total: Capacity) {
    this.total = { slots: Math.max(1, total.slots), cpus: total.cpus, memoryBytes: total.memoryBytes };
    this.#free = { ...this.total };
  }

  free(): Capacity {
    return { ...this.#free };
  }

  /** Join as build `id` (one membership per id at a time); leave() (or dispose) gives back all it holds. */
  join(id: string, options: { planning?: boolean } = {}): SlotMember {
    if (this.#members.has(id)) throw new Error(`slot pool: ${id} joined twice`);
    const planning = options.planning === true;
    const m: Member = { id, held: 0, cpus: 0, memoryBytes: 0, waitingSince: planning ? ++this.#seq : undefined, planning, wake: () => undefined, grants: new Set() };
    this.#members.set(id, m);
    return {
      id,
      total: this.total,
      free: () => this.free(),
      tryAcquire: (need) => this.#acquire(m, need),
      want: (waiting) => this.#want(m, waiting),
      onWake: (wake) => {
        m.wake = wake;
      },
      endPlanning: () => this.#endPlanning(m),
      leave: () => this.#leave(m),
      [Symbol.dispose]: () => this.#leave(m),
    };
  }

  snapshot(): PoolSnapshot {
    return {
      total: this.total,
      free: this.free(),
      members: [...this.#members.values()].map((m) => ({ id: m.id, held: m.held, waitingSince: m.waitingSince, cpus: m.cpus, memoryBytes: m.memoryBytes })),
    };
  }

  #acquire(m: Member, need: SlotNeed): SlotGrant | undefined {
    if (this.#members.get(m.id) !== m) return undefined;
    const n = clampToMachine(need, this.total);
    if (n.cpus > this.#free.cpus || n.memoryBytes > this.#free.memoryBytes) return undefined;
    if (!mayTakeSlot(this.#states(), m.id, { free: this.#free.slots, total: this.total.slots })) return undefined;
    this.#free.slots--;
    this.#free.cpus -= n.cpus;
    this.#free.memoryBytes -= n.memoryBytes;
    m.planning = false;
    m.held++;
    m.cpus += n.cpus;
    m.memoryBytes += n.memoryBytes;
    // It goes to the back of the line; those that deferred to it may go now.
    m.waitingSince = undefined;
    let released = false;
    const grant: SlotGrant = {
      release: () => {
        if (released) return;
        released = true;
        m.grants.delete(grant);
        this.#free.slots++;
        this.#free.cpus += n.cpus;
        this.#free.memoryBytes += n.memoryBytes;
        m.held--;
        m.cpus -= n.cpus;
        m.memoryBytes -= n.memoryBytes;
        this.#wakeWaiting(undefined);
      },
    };
    m.grants.add(grant);
    this.#wakeWaiting(m.id);
    return grant;
  }

  #want(m: Member, waiting: boolean): void {
    if (this.#members.get(m.id) !== m) return;
    // Its plan is done: from now on it waits only with ready work (keeping its place in line).
    m.planning = false;
    if (waiting) {
      m.waitingSince ??= ++this.#seq;
    } else if (m.waitingSince !== undefined) {
      m.waitingSince = undefined;
      // One build fewer shares: the others' fair share grows.
      this.#wakeWaiting(m.id);
    }
  }

  #endPlanning(m: Member): void {
    if (this.#members.get(m.id) !== m || !m.planning) return;
    m.planning = false;
    m.waitingSince = undefined;
    this.#wakeWaiting(m.id);
  }

  #leave(m: Member): void {
    if (this.#members.get(m.id) !== m) return;
    m.waitingSince = undefined;
    m.wake = () => undefined;
    for (const g of [...m.grants]) g.release();
    this.#members.delete(m.id);
    this.#wakeWaiting(m.id);
  }

  #states(): MemberState[] {
    return [...this.#members.values()].map((m) => ({ id: m.id, held: m.held, waitingSince: m.waitingSince, planning: m.planning }));
  }

  #wakeWaiting(except: string | undefined): void {
    for (const id of wakeOrder(this.#states())) {
      if (id !== except) this.#members.get(id)?.wake();
    }
  }
}

/** One build's membership of a SlotPool. */
export interface SlotMember extends SlotGate, Disposable {
  readonly id: string;
  /** A member that joined planning and has neither wanted nor taken a slot yet stops counting as waiting. */
  endPlanning(): void;
  /** Give back every slot still held and stop taking part (also on dispose). */
  leave(): void;
}
