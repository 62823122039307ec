// The `chroot` sandbox backend (root): each build in its own overlay root over the env's
// read-only layers, in new mount, PID, IPC, UTS and network namespaces, limited by a
// cgroup (memory, cpu quota, pids), as an unprivileged build user with exactly the
// environment it is given.
//
// Host side of a sandbox, `<workDir>/`:
//   kiln/{src,dest,sysroot,home,tmp}   the workspace, bound at /kiln inside (the layout)
//   root/{upper,work,merged,dev}       overlay upper + work dir, mount point, /dev template
//   run/                               generated scripts, per-run env and status files
//
// Nothing is mounted in kiln's own mount namespace: each run() makes a new namespace
// whose PID 1 (init, see scripts.ts) mounts everything; when the build's main process
// ends, init exits, the kernel kills what is left of the build and drops the namespace
// with its mounts. The run's outermost process has SIGKILL as its parent-death signal,
// and unshare --kill-child passes it on to init, so a SIGKILLed kiln takes its builds
// down with it. What survives kiln's death is its cgroup and workspace directories, and
// the journal entry naming them (journal.ts), which the reaper removes at the next start.

import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../../errors.ts';
import { runGroup, type GroupResult } from '../../lib/spawn-group.ts';
import { cgroupPaths, cgroupProblem, createCgroup, detectCgroups, type Cgroup, type CgroupSystem } from '../cgroups/cgroups.ts';
import { watchForks } from '../fork-watch.ts';
import { hostOverlayProblem } from './overlay-support.ts';
import { removeTree } from '../host.ts';
import {
  acceptRequest, checkedBinds, commonPaths, InitSandbox, layoutAt, makeSandboxDirs, sandboxId, unavailableError, writeSetupFiles,
  type InitSandboxParts, type RunMeasure,
} from '../init-sandbox.ts';
import { ownEntry, removeEntry, writeEntry } from '../journal.ts';
import type { Sandbox, SandboxBackend, SandboxOptions } from '../sandbox.ts';
import { ensureBuildUser } from './build-user.ts';
import { findHostTools } from './host-tools.ts';
import { fstabs, INSIDE_ROOT, runArgv, setupScript, type ScriptPaths } from './scripts.ts';

export interface ChrootBackendOptions {
  /** The state dir: the journal of live sandboxes goes to `<stateDir>/sandboxes/`. */
  readonly stateDir: string;
  /** Name of the cgroup directory that holds the builds' groups (default `kiln`). */
  readonly cgroupParent?: string;
  /** SIGTERM → SIGKILL grace when kiln ends a run (default 2000 ms). */
  readonly graceMs?: number;
  /** For tests: the cgroup system to use (default: detected). */
  readonly cgroups?: CgroupSystem;
}

export function createChrootBackend(options: ChrootBackendOptions): SandboxBackend {
  return {
    name: 'chroot',
    guarantees: ['fresh-workspace', 'process-tree-killed', 'clean-environment', 'private-root', 'no-network', 'resource-limits'],
    create: (sandboxOptions) => createChrootSandbox(sandboxOptions, options),
  };
}

/** Why the chroot backend cannot run here, or undefined when it can. */
export function chrootUnavailable(system: CgroupSystem | undefined = detectCgroups()): string | undefined {
  if (process.getuid?.() !== 0) return 'the chroot sandbox needs root (run kiln as root, or use the rootless sandbox)';
  const tools = findHostTools();
  if ('missing' in tools) return `host programs missing: ${tools.missing.join(', ')}`;
  const overlay = hostOverlayProblem();
  if (overlay !== undefined) return overlay;
  return cgroupProblem(system);
}

