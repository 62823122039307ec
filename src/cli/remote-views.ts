// `kiln status` and `kiln logs` against a daemon (--server): a build's state and jobs, or
// the tenant's recent builds; a job's log, followed live over server-sent events with -f.

import { whenOutputCloses } from './output-closed.ts';
import { setTimeout as delay } from 'node:timers/promises';
import { isKilnError, KilnError } from '../errors.ts';
import type { CliContext } from './main.ts';
import { countsText, formatMs, summaryCounts } from './options.ts';
import { jobNote, UNREACHABLE_WAIT_MS, type RemoteBuild, type RemoteJob } from './remote-build.ts';
import { causeForTerminal } from '../publish/report-diagnostics.ts';
import { call, callJson, forTheCli, readSse, type Remote } from './remote.ts';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { rawLogFilter, writeRawLog } from '../logs/read-log.ts';

interface BuildView extends RemoteBuild {
  readonly tenant: string;
  readonly tree: string;
  readonly bundle: string | null;
  readonly createdAt: string;
  readonly priorRuns: readonly string[];
  /** Jobs of a running build not started yet (older daemons: absent). */
  readonly waiting?: number | null;
}

/** A build's counts with its jobs not started yet, as `queued` (the counts' words say "waiting"). */
export function countsWithWaiting(b: Pick<BuildView, 'counts' | 'waiting'>): Record<string, number> {
  const c = { ...(b.counts ?? {}) };
  if ((b.waiting ?? 0) > 0) c['queued'] = (c['queued'] ?? 0) + b.waiting!;
  return c;
}

