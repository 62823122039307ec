// report.html: one self-contained page (inline CSS and JS, a CSP that forbids loading
// anything else), readable from a file:// URL or a CI artifact. Everything that comes from
// recipes or logs is escaped; the page embeds no data in script, only in escaped attributes.

import { printableLine } from '../lib/printable-line.ts';
import { jobIdOf, type JobState } from '../plan/job.ts';
import type { AutopkgtestEntry, LintianEntry, ReportPackage, ReproducibilityEntry, RunReport } from './report.ts';
import { problemsOf } from './report-diagnostics.ts';
import type { FailureGroup } from './failure-triage.ts';
import { buildModeMark } from '../run/build-mode.ts';

/** States in the order the page shows them: what needs attention first. */
export const STATE_ORDER: readonly JobState[] = ['failed', 'broken', 'skipped', 'cancelled', 'built', 'up-to-date'];

export interface RenderReportOptions {
  /** The last lines of a failed package's log (the page shows up to 50). */
  readonly logTail: (logPath: string) => string[];
  /** The href of a log's link, relative to the page (writeReport's); no link without it. */
  readonly logHref?: (logPath: string) => string;
}

const COLOURS: Readonly<Record<JobState, string>> = {
  failed: '#c62828',
  broken: '#6a1b9a',
  skipped: '#e65100',
  cancelled: '#616161',
  built: '#2e7d32',
  'up-to-date': '#1565c0',
};

