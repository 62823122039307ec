// Options shared by several verbs, parsed once at the edge with clear errors.

import type { Command } from 'commander';
import { KilnError } from '../errors.ts';
import { stateLayout, type StateLayout } from '../run/state-layout.ts';

export interface StateOptions {
  readonly state?: string;
  readonly cache?: string;
}

export function addStateOptions(cmd: Command): Command {
  return cmd
    .option('--state <dir>', 'state directory: records, logs, reports, caches (default: $KILN_STATE, else .kiln)')
    .option('--cache <dir>', 'cache directory, may be shared by several state dirs (default: $KILN_CACHE, else STATE/cache)');
}

export function layoutFrom(opts: StateOptions): StateLayout {
  return stateLayout({ ...(opts.state === undefined ? {} : { state: opts.state }), ...(opts.cache === undefined ? {} : { cache: opts.cache }) });
}

export function parseJobs(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new KilnError('usage', `--jobs: expected a whole number of at least 1, got "${text}"`);
  return n;
}

export function parseArchList(text: string): string[] {
  const archs = text.split(',').map((a) => a.trim()).filter((a) => a !== '');
  for (const a of archs) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(a)) throw new KilnError('usage', `--arch: "${a}" is not an architecture name (e.g. amd64,riscv64)`);
  }
  if (archs.length === 0) throw new KilnError('usage', '--arch: give at least one architecture, e.g. --arch amd64');
  return archs;
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
