// A failed build's root, brought back (`kiln shell`, like poudriere's `bulk -i` or mock
// --shell): with --keep-failed an isolated sandbox's whole work dir stays, the overlay's
// upper and work dirs included (`<workDir>/root/`), and kiln writes shell.json into the
// kept workspace (`<workDir>/kiln/`) naming what the upper layer lies over (the env
// version's layers, a Debian build's deps layer), the binds and the build's environment.
//
// enterKeptRoot mounts that root again exactly as a run of the build's backend does (its
// runArgv, setup.sh and fstabs, generated afresh into `<workDir>/run/shell-<pid>/`; the
// rootless backend's in ../rootless/kept-rootless.ts, in a user namespace): new
// mount, pid, ipc, uts and net namespaces, the env layers read-only under the kept upper,
// the workspace at /kiln, as the build user, with the build's environment, in its cwd.
// Nothing is mounted in kiln's own namespace: when the command ends (or kiln is killed:
// the parent-death signal and unshare --kill-child), PID 1 exits and the kernel drops the
// namespace with its mounts. No cgroup is made: the shell has no build limits. While it
// runs a journal entry names its run dir, so `kiln doctor` leaves the kept work dir alone;
// a SIGKILLed shell's entry is reaped later with just that run dir. While it runs it also
// holds what the root lies over (the env version, instance layer and deps layer:
// kept-holds.ts), as a build does, so no env update's or cache gc removes them under it.

import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { tryLock } from '../../cache/lock.ts';
import { atomicWrite } from '../../lib/atomic-write.ts';
import { KilnError } from '../../errors.ts';
import { runInteractive } from '../interactive.ts';
import { commonPaths, layoutAt, sandboxDirsOf, sandboxId, writeSetupFiles, type Bind, type SandboxDirs } from '../init-sandbox.ts';
import { ownEntry, removeEntry, writeEntry } from '../journal.ts';
import { removeTree } from '../host.ts';
import type { SandboxEnv } from '../sandbox.ts';
import { checkInside } from '../workspace-checks.ts';
import { findHostTools } from './host-tools.ts';
import { holdKeptLayers } from './kept-holds.ts';
import { badPathChars, fstabs, INSIDE_ROOT, runArgv, setupScript, type ScriptPaths } from './scripts.ts';

/** The file in a kept workspace of an isolated sandbox. */
export const KEPT_ROOT_FILE = 'shell.json';

const bindSchema = z.object({ host: z.string(), inside: z.string() });
const keptRootSchema = z.object({
  kind: z.literal('kiln-kept-root'),
  sandbox: z.enum(['chroot', 'rootless']),
  jobId: z.string(),
  runId: z.string(),
  env: z.object({ id: z.string(), name: z.string(), arch: z.string(), layers: z.array(z.string()) }),
  readOnlyBinds: z.array(bindSchema),
  readWriteBinds: z.array(bindSchema),
  /** The inside cwd of the build script ($SRCDIR). */
  cwd: z.string(),
  /** The variables the build script ran with; null when kiln did not run one (a Debian build's steps). */
  environment: z.record(z.string(), z.string()).nullable(),
});
export type KeptRoot = z.infer<typeof keptRootSchema>;

export interface KeptRootInput {
  readonly sandbox: 'chroot' | 'rootless';
  readonly jobId: string;
  readonly runId: string;
  /** The env as the sandbox was made with (its layers: the deps layer included). */
  readonly env: SandboxEnv;
  readonly readOnlyBinds?: readonly Bind[];
  readonly readWriteBinds?: readonly Bind[];
  readonly cwd: string;
  readonly environment: Readonly<Record<string, string>> | undefined;
}

/** Writes shell.json into the kept workspace `kept` (`<workDir>/kiln`); returns its path. */
export async function writeKeptRoot(kept: string, i: KeptRootInput): Promise<string> {
  const value: KeptRoot = {
    kind: 'kiln-kept-root',
    sandbox: i.sandbox,
    jobId: i.jobId,
    runId: i.runId,
    env: { id: i.env.id, name: i.env.name, arch: i.env.arch, layers: [...i.env.layers] },
    readOnlyBinds: (i.readOnlyBinds ?? []).map((b) => ({ host: b.host, inside: b.inside })),
    readWriteBinds: (i.readWriteBinds ?? []).map((b) => ({ host: b.host, inside: b.inside })),
    cwd: i.cwd,
    environment: i.environment === undefined ? null : { ...i.environment },
  };
  const file = join(kept, KEPT_ROOT_FILE);
  // The workspace was the build's: never written through a link it may have left there (a fresh file, renamed).
  await atomicWrite(file, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o644 });
  return file;
}

