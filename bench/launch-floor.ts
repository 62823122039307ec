// The launch floor of figure (a): the same number of `bash -e -c :` commands, started by
// kiln's own launcher helper (runGroup, as a host build starts its script), in the same
// clean build environment, JOBS at a time, and nothing else: no plan, workspace, log,
// artifact, record or event. What kiln's (a) time costs beyond this is kiln's own work per
// job; what this costs beyond make is the price of starting builds from a Node process
// through a helper at all (measured: about 1.3x make on 2 cores, see docs/benchmarks.md).
//
//   node bench/launch-floor.ts COUNT JOBS DIR
//
// Run by bench/run.ts in a cgroup of its own, like kiln and make; prints one line.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildEnvironment } from '../src/execute/build-env.ts';
import { runGroup } from '../src/lib/spawn-group.ts';
import type { SandboxLayout } from '../src/sandbox/sandbox.ts';
import { NOOP_SCRIPT } from './write-tree.ts';

async function main(): Promise<void> {
  const [countText, jobsText, dir] = process.argv.slice(2);
  const count = Number(countText);
  const jobs = Number(jobsText);
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(jobs) || jobs < 1 || dir === undefined) {
    process.stderr.write('usage: node bench/launch-floor.ts COUNT JOBS DIR\n');
    process.exit(2);
  }
  let next = 0;
  let failed = 0;
  const lane = async (i: number): Promise<void> => {
    const layout = Object.fromEntries(['src', 'dest', 'sysroot', 'home', 'tmp'].map((d) => [d, join(dir, `lane${i}`, d)])) as unknown as SandboxLayout;
    for (const d of Object.values(layout)) mkdirSync(d, { recursive: true });
    for (let n = next++; n < count; n = next++) {
      const name = `p${n}`;
      const env = buildEnvironment({ inside: layout, jobs: 1, arch: 'amd64', name, version: '1', sourceDateEpoch: 315532800 });
      const r = await runGroup(['bash', '-e', '-c', NOOP_SCRIPT, `${name}/build`], { env, cwd: layout.src });
      if (r.exitCode !== 0) failed++;
    }
  };
  await Promise.all(Array.from({ length: jobs }, (_, i) => lane(i)));
  process.stdout.write(`${count} commands, ${failed} failed\n`);
  process.exit(failed === 0 ? 0 : 1);
}

await main();
