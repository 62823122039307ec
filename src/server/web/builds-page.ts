// The page at /: the builds this token may see, newest first, with state, tenant,
// progress, start and duration. builds-page.js refreshes the table from GET
// /api/v1/builds every few seconds.

import { html, url, type SafeHtml } from './html.ts';
import { treeLabel } from './build-page.ts';
import { layout } from './layout.ts';
import { formatDuration, formatTime } from './view.ts';

/** What the list needs of a build: a subset of the API's build view (context.ts buildView). */
export interface BuildRow {
  readonly id: string;
  readonly tenant: string;
  readonly tree: string;
  /** The uploaded tree's folder name (`kiln build --server` sends it); null for a named tree or an older client. */
  readonly treeName?: string | null;
  readonly state: string;
  readonly total: number | null;
  readonly counts: Readonly<Record<string, number>> | null;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly endedAt: string | null;
}

/** Jobs that ran to an outcome (not running, not cancelled), and those cancelled, out of the planned total. */
export function progressOf(b: Pick<BuildRow, 'total' | 'counts'>): { finished: number; cancelled: number; total: number | null } {
  const finished = Object.entries(b.counts ?? {}).reduce((n, [state, k]) => (state === 'running' || state === 'cancelled' ? n : n + k), 0);
  return { finished, cancelled: b.counts?.['cancelled'] ?? 0, total: b.total };
}

function ms(iso: string | null): number | null {
  return iso === null ? null : Date.parse(iso);
}

export function buildRow(b: BuildRow, now: number): SafeHtml {
  const { finished, cancelled, total } = progressOf(b);
  const started = ms(b.startedAt);
  const duration = started === null ? null : (ms(b.endedAt) ?? now) - started;
  return html`<tr data-build="${b.id}" class="state-${b.state}">
<td><a href="${url`/builds/${b.id}`}">${b.id}</a></td>
<td><span class="state state-${b.state}">${b.state}</span></td>
<td>${b.tenant}</td>
<td class="tree">${treeLabel(b)}</td>
<td class="progress-cell">${total === null ? '' : html`<progress max="${total}" value="${finished}"></progress> ${finished}/${total}${cancelled > 0 ? html` <span class="cancelled-note">${cancelled} cancelled</span>` : ''}`}</td>
<td>${started === null ? '' : html`<time datetime="${b.startedAt}">${formatTime(started)}</time>`}</td>
<td class="duration"${b.endedAt === null && started !== null ? html` data-since="${started}"` : ''}>${formatDuration(duration)}</td>
</tr>`;
}

export function buildsPage(options: { builds: readonly BuildRow[]; tenant: string; admin: boolean; now: number }): SafeHtml {
  return layout(
    { title: 'builds', tenant: options.tenant, admin: options.admin, script: 'builds-page.js' },
    html`<h1>Builds</h1>
<table class="builds" id="builds">
<thead><tr><th>build</th><th>state</th><th>tenant</th><th>tree</th><th>progress</th><th>started</th><th>duration</th></tr></thead>
<tbody>
${options.builds.map((b) => buildRow(b, options.now))}
</tbody>
</table>
${options.builds.length === 0 ? html`<p class="empty">No builds yet. Queue one with <code>POST /api/v1/builds</code>.</p>` : ''}`,
  );
}
