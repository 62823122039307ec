// /api/v1/builds/{id}/jobs and a job's log: plain text, or with Accept: text/event-stream
// followed live (one `line` event per log line, then an `end` event) until the job ends.
// A job is named by its id `name@arch`, or by a package name that is one job of the build.

import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { createReadStream, existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { streamSSE } from 'hono/streaming';
import { KilnError } from '../../errors.ts';
import { followLog } from '../../logs/follow.ts';
import { logExists, openLogText } from '../../logs/log-compress.ts';
import { readLogTail } from '../../publish/report.ts';
import { describeReason } from '../../plan/reason.ts';
import type { ServerEnv } from '../auth.ts';
import { iso, type ServerContext } from '../context.ts';
import { ErrorSchema, IdParam, JobListSchema } from '../schemas.ts';
import type { BuildRecord } from '../../records/server-record-types.ts';
import { visibleBuild } from './builds.ts';
import { uploadedTreeDir } from '../runner.ts';
import { hideTreeRoot } from '../tree-root.ts';
import { artifactFileName } from '../../lib/artifact-name.ts';
import { restrictionOfArchive } from './artifacts.ts';

export function registerJobRoutes(app: OpenAPIHono<ServerEnv>, ctx: ServerContext): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/builds/{id}/jobs',
      security: [{ bearer: [] }],
      summary: "The build's jobs (each one's newest attempt), by job id",
      request: { params: IdParam },
      responses: {
        200: { content: { 'application/json': { schema: JobListSchema } }, description: 'jobs' },
        404: { content: { 'application/json': { schema: ErrorSchema } }, description: 'no such build for this token' },
      },
    }),
    (c) => {
      const b = visibleBuild(ctx, c, c.req.valid('param').id);
      const jobs = b.runId === null ? [] : ctx.runs.jobsOfRun(b.runId);
      const live = ctx.queue.getActive(b.id);
      const stored = b.runId === null ? new Map() : ctx.records.latestSamples(b.runId);
      const sampleOf = (jobId: string) => {
        const s = (live?.runId === b.runId ? live?.samples.get(jobId) : undefined) ?? stored.get(jobId);
        return s === undefined ? null : { at: new Date(s.at).toISOString(), cpuCores: s.cpuCores, memoryBytes: s.memoryBytes, diskBytes: s.diskBytes };
      };
      const { attempts: earlier, versions } = earlierAttempts(ctx, b);
      // An uploaded tree's files are named {tree}/… (the client puts its own folder there).
      const uploaded = uploadedTreeDir(b, ctx.state.root);
      const hide = (text: string | null): string | null => (text === null || uploaded === undefined ? text : hideTreeRoot(text, uploaded));
      const notStarted = jobsNotStarted({
        rows: jobs.map((j) => j.jobId),
        planned: b.runId !== null && live?.runId === b.runId ? live.toBuild : [],
        earlier: [...earlier.keys()],
      }).map(({ jobId, state }) => {
        const at = jobId.lastIndexOf('@');
        const tries = earlier.get(jobId) ?? [];
        return {
          jobId, name: jobId.slice(0, at), version: versions.get(jobId) ?? '?', arch: jobId.slice(at + 1), state, attempt: tries.length,
          why: null, cause: null, failureReason: null, startedAt: null, endedAt: null, durationMs: null, log: null, artifact: null, sample: null, earlierAttempts: tries,
        };
      });
      return c.json(
        {
          buildId: b.id,
          runId: b.runId,
          jobs: [...jobs.map((j) => ({
            jobId: j.jobId,
            name: j.name,
            version: j.version,
            arch: j.arch,
            state: j.state,
            attempt: j.attempt + (earlier.get(j.jobId)?.length ?? 0),
            why: j.why === null ? null : describeReason(j.why),
            cause: hide(j.cause),
            failureReason: hide(j.failureReason),
            startedAt: iso(j.startedAt),
            endedAt: iso(j.endedAt),
            durationMs: j.durationMs,
            log: j.log === null ? null : `/api/v1/builds/${b.id}/jobs/${encodeURIComponent(j.jobId)}/log`,
            artifact: artifactFile(j.artifact) === undefined ? null : `/api/v1/builds/${b.id}/jobs/${encodeURIComponent(j.jobId)}/artifact`,
            sample: sampleOf(j.jobId),
            earlierAttempts: earlier.get(j.jobId) ?? [],
          })), ...notStarted].sort((x, y) => (x.jobId < y.jobId ? -1 : x.jobId > y.jobId ? 1 : 0)),
        },
        200,
      );
    },
  );

  // Registered for the document only: the handler below answers in text or SSE.
  app.openAPIRegistry.registerPath(
    createRoute({
      method: 'get',
      path: '/api/v1/builds/{id}/jobs/{job}/log',
      security: [{ bearer: [] }],
      summary: "A job's log: plain text, or followed live as server-sent events with Accept: text/event-stream; ?run=RUN for an earlier, interrupted attempt",
      request: {
        params: IdParam.extend({
          job: z.string().openapi({
            param: { name: 'job', in: 'path' },
            example: 'hello@amd64',
            description: "the job's id NAME@ARCH (the @ may be sent as %40), or a bare package name when the build has one job of it",
          }),
        }),
        query: z.object({
          run: z.string().optional().openapi({ description: "one of the build's priorRuns: that attempt's (partial) log" }),
          tail: z.string().optional().openapi({ description: 'only the last N lines (1 to 1000) of the log, as `kiln build` prints under a failure (plain text only; of a log kept compressed, the last of its excerpt\'s 200 lines)', example: '15' }),
        }),
      },
      responses: {
        200: {
          content: { 'text/plain': { schema: z.string() }, 'text/event-stream': { schema: z.string() } },
          description: 'the log; as SSE: `line` events, then one `end` event whose data is the job state',
        },
        404: { content: { 'application/json': { schema: ErrorSchema } }, description: 'no such build, job or log' },
      },
    }),
  );
  app.get('/api/v1/builds/:id/jobs/:job/log', async (c) => {
    const b = visibleBuild(ctx, c, c.req.param('id'));
    const asked = c.req.param('job');
    const priorRun = c.req.query('run');
    const tail = tailOf(c.req.query('tail'));
    if (tail !== undefined && (c.req.header('accept') ?? '').includes('text/event-stream')) {
      throw new KilnError('usage', '?tail= is for the log as text, not followed as server-sent events', { hint: 'leave out ?tail to follow the log, or ask for text/plain' });
    }
    if (priorRun !== undefined && priorRun !== b.runId) {
      // An earlier attempt: a run of this build that was interrupted; its log is complete as it is.
      const old = b.priorRuns.includes(priorRun) ? jobNamed(ctx.runs.jobsOfRun(priorRun), asked, `run "${priorRun}" of build ${b.id}`) : undefined;
      const jobId = old?.jobId ?? asked;
      if (old === undefined || old.log === null || !logExists(old.log)) {
        throw new KilnError('log-not-found', `build ${b.id} has no log of job "${jobId}" in run "${priorRun}"`, { hint: `see earlierAttempts in GET /api/v1/builds/${b.id}/jobs` });
      }
      if (tail !== undefined) return c.body(readLogTail(old.log, tail).map((l) => `${l}\n`).join(''), 200, { 'Content-Type': 'text/plain; charset=utf-8' });
      return c.body(Readable.toWeb(await openLogText(old.log)) as ReadableStream<Uint8Array>, 200, { 'Content-Type': 'text/plain; charset=utf-8' });
    }
    const job = b.runId === null ? undefined : jobNamed(ctx.runs.jobsOfRun(b.runId), asked, `build ${b.id}`);
    const jobId = job?.jobId ?? asked;
    if (job === undefined || job.log === null) {
      throw new KilnError('log-not-found', `build ${b.id} has no log of job "${jobId}"`, {
        hint: `only jobs that ran have logs; see GET /api/v1/builds/${b.id}/jobs`,
      });
    }
    const logPath = job.log;
    const runId = b.runId!;
    // In-memory state first: the records are written in batches and lag a little.
    const isDone = (): boolean => {
      const active = ctx.queue.getActive(b.id);
      if (active !== undefined && active.runId === runId) return !active.runningJobs.has(jobId);
      const now = ctx.runs.jobsOfRun(runId).find((j) => j.jobId === jobId);
      return now === undefined || now.state !== 'running' || active === undefined;
    };
    if ((c.req.header('accept') ?? '').includes('text/event-stream')) {
      return streamSSE(c, async (stream) => {
        const controller = new AbortController();
        stream.onAbort(() => controller.abort());
        for await (const line of followLog(logPath, { fromStart: true, isDone, signal: controller.signal })) {
          await stream.writeSSE({ event: 'line', data: line });
        }
        if (!controller.signal.aborted) {
          const final = ctx.runs.jobsOfRun(runId).find((j) => j.jobId === jobId);
          await stream.writeSSE({ event: 'end', data: final?.state ?? 'unknown' });
        }
      });
    }
    if (!logExists(logPath)) {
      throw new KilnError('log-not-found', `the log of job "${jobId}" of build ${b.id} is gone`, { hint: 'logs are removed with old runs by `kiln cache gc`' });
    }
    if (tail !== undefined) {
      const lines = readLogTail(logPath, tail);
      return c.body(lines.map((l) => `${l}\n`).join(''), 200, { 'Content-Type': 'text/plain; charset=utf-8' });
    }
    // A large finished log is kept compressed (logs/log-compress.ts): all of it, decompressed.
    const body = Readable.toWeb(await openLogText(logPath)) as ReadableStream<Uint8Array>;
    return c.body(body, 200, { 'Content-Type': 'text/plain; charset=utf-8' });
  });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/builds/{id}/jobs/{job}/artifact',
      security: [{ bearer: [] }],
      summary: "What a built or up-to-date job installed: its artifact, a tar.zst of the files under $DESTDIR (for a Debian source package, its .deb files)",
      request: {
        params: IdParam.extend({
          job: z.string().openapi({ param: { name: 'job', in: 'path' }, example: 'hello@amd64', description: 'the job id NAME@ARCH, or a bare package name when the build has one job of it' }),
        }),
      },
      responses: {
        200: { content: { 'application/zstd': { schema: z.string().openapi({ format: 'binary' }) } }, description: 'the archive (tar.zst); extract with tar --zstd -xf' },
        403: { content: { 'application/json': { schema: ErrorSchema } }, description: 'the package is restricted (its recipe says `restricted`): kiln does not hand out its artifact' },
        404: { content: { 'application/json': { schema: ErrorSchema } }, description: 'no such build or job, the job has no artifact (failed, skipped, installed nothing), or cache gc removed it' },
      },
    }),
    (c) => {
      const { id, job: asked } = c.req.valid('param');
      const b = visibleBuild(ctx, c, id);
      const job = b.runId === null ? undefined : jobNamed(ctx.runs.jobsOfRun(b.runId), asked, `build ${b.id}`);
      if (job === undefined) throw new KilnError('package-not-found', `build ${b.id} has no job "${asked}"`, { hint: `see GET /api/v1/builds/${b.id}/jobs` });
      const file = artifactFile(job.artifact);
      if (file === undefined) {
        const why = job.state === 'built' || job.state === 'up-to-date' ? 'it installed nothing' : `it is ${job.state}`;
        throw new KilnError('not-found', `job ${job.jobId} of build ${b.id} has no artifact: ${why}`, { hint: 'only built and up-to-date jobs that installed files have one' });
      }
      if (!existsSync(file)) {
        throw new KilnError('not-found', `the artifact of job ${job.jobId} of build ${b.id} is no longer in the cache`, { hint: 'cache gc removed it: build the package again' });
      }
      // A restricted package (recipe key `restricted`, pkgsrc's RESTRICTED) is built and kept, never handed out.
      const restricted = restrictionOfArchive(file);
      if (restricted !== undefined) {
        throw new KilnError('forbidden', `the artifact of job ${job.jobId} of build ${b.id} is not handed out: ${restricted}`, { hint: 'a recipe that says `restricted` keeps its package in the daemon\'s cache, for the packages that need it: build it yourself where you may have it' });
      }
      const name = artifactFileName(job.name, job.version, job.arch);
      return c.body(Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>, 200, {
        'Content-Type': 'application/zstd',
        'Content-Disposition': `attachment; filename="${name}"`,
      });
    },
  );
}

