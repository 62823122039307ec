// `kiln build --server URL`: pack the tree as a bundle (a reproducible tar.zst, its id the
// content hash, so an unchanged tree is uploaded once), upload it unless the server has
// it, queue the build, then follow it until it ends, printing each job's state as it
// changes, in the order they happened. Exit status as for a local build: 0 done, 1 failed,
// 130 cancelled; a build the server failed with a kiln error before it ran (config-invalid,
// target-not-found…) is that error, printed and exiting as locally, naming the user's
// files instead of the server's copy of the bundle. Ctrl-C cancels the build on the server
// and waits for it to end.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { errorCodes, isKilnError, KilnError, type ErrorCode } from '../errors.ts';
import type { CliContext } from './main.ts';
import { formatMs, summaryCounts } from './options.ts';
import { call, callJson, type Remote } from './remote.ts';
import { TREE_ROOT } from '../server/tree-root.ts';
import { causeForTerminal } from '../publish/report-diagnostics.ts';
import { FAILED_TAIL_LINES } from './progress/plain.ts';
import { printableLine } from '../lib/printable-line.ts';
import { whenOutputCloses } from './output-closed.ts';

export interface RemoteBuildRequest {
  readonly treeDir: string;
  /** The local state dir, left out of the bundle when it sits inside the tree. */
  readonly stateDir: string;
  readonly targets: readonly string[];
  readonly archs?: readonly string[] | undefined;
  readonly env?: string | undefined;
  readonly json?: boolean | undefined;
  /** A tree the daemon knows by name (kiln serve --tree NAME=DIR): nothing is uploaded. */
  readonly serverTree?: string | undefined;
  /** How often the build is polled (default 500 ms). */
  readonly pollMs?: number;
}

export interface RemoteBuild {
  readonly id: string;
  readonly state: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  readonly runId: string | null;
  readonly error: string | null;
  /** Set when the build failed with a KilnError before or outside its jobs (older servers: absent). */
  readonly errorCode?: string | null;
  readonly errorHint?: string | null;
  readonly startedAt: string | null;
  readonly endedAt: string | null;
  readonly counts: Record<string, number> | null;
  /** Runs of this build a stop or crash of the daemon interrupted (older servers: absent). */
  readonly priorRuns?: readonly string[];
  /** A queued build: what holds it back (the daemon's free-space guard), or null. */
  readonly waitingFor?: string | null;
}

export interface RemoteJob {
  readonly jobId: string;
  readonly state: string;
  readonly durationMs: number | null;
  readonly cause: string | null;
  readonly failureReason: string | null;
  readonly startedAt?: string | null;
  readonly endedAt?: string | null;
}

