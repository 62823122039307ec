// `kiln doctor`: what kiln left on this host that nothing owns any more, and whether the
// isolated sandboxes can run here. Findings (problems, removed with fix):
//   journal    a sandbox journal entry whose kiln is dead (its cgroup and workspace go too)
//   mount      a mount in kiln's namespace where kiln assembles roots (STATE/work/…,
//              STATE/envs/NAME/tmp/…; umount -l): never the user's own file system for the
//              state dir, its cache or logs
//   cgroup     a build group (`<parent>/<job>.<pid>.<rand>`) whose kiln is dead
//   workspace  `work/<run>/` of a run that is not running (crashed, or kept by --keep-failed)
//   lock       a cache lock held by a dead pid of this host
//   env-temp   `envs/NAME/tmp/…` of an env create, update or import that was killed (no
//              live process holds the env's lock)
//   cache-temp `CACHE/tmp/…` a kiln of this host was writing when it was killed (the pid in
//              its name gone; with another machine using the cache, also untouched for
//              DEAD_OWNER_TMP_AGE_MS: cache/tmp-leftovers.ts, as a build's start and gc decide)
// Checks (facts, not problems): root, chroot backend usable (and why not), rootless backend
// usable (and why not: sysctls, missing programs, no overlayfs in a user namespace; when
// usable, which limits it enforces and how, weaker than chroot's: rootless/limits.ts),
// cgroup version, which launcher helper starts builds (compiled, or perl and why).

import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { DEAD_OWNER_TMP_AGE_MS, tmpLeftovers } from '../cache/tmp-leftovers.ts';
import { launcherChoice } from '../lib/launcher-binary.ts';
import { openRecords } from '../records/records.ts';
import { recordsPath, recordsSchemaOf, type RecordsSchema } from '../records/db.ts';
import { folderOwnerAlive } from '../run/run-workspaces.ts';
import { chrootUnavailable } from './chroot/chroot-backend.ts';
import { detectCgroups, listKilnCgroups, openCgroup, ownerPidOf, type CgroupRef, type CgroupSystem } from './cgroups/cgroups.ts';
import { removeTree } from './host.ts';
import { ownerAlive, pidAlive, readEntries } from './journal.ts';
import { liveMountsUnder, unmountLazily } from './mounts.ts';
import { breakLock, reapEntry, staleLocks } from './reaper.ts';
import { rootlessLimits } from './rootless/limits.ts';
import { rootlessUnavailable } from './rootless/probe.ts';
import { envsDirOf } from '../envs/layout.ts';

export type FindingKind = 'journal' | 'mount' | 'cgroup' | 'workspace' | 'lock' | 'env-temp' | 'cache-temp';

export interface Finding {
  readonly kind: FindingKind;
  readonly path: string;
  readonly detail: string;
  /** Set with fix: whether it is gone now. */
  fixed?: boolean;
  error?: string;
}

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface DoctorReport {
  readonly stateDir: string;
  readonly findings: Finding[];
  readonly checks: Check[];
  /** Findings not fixed (all of them without fix). */
  readonly remaining: number;
}

export interface DoctorOptions {
  readonly stateDir: string;
  /** Default `<stateDir>/cache`. */
  readonly cacheDir?: string;
  readonly cgroupParent?: string;
  readonly fix?: boolean;
  /** For tests: the cgroup system (default: detected). */
  readonly cgroups?: CgroupSystem | undefined;
  /** For tests: why the rootless backend cannot run (default: the real probe, run once per process). */
  readonly rootlessProbe?: () => string | undefined;
}

