// cgroup v2 files: one directory with every controller.
//   memory.max, memory.swap.max = 0 (no swap), OOM kills from memory.events `oom_kill`,
//   peak from memory.peak (Linux ≥ 5.19); cpu.max "<quota> <period>"; pids.max;
//   cpu time from cpu.stat user_usec / system_usec.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SandboxLimits } from '../sandbox.ts';
import { counter, DEFAULT_PIDS, quotaUs, type CgroupUsage } from './values.ts';

const PERIOD_US = 100_000;

export const v2Files = {
  async applyLimits(dir: string, limits: SandboxLimits): Promise<void> {
    await writeFile(join(dir, 'memory.max'), String(limits.memoryBytes));
    // Absent when the kernel has no swap support compiled in.
    await writeFile(join(dir, 'memory.swap.max'), '0').catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    await writeFile(join(dir, 'cpu.max'), `${quotaUs(limits.cpus, PERIOD_US)} ${PERIOD_US}`);
    await writeFile(join(dir, 'pids.max'), String(limits.pids ?? DEFAULT_PIDS));
  },

  async oomKills(dir: string | undefined): Promise<number> {
    if (dir === undefined) return 0;
    return counter(await readFile(join(dir, 'memory.events'), 'utf8').catch(() => ''), 'oom_kill');
  },

  async pidsLimitHits(dir: string | undefined): Promise<number> {
    if (dir === undefined) return 0;
    return counter(await readFile(join(dir, 'pids.events'), 'utf8').catch(() => ''), 'max');
  },

  async usage(dirs: { cpu: string | undefined; memory: string | undefined }): Promise<CgroupUsage> {
    const stat = dirs.cpu === undefined ? '' : await readFile(join(dirs.cpu, 'cpu.stat'), 'utf8').catch(() => '');
    const peak = dirs.memory === undefined ? undefined : await readFile(join(dirs.memory, 'memory.peak'), 'utf8').catch(() => undefined);
    return {
      userUs: counter(stat, 'user_usec'),
      systemUs: counter(stat, 'system_usec'),
      ...(peak === undefined ? {} : { peakBytes: Number(peak.trim()) }),
    };
  },
};
