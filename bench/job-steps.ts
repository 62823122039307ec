// Where one no-op job's latency goes: runs the pieces execute-job.ts strings together
// (job log, host sandbox, the build through runGroup, artifact put/stage, teardown) one job
// at a time, N times, and prints the mean time of each step, next to bare spawns of bash
// for reference. Sequential on purpose: the figures are latencies, not throughput.
//
//   node bench/job-steps.ts [N]        (default 200)

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createArtifactStore } from '../src/cache/artifacts.ts';
import { buildEnvironment } from '../src/execute/build-env.ts';
import { killByCookie } from '../src/lib/spawn-group.ts';
import { openJobLog } from '../src/logs/job-log.ts';
import { hostBackend } from '../src/sandbox/host.ts';

const n = Number(process.argv[2] ?? 200);
if (!Number.isInteger(n) || n < 1) {
  process.stderr.write('usage: node bench/job-steps.ts [N]\n');
  process.exit(2);
}
const root = await mkdtemp(join(tmpdir(), 'kiln-job-steps-'));
const store = createArtifactStore({ cacheDir: join(root, 'cache') });
const totals = new Map<string, number>();
const time = async <T>(step: string, f: () => Promise<T>): Promise<T> => {
  const started = performance.now();
  try {
    return await f();
  } finally {
    totals.set(step, (totals.get(step) ?? 0) + performance.now() - started);
  }
};
const bare = (argv: readonly string[]): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve());
  });

try {
  let previous: string | undefined;
  for (let i = 0; i < n; i++) {
    const log = await time('openJobLog', () => openJobLog(join(root, 'logs', `p${i}.log`)));
    const sandbox = await time('sandbox create', () =>
      hostBackend.create({ jobId: `p${i}`, workDir: join(root, 'work', `p${i}`), limits: { cpus: 1, memoryBytes: 512 << 20 } }),
    );
    if (previous !== undefined) await time('stageInto (one dep)', () => store.stageInto(previous!, sandbox.host.sysroot));
    const env = buildEnvironment({ inside: sandbox.inside, jobs: 1, arch: 'amd64', name: `p${i}`, version: '1', sourceDateEpoch: 0 });
    await time('sandbox.run (GNU time + bash, pipes, sweep)', () =>
      sandbox.run({ argv: ['bash', '-e', '-c', ':', `p${i}/build`], cwd: sandbox.inside.src, env, onOutput: (s, c) => void log.write(s, c) }),
    );
    const key = `bench${String(i).padStart(8, '0')}`;
    await time('artifacts.get (miss)', () => store.get(key));
    await time('artifacts.put (empty DESTDIR)', () =>
      store.put(key, { destDir: sandbox.host.dest, meta: { name: `p${i}`, version: '1', arch: 'amd64' }, sourceDateEpoch: 0 }),
    );
    previous = key;
    await time('sandbox dispose', async () => {
      await sandbox[Symbol.asyncDispose]();
    });
    await time('log close', () => log.close());
    await time('ref: bare spawn bash', () => bare(['bash', '-e', '-c', ':']));
    await time('ref: bare spawn GNU time + bash', () => bare(['/usr/bin/time', '-q', '-o', '/dev/null', 'bash', '-e', '-c', ':']));
    await time('ref: one killByCookie sweep', () => killByCookie('0'.repeat(24)));
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
let jobTotal = 0;
for (const [step, ms] of totals) {
  if (!step.startsWith('ref:')) jobTotal += ms;
  process.stdout.write(`${(ms / n).toFixed(2).padStart(8)} ms  ${step}\n`);
}
process.stdout.write(`${(jobTotal / n).toFixed(2).padStart(8)} ms  = one job (steps above, without the refs)\n`);