export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const { stateDir } = options;
  const system = 'cgroups' in options ? options.cgroups : detectCgroups();
  const findings: Finding[] = [];
  const fixes = new Map<Finding, () => Promise<void>>();
  const add = (f: Finding, fix: () => Promise<void>): void => {
    findings.push(f);
    fixes.set(f, fix);
  };

  // Before anything here opens the records (which upgrades an older schema).
  const schemaBefore = recordsSchemaOf(stateDir);
  const entries = await readEntries(stateDir);
  const liveWorkDirs: string[] = [];
  const liveCgroupDirs = new Set<string>();
  const deadCgroupDirs = new Set<string>();
  for (const { file, entry } of entries) {
    if (entry === undefined) {
      add({ kind: 'journal', path: file, detail: 'unreadable journal entry' }, () => rm(file, { force: true }));
    } else if (ownerAlive(entry)) {
      liveWorkDirs.push(entry.workDir);
      for (const d of Object.values(entry.cgroup?.dirs ?? {})) liveCgroupDirs.add(d);
    } else {
      for (const d of Object.values(entry.cgroup?.dirs ?? {})) deadCgroupDirs.add(d);
      add({ kind: 'journal', path: file, detail: `sandbox of job ${entry.jobId} left by kiln pid ${entry.kilnPid} (workspace ${entry.workDir}${entry.cgroup === null ? '' : ', with its cgroup'})` }, async () => {
        await reapEntry(entry, { cgroups: [], mounts: [], workspaces: [] });
        await rm(file, { force: true });
      });
    }
  }

  // Only where kiln assembles roots (a job's workspace, an env being made): a file system
  // the user mounted for the state directory, its cache or logs is theirs, never undone.
  const envsDir = envsDirOf(stateDir);
  const whereKilnMounts = (m: string): boolean => {
    const inEnvs = relative(envsDir, m);
    return /^work\//.test(relative(stateDir, m)) || (!inEnvs.startsWith('..') && !isAbsolute(inEnvs) && /^[^/]+\/tmp\//.test(inEnvs));
  };
  for (const m of [...new Set([...(await liveMountsUnder(stateDir)), ...(await liveMountsUnder(envsDir))])]) {
    if (!whereKilnMounts(m)) continue;
    add({ kind: 'mount', path: m, detail: 'mounted in kiln\'s own namespace (sandbox mounts live only in their build\'s namespace)' }, () => unmountLazily(m));
  }

  if (system !== undefined) {
    const groups = new Map<string, string[]>();
    for (const dir of await listKilnCgroups(system, options.cgroupParent ?? 'kiln')) {
      const name = dir.slice(dir.lastIndexOf('/') + 1);
      groups.set(name, [...(groups.get(name) ?? []), dir]);
    }
    for (const [name, dirs] of groups) {
      const owner = ownerPidOf(name);
      // Only a group named as kiln names them (`<job>.<pid>.<hex>`) is kiln's: another
      // program's group under a directory of the same name is none of doctor's business.
      if (owner === undefined) continue;
      if (dirs.some((d) => liveCgroupDirs.has(d)) || pidAlive(owner)) continue;
      // Journal entries of dead kilns already cover their groups.
      if (dirs.some((d) => deadCgroupDirs.has(d))) continue;
      add({ kind: 'cgroup', path: dirs.join(' '), detail: `made by kiln pid ${owner}, which is gone` }, () =>
        openCgroup(refOf(system, dirs)).remove(),
      );
    }
  }

  for (const runDir of await orphanRunDirs(stateDir, liveWorkDirs)) {
    add({ kind: 'workspace', path: runDir, detail: 'workspace of a run that is not running (interrupted, or kept by --keep-failed)' }, async () => {
      if ((await liveMountsUnder(runDir)).length > 0) throw new Error(`something is still mounted under ${runDir}`);
      await removeTree(runDir);
    });
  }

  for (const lock of await staleLocks(join(options.cacheDir ?? join(stateDir, 'cache'), 'locks'))) {
    add({ kind: 'lock', path: lock, detail: 'held by a process of this host that is gone' }, async () => {
      if (!(await breakLock(lock)) && existsSync(lock)) throw new Error('the lock was taken again meanwhile');
    });
  }

  // An env's tmp/ holds a root being made only while its create, update or import runs,
  // under the env's lock: with that lock free or held by a dead pid, what is there is left
  // over. The envs are where kiln keeps them ($KILN_ENVS, shared between state dirs, or STATE/envs).
  const staleEnvLocks = new Set(await staleLocks(join(envsDir, '.locks')));
  for (const name of await readdir(envsDir).catch(() => [] as string[])) {
    if (name.startsWith('.')) continue;
    const lock = join(envsDir, '.locks', `${name}.lock`);
    if (existsSync(lock) && !staleEnvLocks.has(lock)) continue;
    const tmp = join(envsDir, name, 'tmp');
    for (const left of await readdir(tmp).catch(() => [] as string[])) {
      add({ kind: 'env-temp', path: join(tmp, left), detail: `a root being made for env ${name} by a kiln env create, update or import that was killed` }, async () => {
        if ((await liveMountsUnder(join(tmp, left))).length > 0) throw new Error(`something is still mounted under ${join(tmp, left)}`);
        await removeTree(join(tmp, left));
      });
    }
  }

  // A cache tmp/ entry whose writer is gone (a kiln killed while it packed or downloaded):
  // as a build's start-up sweep and cache gc judge it (cache/tmp-leftovers.ts).
  for (const left of await tmpLeftovers(options.cacheDir ?? join(stateDir, 'cache'))) {
    const detail = left.recent
      ? `a cache entry kiln pid ${left.owner}, gone from this machine, wrote ${Math.round(left.quietMs / 1000)} s ago: a kiln killed while it wrote it, or one of another machine sharing this cache (--fix removes it; a build's start does once it is left unwritten for ${DEAD_OWNER_TMP_AGE_MS / 60_000} minutes)`
      : `a cache entry kiln pid ${left.owner} was writing when it was killed (a build's start removes it too)`;
    add({ kind: 'cache-temp', path: left.path, detail }, () => removeTree(left.path));
  }

  if (options.fix === true) {
    // Mounts first: nothing may be deleted through a live mount.
    const order: FindingKind[] = ['mount', 'journal', 'cgroup', 'workspace', 'lock', 'env-temp', 'cache-temp'];
    for (const f of [...findings].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind))) {
      try {
        await fixes.get(f)!();
        f.fixed = true;
      } catch (e) {
        f.fixed = false;
        f.error = e instanceof Error ? e.message : String(e);
      }
    }
  }

  const why = chrootUnavailable(system);
  const isRoot = process.getuid?.() === 0;
  const rootlessWhy = (options.rootlessProbe ?? rootlessUnavailable)();
  const checks: Check[] = [
    { name: 'root', ok: isRoot, detail: isRoot ? 'running as root' : 'not root: only the host and rootless sandboxes can run' },
    { name: 'chroot sandbox', ok: why === undefined, detail: why ?? 'usable (overlayfs, namespaces, cgroups, host tools)' },
    {
      name: 'rootless sandbox',
      ok: rootlessWhy === undefined,
      // Usable, but its limits are not chroot's: said every time (limits.ts).
      detail: rootlessWhy ?? `usable (user namespaces, overlayfs in a user namespace, host tools); limits: ${rootlessLimits(isRoot)}${isRoot ? '; probed as root, so `sandbox = "auto"` picks chroot here' : ''}`,
    },
    { name: 'cgroups', ok: system !== undefined, detail: system === undefined ? 'none usable' : `cgroup v${system.version}` },
    await launcherCheck(),
    recordsCheck(stateDir, schemaBefore, recordsSchemaOf(stateDir)),
  ];
  return { stateDir, findings, checks, remaining: findings.filter((f) => f.fixed !== true).length };
}

