// /proc probes for tests that check no process outlived its job.

import { randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';

/** Pids of live (non-zombie) processes whose command line contains `marker`. */
export async function pidsWithCmdline(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'latin1').catch(() => '');
    if (cmdline.split('\0').some((arg) => arg.includes(marker))) found.push(Number(name));
  }
  return found;
}

/** Pids of live processes whose environment holds exactly `entry` (e.g. "KILN_JOB_COOKIE=abc"). */
export async function pidsWithEnv(entry: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const environ = await readFile(`/proc/${name}/environ`, 'latin1').catch(() => '');
    if (environ.split('\0').includes(entry)) found.push(Number(name));
  }
  return found;
}

/** Poll `check` until it returns true or the deadline passes; returns the last result. */
export async function eventually(check: () => boolean | Promise<boolean>, withinMs = 5000): Promise<boolean> {
  const deadline = performance.now() + withinMs;
  for (;;) {
    if (await check()) return true;
    if (performance.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A unique string for a fixture's process command lines, so a test can find (and reap) them. */
export const marker = (): string => `kiln-it-${randomBytes(6).toString('hex')}`;

/** Kill (by pid) processes our own fixture started, should kiln have left any. */
export async function reap(m: string): Promise<void> {
  for (const pid of await pidsWithCmdline(m)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
