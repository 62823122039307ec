// Run the real `kiln` CLI as a child process, the way a user does, for the integration
// tests under test/integration/. runKiln() waits for it and returns stdout, stderr, the
// exit status, the parsed --json events and summary; spawnKiln() hands back the live
// process for tests that signal it or watch its events as they come.

import './hermetic-env.ts'; // a developer's KILN_ENVS/KILN_STATE never reach these tests, also under a bare node --test
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { KilnEvent } from '../../src/events/events.ts';
import type { JobState } from '../../src/plan/job.ts';
import type { ReportPackage, RunReport } from '../../src/publish/report.ts';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const NODE_BIN = join(REPO_ROOT, 'node_modules/.bin/node');
export const KILN_BIN = join(REPO_ROOT, 'bin/kiln.js');
export const FIXTURE_TREES = join(REPO_ROOT, 'test/fixtures/trees');
const GNU_TIME = '/usr/bin/time';

/** The last line of `kiln build --json`. */
export interface KilnSummary {
  readonly type: 'summary';
  readonly runId: string;
  readonly state: 'done' | 'failed' | 'cancelled';
  readonly counts: Record<JobState, number>;
  readonly report: string;
}

export interface KilnResult {
  /** Exit status; null when the process was ended by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Every stdout line that parsed as a JSON event (with --json), the summary excluded. */
  readonly events: readonly KilnEvent[];
  readonly summary: KilnSummary | undefined;
  readonly durationMs: number;
  /** Peak resident set size of the kiln process in KiB, when asked for with measureRss. */
  readonly peakRssKb: number | undefined;
}

export interface KilnOptions {
  /** State directory, passed as $KILN_STATE (the command line may still give --state). */
  readonly state?: string;
  /** Cache directory, passed as $KILN_CACHE. */
  readonly cache?: string;
  /** Extra environment for kiln itself (not for the builds: those get a clean env). */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Kill kiln (SIGKILL) if it runs longer than this; the test then fails on its result. */
  readonly timeoutMs?: number;
  /** Measure the kiln process's peak RSS (through GNU time when installed, else /proc polling). */
  readonly measureRss?: boolean;
  /** Start kiln as the leader of its own process group, as a shell does (Ctrl-C signals the whole group). */
  readonly ownGroup?: boolean;
  /** Descriptors of the test process kiln inherits as its fds 3, 4, … (as from a CI runner or `3</`). */
  readonly inheritFds?: readonly number[];
}

export interface KilnProcess {
  readonly child: ChildProcess;
  /** The kiln node process itself (not a wrapper), for signals and /proc. */
  readonly pid: number;
  /** Events seen on stdout so far. */
  readonly events: readonly KilnEvent[];
  /** Resolves with the first event (seen so far or later) matching `pred`; rejects if kiln exits or the deadline passes first. */
  waitForEvent(pred: (e: KilnEvent) => boolean, withinMs?: number): Promise<KilnEvent>;
  /** Resolves once kiln has exited. */
  readonly done: Promise<KilnResult>;
}

/** Run `kiln ARGS...` to completion. */
export async function runKiln(args: readonly string[], options: KilnOptions = {}): Promise<KilnResult> {
  return spawnKiln(args, options).done;
}

/** Start `kiln ARGS...` and return at once. */
export function spawnKiln(args: readonly string[], options: KilnOptions = {}): KilnProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  // The test runner's own settings must not leak into kiln.
  delete env['KILN_STATE'];
  delete env['KILN_CACHE'];
  delete env['NODE_TEST_CONTEXT'];
  delete env['NODE_OPTIONS'];
  if (options.state !== undefined) env['KILN_STATE'] = options.state;
  if (options.cache !== undefined) env['KILN_CACHE'] = options.cache;
  if (options.env?.['KILN_STATE'] !== undefined) env['KILN_STATE'] = options.env['KILN_STATE'];
  if (options.env?.['KILN_CACHE'] !== undefined) env['KILN_CACHE'] = options.env['KILN_CACHE'];

  const useTime = options.measureRss === true && existsSync(GNU_TIME);
  const rssFile = useTime ? join(tmpdir(), `kiln-rss-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`) : undefined;
  const argv = [KILN_BIN, ...args];
  const stdio: ('ignore' | 'pipe' | number)[] = ['ignore', 'pipe', 'pipe', ...(options.inheritFds ?? [])];
  const child = useTime
    ? spawn(GNU_TIME, ['-f', '%M', '-o', rssFile!, NODE_BIN, ...argv], { cwd: options.cwd ?? REPO_ROOT, env, stdio, detached: options.ownGroup === true })
    : spawn(NODE_BIN, argv, { cwd: options.cwd ?? REPO_ROOT, env, stdio, detached: options.ownGroup === true });
  const started = performance.now();

  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const events: KilnEvent[] = [];
  let summary: KilnSummary | undefined;
  let partial = '';
  const waiters = new Set<{ pred: (e: KilnEvent) => boolean; resolve: (e: KilnEvent) => void }>();
  child.stdout!.on('data', (chunk: Buffer) => {
    out.push(chunk);
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const parsed = parseJsonLine(line);
      if (parsed === undefined) continue;
      if (parsed.type === 'summary') {
        summary = parsed as unknown as KilnSummary;
        continue;
      }
      const e = parsed as unknown as KilnEvent;
      events.push(e);
      for (const w of waiters) {
        if (w.pred(e)) {
          waiters.delete(w);
          w.resolve(e);
        }
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));

  // With GNU time in between, kiln is time's child: find its pid for signals.
  const pid = child.pid!;
  let peakPolled = 0;
  const poller =
    options.measureRss === true && !useTime
      ? setInterval(() => {
          peakPolled = Math.max(peakPolled, readVmHwmKb(pid) ?? 0);
        }, 20)
      : undefined;

  const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.on('close', (code, signal) => res({ code, signal }));
  });
  const done = exited.then(async ({ code, signal }) => {
    clearTimeout(killer);
    if (poller !== undefined) clearInterval(poller);
    let peakRssKb: number | undefined;
    if (rssFile !== undefined) {
      const text = await readFile(rssFile, 'utf8').catch(() => '');
      await rm(rssFile, { force: true });
      // GNU time prints "Command terminated by signal N" first when the child died of one.
      const last = text.trim().split('\n').pop();
      peakRssKb = last === undefined || last === '' ? undefined : Number(last);
    } else if (poller !== undefined) {
      peakRssKb = peakPolled;
    }
    const stdout = Buffer.concat(out).toString('utf8');
    const tail = parseJsonLine(partial);
    if (tail?.type === 'summary') summary = tail as unknown as KilnSummary;
    return {
      code,
      signal,
      stdout,
      stderr: Buffer.concat(err).toString('utf8'),
      events,
      summary,
      durationMs: performance.now() - started,
      peakRssKb,
    } satisfies KilnResult;
  });

  return {
    child,
    get pid() {
      if (!useTime) return pid;
      throw new Error('spawnKiln: with measureRss the kiln pid is not the child pid; do not signal it');
    },
    events,
    done,
    waitForEvent(pred, withinMs = 10_000) {
      const seen = events.find(pred);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<KilnEvent>((res, rej) => {
        const w = {
          pred,
          resolve: (e: KilnEvent) => {
            clearTimeout(timer);
            res(e);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          rej(new Error(`no matching kiln event within ${withinMs}ms; events so far: ${events.map((e) => e.type).join(', ')}`));
        }, withinMs);
        waiters.add(w);
        void exited.then(() => {
          if (!waiters.has(w)) return;
          waiters.delete(w);
          clearTimeout(timer);
          rej(new Error(`kiln exited before a matching event; stderr: ${Buffer.concat(err).toString('utf8')}`));
        });
      });
    },
  };
}

