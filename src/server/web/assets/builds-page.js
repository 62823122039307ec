// builds-page.js: keeps the build list at / current. Every few seconds it reads
// GET /api/v1/builds (signed in by the session cookie) and redraws the table with text
// nodes only; durations of running builds tick every second. Plain ES module, no build
// step; the server renders the same rows first (builds-page.ts).

import { el, fmtDuration } from './dom.js';

const REFRESH_MS = 3000;

function row(b) {
  // As builds-page.ts progressOf: a cancelled job is not done.
  const finished = Object.entries(b.counts ?? {}).reduce((n, [state, k]) => (state === 'running' || state === 'cancelled' ? n : n + k), 0);
  const cancelled = b.counts?.cancelled ?? 0;
  const started = b.startedAt === null ? null : Date.parse(b.startedAt);
  const ended = b.endedAt === null ? null : Date.parse(b.endedAt);
  const progress = b.total === null ? '' : el('span', null, el('progress', { max: String(b.total), value: String(finished) }), ` ${finished}/${b.total}`, cancelled > 0 ? el('span', { class: 'cancelled-note' }, ` ${cancelled} cancelled`) : '');
  return el(
    'tr',
    { 'data-build': b.id, class: `state-${b.state}` },
    el('td', null, el('a', { href: `/builds/${encodeURIComponent(b.id)}` }, b.id)),
    el('td', null, el('span', { class: `state state-${b.state}` }, b.state)),
    el('td', null, b.tenant),
    el('td', { class: 'tree' }, b.treeName ? el('span', { title: b.tree }, b.treeName) : b.tree),
    el('td', { class: 'progress-cell' }, progress),
    el('td', null, b.startedAt === null ? '' : el('time', { datetime: b.startedAt }, b.startedAt.replace(/\.\d{3}Z$/, 'Z'))),
    el('td', { class: 'duration', 'data-since': started !== null && ended === null ? String(started) : undefined }, started === null ? '' : fmtDuration((ended ?? Date.now()) - started)),
  );
}

async function refresh() {
  try {
    const res = await fetch('/api/v1/builds?limit=200', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (res.status === 401) {
      location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
      return;
    }
    if (!res.ok) return;
    const { builds } = await res.json();
    document.querySelector('#builds tbody').replaceChildren(...builds.map(row));
    document.querySelector('.empty')?.toggleAttribute('hidden', builds.length > 0);
  } catch {
    // The server may be restarting: try again at the next refresh.
  }
}

setInterval(refresh, REFRESH_MS);
setInterval(() => {
  for (const e of document.querySelectorAll('[data-since]')) e.textContent = fmtDuration(Date.now() - Number(e.getAttribute('data-since')));
}, 1000);
