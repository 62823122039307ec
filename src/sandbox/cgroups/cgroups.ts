// Per-build control groups, cgroup v1 and v2 behind one small interface.
//
// - detectCgroups() reads /proc/self/mountinfo and /proc/self/cgroup. v1 is used when the
//   memory controller sits on a v1 hierarchy (hybrid hosts like Debian 10/11 defaults or
//   this CI machine); v2 when a cgroup2 mount offers `memory` in cgroup.controllers.
// - Where a build's group goes: v1 nests it under kiln's own group of each controller
//   (`<mount>/<own path>/kiln/<name>`), so limits an admin or service manager put on
//   kiln also bind its builds and whoever kills kiln's group reaches them. v2 forbids
//   processes in a group whose children use domain controllers, so the group is made under
//   the root (`<mount>/kiln/<name>`), the usual place for a root cgroupfs manager.
// - The group's name carries the kiln pid (`<job>.<pid>.<rand>`): `kiln doctor` can tell a
//   live kiln's group from a leftover without reading any journal.
// - Killing: v2 writes cgroup.kill; v1 freezes the group (freezer controller), SIGKILLs
//   every member, thaws, and repeats until cgroup.procs is empty (a process forking
//   between read and kill is caught by the freeze, or by the next round).
//
// The file logic is written against a root directory so the tests can run it on a fake
// cgroupfs; cgroups/v1.ts and cgroups/v2.ts hold each version's file names.

import { readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { KilnError } from '../../errors.ts';
import type { SandboxLimits } from '../sandbox.ts';
import { v1Files } from './v1.ts';
import { v2Files } from './v2.ts';
import type { CgroupUsage } from './values.ts';

export { DEFAULT_PIDS, type CgroupUsage } from './values.ts';

export type CgroupVersion = 1 | 2;

/** What the host offers: v1 controller mounts with kiln's own path in each, or one v2 mount. */
export type CgroupSystem =
  | { readonly version: 1; readonly controllers: Readonly<Record<string, { readonly mount: string; readonly own: string }>> }
  | { readonly version: 2; readonly mount: string; readonly own: string; readonly available: readonly string[] };

/** Where one group lives: v1 controller → directory, or `{ unified: dir }` for v2. */
export interface CgroupRef {
  readonly version: CgroupVersion;
  readonly dirs: Readonly<Record<string, string>>;
}

export interface Cgroup {
  readonly version: CgroupVersion;
  readonly ref: CgroupRef;
  /** Every directory of this group (one per v1 hierarchy, one for v2). */
  readonly paths: readonly string[];
  /** Write a pid to each of these to move it into the group. */
  readonly procsFiles: readonly string[];
  /** The kernel's count of OOM kills in this group so far. */
  oomKills(): Promise<number>;
  /** How many times a fork in this group failed at its pids limit so far. */
  pidsLimitHits(): Promise<number>;
  usage(): Promise<CgroupUsage>;
  /** SIGKILL every member until the group is empty (bounded). Returns how many were killed. */
  kill(): Promise<number>;
  /** Kill what is left and remove the group's directories (and its empty `kiln` parents). */
  remove(): Promise<void>;
}

export const V1_REQUIRED = ['memory', 'cpu', 'pids'] as const;
const V1_OPTIONAL = ['cpuacct', 'freezer'] as const;
export const V2_REQUIRED = ['memory', 'cpu', 'pids'] as const;

/** Parse mountinfo + /proc/self/cgroup text; undefined when no usable hierarchy is mounted. */
export function parseCgroupSystem(mountinfo: string, selfCgroup: string, readControllers: (mount: string) => string | undefined): CgroupSystem | undefined {
  const ownByControllers = new Map<string, string>();
  for (const line of selfCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (m !== null) ownByControllers.set(m[2]!, m[3]!);
  }
  const v1: Record<string, { mount: string; own: string }> = {};
  const v2Mounts: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const mountPoint = unescapeMount(left.split(' ')[4] ?? '');
    const [fstype, , superOpts = ''] = right.split(' ');
    if (fstype === 'cgroup2') v2Mounts.push(mountPoint);
    if (fstype !== 'cgroup') continue;
    const opts = superOpts.split(',');
    const controllers = opts.filter((o) => [...V1_REQUIRED, ...V1_OPTIONAL].includes(o as never));
    if (controllers.length === 0) continue;
    // /proc/self/cgroup names the hierarchy by its comma-joined controllers, in kernel order.
    const own = [...ownByControllers].find(([names]) => names.split(',').some((n) => controllers.includes(n)))?.[1] ?? '/';
    for (const c of controllers) v1[c] ??= { mount: mountPoint, own };
  }
  if (v1['memory'] !== undefined) return { version: 1, controllers: v1 };
  for (const mount of v2Mounts) {
    const available = (readControllers(mount) ?? '').trim().split(/\s+/).filter(Boolean);
    if (available.includes('memory')) return { version: 2, mount, own: ownByControllers.get('') ?? '/', available };
  }
  return undefined;
}