export function renderReportHtml(report: RunReport, options: RenderReportOptions): string {
  const rank = (s: JobState) => STATE_ORDER.indexOf(s);
  const ordered = [...report.packages].sort(
    (a, b) => rank(a.state) - rank(b.state) || cmp(a.name, b.name) || cmp(a.arch, b.arch),
  );
  const of = (s: JobState) => ordered.filter((p) => p.state === s);
  const failed = of('failed');
  // Each failed job → the packages skipped because of it (the report's skippedBecause).
  const skippedBy = new Map<string, ReportPackage[]>(failed.map((p) => [jobIdOf(p.name, p.arch), []]));
  for (const p of of('skipped')) for (const id of p.skippedBecause ?? []) skippedBy.get(id)?.push(p);
  const anchors = new Map(failed.map((p, i) => [jobIdOf(p.name, p.arch), `failure-${i + 1}`]));
  const title = `kiln run ${report.runId}: ${failed.length > 0 ? `${failed.length} failed` : report.publishError !== undefined ? 'not published' : 'no failures'}`;

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
${report.end === null ? '<meta http-equiv="refresh" content="30">\n' : ''}<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>kiln run <code>${esc(report.runId)}</code></h1>
${runLine(report)}<p class="meta">started ${esc(report.start)}${report.end === null ? ' · still running' : ` · ended ${esc(report.end)} · ${esc(formatMs(Date.parse(report.end) - Date.parse(report.start)))}`} · ${esc(packageCount(report))}${buildModeCount(report.packages).map((c) => ` · ${esc(c)}`).join('')}</p>
<ul class="counts">
${STATE_ORDER.map((s) => `<li class="state s-${s}${report.counts[s] === 0 ? ' zero' : ''}"><span>${s}</span> <b>${report.counts[s]}</b></li>`).join('\n')}
</ul>
${live(report, options)}${section('publish', 'Not published', report.publishError === undefined ? '' : `<p>The apt repository could not be published, so the run failed: <code>${esc(report.publishError)}</code>. The next run publishes what this one built once the cause is mended.</p>`)}
${blame(failed, skippedBy, anchors)}
${section('failure-groups', `Failures by error (${(report.failureGroups ?? []).length})`, groupTable(report.failureGroups ?? [], anchors))}
${section('failures', `Failures (${failed.length})`, failed.map((p) => failure(p, options, anchors, skippedBy)).join('\n'))}
${section('broken', `Broken (${of('broken').length})`, causeTable(of('broken'), 'Reason'))}
${section('warnings', `Output warnings (${ordered.filter((p) => (p.warnings ?? []).length > 0).length})`, warningTable(ordered.filter((p) => (p.warnings ?? []).length > 0)))}
${section('skipped', `Skipped (${of('skipped').length})`, causeTable(of('skipped'), 'Cause', anchors))}
${section('cancelled', `Cancelled (${of('cancelled').length})`, causeTable(of('cancelled'), 'Cause'))}
${section('lintian', `Lintian (${counted((report.lintian ?? []).reduce((n, l) => n + (l.errors ?? 0), 0), 'error')}, ${counted((report.lintian ?? []).reduce((n, l) => n + (l.warnings ?? 0), 0), 'warning')})`, lintianTable(report.lintian ?? []))}
${section('autopkgtest', `autopkgtest (${counted((report.autopkgtest ?? []).filter((t) => t.result === 'FAIL').length, 'failed test')} of ${(report.autopkgtest ?? []).length})`, autopkgtestTable(report.autopkgtest ?? []))}
${section('reproducibility', `Reproducibility (${(report.reproducibility ?? []).filter((r) => r.status === 'reproducible').length} of ${(report.reproducibility ?? []).length} bit-identical)`, reproTable(report.reproducibility ?? []))}
<section id="packages">
<h2>All packages</h2>
<table id="pkgs">
<thead><tr><th><button type="button" data-key="rank" data-first="asc" title="sort by state">State</button></th><th>Package</th><th>Version</th><th>Arch</th><th>Why</th>
<th class="num"><button type="button" data-key="ms" title="sort by duration">Duration</button></th><th>Log</th><th>Artifact</th></tr></thead>
<tbody>
${ordered.map((p, i) => row(p, i, rank(p.state), options)).join('\n')}
</tbody>
</table>
</section>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

/** While the run goes: what builds now (with its log) and how many wait; the page reloads itself. */
function live(report: RunReport, options: RenderReportOptions): string {
  if (report.end !== null || report.running === undefined) return '';
  const rows = report.running.map((r) => {
    const log = r.log === null ? '' : options.logHref === undefined ? ` <code>${pathHtml(r.log)}</code>` : ` <a href="${esc(options.logHref(r.log))}">log</a>`;
    return `<li><b>${esc(r.job)}</b> since ${esc(r.startedAt)}${log}</li>`;
  });
  return section('running', `Running (${report.running.length}), ${report.waiting ?? 0} waiting`, `<p class="meta">This page is rewritten while the run goes and reloads itself every 30 s.</p>${rows.length === 0 ? '' : `<ul>${rows.join('')}</ul>`}`) + '\n';
}

function section(id: string, heading: string, body: string): string {
  if (body === '') return '';
  return `<section id="${id}">\n<h2>${esc(heading)}</h2>\n${body}\n</section>`;
}

/**
 * `5 packages`; while the run goes, the running and waiting ones count too (the report's
 * packages are the settled ones only): `3 packages: 1 settled, 1 running, 1 waiting`.
 */
export function packageCount(report: Pick<RunReport, 'end' | 'packages' | 'running' | 'waiting'>): string {
  const settled = report.packages.length;
  const live = report.end === null && report.running !== undefined;
  const running = live ? report.running!.length : 0;
  const waiting = live ? (report.waiting ?? 0) : 0;
  const total = settled + running + waiting;
  const head = `${total} package${total === 1 ? '' : 's'}`;
  if (!live) return head;
  const parts: string[] = [];
  if (settled > 0) parts.push(`${settled} settled`);
  if (running > 0) parts.push(`${running} running`);
  if (waiting > 0) parts.push(`${waiting} waiting`);
  return parts.length === 0 ? head : `${head}: ${parts.join(', ')}`;
}

/**
 * How many of the built packages were not built natively, by how (report.json's buildMode):
 * `2 cross-built (nocheck: their tests did not run)`, `1 built under QEMU emulation`; [] when
 * all were native.
 */
export function buildModeCount(packages: readonly Pick<ReportPackage, 'state' | 'buildMode'>[]): string[] {
  const built = packages.filter((p) => p.state === 'built');
  const n = (mode: ReportPackage['buildMode']): number => built.filter((p) => p.buildMode === mode).length;
  const [cross, emulated, recipe] = [n('cross'), n('emulated'), n('recipe-cross')];
  return [
    cross === 0 ? '' : `${cross} cross-built (nocheck: their tests did not run)`,
    emulated === 0 ? '' : `${emulated} built under QEMU emulation`,
    recipe === 0 ? '' : `${recipe} built by ${recipe === 1 ? "its recipe's script" : "their recipes' scripts"} on another arch`,
  ].filter((x) => x !== '');
}

/** An arch, with how it was built when not natively: `arm64 (cross)`, `riscv64 (QEMU)`. */
function archHtml(p: Pick<ReportPackage, 'arch' | 'buildMode'>): string {
  const mark = buildModeMark(p.buildMode);
  return `${esc(p.arch)}${mark === undefined ? '' : ` <span class="mode" title="${esc(MODE_TITLE[p.buildMode!])}">(${esc(mark)})</span>`}`;
}

const MODE_TITLE: Readonly<Record<NonNullable<ReportPackage['buildMode']>, string>> = {
  cross: 'cross-built by kiln (--cross): dpkg-buildpackage -a with the cross and nocheck profiles, so no tests ran',
  emulated: 'built in an env of its arch under QEMU user emulation',
  'recipe-cross': 'its recipe\'s script ran on another arch and had to cross-compile for $KILN_ARCH itself',
};

/** Skipped packages named under a failure; the rest are counted (the Skipped table lists them all). */
const SKIPS_NAMED = 20;

/** What the run was: its tree, arches, --jobs and the kiln that wrote the report (what it has of them). */
function runLine(report: RunReport): string {
  const parts = [
    report.tree === undefined ? '' : `tree <code>${pathHtml(report.tree)}</code>`,
    report.archs === undefined || report.archs.length === 0 ? '' : `${report.archs.length === 1 ? 'arch' : 'arches'} ${esc(report.archs.join(', '))}`,
    report.maxJobs === undefined ? '' : `--jobs ${report.maxJobs}`,
    report.kilnVersion === undefined ? '' : `kiln ${esc(report.kilnVersion)}`,
  ].filter((x) => x !== '');
  return parts.length === 0 ? '' : `<p class="meta run">${parts.join(' · ')}</p>\n`;
}

/** Which failure caused how many skips, most first (as poudriere's summary shows it). */
function blame(failed: readonly ReportPackage[], skippedBy: ReadonlyMap<string, readonly ReportPackage[]>, anchors: ReadonlyMap<string, string>): string {
  if (failed.length === 0) return '';
  const count = (p: ReportPackage) => skippedBy.get(jobIdOf(p.name, p.arch))?.length ?? 0;
  const list = [...failed].sort((a, b) => count(b) - count(a));
  return `<ul class="blame">
${list.map((p) => `<li>failed: <a href="#${anchors.get(jobIdOf(p.name, p.arch))}">${pkgName(p)}</a>${p.reason === undefined ? '' : ` <span class="reason">${esc(p.reason)}</span>`} — skipped because of it: <b>${count(p)}</b></li>`).join('\n')}
</ul>`;
}

/**
 * A failed package: its cause, its log (a link) and its last 50 lines, whole (no scroll
 * box: the error is at the end), in a <details> open by default so a long page folds.
 */
function failure(p: ReportPackage, options: RenderReportOptions, anchors: ReadonlyMap<string, string>, skippedBy: ReadonlyMap<string, readonly ReportPackage[]>): string {
  const tail = p.log === null ? [] : options.logTail(p.log).slice(-50);
  const id = jobIdOf(p.name, p.arch);
  const skipped = skippedBy.get(id) ?? [];
  const log = p.log === null ? '<i>none</i>' : options.logHref === undefined ? `<code>${pathHtml(p.log)}</code>` : `<a href="${esc(options.logHref(p.log))}"><code>${pathHtml(p.log)}</code></a>`;
  return `<article class="failure" id="${anchors.get(id)}">
<h3>${pkgName(p)}${p.reason === undefined ? '' : ` <span class="reason">${esc(p.reason)}</span>`}</h3>
<p class="cause">${esc(p.cause ?? 'failed (no message recorded)')}</p>
${p.errorLine === undefined ? '' : `<p class="errline">the log's error: <code>${esc(printableLine(p.errorLine))}</code>${p.underEmulation === true ? ' — under QEMU\'s user emulation, which may be at fault, not the package (qemu\'s own error, or an instruction the emulated CPU lacks): build it on a native machine of its arch to tell' : ''}</p>\n`}<p class="log">log: ${log}</p>
${skipped.length === 0 ? '' : `<p class="skips">skipped because of it (${skipped.length}): ${skipped.slice(0, SKIPS_NAMED).map((s) => `${esc(s.name)} <span class="arch">${esc(s.arch)}</span>`).join(', ')}${skipped.length > SKIPS_NAMED ? `, and ${skipped.length - SKIPS_NAMED} more` : ''}</p>\n`}${tail.length === 0 ? '' : `<details class="tail" open><summary>last ${tail.length} lines of the log</summary><pre class="tail">${tail.map((l) => esc(printableLine(l))).join('\n')}</pre></details>`}
</article>`;
}

