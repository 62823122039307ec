// /api/v1/builds/{id}/report.json, report.html and junit.xml: the report of the build's
// latest run, tenant-scoped like every build endpoint (another tenant's build is a 404).
// The daemon's paths in it are API URLs (report-view.ts). A finished run's report is the
// report.json its run wrote (with the Debian checks' results); a running one's is made
// from the records at each request (the file is rewritten only every 30 s).
// junit.xml is there once the run has ended, as beside a local run's report.

import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../../errors.ts';
import { buildReport, LOG_TAIL_LINES, readLogTail, reportDir, type RunReport } from '../../publish/report.ts';
import { renderReportHtml } from '../../publish/report-html.ts';
import { renderJunit } from '../../publish/report-junit.ts';
import type { BuildRecord } from '../../records/server-record-types.ts';
import type { ServerEnv } from '../auth.ts';
import type { ServerContext } from '../context.ts';
import { apiReport, reportHtmlCsp, type ApiReport } from '../report-view.ts';
import { uploadedTreeDir } from '../runner.ts';
import { ErrorSchema, IdParam, ReportSchema } from '../schemas.ts';
import { hideTreeRoot } from '../tree-root.ts';
import { visibleBuild } from './builds.ts';

/** Lines of a failed job's log in junit.xml (as in the junit.xml a run writes). */
const JUNIT_TAIL_LINES = 30;

const errors = {
  401: { content: { 'application/json': { schema: ErrorSchema } }, description: 'no, unknown, revoked or expired token' },
  404: {
    content: { 'application/json': { schema: ErrorSchema } },
    description: 'no such build for this token (`run-not-found`), or no report of it (`report-not-found`): no run of it has started, its run was removed by `kiln cache gc`, or (junit.xml) its run is still going',
  },
};

export function registerReportRoutes(app: OpenAPIHono<ServerEnv>, ctx: ServerContext): void {
  const route = (file: string, summary: string, type: string, schema: z.ZodType) =>
    createRoute({
      method: 'get',
      path: `/api/v1/builds/{id}/${file}`,
      security: [{ bearer: [] }],
      summary,
      request: { params: IdParam },
      responses: { 200: { content: { [type]: { schema } }, description: summary }, ...errors },
    });
  // Registered for the document; the handlers below answer in JSON, HTML and XML.
  app.openAPIRegistry.registerPath(
    route('report.json', "The report of the build's latest run: each package's state, why it was built, its cause, duration, log and artifact URLs (live while the run goes)", 'application/json', ReportSchema),
  );
  app.openAPIRegistry.registerPath(
    route('report.html', "The same report as one self-contained page: failures with their log's last lines, the broken and skipped with their cause; links to the logs (a browser signed in at /login follows them)", 'text/html', z.string()),
  );
  app.openAPIRegistry.registerPath(
    route('junit.xml', "The report as JUnit XML for CI test reporters, once the run has ended: one testcase per package, a failure with its log's last lines", 'application/xml', z.string()),
  );

  app.get('/api/v1/builds/:id/report.json', (c) => {
    const b = visibleBuild(ctx, c, c.req.param('id'));
    return c.json(servedReport(ctx, b).report, 200);
  });

  app.get('/api/v1/builds/:id/report.html', (c) => {
    const b = visibleBuild(ctx, c, c.req.param('id'));
    const { report, logFiles } = servedReport(ctx, b);
    const html = renderReportHtml(report, { logTail: (url) => tailOf(logFiles, url, LOG_TAIL_LINES), logHref: (url) => url });
    return c.html(html, 200, {
      'Content-Security-Policy': reportHtmlCsp(html, (text) => createHash('sha256').update(text).digest('base64')),
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
  });

  app.get('/api/v1/builds/:id/junit.xml', (c) => {
    const b = visibleBuild(ctx, c, c.req.param('id'));
    const { report, logFiles } = servedReport(ctx, b);
    if (report.end === null) {
      throw new KilnError('report-not-found', `build ${b.id} is still running: its junit.xml is made once its run (${report.runId}) ends`, {
        hint: `wait for the build to end (GET /api/v1/builds/${b.id}); report.json and report.html show it while it runs`,
      });
    }
    const xml = renderJunit(report, (url) => tailOf(logFiles, url, JUNIT_TAIL_LINES));
    return c.body(xml, 200, { 'Content-Type': 'application/xml; charset=utf-8' });
  });
}

function tailOf(logFiles: ReadonlyMap<string, string>, url: string, lines: number): string[] {
  const file = logFiles.get(url);
  return file === undefined ? [] : readLogTail(file, lines);
}

/** The report of the build's latest run, with API URLs for the daemon's files; report-not-found when there is none. */
export function servedReport(ctx: ServerContext, b: BuildRecord): ApiReport {
  const report = latestReport(ctx, b);
  const uploaded = uploadedTreeDir(b, ctx.state.root);
  return apiReport(report, {
    buildId: b.id,
    tree: b.tree,
    stateRoot: ctx.state.root,
    ...(uploaded === undefined ? {} : { hide: (text: string) => hideTreeRoot(text, uploaded) }),
  });
}

function latestReport(ctx: ServerContext, b: BuildRecord): RunReport {
  if (b.runId === null) {
    const why = b.state === 'queued' ? 'it is queued: no run of it has started yet' : b.state === 'running' ? 'its run is starting' : `it ended (${b.state}) before a run of it started`;
    throw new KilnError('report-not-found', `build ${b.id} has no report: ${why}`, {
      hint: b.state === 'queued' || b.state === 'running'
        ? `the report is there once the build's run has started (GET /api/v1/builds/${b.id} then shows its runId)`
        : `see why it ended in GET /api/v1/builds/${b.id} (error)`,
    });
  }
  const run = ctx.runs.getRun(b.runId);
  // Running: the records are ahead of the report.json rewritten every 30 s.
  if (run?.state === 'running') return buildReport(ctx.runs, run.id);
  const written = readWritten(join(reportDir(ctx.state.root, b.runId), 'report.json'));
  // A file still saying "running" of a run that ended: its final report is being written.
  if (written !== undefined && (written.end !== null || run === undefined)) return written;
  if (run !== undefined) return buildReport(ctx.runs, run.id);
  throw new KilnError('report-not-found', `the report of build ${b.id} (run ${b.runId}) is gone`, {
    hint: 'old runs, their logs and reports are removed by `kiln cache gc` on the daemon; build it again (POST /api/v1/builds/ID/retry after a failure)',
  });
}

function readWritten(file: string): RunReport | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return JSON.parse(text) as RunReport;
}