export function detectCgroups(): CgroupSystem | undefined {
  const read = (f: string): string | undefined => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return undefined;
    }
  };
  return parseCgroupSystem(read('/proc/self/mountinfo') ?? '', read('/proc/self/cgroup') ?? '', (m) => read(join(m, 'cgroup.controllers')));
}

/** What is missing for per-build limits, or undefined when everything is there. */
export function cgroupProblem(system: CgroupSystem | undefined): string | undefined {
  if (system === undefined) return 'no cgroup hierarchy with the memory controller is mounted (looked for cgroup v1 "memory" and cgroup2 at /sys/fs/cgroup)';
  const missing = system.version === 1
    ? V1_REQUIRED.filter((c) => system.controllers[c] === undefined)
    : V2_REQUIRED.filter((c) => !system.available.includes(c));
  return missing.length === 0 ? undefined : `cgroup v${system.version} controllers missing: ${missing.join(', ')}`;
}

/** The directories a group named `name` under `parent` gets on this system. */
export function cgroupPaths(system: CgroupSystem, options: { parent: string; name: string }): Record<string, string> {
  if (system.version === 2) return { unified: join(system.mount, options.parent, options.name) };
  const out: Record<string, string> = {};
  for (const [c, { mount, own }] of Object.entries(system.controllers)) out[c] = join(mount, own, options.parent, options.name);
  return out;
}

export interface CreateCgroupOptions {
  readonly parent: string;
  readonly name: string;
  readonly limits: SandboxLimits;
}

export async function createCgroup(system: CgroupSystem, options: CreateCgroupOptions): Promise<Cgroup> {
  const problem = cgroupProblem(system);
  if (problem !== undefined) {
    throw new KilnError('sandbox-unavailable', `cannot limit builds: ${problem}`, {
      hint: 'mount the cgroup controllers (memory, cpu, pids), or use sandbox = "host"',
    });
  }
  const byController = cgroupPaths(system, options);
  const dirs = [...new Set(Object.values(byController))];
  const cg = openCgroup({ version: system.version, dirs: byController });
  try {
    if (system.version === 2) {
      // Domain controllers must be enabled top-down: root → kiln parent.
      const parent = dirname(dirs[0]!);
      await enableControllers(system.mount, V2_REQUIRED);
      // Another kiln's remove() may take the empty parent at any point: start over then.
      for (let attempt = 0; ; attempt++) {
        try {
          await mkdir(parent, { recursive: true });
          await enableControllers(parent, V2_REQUIRED);
          await mkdir(dirs[0]!);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw e;
        }
      }
      await v2Files.applyLimits(dirs[0]!, options.limits);
    } else {
      for (const d of dirs) await mkdirRetrying(d);
      await v1Files.applyLimits(byController, options.limits);
    }
  } catch (e) {
    await cg.remove().catch(() => undefined);
    throw e;
  }
  return cg;
}

/** A handle on existing group directories (from createCgroup or from a journal entry). */
export function openCgroup(ref: CgroupRef): Cgroup {
  const { version } = ref;
  const paths = [...new Set(Object.values(ref.dirs))];
  const files = version === 2 ? v2Files : v1Files;
  const find = (controller: string): string | undefined => (version === 2 ? paths[0] : ref.dirs[controller]);
  return {
    version,
    ref,
    paths,
    procsFiles: paths.map((p) => join(p, 'cgroup.procs')),
    oomKills: () => files.oomKills(find('memory')),
    pidsLimitHits: () => files.pidsLimitHits(find('pids')),
    usage: () => files.usage({ cpu: find('cpuacct') ?? find('cpu'), memory: find('memory') }),
    kill: () => killAll(paths, version === 2 ? paths[0] : find('freezer'), version),
    async remove() {
      await killAll(paths, version === 2 ? paths[0] : find('freezer'), version);
      for (const p of paths) await rmdirRetrying(p);
      // Empty `kiln` parents go too (another kiln racing to create in one retries its mkdir).
      for (const p of paths) await rmdir(dirname(p)).catch(() => undefined);
    },
  };
}