/**
 * The records' schema: this kiln's, an older one that this kiln's next command upgrades
 * (one way: the older kiln refuses the state after that; `after` differs when doctor's own
 * look at the records upgraded it), or a newer one this kiln refuses.
 */
export function recordsCheck(stateDir: string, before: RecordsSchema | undefined, after: RecordsSchema | undefined = before): Check {
  const schema = before ?? after;
  if (schema === undefined) return { name: 'records', ok: false, detail: `${recordsPath(stateDir)} cannot be read (see the error of any other kiln command on this state)` };
  if (schema.found === 'none') return { name: 'records', ok: true, detail: 'none yet (the first build makes them)' };
  if (schema.found === schema.known) return { name: 'records', ok: true, detail: `schema ${schema.found}, this kiln's` };
  if (schema.found > schema.known) {
    return { name: 'records', ok: false, detail: `schema ${schema.found}, written by a newer kiln: this kiln (schema ${schema.known}) refuses this state; upgrade kiln` };
  }
  const keepWayBack = 'stop an older kiln serve or worker on this state; docs/operations.md, "Upgrading kiln"';
  if (after !== undefined && after.found === schema.known) {
    return { name: 'records', ok: true, detail: `schema ${schema.found}, from an older kiln, upgraded to ${schema.known} now (doctor read the runs): the older kiln refuses this state from now on; ${keepWayBack}` };
  }
  return {
    name: 'records',
    ok: true,
    detail: `schema ${schema.found}, from an older kiln: this kiln's next command upgrades it to ${schema.known}, after which the older kiln refuses this state; copy kiln.db first to keep a way back, and ${keepWayBack}`,
  };
}

/** Which helper starts builds: the compiled one, or perl (more CPU per job) and why. */
async function launcherCheck(): Promise<Check> {
  const c = await launcherChoice();
  return 'path' in c ? { name: 'launcher', ok: true, detail: `compiled helper ${c.path}` } : { name: 'launcher', ok: false, detail: `perl helper: ${c.why}` };
}

/** `work/<run>` directories whose run is not running, except those holding a live sandbox or owned by a live kiln. */
async function orphanRunDirs(stateDir: string, liveWorkDirs: readonly string[]): Promise<string[]> {
  const work = join(stateDir, 'work');
  const runs = await readdir(work, { withFileTypes: true }).catch(() => []);
  if (runs.length === 0) return [];
  const dbPath = join(stateDir, 'kiln.db');
  using records = existsSync(dbPath) ? openRecords(stateDir) : undefined;
  const out: string[] = [];
  for (const r of runs) {
    if (!r.isDirectory()) continue;
    const dir = join(work, r.name);
    if (liveWorkDirs.some((w) => w === dir || w.startsWith(`${dir}/`))) continue;
    // A live kiln's folder: its run's, or its pool of emptied host workspaces (which jobs
    // build in), whatever the records say.
    if (folderOwnerAlive(dir) === true) continue;
    const run = records?.getRun(r.name);
    const elsewhere = run?.host !== null && run?.host !== undefined && run.host !== hostname();
    if (run !== undefined && run.state === 'running' && (elsewhere || run.pid === null || pidAlive(run.pid))) continue;
    out.push(dir);
  }
  return out;
}

function refOf(system: CgroupSystem, dirs: readonly string[]): CgroupRef {
  if (system.version === 2) return { version: 2, dirs: { unified: dirs[0]! } };
  const byController: Record<string, string> = {};
  for (const [c, { mount }] of Object.entries(system.controllers)) {
    const d = dirs.find((x) => x.startsWith(`${mount}/`));
    if (d !== undefined) byController[c] = d;
  }
  return { version: 1, dirs: byController };
}
