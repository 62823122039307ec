// --binnmu auto in a run (debian/auto-binnmu.ts decides): each Debian job's number is
// chosen and reserved in the records just before it runs, from the records, the
// repository the run publishes to (read once per suite and run) and the archive; a
// reservation whose build did not succeed is released. `kiln plan` reads the same
// without reserving.

import { fieldValue } from '../debian/deb-file.ts';
import { autoBinnmuApplies, chooseBinnmu, reservedNumber, withBinnmu, type BinnmusSeen } from '../debian/auto-binnmu.ts';
import { readLiveSuite } from '../publish/apt-repo-live.ts';
import type { Job } from '../plan/job.ts';
import type { Records } from '../records/records.ts';
import { repoDirOf } from './publish-debian.ts';

/**
 * What the repository a run publishes to (`repoDir`, a daemon tenant's; else the state
 * directory's) lists of each source's binaries in `suite` (not `all` ones): source name →
 * arch and version; empty without one.
 */
export async function publishedBinaries(o: { readonly repoDir: string | undefined; readonly stateRoot: string }, suite: string): Promise<Map<string, BinnmusSeen['published']>> {
  const out = new Map<string, { arch: string; version: string }[]>();
  const live = await readLiveSuite(o.repoDir ?? repoDirOf(o.stateRoot), suite).catch(() => undefined);
  for (const list of live?.entries.values() ?? []) {
    for (const e of list) {
      if (e.architecture === 'all') continue;
      const source = fieldValue(e.fields, 'Source')?.split(' ')[0] ?? e.package;
      let l = out.get(source);
      if (l === undefined) out.set(source, (l = []));
      l.push({ arch: e.architecture, version: e.version });
    }
  }
  return out;
}

export interface BinnmuNumbering {
  /** The job as it runs with key `key`: numbered, and what to call once its outcome is known. */
  number(job: Job, key: string): Promise<{ job: Job; settle: (built: boolean) => void }>;
}

/** `repoDir`: where the run publishes (a daemon tenant's repository), else the state directory's. */
export function binnmuNumbering(o: { records: Records; repoDir: string | undefined; stateRoot: string }): BinnmuNumbering {
  const repos = new Map<string, Promise<Map<string, BinnmusSeen['published']>>>();
  /** The number this run chose for a source version: its other archs take the same (Multi-Arch: same). */
  const chosenInRun = new Map<string, { n: number; why?: string }>();
  return {
    async number(job, key) {
      if (!autoBinnmuApplies(job)) return { job, settle: () => undefined };
      const d = job.spec.debian!;
      let listed = repos.get(d.suite.suite);
      if (listed === undefined) repos.set(d.suite.suite, (listed = publishedBinaries(o, d.suite.suite)));
      const published = (await listed).get(d.source.package) ?? [];
      const version = `${d.suite.suite}\0${job.spec.name}\0${job.spec.version}`;
      // Synchronous from here to the reservation: the archs of one source take turns.
      const { chosen, id } = o.records.reserveBinnmu({ name: job.spec.name, version: job.spec.version, arch: job.arch, key }, (reserved) => {
        const own = chooseBinnmu(job, key, { reserved, published });
        // A key built before keeps its number (and does not set the run's).
        if (reserved.some((r) => r.arch === job.arch && r.key === key)) return own;
        // The number another arch of this run took, unless this arch gave it to another
        // key already (a run at the same time took it, or a kept number was handed on).
        const taken = chosenInRun.get(version);
        const usedHere = (n: number) => reserved.some((r) => r.arch === job.arch && r.key !== key && reservedNumber(r, job.spec.version) === n);
        const pick = taken !== undefined && !usedHere(taken.n) ? taken : own;
        if (taken === undefined) chosenInRun.set(version, pick);
        return pick;
      });
      return {
        job: withBinnmu(job, chosen),
        settle: (built) => {
          if (built) return;
          try {
            o.records.releaseBinnmu(id);
          } catch {
            // The records busy past their timeout: a reservation left only skips a number.
          }
        },
      };
    },
  };
}