/** The archive file of an artifact path as records hold it (a package that installed nothing has a folder, no file). */
function artifactFile(path: string | null): string | undefined {
  return path !== null && path.endsWith('.tar.zst') ? path : undefined;
}

/**
 * The job `key` names among a build's jobs: the one with that id (`name@arch`), else the
 * one job of that package name. A name several jobs share (one per arch) is a usage error
 * listing their ids; no match is undefined.
 */
export function jobNamed<J extends { readonly jobId: string; readonly name: string }>(jobs: readonly J[], key: string, where: string): J | undefined {
  const byId = jobs.find((j) => j.jobId === key);
  if (byId !== undefined) return byId;
  const byName = jobs.filter((j) => j.name === key);
  if (byName.length > 1) {
    throw new KilnError('usage', `"${key}" names ${byName.length} jobs of ${where}: ${byName.map((j) => j.jobId).join(', ')}`, { hint: `name one by its id NAME@ARCH, e.g. ${byName[0]!.jobId}` });
  }
  return byName[0];
}

/**
 * The jobs of a build that have no row in its latest run yet, and their state: `waiting`
 * for those its run's plan will build (the run's toBuild) and that have not started;
 * `not-started` for those with only earlier attempts (a resumed build whose new run has
 * not planned yet, or does not build them). Sorted by job id. Pure.
 */