async function createChrootSandbox(options: SandboxOptions, backend: ChrootBackendOptions): Promise<Sandbox> {
  const { workDir, env } = await acceptRequest(options, 'chroot');
  const system = backend.cgroups ?? detectCgroups();
  const why = chrootUnavailable(system);
  if (why !== undefined || system === undefined) throw unavailableError('chroot', options.jobId, why);
  const found = findHostTools();
  if ('missing' in found) throw new Error('unreachable: tools checked above');
  const tools = found.tools;
  const binds = checkedBinds(options, workDir, env.layers);

  const id = sandboxId(options.jobId);
  const parent = backend.cgroupParent ?? 'kiln';
  const cgroupName = id;
  // The journal entry comes first: whatever exists later, a dead kiln's entry names it.
  const cgroupRef = { version: system.version, dirs: cgroupPaths(system, { parent, name: cgroupName }) };
  await writeEntry(backend.stateDir, ownEntry({ id, jobId: options.jobId, backend: 'chroot', workDir, cgroup: cgroupRef }));
  let cgroup: Cgroup | undefined;
  try {
    const dirs = await makeSandboxDirs(workDir);
    await chmod(join(dirs.dev, 'shm'), 0o1777);
    await ensureBuildUser(env.layers, dirs.upper);
    cgroup = await createCgroup(system, { parent, name: cgroupName, limits: options.limits });
    const paths: ScriptPaths = { ...commonPaths(dirs, env.layers, binds, id), procsFiles: cgroup.procsFiles };
    await writeSetupFiles(paths, fstabs(paths), setupScript(tools, paths));
    const parts = { backend: 'chroot', id, workDir, runDir: dirs.run, argv: runArgv(tools, paths), host: layoutAt(dirs.workspace), inside: layoutAt(INSIDE_ROOT), options, stateDir: backend.stateDir, graceMs: backend.graceMs } as const;
    return new ChrootSandbox(parts, cgroup);
  } catch (e) {
    await cgroup?.remove().catch(() => undefined);
    await removeTree(workDir).catch(() => undefined);
    await removeEntry(backend.stateDir, id);
    throw e;
  }
}

/** rusage and OOM kills come from the run's cgroup (the whole build, not one process). */
function cgroupMeasure(cgroup: Cgroup): () => Promise<(r: GroupResult) => Promise<RunMeasure>> {
  return async () => {
    const oomBefore = await cgroup.oomKills();
    const pidsBefore = await cgroup.pidsLimitHits();
    const usageBefore = await cgroup.usage();
    return async () => {
      // Normally empty by now (the namespace died with init); a stuck exit is swept here.
      await cgroup.kill();
      const oomKills = Math.max(0, (await cgroup.oomKills()) - oomBefore);
      const pidsLimited = (await cgroup.pidsLimitHits()) > pidsBefore;
      const usage = await cgroup.usage();
      const rusage = {
        userMs: Math.round((usage.userUs - usageBefore.userUs) / 1000),
        systemMs: Math.round((usage.systemUs - usageBefore.systemUs) / 1000),
        maxRssKb: Math.round((usage.peakBytes ?? 0) / 1024),
      };
      return { rusage, oom: oomKills > 0, oomKills, pidsLimited };
    };
  };
}

class ChrootSandbox extends InitSandbox {
  constructor(parts: InitSandboxParts, cgroup: Cgroup) {
    super(parts, {
      measure: cgroupMeasure(cgroup),
      watchRunaway: (onRunaway) => watchForks(() => cgroup.pidsLimitHits(), onRunaway),
      // Interactive runs happen in the build's cgroup too.
      afterShell: () => cgroup.kill(),
      release: () => cgroup.remove(),
      removeWorkDir: removeTree,
    });
  }

  async captureRoot(dest: string): Promise<void> {
    const p = this.parts;
    this.assertLive();
    if (this.busy) throw new Error(`captureRoot: job ${p.options.jobId} still has a run going`);
    // Nothing is mounted between runs (the mounts live in each run's namespace), so the
    // upper directory is plain files, overlay whiteouts (0/0 character devices) included.
    const r = await runGroup(['cp', '-a', '--reflink=auto', join(p.workDir, 'root', 'upper'), dest], { env: { PATH: '/usr/bin:/bin' }, cwd: '/', onOutput: () => undefined, timePath: null });
    if (r.exitCode !== 0) throw new KilnError('sandbox-failed', `copying the root changes of job ${p.options.jobId} to ${dest} failed (exit ${r.exitCode ?? r.signal})`, { hint: 'check free disk space in the cache dir' });
  }
}
