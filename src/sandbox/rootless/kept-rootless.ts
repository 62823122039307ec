// `kiln shell` in the kept root of a build that failed in the rootless sandbox: the root is
// put together again the way a rootless run does it (rootless-backend.ts, scripts.ts): a
// user namespace in which the invoking user is root, new mount, pid, ipc, uts and net
// namespaces, the kept upper layer over the env's layers (overlayfs with userxattr), /dev
// from the kept template with the host's null, zero… bound in, the build's passwd and
// group entries, and the shell in a nested user namespace as the build's uid, chrooted
// into the overlay. No limits (no prlimit options): it is a shell, not a build.
//
// The kept upper layer belongs to the user who ran the build: only that user can mount it
// again (another uid is not mapped in the namespace, root included). While the shell runs
// the upper layer's top is r-x as in the build (the build could not make directories at
// the top of the root); afterwards it is opened again, so that its owner can rm -rf it.

import { existsSync } from 'node:fs';
import { chmod, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../../errors.ts';
import { DEFAULT_BUILD_HOME, passwdHome, withBuildUser } from '../chroot/build-user.ts';
import type { KeptEntry, KeptRoot } from '../chroot/kept-root.ts';
import { BUILD_GID, BUILD_UID } from '../chroot/scripts.ts';
import { commonPaths, writeSetupFiles } from '../init-sandbox.ts';
import { openTops, userFiles } from './rootless-backend.ts';
import { findRootlessTools, rootlessUnavailable } from './probe.ts';
import { DEV_NODES, fstabs, runArgv, setupScript, type RootlessPaths } from './scripts.ts';

/** How kept-root.ts enters a kept rootless root; sandbox-unavailable when it cannot here. */
export async function rootlessEntry(workDir: string, root: KeptRoot): Promise<KeptEntry> {
  const why = rootlessUnavailable();
  if (why !== undefined) {
    throw new KilnError('sandbox-unavailable', `cannot enter the rootless build root of job ${root.jobId}: ${why}`, { hint: 'run `kiln doctor` for details' });
  }
  const found = findRootlessTools();
  if ('missing' in found) throw new Error('unreachable: tools checked above');
  const upper = join(workDir, 'root', 'upper');
  const owner = (await stat(upper).catch(() => undefined))?.uid;
  const me = process.getuid?.();
  if (owner !== undefined && me !== undefined && owner !== me) {
    throw new KilnError('sandbox-unavailable', `the rootless build root of job ${root.jobId} (${upper}) belongs to uid ${owner}, not to uid ${me} who runs kiln shell: only its owner's user namespace can mount it again`, {
      hint: `run kiln shell as the user who ran the build (uid ${owner})`,
    });
  }
  // The build's uid inside, as rootless-backend.ts chose it.
  const ids = { uid: me || BUILD_UID, gid: process.getgid?.() || BUILD_GID };
  return {
    async prepare(dirs, binds, id) {
      for (const n of DEV_NODES) if (!existsSync(join(dirs.dev, n))) await writeFile(join(dirs.dev, n), '', { mode: 0o666 });
      // The upper layer is the topmost: passwd and group entries the build made there stay its own.
      const users = await userFiles([...root.env.layers, dirs.upper], dirs.upper, dirs.run, ids);
      const home = passwdHome(root.environment?.['HOME']);
      if (users.passwd !== undefined && home !== DEFAULT_BUILD_HOME) {
        const text = withBuildUser(users.passwd.env, ids, home);
        if (text !== undefined) await writeFile(users.passwd.file, text);
      }
      const paths: RootlessPaths = { ...commonPaths(dirs, root.env.layers, binds, id), fileBinds: users.binds, tmpfs: join(dirs.run, 'tmpfs') };
      await writeSetupFiles(paths, fstabs(paths), setupScript(found.tools, paths, { ...ids, limits: undefined }));
      await chmod(dirs.upper, 0o555);
      return runArgv(found.tools, paths);
    },
    after: () => openTops(workDir),
  };
}
