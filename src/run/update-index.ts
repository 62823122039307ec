// Keep the package index current: every artifact this run built or found up to date
// replaces its package's entry, but for a restricted package's (recipe key `restricted`),
// which is left out, with its packages/All file; entries of packages not in this run stay. Several kiln
// processes may share a state directory, so each read-merge-write holds the index's lock;
// `kiln cache gc` drops the entries whose artifact it removed (pruneIndex). With the state
// dir's signing key, each write is signed too (index.json.asc, package-index-sign.ts).

import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { artifactPath, type ArtifactStore } from '../cache/artifact-types.ts';
import { withLock } from '../cache/lock.ts';
import type { JobState } from '../plan/job.ts';
import type { Plan } from '../plan/plan.ts';
import { restrictionOf } from '../publish/artifact-labels.ts';
import { writePackageIndex, type PackageIndexEntry } from '../publish/package-index.ts';
import { FILES_DIR, syncPackageFiles } from '../publish/package-files.ts';
import { signedIndexPath, trySignPackageIndex } from '../publish/package-index-sign.ts';
import { signingKeyPaths } from '../publish/signing-paths.ts';

export async function updatePackageIndex(
  indexPath: string,
  plan: Plan,
  artifacts: ArtifactStore,
  finalState: ReadonlyMap<string, JobState>,
  keyOf: (jobId: string) => string | undefined,
  /** The state dir: with its signing key, the index is signed too (package-index-sign.ts). */
  stateRoot: string,
): Promise<string | undefined> {
  // What went wrong signing it, if anything (the build is done: said, not thrown).
  return withLock(dirname(indexPath), 'index', async () => {
    // Signed when written, and when a key was made since the last signature.
    if ((await mergeInto(indexPath, plan, artifacts, finalState, keyOf)) || needsSignature(indexPath, stateRoot)) return trySignPackageIndex(indexPath, stateRoot);
    return undefined;
  });
}

/** A key, an index, and no signature of it yet (or one older than it). */
function needsSignature(indexPath: string, stateRoot: string): boolean {
  if (!existsSync(indexPath) || !existsSync(signingKeyPaths(stateRoot).secret)) return false;
  const signed = statSync(signedIndexPath(indexPath), { throwIfNoEntry: false });
  return signed === undefined || signed.mtimeMs < statSync(indexPath).mtimeMs;
}

