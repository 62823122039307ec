// The page at /: the builds this token may see, newest first, with state, tenant,
// progress, start and duration. builds-page.js refreshes the table from GET
// /api/v1/builds every few seconds.

import { html, url, type SafeHtml } from './html.ts';
import { layout } from './layout.ts';
import { formatDuration, formatTime } from './view.ts';

/** What the list needs of a build: a subset of the API's build view (context.ts buildView). */
export interface BuildRow {
  readonly id: string;
  readonly tenant: string;
  readonly tree: string;
  readonly state: string;
  readonly total: number | null;
  readonly counts: Readonly<Record<string, number>> | null;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly endedAt: string | null;
}

/** Jobs that reached a final state, out of the planned total. */
export function progressOf(b: Pick<BuildRow, 'total' | 'counts'>): { finished: number; total: number | null } {
  const finished = Object.entries(b.counts ?? {}).reduce((n, [state, k]) => (state === 'running' ? n : n + k), 0);
  return { finished, total: b.total };
}

function ms(iso: string | null): number | null {
  return iso === null ? null : Date.parse(iso);
}

export function buildRow(b: BuildRow, now: number): SafeHtml {
  const { finished, total } = progressOf(b);
  const started = ms(b.startedAt);
  const duration = started === null ? null : (ms(b.endedAt) ?? now) - started;
  return html`<tr data-build="${b.id}" class="state-${b.state}">
<td><a href="${url`/builds/${b.id}`}">${b.id}</a></td>
<td><span class="state state-${b.state}">${b.state}</span></td>
<td>${b.tenant}</td>
<td>${b.tree}</td>
<td class="progress-cell">${total === null ? '' : html`<progress max="${total}" value="${finished}"></progress> ${finished}/${total}`}</td>
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
