// A build's report as the daemon serves it (GET /api/v1/builds/{id}/report.json, report.html,
// junit.xml): the report of the build's latest run (publish/report.ts), with the daemon's
// own files named as the rest of the API names them, never by their path on the server:
//
//   a job's log        → /api/v1/builds/{id}/jobs/{job}/log       (as GET …/jobs says `log`)
//   a job's artifact   → /api/v1/builds/{id}/jobs/{job}/artifact  (only a tar.zst; else null)
//   the run's tree     → the build's tree as the build view says it (`main`, `bundle:ID`)
//   an uploaded tree's files in texts (causes, diagnostics…) → `{tree}/…` (tree-root.ts)
//
// apiReport() is pure; the route (routes/reports.ts) reads the report and the log tails.

import { isAbsolute, resolve } from 'node:path';
import type { ReportPackage, RunReport } from '../publish/report.ts';
import { jobIdOf } from '../plan/job.ts';

export interface ApiReportOptions {
  readonly buildId: string;
  /** The build's tree as the API names it (BuildRecord.tree). */
  readonly tree: string;
  /** Where relative log paths in the report are (the state dir, as writeReport resolves them). */
  readonly stateRoot: string;
  /** Rewrites a text that may name the server's copy of an uploaded tree (identity for a named tree). */
  readonly hide?: (text: string) => string;
}

export interface ApiReport {
  readonly report: RunReport;
  /** Each log URL in the report → its file on the server (for the log tails of the HTML and junit.xml). */
  readonly logFiles: ReadonlyMap<string, string>;
}

/** The URL of a job's log, exactly as GET /api/v1/builds/{id}/jobs gives it. */
export function jobLogUrl(buildId: string, jobId: string): string {
  return `/api/v1/builds/${buildId}/jobs/${encodeURIComponent(jobId)}/log`;
}

/** The URL of a job's artifact, exactly as GET /api/v1/builds/{id}/jobs gives it. */
export function jobArtifactUrl(buildId: string, jobId: string): string {
  return `/api/v1/builds/${buildId}/jobs/${encodeURIComponent(jobId)}/artifact`;
}

export function apiReport(report: RunReport, o: ApiReportOptions): ApiReport {
  const hide = o.hide ?? ((s: string) => s);
  const logFiles = new Map<string, string>();
  const logUrl = (jobId: string, path: string | null): string | null => {
    if (path === null) return null;
    const url = jobLogUrl(o.buildId, jobId);
    logFiles.set(url, isAbsolute(path) ? path : resolve(o.stateRoot, path));
    return url;
  };
  const pkg = (p: ReportPackage): ReportPackage => {
    const jobId = jobIdOf(p.name, p.arch);
    return {
      ...p,
      cause: p.cause === null ? null : hide(p.cause),
      log: logUrl(jobId, p.log),
      // A package that installed nothing has a folder, not an archive: the jobs endpoint gives no URL either.
      artifact: p.artifact !== null && p.artifact.endsWith('.tar.zst') ? jobArtifactUrl(o.buildId, jobId) : null,
      ...(p.diagnostics === undefined ? {} : { diagnostics: p.diagnostics.map(hide) }),
      ...(p.warnings === undefined ? {} : { warnings: p.warnings.map(hide) }),
    };
  };
  const out: RunReport = {
    ...report,
    ...(report.tree === undefined ? {} : { tree: o.tree }),
    packages: report.packages.map(pkg),
    ...(report.running === undefined ? {} : { running: report.running.map((r) => ({ ...r, log: logUrl(r.job, r.log) })) }),
    ...(report.reproducibility === undefined
      ? {}
      : { reproducibility: report.reproducibility.map((r) => ({ ...r, deb: hide(r.deb), summary: hide(r.summary), details: r.details.map(hide) })) }),
    ...(report.lintian === undefined
      ? {}
      : { lintian: report.lintian.map((l) => ({ ...l, changes: hide(l.changes), tags: l.tags.map(hide), ...(l.error === undefined ? {} : { error: hide(l.error) }) })) }),
  };
  return { report: out, logFiles };
}

/**
 * The Content-Security-Policy of the served report.html: its own inline scripts only (by
 * hash: nothing a recipe or log put in the page could run), its inline styles, nothing
 * loaded from anywhere, no framing, no forms.
 */
export function reportHtmlCsp(html: string, sha256Base64: (text: string) => string): string {
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => `'sha256-${sha256Base64(m[1]!)}'`);
  return [
    "default-src 'none'",
    "style-src 'unsafe-inline'",
    `script-src ${scripts.length === 0 ? "'none'" : scripts.join(' ')}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
