// After a run with Debian source packages: publish every .deb they produced (built now or
// up to date) into the state dir's signed apt repository, suite = the Debian suite.
// kiln's signing key is made on first use (`kiln key export` prints the public half).
// The repository is swapped in atomically (publish/apt-repo.ts); a failure here is a
// note, not a failed run: the packages are built and stay in the artifact cache.

import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactStore } from '../cache/artifacts.ts';
import { createSigningKey, DEFAULT_KEY_NAME, loadSigningKey, signingKeyPaths } from '../publish/signing.ts';
import { publishRepo, type PublishResult } from '../publish/apt-repo.ts';
import type { JobState } from '../plan/job.ts';
import type { Plan } from '../plan/plan.ts';

export interface PublishDebianOptions {
  readonly stateRoot: string;
  /** Default `<stateRoot>/repo`. */
  readonly repoDir?: string;
  readonly suite: string;
  readonly archs: readonly string[];
  readonly plan: Plan;
  readonly artifacts: ArtifactStore;
  readonly finalState: ReadonlyMap<string, JobState>;
  readonly keyOf: (jobId: string) => string | undefined;
  readonly note: (text: string) => void;
  readonly signal?: AbortSignal;
}

export function repoDirOf(stateRoot: string): string {
  return join(stateRoot, 'repo');
}

export async function publishDebianRun(o: PublishDebianOptions): Promise<PublishResult | undefined> {
  const jobs = o.plan.nodes.filter((n) => n.spec?.debian !== undefined && (o.finalState.get(n.id) === 'built' || o.finalState.get(n.id) === 'up-to-date'));
  if (jobs.length === 0) return undefined;
  const tmp = await mkdtemp(join(o.stateRoot, '.publish-'));
  try {
    const debs: string[] = [];
    for (const n of jobs) {
      const key = o.keyOf(n.id) ?? n.key;
      if (key === undefined) continue;
      const dir = join(tmp, n.id.replace('@', '_'));
      await o.artifacts.stageInto(key, dir, o.signal === undefined ? {} : { signal: o.signal });
      for (const f of await readdir(dir)) if (f.endsWith('.deb')) debs.push(join(dir, f));
    }
    if (debs.length === 0) return undefined;
    if (!existsSync(signingKeyPaths(o.stateRoot).secret)) {
      const made = await createSigningKey(o.stateRoot, { name: DEFAULT_KEY_NAME });
      o.note(`made kiln's repository signing key ${made.fingerprint} in ${made.paths.secret}; \`kiln key export\` prints the public key for apt`);
    }
    const key = await loadSigningKey(o.stateRoot);
    const result = await publishRepo({
      repoDir: o.repoDir ?? repoDirOf(o.stateRoot),
      suite: o.suite,
      debs,
      key,
      architectures: o.archs.filter((a) => a !== 'all'),
      ...(o.signal === undefined ? {} : { signal: o.signal }),
    });
    o.note(`published ${debs.length} .deb(s) to ${result.repoDir} (suite ${result.suite}, ${result.indexed} package(s) listed)`);
    return result;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