export async function readPids(dir: string): Promise<number[]> {
  const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

async function killAll(paths: readonly string[], freezeDir: string | undefined, version: CgroupVersion): Promise<number> {
  const killed = new Set<number>();
  const deadline = performance.now() + 10_000;
  for (let round = 0; ; round++) {
    const pids = new Set<number>();
    for (const p of paths) for (const pid of await readPids(p)) pids.add(pid);
    if (pids.size === 0) return killed.size;
    if (performance.now() > deadline) {
      throw new Error(`cgroup ${paths[0]} still has processes ${[...pids].join(' ')} after 10 s of SIGKILL`);
    }
    if (version === 2 && round === 0 && (await exists(join(paths[0]!, 'cgroup.kill')))) {
      // The kernel kills every process of the group at once (Linux ≥ 5.14): those seen are counted.
      if (await writeFile(join(paths[0]!, 'cgroup.kill'), '1').then(() => true, () => false)) for (const pid of pids) killed.add(pid);
    } else {
      const frozen = freezeDir !== undefined && (await freeze(freezeDir, version, true));
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
          killed.add(pid);
        } catch {
          // already gone
        }
      }
      if (frozen) await freeze(freezeDir, version, false);
    }
    await delay(Math.min(2 + round * 5, 50));
  }
}

async function freeze(dir: string, version: CgroupVersion, on: boolean): Promise<boolean> {
  try {
    if (version === 2) {
      await writeFile(join(dir, 'cgroup.freeze'), on ? '1' : '0');
      return true;
    }
    await writeFile(join(dir, 'freezer.state'), on ? 'FROZEN' : 'THAWED');
    // FREEZING → FROZEN takes a moment; killing a half-frozen group is still fine.
    for (let i = 0; on && i < 50; i++) {
      if ((await readFile(join(dir, 'freezer.state'), 'utf8')).trim() === 'FROZEN') break;
      await delay(2);
    }
    return true;
  } catch {
    return false;
  }
}

async function enableControllers(dir: string, controllers: readonly string[]): Promise<void> {
  const have = (await readFile(join(dir, 'cgroup.subtree_control'), 'utf8').catch(() => '')).split(/\s+/);
  const want = controllers.filter((c) => !have.includes(c));
  if (want.length > 0) await writeFile(join(dir, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '));
}

async function mkdirRetrying(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await mkdir(dir, { recursive: true });
      return;
    } catch (e) {
      // A concurrent remove() took the empty parent between our two mkdirs.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw e;
    }
  }
}

async function rmdirRetrying(dir: string): Promise<void> {
  const deadline = performance.now() + 5000;
  for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
    try {
      await rmdir(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      // EBUSY: the last member is exiting; the kernel frees the group a moment later.
      if (code !== 'EBUSY' || performance.now() > deadline) throw e;
      await delay(pause);
    }
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

/** Kiln group names are `<job>.<kilnPid>.<rand>`; the pid of the kiln that made it. */
export function ownerPidOf(cgroupDir: string): number | undefined {
  const m = /\.(\d+)\.[0-9a-f]+$/.exec(basename(cgroupDir));
  return m === null ? undefined : Number(m[1]);
}

/** Groups under every `<parent>` directory of this system (for the reaper and doctor). */
export async function listKilnCgroups(system: CgroupSystem, parent: string): Promise<string[]> {
  const roots = system.version === 2 ? [system.mount] : [...new Set(Object.values(system.controllers).map((c) => c.mount))];
  const found: string[] = [];
  // The parent may sit under any group (v1 nests under the group kiln ran in), so walk a
  // few levels down: cgroup trees are small.
  const walk = async (dir: string, depth: number): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const full = join(dir, e.name);
      if (e.name === parent) {
        for (const child of await readdir(full, { withFileTypes: true }).catch(() => [])) {
          if (child.isDirectory()) found.push(join(full, child.name));
        }
      } else if (depth < 4) {
        await walk(full, depth + 1);
      }
    }
  };
  for (const r of roots) await walk(r, 0);
  return found.sort();
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}