/**
 * The failures grouped by their log's error line (failure-triage.ts), when there is more
 * than one failure: one problem behind many failures shows as one row.
 */
function groupTable(groups: readonly FailureGroup[], anchors: ReadonlyMap<string, string>): string {
  if (groups.reduce((n, g) => n + g.jobs.length, 0) < 2) return '';
  return `<table>
<thead><tr><th>Error (paths and numbers taken out)</th><th>Failed</th><th>Packages</th><th>Blocking</th></tr></thead>
<tbody>
${groups.map((g) => `<tr><td><code>${esc(g.signature)}</code></td><td>${g.jobs.length}</td><td>${g.jobs.map((j) => `<a href="#${anchors.get(j) ?? ''}">${esc(j)}</a>`).join(', ')}</td><td>${g.blocks}</td></tr>`).join('\n')}
</tbody>
</table>`;
}

function reproTable(list: readonly ReproducibilityEntry[]): string {
  if (list.length === 0) return '';
  return `<table>
<thead><tr><th>Package</th><th>Compared with</th><th>Result</th><th>What differs</th></tr></thead>
<tbody>
${list.map((r) => `<tr><td>${esc(r.deb)}<br><small>${esc(r.job)}</small></td><td>${r.check === 'archive' ? 'the archive' : 'a varied rebuild'}</td><td class="repro-${esc(r.status)}">${esc(r.status)}</td><td>${esc(r.summary)}${r.details.length === 0 ? '' : `<details><summary>details</summary><pre>${r.details.map((l) => esc(printableLine(l))).join('\n')}</pre></details>`}</td></tr>`).join('\n')}
</tbody>
</table>`;
}

