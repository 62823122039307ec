// What a publish, remove or rollback killed part-way (a crash, kill -9, a full disk) leaves
// in a repository, cleared at the start of every locked operation (before it reads the
// live tree, whether or not it goes on to change anything) and, for trees, after each swap:
//   REPO/.dists.<id>.tmp, .dists.<id>.link   a tree or link being written (never live)
//   REPO/dists.<id>                          every tree but the live one (`dists` points at one)
//   REPO/.kiln/incoming/                     pool files being copied (none is in the pool yet)
//   REPO/.kiln/previous/.SUITE.next.json     a pending record (apt-repo-previous.ts: settled)
// A pool file copied in before the kill is in no index: the sweep after the next change
// deletes it (apt-repo-pool.ts). Call under the publish lock.

import { lstat, readdir, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { settlePending } from './apt-repo-previous.ts';

/**
 * Leftovers of killed operations cleared (see the top). Trees only beside a live one (a
 * `dists` symlink to `dists.<id>`): in a folder without one (a first publish, a --repo
 * kiln did not make) they may be anyone's, and the first swap clears kiln's own.
 */
export async function clearLeftovers(repoDir: string): Promise<void> {
  await rm(join(repoDir, '.kiln', 'incoming'), { recursive: true, force: true });
  const dists = await lstat(join(repoDir, 'dists')).catch(() => undefined);
  const live = dists?.isSymbolicLink() === true ? await readlink(join(repoDir, 'dists')) : undefined;
  if (live !== undefined && /^dists\.[A-Za-z0-9-]+$/.test(live)) await removeOtherTrees(repoDir, live);
  await settlePending(repoDir);
}

/** Every `dists.<id>` but KEEP, and every `.dists.<id>.tmp` and `.link`, removed. */
export async function removeOtherTrees(repoDir: string, keep: string | undefined): Promise<void> {
  for (const name of await readdir(repoDir).catch(() => [] as string[])) {
    if (name === keep) continue;
    if (/^dists\.[A-Za-z0-9-]+$/.test(name) || /^\.dists\.[A-Za-z0-9-]+\.(tmp|link)$/.test(name)) {
      await rm(join(repoDir, name), { recursive: true, force: true });
    }
  }
}