async function mergeInto(
  indexPath: string,
  plan: Plan,
  artifacts: ArtifactStore,
  finalState: ReadonlyMap<string, JobState>,
  keyOf: (jobId: string) => string | undefined,
): Promise<boolean> {
  const entries = new Map<string, PackageIndexEntry>();
  let changed = false;
  try {
    const old = JSON.parse(await readFile(indexPath, 'utf8')) as { packages?: PackageIndexEntry[] };
    for (const p of old.packages ?? []) {
      // An artifact gone from the cache (gc or verify --fix from another state dir sharing it):
      // its entry goes, as pruneIndex drops it.
      if (typeof p.path !== 'string' || !existsSync(p.path)) {
        changed = true;
        continue;
      }
      // An index written before release was an integer held it as a string ("1"): rewritten.
      if (typeof p.release !== 'number') changed = true;
      // Without its file: that is worked out again (withFiles), and compared without it.
      const { file: _file, ...rest } = p;
      entries.set(`${p.name}@${p.arch}`, { ...rest, release: Number(p.release) });
    }
  } catch {
    // no index yet, or unreadable: rebuilt from this run
  }
  let built = false;
  /** Each recipe package of this run: whether it is an `all` one. */
  const recipeKinds = new Map<string, boolean>();
  for (const n of plan.nodes) {
    const st = finalState.get(n.id);
    if (st !== 'built' && st !== 'up-to-date') continue;
    if (st === 'built') built = true;
    const key = keyOf(n.id);
    if (key === undefined) continue;
    const meta = artifacts.remembered(key) ?? (await artifacts.get(key));
    if (meta === undefined) continue;
    if (n.spec !== undefined && n.spec.debian === undefined) recipeKinds.set(meta.name, meta.arch === 'all');
    // Restricted (recipe key `restricted`, pkgsrc's RESTRICTED): built and kept in the cache,
    // never published. An entry an earlier build of it left (before the recipe said so) goes,
    // and its packages/All file with it. Its recipe's mark now, or its artifact's.
    if ((n.spec?.restricted ?? restrictionOf(meta)) !== undefined) {
      if (entries.delete(`${meta.name}@${meta.arch}`)) changed = true;
      continue;
    }
    const recipe = n.spec?.debian === undefined ? n.spec : undefined;
    // An artifact stored before meta.json kept them: the recipe's, which its key covers.
    const summary = stringOf(meta.summary) ?? recipe?.summary;
    const license = stringOf(meta.license) ?? recipe?.license;
    const entry: PackageIndexEntry = {
      name: meta.name,
      version: meta.version,
      release: Number(meta.release ?? 1),
      arch: meta.arch,
      ...(summary === undefined ? {} : { summary }),
      ...(license === undefined || license === '' ? {} : { license }),
      depends: (meta.depends ?? []).map(String),
      provides: (meta.provides ?? []).map(String),
      size: meta.size,
      sha256: meta.sha256 ?? '',
      path: artifactPath(artifacts, key, meta.archive),
      ...(n.spec?.category === undefined ? {} : { category: n.spec.category }),
    };
    const id = `${entry.name}@${entry.arch}`;
    if (JSON.stringify(entries.get(id)) !== JSON.stringify(entry)) changed = true;
    entries.set(id, entry);
  }
  // A recipe that went from `any` (or a list) to `all`, or back: its entries of the other
  // kind are an earlier recipe's, and would still be installed by kiln rootfs (it takes a
  // name's arch entry before its `all` one). (A Debian source's artifacts are per job: an
  // `all` and an arch one are both current.) One pass: a no-change run of 10,000 packages.
  for (const [id, e] of entries) {
    const all = recipeKinds.get(e.name);
    if (all !== undefined && all !== (e.arch === 'all')) {
      entries.delete(id);
      changed = true;
    }
  }
  // An index written before packages/All existed gets its files once.
  if (!changed && (existsSync(join(dirname(indexPath), FILES_DIR)) || ![...entries.values()].some((e) => e.path.endsWith('.tar.zst')))) {
    // A build of the very same bytes (a damaged artifact removed and built again) is a new
    // file in the cache under an unchanged entry: packages/All is linked to it again, not
    // left on the damaged one. Only after a run that built something: a no-change run stats nothing.
    if (built) syncPackageFiles(dirname(indexPath), [...entries.values()]);
    return false;
  }
  await mkdir(dirname(indexPath), { recursive: true });
  await writePackageIndex(indexPath, withFiles(indexPath, [...entries.values()]));
  return true;
}

function stringOf(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** The entries with `file` set as syncPackageFiles made packages/All match them. */
function withFiles(indexPath: string, entries: readonly PackageIndexEntry[]): PackageIndexEntry[] {
  const files = syncPackageFiles(dirname(indexPath), entries);
  return entries.map(({ file: _old, ...e }) => {
    const file = files.get(`${e.name}@${e.arch}`);
    return file === undefined ? e : { ...e, file };
  });
}

/** Drop the entries whose artifact is gone (after cache gc); returns how many (and what went wrong signing it, to say). */
export async function pruneIndex(indexPath: string, stateRoot: string, unsigned: (problem: string) => void = () => {}): Promise<number> {
  if (!existsSync(indexPath)) return 0;
  return withLock(dirname(indexPath), 'index', async () => {
    let packages: PackageIndexEntry[];
    try {
      packages = (JSON.parse(await readFile(indexPath, 'utf8')) as { packages?: PackageIndexEntry[] }).packages ?? [];
    } catch {
      return 0; // unreadable: the next build rewrites it
    }
    const kept = packages.filter((p) => typeof p.path === 'string' && existsSync(p.path));
    if (kept.length < packages.length) {
      await writePackageIndex(indexPath, withFiles(indexPath, kept));
      const problem = await trySignPackageIndex(indexPath, stateRoot);
      if (problem !== undefined) unsigned(problem);
    }
    return packages.length - kept.length;
  });
}
