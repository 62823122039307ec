// --extra-package in a Debian build (debian/extra-packages.ts reads them at plan time):
// the .debs a job can use (debian/extra-package-use.ts) staged beside this run's own, in
// the local repository the build root's apt prefers (pinned at 1001) over the archive.

import { constants as fsConstants, existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File } from '../lib/hash.ts';
import { extraArchsOf, stagedDebName, usableExtraPackages, type ExtraPackage } from '../debian/extra-package-use.ts';
import type { PackageSpec } from '../plan/spec.ts';
import { stagedKey } from './debian-offline-apt.ts';

/** The --extra-package .debs a job of `arch` can use (extra-package-use.ts). */
export function jobExtraPackages(d: NonNullable<PackageSpec['debian']>, arch: string): ExtraPackage[] {
  return usableExtraPackages(d.suite.extraPackages ?? [], extraArchsOf(d, arch));
}

/**
 * Copies the job's --extra-package .debs into `runDebsDir` (this run's own .debs, which the
 * build root's apt sees as a local repository pinned above the archive), and says which it
 * offers and which of the run's it does not (another arch). A .deb of the run's own with the
 * same name, version and arch is kept. Returns them by stagedKey (name=version:arch), or the
 * problem when one is no longer the file the run planned with (its sha256 is in the key).
 */
export async function stageExtraPackages(d: NonNullable<PackageSpec['debian']>, arch: string, runDebsDir: string, note: (t: string) => void): Promise<Map<string, ExtraPackage> | { problem: string }> {
  const all = d.suite.extraPackages ?? [];
  const out = new Map<string, ExtraPackage>();
  if (all.length === 0) return out;
  const archs = extraArchsOf(d, arch);
  const usable = usableExtraPackages(all, archs);
  const other = all.filter((p) => !usable.includes(p));
  await mkdir(runDebsDir, { recursive: true });
  const offered: string[] = [];
  for (const p of usable) {
    const dest = join(runDebsDir, stagedDebName(p));
    if (existsSync(dest)) {
      note(`extra package ${p.package} ${p.version} [${p.architecture}] (${p.path}): not offered, this run built ${p.package} ${p.version} itself`);
      continue;
    }
    // A copy, not a link: maintainer scripts run as root beside it and must not change the user's file.
    await copyFile(p.path, dest, fsConstants.COPYFILE_FICLONE);
    const now = await sha256File(dest);
    if (now !== p.sha256) return { problem: `the extra package ${p.path} (${p.where}) changed since the run planned (sha256 ${p.sha256.slice(0, 12)}, now ${now.slice(0, 12)}): build again, to plan with the new file` };
    out.set(stagedKey(p.package, p.version, p.architecture), p);
    offered.push(`${p.package} ${p.version} [${p.architecture}] (${p.path}, sha256 ${p.sha256.slice(0, 12)})`);
  }
  if (offered.length > 0) note(`extra packages (--extra-package) offered to apt, preferred over the archive's packages of the same names: ${offered.join(', ')}`);
  if (other.length > 0) note(`extra packages not used for ${archs.join(' and ')} (of another arch): ${other.map((p) => `${p.path} (${p.architecture})`).join(', ')}`);
  return out;
}