/** shell.json of a kept workspace; undefined when there is none. */
export function readKeptRoot(kept: string): KeptRoot | undefined {
  const file = join(kept, KEPT_ROOT_FILE);
  if (!existsSync(file)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new KilnError('usage', `${file} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, { hint: 'build the package again with --keep-failed' });
  }
  const r = keptRootSchema.safeParse(parsed);
  if (!r.success) throw new KilnError('usage', `${file} is not a kept build root kiln can read: ${r.error.issues[0]?.message ?? 'invalid'}`, { hint: 'build the package again with --keep-failed' });
  return r.data;
}

export interface EnterOptions {
  /** The state dir (its journal names the shell's run dir while it runs). */
  readonly stateDir: string;
  /** Default: bash if the root has it, else sh. */
  readonly argv?: readonly string[];
  readonly note: (text: string) => void;
  /** What to do when what the root lies over is gone (default: build the package again with --keep-failed). */
  readonly again?: string;
}

/** How one backend enters a kept root: chroot's below, rootless' in ../rootless/kept-rootless.ts. */
export interface KeptEntry {
  /** Writes the run's setup files into `dirs.run` (made, empty); the run argv (runInteractive's). */
  prepare(dirs: SandboxDirs, binds: { readonly ro: readonly Bind[]; readonly rw: readonly Bind[] }, id: string): Promise<string[]>;
  /** After the shell ended (or failed to start). */
  after?(): Promise<unknown>;
}

/** The chroot backend's entry (runArgv, setup.sh and fstabs of a chroot run); needs root. */
function chrootEntry(root: KeptRoot): KeptEntry {
  if (process.getuid?.() !== 0) throw new KilnError('sandbox-unavailable', `entering the chroot build root of job ${root.jobId} needs root`, { hint: 'run kiln shell as root' });
  const found = findHostTools();
  if ('missing' in found) throw new KilnError('sandbox-unavailable', `cannot enter the build root: host programs missing: ${found.missing.join(', ')}`, { hint: 'run `kiln doctor`' });
  return {
    async prepare(dirs, binds, id) {
      const paths: ScriptPaths = { ...commonPaths(dirs, root.env.layers, binds, id), procsFiles: [] };
      await writeSetupFiles(paths, fstabs(paths), setupScript(found.tools, paths));
      return runArgv(found.tools, paths);
    },
  };
}

/** Mounts the kept root of `workDir` again in new namespaces, as its backend ran the build, and runs the shell there; its exit status. */
export async function enterKeptRoot(workDir: string, root: KeptRoot, o: EnterOptions): Promise<number> {
  const entry = root.sandbox === 'chroot' ? chrootEntry(root) : await (await import('../rootless/kept-rootless.ts')).rootlessEntry(workDir, root);
  const dirs = sandboxDirsOf(workDir, join(workDir, 'run', `shell-${process.pid}`));
  for (const d of [dirs.workspace, dirs.upper, dirs.work, dirs.merged, dirs.dev]) {
    if (!existsSync(d)) throw new KilnError('not-found', `the kept build root of job ${root.jobId} is incomplete: ${d} is missing`, { hint: 'build the package again with --keep-failed' });
  }
  for (const p of [workDir, ...root.env.layers, ...root.readOnlyBinds.map((b) => b.host), ...root.readWriteBinds.map((b) => b.host)]) {
    if (badPathChars(p) || !isAbsolute(p)) throw new KilnError('unsafe-path', `path ${JSON.stringify(p)} in ${join(dirs.workspace, KEPT_ROOT_FILE)} is not absolute or has one of , : \\ or a newline`, { hint: 'build the package again with --keep-failed' });
  }
  // A bind whose host directory went meanwhile (a ccache dir) is left out, and said so.
  const present = (binds: readonly Bind[]): Bind[] => binds.filter((b) => existsSync(b.host) || (o.note(`kiln: ${b.host} is gone: not bound at ${b.inside}`), false)).map((b) => ({ host: b.host, inside: checkInside(b.inside, root.jobId) }));
  const binds = { ro: present(root.readOnlyBinds), rw: present(root.readWriteBinds) };
  // The env version, instance layer and deps layer stay for as long as the shell runs (as for a build).
  await using held = await holdKeptLayers(root.env.layers, { jobId: root.jobId, ...(o.again === undefined ? {} : { again: o.again }) });
  const gone = root.env.layers.filter((l) => !existsSync(l));
  if (gone.length > 0) {
    throw new KilnError('env-not-found', `the env ${root.env.id} the build of job ${root.jobId} ran in is gone (${gone.join(', ')}): its root cannot be put together again`, {
      hint: o.again ?? 'build the package again with --keep-failed (it builds in the env\'s current version)',
    });
  }
  // One overlay mount at a time over an upper dir: a second one's view would be undefined.
  const lock = await tryLock(join(workDir, 'root'), 'shell');
  if (lock === undefined) throw new KilnError('conflict', `another kiln shell is open in the root of job ${root.jobId}`, { hint: 'leave that shell first, or use it' });
  const id = sandboxId(`shell@${root.jobId}`);
  try {
    await writeEntry(o.stateDir, ownEntry({ id, jobId: `shell@${root.jobId}`, backend: root.sandbox, workDir: dirs.run, cgroup: null }));
    await removeTree(dirs.run);
    await mkdir(dirs.run, { recursive: true, mode: 0o700 });
    const argv = await entry.prepare(dirs, binds, id);
    return await runInteractive(
      {
        argv, cwd: dirs.run, envFile: join(dirs.run, 'shell.env'), statusFile: join(dirs.run, 'shell.status'),
        insideCwd: root.cwd, inside: layoutAt(INSIDE_ROOT), what: `the kept root of job ${root.jobId}`,
      },
      { ...(o.argv === undefined ? {} : { argv: o.argv }), ...(root.environment === null ? {} : { env: root.environment }) },
    );
  } finally {
    await entry.after?.().catch(() => undefined);
    await removeTree(dirs.run).catch(() => undefined);
    await removeEntry(o.stateDir, id);
    await lock.release();
  }
}