function parseJsonLine(line: string): ({ type?: unknown } & Record<string, unknown>) | undefined {
  const t = line.trim();
  if (!t.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(t);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function readVmHwmKb(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** Describe a result for assertion messages: exit status, stderr and the tail of stdout. */
export function explain(r: KilnResult): string {
  const tail = (s: string): string => (s.length > 3000 ? `…${s.slice(-3000)}` : s);
  return `kiln exited with ${r.code ?? r.signal}\n--- stderr ---\n${tail(r.stderr)}\n--- stdout ---\n${tail(r.stdout)}`;
}

/** The report.json of a run: by the summary's path, or the state dir and run id. */
export async function readReport(from: KilnResult | { state: string; runId: string }): Promise<RunReport> {
  let path: string;
  if ('state' in from && typeof from.state === 'string' && 'runId' in from) {
    path = join(from.state, 'runs', from.runId, 'report.json');
  } else {
    const r = from as KilnResult;
    if (r.summary === undefined) throw new Error(`no --json summary line in kiln's output\n${explain(r)}`);
    path = r.summary.report;
  }
  return JSON.parse(await readFile(path, 'utf8')) as RunReport;
}

/** The report entry of package `name` (any arch); throws naming what the report has. */
export function pkgOf(report: RunReport, name: string): ReportPackage {
  const p = report.packages.find((x) => x.name === name);
  if (p === undefined) throw new Error(`no package "${name}" in report ${report.runId}: has ${report.packages.map((x) => x.name).join(', ')}`);
  return p;
}

/** name → state of every package in a report. */
export function statesOf(report: RunReport): Record<string, JobState> {
  return Object.fromEntries(report.packages.map((p) => [p.name, p.state]));
}

/** Events of one type, typed. */
export function eventsOf<T extends KilnEvent['type']>(events: readonly KilnEvent[], type: T): Extract<KilnEvent, { type: T }>[] {
  return events.filter((e): e is Extract<KilnEvent, { type: T }> => e.type === type);
}

/** The path of a fixture tree, used in place (for trees the test does not change). */
export function fixtureTree(trait: string): string {
  const dir = join(FIXTURE_TREES, trait);
  if (!existsSync(dir)) throw new Error(`no fixture tree ${dir}`);
  return dir;
}

/**
 * Copy a fixture tree to `into`, replacing `@KEY@` in every recipe.toml with vars[KEY]:
 * for trees the test edits, and templates that need a port, a checksum or a unique marker.
 * Throws if a recipe still holds a placeholder after the replacement.
 */
export async function instantiateTree(trait: string, into: string, vars: Readonly<Record<string, string>> = {}): Promise<string> {
  await cp(fixtureTree(trait), into, { recursive: true });
  for (const file of await recipesUnder(into)) {
    let text = await readFile(file, 'utf8');
    for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`@${k}@`, v);
    const left = /@[A-Z0-9_]+@/.exec(text);
    if (left !== null) throw new Error(`${file}: placeholder ${left[0]} was not given a value`);
    await writeFile(file, text);
  }
  return into;
}

async function recipesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name === 'recipe.toml') found.push(join(e.parentPath, e.name));
  }
  return found;
}

/** The log of the job of package `name` a run started (its job-started event's path). */
export function jobLogOf(r: KilnResult, name: string): string {
  for (const e of r.events) if (e.type === 'job-started' && e.name === name) return readFileSync(e.log, 'utf8');
  throw new Error(`no job-started event for ${name}`);
}