export function jobsNotStarted(o: { rows: readonly string[]; planned: readonly string[]; earlier: readonly string[] }): Array<{ jobId: string; state: 'waiting' | 'not-started' }> {
  const have = new Set(o.rows);
  const out = new Map<string, 'waiting' | 'not-started'>();
  for (const id of o.planned) if (!have.has(id)) out.set(id, 'waiting');
  for (const id of o.earlier) if (!have.has(id) && !out.has(id)) out.set(id, 'not-started');
  return [...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([jobId, state]) => ({ jobId, state }));
}

/** Attempts of each job in the build's interrupted runs, numbered from 1 in run order; and each one's latest version. */
function earlierAttempts(ctx: ServerContext, b: BuildRecord): { attempts: Map<string, Array<{ attempt: number; runId: string; state: string; log: string | null }>>; versions: Map<string, string> } {
  const out = new Map<string, Array<{ attempt: number; runId: string; state: string; log: string | null }>>();
  const versions = new Map<string, string>();
  for (const runId of b.priorRuns) {
    for (const j of ctx.runs.jobsOfRun(runId)) {
      if (j.log === null) continue; // settled without running: not an attempt
      const list = out.get(j.jobId) ?? [];
      list.push({ attempt: list.length + 1, runId, state: j.state, log: `/api/v1/builds/${b.id}/jobs/${encodeURIComponent(j.jobId)}/log?run=${encodeURIComponent(runId)}` });
      out.set(j.jobId, list);
      if (j.version !== '?') versions.set(j.jobId, j.version);
    }
  }
  return { attempts: out, versions };
}

/** The log route's `?tail=N`: a whole number from 1 to 1000, or absent. */
function tailOf(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = /^[0-9]{1,4}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= 1000)) throw new KilnError('usage', `?tail=${v}: expected a whole number of lines from 1 to 1000`, { hint: 'ask ?tail=15 for the end of the log, or leave tail out for all of it' });
  return n;
}
