// What --keep-failed leaves with a failed job's kept workspace, so that the build can be
// looked into as it failed: on the host sandbox rebuild.sh (rebuild-script.ts: the paths
// the script saw are the host's, so it can be re-run there); on an isolated sandbox, whose
// root (the overlay's upper and work dirs) stays with the workspace, shell.json naming what
// `kiln shell` needs to mount that root again (sandbox/chroot/kept-root.ts).

import { atomicWrite } from '../lib/atomic-write.ts';
import { join } from 'node:path';
import type { Bind } from '../sandbox/init-sandbox.ts';
import { writeKeptRoot } from '../sandbox/chroot/kept-root.ts';
import type { SandboxBackend, SandboxEnv } from '../sandbox/sandbox.ts';
import { rebuildScript } from './rebuild-script.ts';

export interface KeepFailedInput {
  readonly backend: SandboxBackend['name'];
  /** The kept workspace: the directory holding src/, dest/, sysroot/, home/ and tmp/. */
  readonly kept: string;
  readonly runId: string;
  readonly jobId: string;
  readonly name: string;
  readonly version: string;
  readonly arch: string;
  readonly script: string;
  /** How the build script ran; undefined when kiln ran none (a Debian build's steps, or a failure before it). */
  readonly ran: { readonly env: Record<string, string>; readonly cwd: string } | undefined;
  /** What the sandbox was made with (isolated backends). */
  readonly sandbox: { readonly env?: SandboxEnv; readonly readOnlyBinds?: readonly Bind[]; readonly readWriteBinds?: readonly Bind[] };
  /** The inside src dir (the cwd of a shell when no script ran). */
  readonly insideSrc: string;
  readonly note: (text: string) => void;
}

export async function keepFailedFiles(i: KeepFailedInput): Promise<void> {
  i.note(`workspace kept at ${i.kept}`);
  if (i.backend === 'host') {
    if (i.ran === undefined) return;
    const file = join(i.kept, 'rebuild.sh');
    // The workspace was the build's: never written through a link it may have left there (a fresh file, renamed).
    await atomicWrite(file, rebuildScript({ name: i.name, version: i.version, arch: i.arch, runId: i.runId, cwd: i.ran.cwd, env: i.ran.env, script: i.script }), { mode: 0o755 });
    i.note(`to re-run the build there as it ran: bash ${file} (--shell: a shell with its environment)`);
    return;
  }
  if (i.sandbox.env === undefined) return;
  await writeKeptRoot(i.kept, {
    sandbox: i.backend, jobId: i.jobId, runId: i.runId, env: i.sandbox.env,
    ...(i.sandbox.readOnlyBinds === undefined ? {} : { readOnlyBinds: i.sandbox.readOnlyBinds }),
    ...(i.sandbox.readWriteBinds === undefined ? {} : { readWriteBinds: i.sandbox.readWriteBinds }),
    cwd: i.ran?.cwd ?? i.insideSrc, environment: i.ran?.env,
  });
  i.note(`to open a shell in its root as the build left it: kiln shell ${i.name} --run ${i.runId} --arch ${i.arch}`);
}
