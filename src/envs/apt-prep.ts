// Before apt runs inside a copied root (env update): the host's resolv.conf is bind-mounted
// onto the root's /etc/resolv.conf, which therefore must be a regular file (a symlink would
// be followed on the host side), and services must not start (policy-rc.d). Both changes
// are undone afterwards so the new version looks like the old one apart from the upgrade.

import { lstat, rename, rm, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';

const SAVED = '.kiln-saved';

export async function prepareRootForApt(root: string): Promise<() => Promise<void>> {
  const undo: (() => Promise<void>)[] = [];
  const resolv = join(root, 'etc', 'resolv.conf');
  const st = await lstat(resolv).catch(() => undefined);
  if (st === undefined) {
    await writeFile(resolv, '');
    undo.push(() => rm(resolv, { force: true }));
  } else if (!st.isFile()) {
    await rename(resolv, resolv + SAVED);
    await writeFile(resolv, '');
    undo.push(async () => {
      await rm(resolv, { force: true });
      await rename(resolv + SAVED, resolv);
    });
  }
  const policy = join(root, 'usr', 'sbin', 'policy-rc.d');
  if ((await lstat(policy).catch(() => undefined)) === undefined) {
    await writeFile(policy, '#!/bin/sh\n# kiln env update: never start services in an env root\nexit 101\n');
    await chmod(policy, 0o755);
    undo.push(() => rm(policy, { force: true }));
  }
  return async () => {
    for (const u of undo.reverse()) await u();
  };
}