/** Pack `treeDir` as tar.zst: sorted, fixed mtime and owner, no VCS data, no local state dir. */
export async function packBundle(treeDir: string, stateDir: string): Promise<{ bytes: Buffer; id: string }> {
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-bundle-'));
  try {
    const out = join(tmp, 'bundle.tar.zst');
    const inTree = (path: string): string | undefined => {
      const rel = relative(resolve(treeDir), resolve(path));
      return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? `--exclude=./${rel}` : undefined;
    };
    // Never sent: the local state dir, and the substitute token's file (a secret kept beside
    // the tree; the daemon has no use for it and would keep it with the bundle).
    const { configInvalid, loadTreeConfig } = await import('../config/load-tree-config.ts');
    const config = await loadTreeConfig(treeDir);
    // Packed only from a kiln.toml that reads whole: else its token file cannot be known for sure.
    if (config.diagnostics.length > 0) throw configInvalid(config.diagnostics, ' (the tree was not packed, nothing was uploaded: its [substitutes] token file, a secret, could not be left out)');
    const tokenFile = config.config.substitutes?.tokenFile;
    const excludes = ['--no-wildcards', '--exclude-vcs', '--exclude=./.kiln', ...[inTree(stateDir), tokenFile === undefined ? undefined : inTree(tokenFile)].filter((x): x is string => x !== undefined)];
    await new Promise<void>((ok, fail) => {
      const child = spawn(
        'tar',
        ['--create', `--file=${out}`, `--directory=${treeDir}`, '--zstd', '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--format=gnu', ...excludes, '.'],
        { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
      );
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      child.on('error', (e) => fail(new KilnError('archive-failed', `cannot run tar to pack ${treeDir}: ${e.message}`, { hint: 'install GNU tar and zstd' })));
      child.on('close', (code) =>
        code === 0 ? ok() : fail(new KilnError('archive-failed', `packing ${treeDir} failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`, { hint: 'check that every file of the tree is readable' })),
      );
    });
    const bytes = readFileSync(out);
    return { bytes, id: `tree-${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}` };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Upload the bundle unless the server already has it (same id = same content). */
export async function uploadBundle(remote: Remote, bundle: { bytes: Buffer; id: string }): Promise<'uploaded' | 'present'> {
  const have = await call(remote, 'GET', `/api/v1/bundles/${bundle.id}`, { allow: [404] });
  if (have.status === 200) return 'present';
  await have.body?.cancel();
  const res = await call(remote, 'PUT', `/api/v1/bundles/${bundle.id}`, { body: bundle.bytes, headers: { 'content-type': 'application/octet-stream' }, allow: [409] });
  await res.body?.cancel();
  return res.status === 409 ? 'present' : 'uploaded';
}

/** How long a client waits for a daemon that stopped answering (it resumes builds when it starts again). */
export const UNREACHABLE_WAIT_MS = 120_000;

export function exitCodeOf(state: RemoteBuild['state']): number {
  return state === 'done' ? 0 : state === 'cancelled' ? 130 : 1;
}

export async function remoteBuild(remote: Remote, req: RemoteBuildRequest, ctx: CliContext): Promise<number> {
  const say = (s: string): void => {
    if (!req.json) ctx.stderr.write(s);
  };
  let source: { bundle: string; treeName?: string } | { tree: string };
  if (req.serverTree !== undefined) {
    source = { tree: req.serverTree };
  } else {
    if (!existsSync(req.treeDir) || !statSync(req.treeDir).isDirectory()) {
      throw new KilnError('tree-not-found', `--tree ${req.treeDir}: no such directory here to upload`, {
        hint: 'give the tree on this machine with --tree DIR; for a tree the daemon knows by name (kiln serve --tree NAME=DIR), use --server-tree NAME',
      });
    }
    // An invalid kiln.toml is said by packBundle, as a local build says it, before anything goes up.
    const bundle = await packBundle(req.treeDir, req.stateDir);
    const how = await uploadBundle(remote, bundle);
    say(`kiln: bundle ${bundle.id} (${bundle.bytes.length} bytes) ${how === 'uploaded' ? 'uploaded' : 'already on the server'}\n`);
    // The folder's name goes with the build, for the daemon's web page to show (the bundle's id is a hash).
    const name = basename(resolve(req.treeDir));
    source = { bundle: bundle.id, ...(treeNameSendable(name) ? { treeName: name } : {}) };
  }
  const submit = (from: typeof source) =>
    callJson<{ id: string; notes?: string[] }>(remote, 'POST', '/api/v1/builds', {
      json: {
        ...from,
        ...(req.targets.length === 0 ? {} : { targets: req.targets }),
        ...(req.archs === undefined ? {} : { archs: req.archs }),
        ...(req.env === undefined ? {} : { env: req.env }),
      },
    });
  const created = await submit(source).catch((e: unknown) => {
    // A daemon older than `treeName` refuses the field it does not know: the build goes without it.
    if ('treeName' in source && isKilnError(e) && e.code === 'usage' && e.message.includes('unknown field "treeName"')) return submit({ bundle: source.bundle });
    throw e;
  });
  say(`kiln: build ${created.id} queued on ${remote.url}\n`);
  for (const note of created.notes ?? []) say(`kiln: note: ${note}\n`);
  // Its end is said by the summary line (or the error) below, not twice; that it is queued, by the line above.
  const final = await followBuild(remote, created.id, ctx, { ...req, end: false, said: 'queued' });
  // A build that failed with a KilnError (kiln.toml invalid, no such target) ends like the
  // local run: the error printed as kiln prints errors, and its exit status.
  const failure = buildFailure(final, { treeDir: req.treeDir });
  if (failure !== undefined) throw failure;
  if (req.json) {
    ctx.stdout.write(`${JSON.stringify({ type: 'summary', buildId: final.id, runId: final.runId, state: final.state, counts: final.counts ?? {}, server: remote.url })}\n`);
  } else {
    ctx.stdout.write(summaryLine(final));
    say(reportLine(remote.url, final));
  }
  return exitCodeOf(final.state);
}

/** A folder name the daemon takes as a build's `treeName` (1-255 characters, no slash or control character). */
export function treeNameSendable(name: string): boolean {
  return name.length > 0 && name.length <= 255 && !/[\u0000-\u001f\u007f/]/.test(name);
}

/** Where the build's report is on the daemon (GET /api/v1/builds/{id}/report.html, .json, junit.xml); nothing when no run of it started. */
export function reportLine(serverUrl: string, final: Pick<RemoteBuild, 'id' | 'runId'>): string {
  if (final.runId === null) return '';
  const base = `${serverUrl.replace(/\/+$/, '')}/api/v1/builds/${encodeURIComponent(final.id)}`;
  return `kiln: report: ${base}/report.html (report.json and junit.xml beside it)\n`;
}

/** `kiln: build ID STATE in TIME: counts`, and the build's note unless it only repeats the state. */
export function summaryLine(final: RemoteBuild): string {
  const c = final.counts ?? {};
  // A build cancelled (or failed) before it started has no time of its own.
  const took = final.startedAt !== null && final.endedAt !== null ? ` in ${formatMs(Date.parse(final.endedAt) - Date.parse(final.startedAt))}` : '';
  const note = final.error !== null && final.state !== 'done' && final.error !== final.state ? ` (${final.error})` : '';
  return (
    `kiln: build ${final.id} ${final.state}${took}: ${summaryCounts(c)}${note}\n`
  );
}

/**
 * What a job's line says after its state, as the local CLI says it: the cause (a failed
 * job's message, e.g. the checksum mismatch naming the url and both hashes; why it was
 * skipped, broken or cancelled), else the bare failure reason from an older server; nothing
 * while it runs.
 */
export function jobNote(j: Pick<RemoteJob, 'state' | 'cause' | 'failureReason'>): string {
  if (j.state === 'running') return '';
  return j.cause ?? j.failureReason ?? '';
}

/**
 * `the last N lines of its log:` and those lines, indented as a local run prints them
 * under a failure (GET …/log?tail=N); nothing when the job has no log or the daemon is
 * too old to cut one (the whole log stays a `kiln logs` away).
 */
async function failedTail(remote: Remote, buildId: string, jobId: string): Promise<string> {
  let text: string;
  try {
    const res = await call(remote, 'GET', `/api/v1/builds/${encodeURIComponent(buildId)}/jobs/${encodeURIComponent(jobId)}/log?tail=${FAILED_TAIL_LINES}`, { allow: [400, 404] });
    if (!res.ok) return '';
    text = await res.text();
  } catch {
    return ''; // a nicety: the build goes on being followed whatever became of it
  }
  // The last lines here too: a daemon from before ?tail sends the whole log.
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.splice(0, Math.max(0, lines.length - FAILED_TAIL_LINES));
  if (lines.length === 0) return '';
  const at = jobId.lastIndexOf('@');
  const all = `kiln logs ${jobId.slice(0, at)} --arch ${jobId.slice(at + 1)} --run ${buildId} --server ${remote.url}`;
  // Printable: a log's colours, title and clipboard sequences are not obeyed by the user's terminal.
  return `             the last ${lines.length} lines of its log (all of it: ${all}):\n${lines.map((l) => `             | ${printableLine(l)}\n`).join('')}`;
}

/** A daemon's text with the uploaded tree's files (`{tree}/…`, server/tree-root.ts) named in the user's --tree folder. */
function inUserTree(text: string, treeDir: string): string {
  return text.replaceAll(TREE_ROOT, resolve(treeDir));
}

/**
 * The KilnError a failed build ended with, as the local run would have thrown it: its
 * code and hint, the uploaded tree's files (`{tree}/…`, server/tree-root.ts) named in the
 * user's own --tree folder.
 */
export function buildFailure(final: RemoteBuild, where: { treeDir: string }): KilnError | undefined {
  if (final.state !== 'failed' || final.error === null || typeof final.errorCode !== 'string' || !(final.errorCode in errorCodes)) return undefined;
  const local = (text: string): string => inUserTree(text, where.treeDir);
  const hint = final.errorHint ?? undefined;
  return new KilnError(final.errorCode as ErrorCode, local(final.error), hint === undefined ? {} : { hint: local(hint) });
}

/**
 * The jobs whose state changed since the last poll (remembered in `seen`), in the order
 * the changes happened: a start at its startedAt, an end at its endedAt; jobs without a
 * time last, in the server's order.
 */
export function jobChanges(seen: Map<string, string>, jobs: readonly RemoteJob[]): RemoteJob[] {
  // A job not started yet (the plan's `waiting`, a resumed build's `not-started`) is no news: its start is.
  const changed = jobs.filter((j) => j.state !== 'waiting' && j.state !== 'not-started' && seen.get(j.jobId) !== j.state);
  for (const j of changed) seen.set(j.jobId, j.state);
  const at = (j: RemoteJob): number => {
    const t = j.state === 'running' ? j.startedAt : (j.endedAt ?? j.startedAt);
    const ms = t === null || t === undefined ? Number.NaN : Date.parse(t);
    return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
  };
  return changed.map((j, i) => ({ j, i, t: at(j) })).sort((x, y) => (x.t === y.t ? x.i - y.i : x.t < y.t ? -1 : 1)).map((x) => x.j);
}

/** Poll a build until it ends, printing job state changes; SIGINT/SIGTERM cancel it on the server. */
export async function followBuild(
  remote: Remote,
  id: string,
  ctx: CliContext,
  /**
   * states: say on stderr when the build starts and ends (default); end: say how it ended too (a caller printing its own summary need not);
   * said: the state the caller has already said (`queued` by kiln build --server), not said again.
   */
  o: { json?: boolean | undefined; pollMs?: number; treeDir?: string; states?: boolean; end?: boolean; said?: RemoteBuild['state'] } = {},
): Promise<RemoteBuild> {
  const sayStates = o.json !== true && o.states !== false;
  // A cause naming the uploaded tree's files ({tree}/…) names them in the user's folder, one problem per line.
  const local = (text: string): string => causeForTerminal(o.treeDir === undefined ? text : inUserTree(text, o.treeDir), '      ');
  const seen = new Map<string, string>();
  let cancelling = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (cancelling) return;
    cancelling = true;
    ctx.stderr.write(`\nkiln: ${sig}: cancelling build ${id} on the server...\n`);
    void call(remote, 'POST', `/api/v1/builds/${id}/cancel`, { allow: [409] }).then((r) => r.body?.cancel(), (e: unknown) => ctx.stderr.write(`kiln: cancel failed: ${String(e)}\n`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Its reader gone (`| head`): cancelled as a local build is.
  whenOutputCloses(() => onSignal('SIGTERM'));
  try {
    let lastState: string = o.said ?? '';
    let lastWaitingFor: string | null = null;
    let unreachableSince: number | undefined;
    let priorRuns = 0;
    for (;;) {
      let b: RemoteBuild;
      let jobs: RemoteJob[] = [];
      try {
        // Both calls under one guard: the daemon may die between them.
        b = await callJson<RemoteBuild>(remote, 'GET', `/api/v1/builds/${id}`);
        if (b.runId !== null) jobs = (await callJson<{ jobs: RemoteJob[] }>(remote, 'GET', `/api/v1/builds/${id}/jobs`)).jobs;
        if (unreachableSince !== undefined) ctx.stderr.write(`kiln: the server is back after ${formatMs(Date.now() - unreachableSince)}\n`);
        unreachableSince = undefined;
      } catch (e) {
        // A daemon restarting (or drained and started again) resumes the build: wait for it a while.
        if (!isKilnError(e) || e.code !== 'server-unreachable') throw e;
        if (unreachableSince === undefined) {
          unreachableSince = Date.now();
          ctx.stderr.write(`kiln: ${e.message}; waiting up to ${UNREACHABLE_WAIT_MS / 1000}s for it to come back\n`);
        }
        if (Date.now() - unreachableSince > UNREACHABLE_WAIT_MS) throw e;
        await delay(1000);
        continue;
      }
      // A daemon that stopped or crashed mid-build resumes it as a new run: said, once per run.
      const interrupted = b.priorRuns?.length ?? 0;
      if (interrupted > priorRuns) {
        // One the daemon gave up on (it died under it too often) ends now: its end says why.
        const resumes = b.state === 'queued' || b.state === 'running';
        if (!o.json && resumes) ctx.stderr.write(`kiln: build ${id} was interrupted (the server stopped) and resumes${b.runId === null ? ' once it starts again' : ` as run ${b.runId}`}: jobs done before are up to date, the others run again\n`);
        priorRuns = interrupted;
      }
      // What holds a queued build back, said when it changes (a tenant would wait in silence).
      const waitingFor = b.state === 'queued' ? (b.waitingFor ?? null) : null;
      if (waitingFor !== lastWaitingFor && waitingFor !== null && !o.json) ctx.stderr.write(`kiln: build ${id} is waiting: ${waitingFor}\n`);
      lastWaitingFor = waitingFor;
      // A build that starts says so before its jobs; one that ends, after them (its last
      // job's line must not come after "failed").
      const over = b.state !== 'queued' && b.state !== 'running';
      if (b.state !== lastState && !over) {
        if (sayStates) ctx.stderr.write(`kiln: build ${id} ${b.state}\n`);
        lastState = b.state;
      }
      for (const j of jobChanges(seen, jobs)) {
        if (o.json) {
          const note = jobNote(j);
          ctx.stdout.write(`${JSON.stringify({ type: 'job', buildId: id, jobId: j.jobId, state: j.state, durationMs: j.durationMs, ...(note === '' ? {} : { cause: o.treeDir === undefined ? note : inUserTree(note, o.treeDir) }) })}\n`);
        } else {
          const dur = j.durationMs === null || j.state === 'running' ? '' : ` ${formatMs(j.durationMs)}`;
          const why = jobNote(j);
          ctx.stdout.write(`  ${j.state.padEnd(10)} ${j.jobId}${dur}${why === '' ? '' : `  ${local(why)}`}\n`);
          // The end of its log, as a local run prints it: all a CI log shows of a failure.
          if (j.state === 'failed') ctx.stdout.write(await failedTail(remote, id, j.jobId));
        }
      }
      if (over) {
        if (sayStates && o.end !== false && b.state !== lastState) ctx.stderr.write(`kiln: build ${id} ${b.state}\n`);
        return b;
      }
      await delay(o.pollMs ?? 500);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    whenOutputCloses(undefined);
  }
}