interface JobView extends RemoteJob {
  readonly name: string;
  readonly arch: string;
  readonly log: string | null;
  readonly attempt: number;
  readonly sample: { cpuCores: number; memoryBytes: number; diskBytes: number } | null;
  /** Attempts of earlier runs of the build (a daemon that stopped or died under it), oldest first. */
  readonly earlierAttempts?: readonly { readonly attempt: number; readonly runId: string; readonly log: string | null }[];
}

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)}MiB`;

/** kiln status --server: one build (default: the newest), or the list with --runs. */
export async function remoteStatus(remote: Remote, build: string | undefined, opts: { json?: boolean; runs?: string | boolean }, ctx: CliContext): Promise<void> {
  if (opts.runs !== undefined || build === undefined) {
    const limit = opts.runs === undefined || opts.runs === true ? 20 : Number(opts.runs);
    const { builds } = await callJson<{ builds: BuildView[] }>(remote, 'GET', `/api/v1/builds?limit=${Math.max(1, Math.min(1000, limit || 20))}`);
    if (opts.runs !== undefined) {
      if (opts.json) ctx.stdout.write(`${JSON.stringify(builds, null, 2)}\n`);
      else ctx.stdout.write(buildsText(builds));
      return;
    }
    if (builds[0] === undefined) throw new KilnError('run-not-found', `no builds on ${remote.url} for this token`, { hint: 'start one with `kiln build --server URL`' });
    build = builds[0].id;
  }
  const id = build;
  const b = await callJson<BuildView>(remote, 'GET', `/api/v1/builds/${encodeURIComponent(id)}`).catch((e: unknown) => {
    throw forTheCli(e, id);
  });
  const { jobs } = await callJson<{ jobs: JobView[] }>(remote, 'GET', `/api/v1/builds/${encodeURIComponent(build)}/jobs`);
  if (opts.json) {
    ctx.stdout.write(`${JSON.stringify({ ...b, jobs }, null, 2)}\n`);
    return;
  }
  const c = countsWithWaiting(b);
  const took = b.startedAt !== null && b.endedAt !== null ? `, took ${formatMs(Date.parse(b.endedAt) - Date.parse(b.startedAt))}` : '';
  ctx.stdout.write(
    `build ${b.id}: ${b.state} (tenant ${b.tenant}, ${b.bundle === null ? `tree ${b.tree}` : `bundle ${b.bundle}`}${b.runId === null ? '' : `, run ${b.runId}`})${took}\n` +
      `  ${(b.state === 'running' || b.state === 'queued') && !Object.values(c).some((n) => (n ?? 0) > 0) ? (b.state === 'queued' ? 'waiting for its turn' : 'planning: no package has finished yet') : summaryCounts(c)}\n` +
      (b.state === 'queued' && b.waitingFor !== undefined && b.waitingFor !== null ? `  waiting: ${b.waitingFor}\n` : '') +
      (b.error !== null ? `  note: ${b.error}\n` : ''),
  );
  const order = ['running', 'failed', 'broken', 'skipped', 'cancelled', 'built', 'up-to-date'];
  for (const j of [...jobs].sort((x, y) => order.indexOf(x.state) - order.indexOf(y.state))) {
    const dur = j.durationMs === null ? '' : formatMs(j.durationMs);
    const live = j.state === 'running' && j.sample !== null ? `  cpu ${j.sample.cpuCores.toFixed(2)} mem ${mib(j.sample.memoryBytes)} disk ${mib(j.sample.diskBytes)}` : '';
    ctx.stdout.write(`  ${j.state.padEnd(10)} ${j.jobId.padEnd(32)} ${dur.padStart(8)}${j.attempt > 1 ? `  attempt ${j.attempt}` : ''}${live}  ${causeForTerminal(jobNote(j), '      ')}`.trimEnd() + '\n');
  }
}

/**
 * `status --runs --server`: one line per build, each column padded to its widest cell as
 * the local `status --runs` does; the last column the job counts in words, or for a build
 * that ended before any job ran (target-not-found, config-invalid, cancelled while
 * queued) its error on one line.
 */
export function buildsText(builds: readonly Pick<BuildView, 'id' | 'state' | 'tenant' | 'tree' | 'bundle' | 'createdAt' | 'startedAt' | 'endedAt' | 'counts' | 'waiting' | 'error' | 'errorCode'>[]): string {
  const last = (b: (typeof builds)[number]): string => {
    const counts = countsWithWaiting(b);
    if (Object.values(counts).some((n) => n > 0)) return countsText(counts);
    if (b.error === null) return '';
    const text = b.error.split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ');
    return typeof b.errorCode === 'string' ? `error [${b.errorCode}]: ${text}` : text;
  };
  const took = (b: (typeof builds)[number]): string =>
    b.startedAt !== null && b.endedAt !== null ? formatMs(Date.parse(b.endedAt) - Date.parse(b.startedAt)) : b.state === 'running' ? 'running' : '';
  const rows = builds.map((b) => [b.id, b.state, b.tenant, b.bundle === null ? b.tree : `bundle ${b.bundle}`, b.createdAt, took(b), last(b)]);
  const width = (i: number): number => Math.max(0, ...rows.map((c) => c[i]!.length));
  const w = [0, 1, 2, 3, 4, 5].map(width);
  return rows.map((c) => `${c.slice(0, 5).map((cell, i) => cell.padEnd(w[i]!)).join('  ')}  ${c[5]!.padStart(w[5]!)}  ${c[6]}`.trimEnd() + '\n').join('');
}

/** Job states of a build's jobs list in which a job will not start any more. */
const ENDED_JOB_STATES: ReadonlySet<string> = new Set(['built', 'up-to-date', 'failed', 'skipped', 'broken', 'cancelled']);
/** How often kiln logs -f --server asks whether a job waiting to start has. */
const START_POLL_MS = 1000;

/** kiln logs PKG --server: the job's log in a build (--run BUILD, default the newest build that ran it). */
export async function remoteLogs(remote: Remote, name: string, opts: { run?: string; arch?: string; follow?: boolean; raw?: boolean }, ctx: CliContext): Promise<void> {
  const named = (j: JobView): boolean => (j.name === name || j.jobId === name) && (opts.arch === undefined || j.arch === opts.arch);
  const matches = (j: JobView): boolean => named(j) && j.log !== null;
  let buildId: string | undefined;
  let job: JobView | undefined;
  /** With -f: a build that has the job still to start (waiting for its dependencies, or queued), to wait for. */
  let toStart: string | undefined;
  const candidates = opts.run !== undefined ? [opts.run] : (await callJson<{ builds: BuildView[] }>(remote, 'GET', '/api/v1/builds?limit=20')).builds.map((b) => b.id);
  for (const id of candidates) {
    const { jobs } = await callJson<{ jobs: JobView[] }>(remote, 'GET', `/api/v1/builds/${encodeURIComponent(id)}/jobs`).catch((e: unknown) => {
      throw forTheCli(e, id);
    });
    job = jobs.find(matches);
    if (job !== undefined) {
      buildId = id;
      break;
    }
    // A build whose last run never reached the job (the daemon gave up after it died under
    // it): the log of its newest earlier attempt, said so (not with -f: nothing grows).
    const earlier = opts.follow === true ? undefined : jobs.filter(named).flatMap((j) => (j.earlierAttempts ?? []).filter((a) => a.log !== null).map((a) => ({ j, a }))).at(-1);
    if (earlier !== undefined) {
      ctx.stderr.write(`kiln: ${earlier.j.jobId} of build ${id} has no log of its own; this is attempt ${earlier.a.attempt}'s, of run ${earlier.a.runId} (cut off when the daemon stopped)\n`);
      job = { ...earlier.j, log: earlier.a.log };
      buildId = id;
      break;
    }
    if (opts.follow === true && toStart === undefined && jobs.some((j) => named(j) && !ENDED_JOB_STATES.has(j.state))) toStart = id;
  }
  // -f on a job that has not started: wait for it, as a local kiln logs -f does.
  if (job === undefined && toStart !== undefined) {
    ctx.stderr.write(`kiln: waiting for ${name} to start (build ${toStart})\n`);
    for (;;) {
      await delay(START_POLL_MS);
      const { jobs } = await callJson<{ jobs: JobView[] }>(remote, 'GET', `/api/v1/builds/${encodeURIComponent(toStart)}/jobs`);
      job = jobs.find(matches);
      if (job !== undefined) {
        buildId = toStart;
        break;
      }
      const now = jobs.find(named);
      if (now === undefined || ENDED_JOB_STATES.has(now.state)) {
        throw new KilnError('log-not-found', `${name} did not run in build ${toStart}${now === undefined ? '' : ` (${now.state}${now.cause === null ? '' : `: ${now.cause}`})`}, so it has no log`, {
          hint: 'only packages that ran have logs; see `kiln status --server URL`',
        });
      }
    }
  }
  if (job === undefined || buildId === undefined || job.log === null) {
    throw new KilnError('log-not-found', `no log of "${name}"${opts.run === undefined ? ' in your recent builds' : ` in build ${opts.run}`} on ${remote.url}`, {
      hint: 'only packages that ran have logs; see `kiln status --server URL`',
    });
  }
  if (opts.follow) {
    await followRemoteLog(remote, { name, buildId, job, matches, raw: opts.raw === true }, ctx);
    return;
  }
  const res = await call(remote, 'GET', job.log);
  if (opts.raw === true) {
    await writeRawLog(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), (text) => ctx.stdout.write(text));
    return;
  }
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) ctx.stdout.write(chunk);
}

