// Debian source packages on workers. A Debian job's spec holds its suite: the verified
// Packages index of the build arch (with any extra repository merged in) and what was
// parsed of it, which do not travel as JSON. The coordinator sends the index as a blob
// (content-addressed: a worker fetches it once per index into its own CACHE/indexes/, named
// by its sha256 as kiln's indexes are) and the suite's name, mirror and extra repositories;
// the worker rebuilds the suite from them. A local .dsc travels in the job's tree blob with
// the files it lists; an archive source is fetched by the worker from the mirror, checked
// against the .dsc's checksums as a local build does.

import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ObjectStore } from '@nats-io/obj';
import type { DebianBuildSpec, DebianSuite } from '../debian/debian-spec.ts';
import { lazyPackages, type BinaryUniverse } from '../debian/lazy-index.ts';
import type { Job } from '../plan/job.ts';
import { getFile } from './blobs.ts';
import type { JobMessage } from './wire.ts';

export type WireDebian = NonNullable<JobMessage['debian']>;

/** What the coordinator sends of a Debian job (the index blob put by `putIndex`). */
export interface DebianHandOff {
  readonly wire: WireDebian;
  /** The job as it travels: its suite reduced to names (the index is the blob). */
  readonly job: Job;
  /** What the tree blob holds: the .dsc and the files it lists, or nothing (an archive source). */
  readonly tree: { readonly dir: string; readonly names: readonly string[] };
}

export async function debianHandOff(job: Job, putIndex: (path: string) => Promise<string>): Promise<DebianHandOff> {
  const d = job.spec.debian!;
  const buildArch = job.arch === 'all' ? d.primaryArch : job.arch;
  const packages = await putIndex(d.suite.packages(buildArch).path);
  const extras = (d.suite.extras ?? []).map((x) => ({ uri: x.uri, suite: x.suite, components: [...x.components], notAutomatic: x.notAutomatic, added: { ...x.added } }));
  const suite = { suite: d.suite.suite, mirror: d.suite.mirror, extras } as unknown as DebianSuite;
  const dsc = d.dscPath === undefined ? undefined : basename(d.dscPath);
  return {
    wire: { suite: d.suite.suite, mirror: d.suite.mirror, buildArch, packages, extras, ...(dsc === undefined ? {} : { dsc }) },
    job: { ...job, spec: { ...job.spec, debian: { ...d, suite } }, previousDepOutputs: undefined },
    tree: d.dscPath === undefined
      ? { dir: '/', names: [] }
      : { dir: dirname(d.dscPath), names: [...new Set([dsc!, ...d.source.files.map((f) => f.name)])] },
  };
}

/** Parsed indexes a worker keeps between jobs, by blob name, least recently used first (a few: each is tens of MB). */
const KEPT = 2;

/**
 * The Debian part of a job's spec on a worker: the suite rebuilt around the index blob
 * (fetched into `cacheDir/indexes` unless there already), and the local .dsc in `treeDir`.
 */
export async function debianSpecOnWorker(
  d: DebianBuildSpec,
  wire: WireDebian | undefined,
  o: { readonly treeDir: string; readonly cacheDir: string; readonly blobs: ObjectStore; readonly universes: Map<string, Promise<BinaryUniverse>> },
): Promise<DebianBuildSpec> {
  if (wire === undefined) throw new Error('the coordinator sent a Debian job without its index (another kiln version?)');
  if ((d.dscPath !== undefined) !== (wire.dsc !== undefined)) throw new Error('the coordinator sent a local .dsc without its files, or files without a .dsc');
  const path = join(o.cacheDir, 'indexes', wire.packages.slice('sha256-'.length));
  // One fetch and one parse per index, however many of its jobs start at once.
  let loading = o.universes.get(wire.packages);
  if (loading === undefined) {
    // The least recently used go first, before the new one is parsed.
    for (const k of [...o.universes.keys()].slice(0, Math.max(0, o.universes.size - KEPT + 1))) o.universes.delete(k);
    loading = (async () => {
      if (!existsSync(path)) {
        await mkdir(dirname(path), { recursive: true });
        await getFile(o.blobs, wire.packages, path);
      }
      return lazyPackages(await readFile(path, 'utf8'), `${wire.mirror} ${wire.suite} (${wire.buildArch} Packages, from the coordinator)`);
    })();
    const mine = loading;
    // A failed fetch is tried again by the next job.
    mine.catch(() => {
      if (o.universes.get(wire.packages) === mine) o.universes.delete(wire.packages);
    });
  } else o.universes.delete(wire.packages);
  o.universes.set(wire.packages, loading);
  const found = { path, universe: await loading };
  const suite: DebianSuite = {
    suite: wire.suite,
    mirror: wire.mirror,
    release: undefined,
    extras: wire.extras,
    packages(arch) {
      if (arch !== wire.buildArch) throw new Error(`internal: the job brought the Packages index of ${wire.buildArch}, not of ${arch}`);
      return found;
    },
  };
  return { ...d, suite, dscPath: wire.dsc === undefined ? undefined : join(o.treeDir, wire.dsc) };
}
