// The page at /builds/{id}, like poudriere's: a progress bar, counts by state, ETA, the
// running jobs with elapsed time and their latest cpu/memory/disk sample, every package
// (failures first) with duration, why it was built and its log, and a log viewer.
// Rendered complete here; build-page.js then keeps it current from the build's event
// stream (GET /api/v1/builds/{id}/events) and follows a log when one is clicked.

import { html, url, type SafeHtml } from './html.ts';
import { layout } from './layout.ts';
import { STATE_ORDER, formatBytes, formatDuration, formatTime, sortJobs, type BuildSummary, type JobView, type SampleView } from './view.ts';

export interface BuildPageInput {
  readonly summary: BuildSummary;
  readonly jobs: readonly JobView[];
  readonly samples: ReadonlyMap<string, SampleView>;
  readonly tenant: string;
  readonly admin: boolean;
  readonly now: number;
}

function logLink(j: JobView): SafeHtml | string {
  return j.log === null ? '' : html`<a class="log-link" href="${j.log}" data-job="${j.jobId}">log</a>`;
}

export function packageRow(j: JobView): SafeHtml {
  return html`<tr data-job="${j.jobId}" class="state-${j.state}">
<td class="name">${j.name}</td><td>${j.version}</td><td>${j.arch}</td>
<td><span class="state state-${j.state}">${j.state}</span></td>
<td class="duration">${formatDuration(j.durationMs)}</td>
<td class="why">${j.why ?? ''}</td>
<td class="cause">${j.cause ?? ''}</td>
<td>${logLink(j)}</td>
</tr>`;
}

export function runningRow(j: JobView, sample: SampleView | undefined, now: number): SafeHtml {
  const cores = sample === undefined ? '' : sample.cpuCores.toFixed(2);
  return html`<tr data-job="${j.jobId}">
<td class="name">${j.name}</td><td>${j.arch}</td><td class="phase">${j.phase ?? ''}</td>
<td class="elapsed"${j.startedAt === null ? '' : html` data-since="${j.startedAt}"`}>${formatDuration(j.startedAt === null ? null : now - j.startedAt)}</td>
<td class="cpu">${cores}</td>
<td class="memory">${sample === undefined ? '' : formatBytes(sample.memoryBytes)}</td>
<td class="disk">${sample === undefined ? '' : formatBytes(sample.diskBytes)}</td>
<td>${logLink(j)}</td>
</tr>`;
}

export function countsList(s: BuildSummary): SafeHtml {
  const states = [...STATE_ORDER, ...Object.keys(s.counts).filter((k) => !STATE_ORDER.includes(k as never))];
  return html`${states.map((st) => html`<li class="state-${st}" data-state="${st}">${st} <b>${s.counts[st] ?? 0}</b></li>`)}<li class="state-pending" data-state="pending">pending <b>${s.pending}</b></li>`;
}

/** Jobs that ran to an outcome (built, failed…), out of the planned total: a cancelled job is not done. */
export function doneOf(s: Pick<BuildSummary, 'finished' | 'counts'>): number {
  return Math.max(0, s.finished - (s.counts['cancelled'] ?? 0));
}

/** "2 of 5 (40%)", and ", 3 cancelled" when jobs were cancelled (they are not counted as done). */
export function progressText(s: BuildSummary): string {
  if (s.total === null) return s.state === 'queued' ? 'waiting in the queue' : '';
  const done = doneOf(s);
  const cancelled = s.counts['cancelled'] ?? 0;
  const pct = s.total === 0 ? 100 : Math.floor((done * 100) / s.total);
  return `${done} of ${s.total} (${pct}%)${cancelled > 0 ? `, ${cancelled} cancelled` : ''}`;
}

/**
 * The ETA as the local live view says it (cli/progress/live.ts): "about 1m 05s"; "running
 * past the ETA" when jobs still run but the estimate has nothing left (they took longer
 * than expected); "unknown" with nothing to go by; "—" once the build is not running.
 */
export function etaText(s: Pick<BuildSummary, 'state' | 'etaMs' | 'running'>): string {
  if (s.state !== 'running') return '—';
  if (s.etaMs === null) return 'unknown';
  if (s.etaMs < 1000 && s.running > 0) return 'running past the ETA';
  return `about ${formatDuration(s.etaMs)}`;
}

/** The tree as a user knows it: the uploaded folder's name when the client sent it, else the build's tree (`main`, `bundle:ID`). */
export function treeLabel(b: { readonly tree: string; readonly treeName?: string | null | undefined }): SafeHtml {
  return b.treeName == null ? html`${b.tree}` : html`<span title="${b.tree}">${b.treeName}</span>`;
}

export function buildPage(input: BuildPageInput): SafeHtml {
  const s = input.summary;
  const jobs = sortJobs(input.jobs);
  const running = jobs.filter((j) => j.state === 'running');
  const elapsed = s.startedAt === null ? null : (s.endedAt ?? input.now) - s.startedAt;
  return layout(
    {
      title: `build ${s.id}`,
      tenant: input.tenant,
      admin: input.admin,
      script: 'build-page.js',
      data: { 'build-id': s.id, events: url`/api/v1/builds/${s.id}/events` },
    },
    html`<h1>Build <span class="mono">${s.id}</span> <span id="build-state" class="state state-${s.state}">${s.state}</span></h1>
<p class="meta">tree <b id="tree">${treeLabel(s)}</b> · tenant <b>${s.tenant}</b> · queued <time datetime="${new Date(s.createdAt).toISOString()}">${formatTime(s.createdAt)}</time>
· started <span id="started">${s.startedAt === null ? '—' : html`<time datetime="${new Date(s.startedAt).toISOString()}">${formatTime(s.startedAt)}</time>`}</span>
· elapsed <span id="elapsed"${s.startedAt !== null && s.endedAt === null ? html` data-since="${s.startedAt}"` : ''}>${formatDuration(elapsed)}</span>
· ETA <span id="eta">${etaText(s)}</span>
· <span id="live" class="live">connecting…</span></p>
<p id="build-error" class="error"${s.error === null ? html` hidden` : ''}>${s.error ?? ''}</p>
<p id="build-error-hint" class="hint"${s.error === null || s.errorHint === null ? html` hidden` : ''}>${s.error === null ? '' : (s.errorHint ?? '')}</p>
<div class="progress"><progress id="progress" max="${s.total ?? 1}" value="${s.total === null ? 0 : doneOf(s)}"></progress> <span id="progress-text">${progressText(s)}</span></div>
<ul id="counts" class="counts">${countsList(s)}</ul>

<h2>Running <span id="running-count" class="count">${running.length}</span></h2>
<table id="running" class="jobs">
<thead><tr><th>package</th><th>arch</th><th>phase</th><th>elapsed</th><th>cpu (cores)</th><th>memory</th><th>disk</th><th>log</th></tr></thead>
<tbody>${running.map((j) => runningRow(j, input.samples.get(j.jobId), input.now))}</tbody>
</table>

<h2>Packages <span id="package-count" class="count">${jobs.length}</span></h2>
<table id="packages" class="jobs">
<thead><tr><th>package</th><th>version</th><th>arch</th><th>state</th><th>duration</th><th>why</th><th>cause</th><th>log</th></tr></thead>
<tbody>${jobs.map(packageRow)}</tbody>
</table>

<section id="log-viewer" class="log-viewer">
<h2>Log <span id="log-job" class="mono"></span> <span id="log-status" class="live"></span></h2>
<pre id="log" tabindex="0" aria-live="polite">Choose a log link to show it here; a running job's log is followed live.</pre>
</section>`,
  );
}