/**
 * kiln logs -f --server: the job's log as it grows, until its `end` event. A stream that
 * breaks first (the daemon stopped or died: it resumes the build when it starts again) is
 * taken up again: kiln waits for the daemon as `kiln build --server` does, then follows the
 * job's next attempt from its start, or the rest of the same log.
 */
async function followRemoteLog(
  remote: Remote,
  o: { readonly name: string; readonly buildId: string; readonly job: JobView; readonly matches: (j: JobView) => boolean; readonly raw: boolean },
  ctx: CliContext,
): Promise<void> {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  // A reader that went away (`| head`) ends following, as for a local log.
  whenOutputCloses(stop);
  const raw = o.raw ? rawLogFilter() : undefined;
  let log = o.job.log!;
  let attempt = o.job.attempt;
  /** Lines of `log` printed so far: a stream taken up again skips them. */
  let printed = 0;
  let brokenSince: number | undefined;
  try {
    for (;;) {
      let ended = false;
      try {
        const res = await call(remote, 'GET', log, { headers: { accept: 'text/event-stream' }, signal: controller.signal });
        let seen = 0;
        for await (const e of readSse(res)) {
          if (e.event === 'line') {
            if (seen++ < printed) continue;
            printed++;
            brokenSince = undefined;
            const text = raw === undefined ? `${e.data}\n` : raw(e.data);
            if (text !== undefined) ctx.stdout.write(text);
          } else if (e.event === 'end') {
            ended = true;
            break;
          }
        }
      } catch (e) {
        if (controller.signal.aborted) return;
        // A refusal (a revoked token, a removed build) is an answer; a broken stream is not.
        if (isKilnError(e) && e.code !== 'server-unreachable') throw e;
      }
      if (ended || controller.signal.aborted) return;
      if (brokenSince === undefined) {
        brokenSince = Date.now();
        ctx.stderr.write(`kiln: the log stream from ${remote.url} broke before ${o.name}'s build ended (the daemon stopped?); waiting up to ${UNREACHABLE_WAIT_MS / 1000}s for it to come back\n`);
      }
      // Until the daemon answers, and then until the build runs the job again or ends.
      for (;;) {
        if (Date.now() - brokenSince > UNREACHABLE_WAIT_MS) {
          throw new KilnError('server-unreachable', `kiln daemon at ${remote.url}: the log of ${o.name} (build ${o.buildId}) stopped coming, and the daemon did not come back within ${UNREACHABLE_WAIT_MS / 1000}s`, {
            hint: `check that \`kiln serve\` is running; \`kiln logs ${o.name} --run ${o.buildId} --server URL\` prints the log once it is back`,
          });
        }
        await delay(1000, undefined, { signal: controller.signal }).catch(() => undefined);
        if (controller.signal.aborted) return;
        let build: BuildView;
        let jobs: JobView[];
        try {
          build = await callJson<BuildView>(remote, 'GET', `/api/v1/builds/${encodeURIComponent(o.buildId)}`);
          jobs = (await callJson<{ jobs: JobView[] }>(remote, 'GET', `/api/v1/builds/${encodeURIComponent(o.buildId)}/jobs`)).jobs;
        } catch (e) {
          if (isKilnError(e) && e.code === 'server-unreachable') continue;
          throw e;
        }
        // The daemon is back: the wait for the job to run again is the build's, not bounded.
        brokenSince = Date.now();
        const now = jobs.find(o.matches);
        if (now !== undefined && now.log !== null && (now.attempt > attempt || now.log !== log)) {
          ctx.stderr.write(`kiln: following ${o.name}'s attempt ${now.attempt} (build ${o.buildId})\n`);
          log = now.log;
          attempt = now.attempt;
          printed = 0;
          break;
        }
        const over = build.state !== 'queued' && build.state !== 'running';
        if (over && (now === undefined || now.log === null)) {
          // Settled in the later run without running (found up to date): that is its end.
          if (build.state === 'done' && now !== undefined && (now.state === 'built' || now.state === 'up-to-date')) {
            ctx.stderr.write(`kiln: build ${o.buildId} ended (done) with ${o.name} ${now.state} in its later run, which did not build it again\n`);
            return;
          }
          // Its log stops where that attempt was cut off: not a job that ended, as for a local run whose kiln is gone.
          ctx.stderr.write(`kiln: build ${o.buildId} ended (${build.state}) before ${o.name} ran again: the log above stops where its attempt ${attempt} was cut off\n`);
          ctx.exitCode = 1;
          return;
        }
        // Its log is the same and the job went on or ended (not cut off, waiting to run
        // again), or the build is over: the rest of it, to its end.
        if ((now !== undefined && now.log === log && now.state !== 'cancelled') || over) break;
      }
    }
  } finally {
    process.off('SIGINT', stop);
    whenOutputCloses(undefined);
  }
}
