// Time one whole process, from spawn to exit, with its output going straight to files
// (the benchmark process reads nothing while it runs, so it does not compete for the
// CPU), and its peak RSS through GNU time when that is installed.

import { spawn } from 'node:child_process';
import { accessSync, constants, openSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const GNU_TIME = '/usr/bin/time';

export interface Measured {
  readonly wallMs: number;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Peak resident set size of the largest process, in KiB, when GNU time is present. */
  readonly peakRssKb: number | undefined;
  readonly stdoutFile: string;
  readonly stderrFile: string;
}

export function hasGnuTime(): boolean {
  try {
    accessSync(GNU_TIME, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Runs argv with its output in `<outDir>/<label>.stdout|.stderr|.rss`. */
export async function measure(argv: readonly string[], options: { label: string; outDir: string; cwd?: string; env?: NodeJS.ProcessEnv; rss?: boolean }): Promise<Measured> {
  const base = join(options.outDir, options.label);
  const stdoutFile = `${base}.stdout`;
  const stderrFile = `${base}.stderr`;
  const rssFile = `${base}.rss`;
  const withRss = options.rss !== false && hasGnuTime();
  const full = withRss ? [GNU_TIME, '-q', '-f', '%M', '-o', rssFile, '--', ...argv] : [...argv];
  const out = openSync(stdoutFile, 'w');
  const err = openSync(stderrFile, 'w');
  try {
    const started = performance.now();
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      const child = spawn(full[0]!, full.slice(1), { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', out, err] });
      child.once('error', reject);
      child.once('exit', (c, s) => resolve({ code: c, signal: s }));
    });
    const wallMs = performance.now() - started;
    let peakRssKb: number | undefined;
    if (withRss) {
      const n = Number.parseInt(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1) ?? '', 10);
      peakRssKb = Number.isFinite(n) ? n : undefined;
    }
    return { wallMs, exitCode: code, signal, peakRssKb, stdoutFile, stderrFile };
  } finally {
    closeSync(out);
    closeSync(err);
  }
}

export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