function causeTable(list: readonly ReportPackage[], what: string, anchors: ReadonlyMap<string, string> = new Map()): string {
  if (list.length === 0) return '';
  return `<table>
<thead><tr><th>Package</th><th>${what}</th></tr></thead>
<tbody>
${list.map((p) => `<tr><td>${pkgName(p)}</td><td>${causeCell(p, anchors)}</td></tr>`).join('\n')}
</tbody>
</table>`;
}

/** `1 error`, `2 errors`. */
function counted(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** Each test --autopkgtest ran, the failed ones first. */
function autopkgtestTable(list: readonly AutopkgtestEntry[]): string {
  if (list.length === 0) return '';
  const rows = [...list.filter((t) => t.result === 'FAIL'), ...list.filter((t) => t.result !== 'FAIL')];
  return `<table>
<thead><tr><th>Package</th><th>Test</th><th>Result</th><th>Detail</th></tr></thead>
<tbody>
${rows.map((t) => `<tr><td>${esc(t.job)}</td><td><code>${esc(t.test)}</code></td><td>${t.result === 'FAIL' ? '<b>FAIL</b>' : esc(t.result)}</td><td>${esc(t.detail)}</td></tr>`).join('\n')}
</tbody>
</table>`;
}

/** lintian's tags per .changes, one line each; a lintian that could not run says why. */
function lintianTable(list: readonly LintianEntry[]): string {
  if (list.length === 0) return '';
  return `<table>
<thead><tr><th>Package</th><th>.changes</th><th>Tags</th></tr></thead>
<tbody>
${list.map((l) => `<tr><td>${esc(l.job)}</td><td><code>${esc(l.changes)}</code></td><td>${l.error !== undefined ? esc(l.error) : ''}${l.tags.length === 0 ? (l.error === undefined ? 'clean' : '') : `<ul class="diags">${l.tags.map((t) => `<li><code>${esc(t)}</code></li>`).join('')}</ul>`}</td></tr>`).join('\n')}
</tbody>
</table>`;
}

/** Built packages the output checks warned about (docs/recipes.md, "Output checks"), one warning a line. */
function warningTable(list: readonly ReportPackage[]): string {
  if (list.length === 0) return '';
  return `<table>
<thead><tr><th>Package</th><th>Warning</th></tr></thead>
<tbody>
${list.map((p) => `<tr><td>${pkgName(p)}</td><td><ul class="diags">${(p.warnings ?? []).map((w) => `<li>${esc(w)}</li>`).join('')}</ul></td></tr>`).join('\n')}
</tbody>
</table>`;
}

/** A cause (a skip's linked to the failure that caused it); an invalid recipe's problems one per line under it. */
function causeCell(p: ReportPackage, anchors: ReadonlyMap<string, string>): string {
  const diags = p.diagnostics ?? [];
  const anchor = p.skippedBecause?.map((id) => anchors.get(id)).find((a) => a !== undefined);
  if (anchor !== undefined) return `<a class="cause-text" href="#${anchor}">${esc(p.cause ?? '')}</a>`;
  if (diags.length === 0) return `<span class="cause-text">${esc(p.cause ?? '')}</span>`;
  const heading = problemsOf(p.cause)?.heading ?? 'invalid recipe';
  const head = diags.length === 1 ? heading : `${heading} (${diags.length} problems)`;
  return `${head}:<ul class="diags">${diags.map((d) => `<li><code>${esc(d)}</code></li>`).join('')}</ul>`;
}

function row(p: ReportPackage, i: number, rank: number, options: RenderReportOptions): string {
  // Every package's log (a built one's too, as poudriere's logs/ pages have), a link where the page can make one.
  const log = p.log === null || options.logHref === undefined ? '' : `<a href="${esc(options.logHref(p.log))}">log</a>`;
  return `<tr data-i="${i}" data-rank="${rank}" data-ms="${p.durationMs ?? -1}"><td class="state s-${p.state}">${p.state}</td><td>${p.category === undefined ? '' : `<span class="cat">${esc(p.category)}/</span>`}${esc(p.name)}</td><td>${esc(p.version)}${p.binaryVersion === undefined ? '' : ` (binNMU ${esc(p.binaryVersion)})`}</td><td>${archHtml(p)}</td><td>${esc(p.whyText ?? p.why ?? '')}${p.worker === undefined ? '' : ` (worker ${esc(p.worker)})`}</td><td class="num">${p.durationMs === null ? '' : esc(formatMs(p.durationMs))}</td><td>${log}</td><td>${p.artifact === null ? '' : `<code>${pathHtml(p.artifact)}</code>`}${p.restricted === undefined ? '' : ` <span class="restricted" title="not in the package index, not served">restricted: ${esc(p.restricted)}</span>`}</td></tr>`;
}

/** A path, escaped, that may wrap after each `/` (a full artifact path is wider than the page). */
function pathHtml(path: string): string {
  return esc(path).replaceAll('/', '/<wbr>');
}

function pkgName(p: ReportPackage): string {
  return `${p.category === undefined ? '' : `<span class="cat">${esc(p.category)}/</span>`}<b>${esc(p.name)}</b> ${esc(p.version)} <span class="arch">${archHtml(p)}</span>`;
}

const ESCAPED = /[&<>"']/;

export function esc(s: string): string {
  // Most fields (names, versions, paths) need nothing: test before building a new string.
  return ESCAPED.test(s) ? s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`) : s;
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (ms < 59_950) return `${s.toFixed(1)} s`;
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h} h ${String(m).padStart(2, '0')} m` : `${m} m ${sec} s`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#212121}
h1 code{font-size:.9em}
.meta{color:#616161}
.counts{display:flex;flex-wrap:wrap;gap:.5em;list-style:none;padding:0}
.counts li{padding:.3em .8em;border-radius:1em;color:#fff}
.counts li.zero{opacity:.4}
.state{font-weight:600}
td.state{background:none}
${STATE_ORDER.map((s) => `.counts .s-${s}{background:${COLOURS[s]}} td.s-${s}{color:${COLOURS[s]}}`).join('\n')}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}
th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #e0e0e0;vertical-align:top;overflow-wrap:break-word}
code{overflow-wrap:anywhere}
#pkgs td:nth-child(-n+4){white-space:nowrap}
th button{font:inherit;font-weight:600;border:0;background:none;padding:0;cursor:pointer;text-decoration:underline dotted}
th button[data-dir=asc]::after{content:" \\25B2"}
th button[data-dir=desc]::after{content:" \\25BC"}
.num{text-align:right;white-space:nowrap}
.failure{border-left:4px solid ${COLOURS.failed};padding:.2em 1em;margin:1em 0}
.failure h3{margin:.3em 0}
.cause{color:${COLOURS.failed};white-space:pre-wrap}
.errline code{white-space:pre-wrap}
.arch,.cat,.mode{color:#616161}
.restricted{font-weight:600;color:#6a1b9a;white-space:nowrap}
.cause-text{white-space:pre-wrap}
.diags{margin:.2em 0;padding-left:1.2em}
pre{background:#263238;color:#eceff1;padding:.8em;overflow-x:auto;font-size:12px;line-height:1.35}
td details pre{max-height:40em}
details.tail>summary{cursor:pointer;color:#616161;margin:.3em 0}
details.tail>pre{margin-top:.3em}
.reason{font:600 12px/1 ui-monospace,monospace;color:#fff;background:${COLOURS.failed};border-radius:.3em;padding:.15em .4em;vertical-align:middle}
.blame{list-style:none;padding:0;margin:.5em 0 1em}
.blame li{padding:.15em 0}
.blame a{color:inherit}
.skips{color:${COLOURS.skipped}}
a.cause-text{color:inherit;text-decoration:underline dotted}
a code{color:#0d47a1}
`;

// Sort the package table by a numeric data- attribute (duration: longest first; state:
// failures first); clicking again reverses. Packages that did not run (data-ms -1) stay
// last either way. Ties keep the page's original order (failures first, then by name).
const SCRIPT = `
for (const b of document.querySelectorAll('#pkgs th button')) {
  b.addEventListener('click', () => {
    const key = b.dataset.key;
    const dir = b.dataset.dir === undefined ? (b.dataset.first || 'desc') : b.dataset.dir === 'desc' ? 'asc' : 'desc';
    for (const o of document.querySelectorAll('#pkgs th button')) delete o.dataset.dir;
    b.dataset.dir = dir;
    const body = document.querySelector('#pkgs tbody');
    const rows = [...body.rows];
    const sign = dir === 'asc' ? 1 : -1;
    const last = (r) => key === 'ms' && Number(r.dataset.ms) < 0 ? 1 : 0;
    rows.sort((x, y) => last(x) - last(y) || sign * (Number(x.dataset[key]) - Number(y.dataset[key])) || Number(x.dataset.i) - Number(y.dataset.i));
    body.append(...rows);
  });
}
`;
