// cgroup v1 files: one directory per controller hierarchy.
//   memory: memory.limit_in_bytes, memory.memsw.limit_in_bytes (= the same, i.e. no swap,
//           when swap accounting is on), OOM kills from memory.oom_control's `oom_kill`
//           (Linux ≥ 4.13), peak from memory.max_usage_in_bytes.
//   cpu:    cpu.cfs_period_us / cpu.cfs_quota_us (quota = cpus × period).
//   pids:   pids.max.
//   cpuacct: cpuacct.usage_user / cpuacct.usage_sys in ns.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SandboxLimits } from '../sandbox.ts';
import { counter, DEFAULT_PIDS, quotaUs, type CgroupUsage } from './values.ts';

const PERIOD_US = 100_000;

export const v1Files = {
  async applyLimits(dirs: Readonly<Record<string, string>>, limits: SandboxLimits): Promise<void> {
    const mem = dirs['memory'];
    if (mem !== undefined) {
      await writeFile(join(mem, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      // Absent without swap accounting (swapaccount=0): then the plain limit is all there is.
      await writeFile(join(mem, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes)).catch(ignoreMissing);
    }
    const cpu = dirs['cpu'];
    if (cpu !== undefined) {
      await writeFile(join(cpu, 'cpu.cfs_period_us'), String(PERIOD_US));
      await writeFile(join(cpu, 'cpu.cfs_quota_us'), String(quotaUs(limits.cpus, PERIOD_US)));
    }
    const pids = dirs['pids'];
    if (pids !== undefined) await writeFile(join(pids, 'pids.max'), String(limits.pids ?? DEFAULT_PIDS));
  },

  async oomKills(memoryDir: string | undefined): Promise<number> {
    if (memoryDir === undefined) return 0;
    const text = await readFile(join(memoryDir, 'memory.oom_control'), 'utf8').catch(() => '');
    return counter(text, 'oom_kill');
  },

  async pidsLimitHits(pidsDir: string | undefined): Promise<number> {
    if (pidsDir === undefined) return 0;
    return counter(await readFile(join(pidsDir, 'pids.events'), 'utf8').catch(() => ''), 'max');
  },

  async usage(dirs: { cpu: string | undefined; memory: string | undefined }): Promise<CgroupUsage> {
    const num = async (dir: string | undefined, file: string): Promise<number | undefined> => {
      if (dir === undefined) return undefined;
      const text = await readFile(join(dir, file), 'utf8').catch(() => undefined);
      return text === undefined ? undefined : Number(text.trim());
    };
    const user = await num(dirs.cpu, 'cpuacct.usage_user');
    const sys = await num(dirs.cpu, 'cpuacct.usage_sys');
    const peak = await num(dirs.memory, 'memory.max_usage_in_bytes');
    return {
      userUs: Math.round((user ?? 0) / 1000),
      systemUs: Math.round((sys ?? 0) / 1000),
      ...(peak === undefined || Number.isNaN(peak) ? {} : { peakBytes: peak }),
    };
  },
};

function ignoreMissing(e: NodeJS.ErrnoException): void {
  if (e.code !== 'ENOENT' && e.code !== 'EACCES') throw e;
}
