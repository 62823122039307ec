// build-page.js: keeps /builds/{id} live without reloading. It listens to the build's
// event stream (GET /api/v1/builds/{id}/events: snapshot, job, sample, build, end; the
// session cookie signs the request in), redraws the counts, progress bar, running jobs
// and package table from that model, ticks elapsed times, and follows a job's log (the
// log endpoint's `line`/`end` events) in the viewer when a log link is clicked.
//
// Everything from the server is put in the page as text (textContent, Text nodes), never
// as markup, so a package name or a log line cannot inject anything. Plain ES module, no
// build step; the server renders the same rows first (build-page.ts).

import { el, fmtBytes, fmtDuration } from './dom.js';

const STATE_ORDER = ['failed', 'broken', 'skipped', 'cancelled', 'running', 'built', 'up-to-date'];
const body = document.body;
const $ = (id) => document.getElementById(id);

/** @type {Map<string, any>} */
let jobs = new Map();
/** @type {Map<string, any>} */
let samples = new Map();
let build = null;
/** Server time minus browser time, so elapsed times agree with the server's clock. */
let skew = 0;
let renderTimer = 0;

const serverNow = () => Date.now() + skew;

function rank(state) {
  const i = STATE_ORDER.indexOf(state);
  return i === -1 ? STATE_ORDER.length : i;
}

function sortJobs(list) {
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  return list.sort((a, b) => rank(a.state) - rank(b.state) || cmp(a.name, b.name) || cmp(a.arch, b.arch) || cmp(a.jobId, b.jobId));
}

function logLink(j) {
  if (!j.log) return '';
  const a = el('a', { class: 'log-link', href: j.log, 'data-job': j.jobId }, 'log');
  return a;
}

function stateBadge(state) {
  return el('span', { class: `state state-${state}` }, state);
}

function packageRow(j) {
  return el(
    'tr',
    { 'data-job': j.jobId, class: `state-${j.state}` },
    el('td', { class: 'name' }, j.name),
    el('td', null, j.version),
    el('td', null, j.arch),
    el('td', null, stateBadge(j.state)),
    el('td', { class: 'duration' }, fmtDuration(j.durationMs)),
    el('td', { class: 'why' }, j.why ?? ''),
    el('td', { class: 'cause' }, j.cause ?? ''),
    el('td', null, logLink(j)),
  );
}

function runningRow(j) {
  const s = samples.get(j.jobId);
  return el(
    'tr',
    { 'data-job': j.jobId },
    el('td', { class: 'name' }, j.name),
    el('td', null, j.arch),
    el('td', { class: 'phase' }, j.phase ?? ''),
    el('td', { class: 'elapsed', 'data-since': j.startedAt === null ? undefined : String(j.startedAt) }, j.startedAt === null ? '' : fmtDuration(serverNow() - j.startedAt)),
    el('td', { class: 'cpu' }, s ? s.cpuCores.toFixed(2) : ''),
    el('td', { class: 'memory' }, s ? fmtBytes(s.memoryBytes) : ''),
    el('td', { class: 'disk' }, s ? fmtBytes(s.diskBytes) : ''),
    el('td', null, logLink(j)),
  );
}

/**
 * Bring `tbody` to one row per job, in order, changing only the cells that differ: a row
 * (and its log link) the viewer is clicking stays the same element while samples and
 * ticks re-render the table. (A click whose mousedown and mouseup land on two different
 * elements is no click at all.)
 */
function patchRows(tbody, list, makeRow) {
  const old = new Map([...tbody.rows].map((r) => [r.dataset.job, r]));
  list.forEach((j, i) => {
    const fresh = makeRow(j);
    let row = old.get(j.jobId);
    if (row === undefined || row.cells.length !== fresh.cells.length) row = fresh;
    else {
      old.delete(j.jobId);
      row.className = fresh.className;
      [...fresh.cells].forEach((cell, c) => {
        if (!row.cells[c].isEqualNode(cell)) row.cells[c].replaceWith(cell);
      });
    }
    if (tbody.rows[i] !== row) tbody.insertBefore(row, tbody.rows[i] ?? null);
  });
  for (const r of old.values()) r.remove();
  while (tbody.rows.length > list.length) tbody.rows[list.length].remove();
}

function scheduleRender() {
  if (renderTimer !== 0) return;
  renderTimer = setTimeout(() => {
    renderTimer = 0;
    render();
  }, 50);
}

function render() {
  const all = sortJobs([...jobs.values()]);
  const running = all.filter((j) => j.state === 'running');
  const counts = {};
  for (const j of all) counts[j.state] = (counts[j.state] ?? 0) + 1;
  const total = build?.total ?? null;
  const finished = all.length - running.length;
  counts.pending = total === null ? 0 : Math.max(0, total - all.length);

  const list = $('counts');
  for (const state of [...STATE_ORDER, ...Object.keys(counts).filter((s) => !STATE_ORDER.includes(s) && s !== 'pending'), 'pending']) {
    let li = list.querySelector(`li[data-state="${CSS.escape(state)}"]`);
    if (!li) {
      li = el('li', { class: `state-${state}`, 'data-state': state }, `${state} `, el('b', null, '0'));
      list.append(li);
    }
    li.querySelector('b').textContent = String(counts[state] ?? 0);
  }

  // As build-page.ts progressText: a cancelled job is not done.
  const cancelled = counts.cancelled ?? 0;
  const done = Math.max(0, finished - cancelled);
  const progress = $('progress');
  progress.max = total === null ? 1 : Math.max(1, total);
  progress.value = total === null ? 0 : done;
  $('progress-text').textContent =
    total === null
      ? build?.state === 'queued' ? 'waiting in the queue' : ''
      : `${done} of ${total} (${total === 0 ? 100 : Math.floor((done * 100) / total)}%)${cancelled > 0 ? `, ${cancelled} cancelled` : ''}`;

  patchRows($('running').tBodies[0], running, runningRow);
  $('running-count').textContent = String(running.length);
  patchRows($('packages').tBodies[0], all, packageRow);
  $('package-count').textContent = String(all.length);
  renderBuild();
}

function renderBuild() {
  if (!build) return;
  const state = $('build-state');
  state.textContent = build.state;
  state.className = `state state-${build.state}`;
  $('eta').textContent = etaText(build);
  const elapsed = $('elapsed');
  if (build.startedAt !== null && build.endedAt === null) elapsed.dataset.since = String(build.startedAt);
  else {
    delete elapsed.dataset.since;
    elapsed.textContent = build.startedAt === null ? '' : fmtDuration(build.endedAt - build.startedAt);
  }
  if (build.startedAt !== null && $('started').textContent.trim() === '—') {
    const iso = new Date(build.startedAt).toISOString();
    $('started').replaceChildren(el('time', { datetime: iso }, iso.replace(/\.\d{3}Z$/, 'Z')));
  }
  const error = $('build-error');
  error.hidden = build.error === null;
  error.textContent = build.error ?? '';
  const hint = $('build-error-hint');
  const hintText = build.error === null ? null : (build.errorHint ?? null);
  hint.hidden = hintText === null;
  hint.textContent = hintText ?? '';
}

/** As build-page.ts etaText (and the local live view): jobs still running with nothing left of the estimate are past it. */
function etaText(b) {
  if (b.state !== 'running') return '—';
  if (b.etaMs === null) return 'unknown';
  if (b.etaMs < 1000 && b.running > 0) return 'running past the ETA';
  return `about ${fmtDuration(b.etaMs)}`;
}

function tick() {
  for (const e of document.querySelectorAll('[data-since]')) e.textContent = fmtDuration(serverNow() - Number(e.dataset.since));
}

function setBuild(summary) {
  build = summary;
  skew = summary.at - Date.now();
}

function setLive(text) {
  $('live').textContent = text;
}

// ---- the build's event stream ------------------------------------------------------

const events = new EventSource(body.dataset.events);
events.addEventListener('snapshot', (e) => {
  const d = JSON.parse(e.data);
  jobs = new Map(d.jobs.map((j) => [j.jobId, j]));
  samples = new Map(d.samples.map((s) => [s.jobId, s]));
  setBuild(d.build);
  setLive('live');
  scheduleRender();
  followFromHash();
});
events.addEventListener('job', (e) => {
  const j = JSON.parse(e.data);
  jobs.set(j.jobId, j);
  if (j.state !== 'running') samples.delete(j.jobId);
  scheduleRender();
});
events.addEventListener('sample', (e) => {
  const s = JSON.parse(e.data);
  samples.set(s.jobId, s);
  scheduleRender();
});
events.addEventListener('build', (e) => {
  setBuild(JSON.parse(e.data));
  renderBuild();
});
events.addEventListener('end', (e) => {
  events.close();
  setBuild(JSON.parse(e.data));
  setLive(`ended ${build.state}`);
  scheduleRender();
});
events.onerror = () => {
  if (events.readyState === EventSource.CLOSED) setLive('disconnected: reload to retry');
  else setLive('reconnecting…');
};
setInterval(tick, 1000);

// ---- the log viewer ----------------------------------------------------------------

let logSource = null;
let followed = null;

function followLog(jobId, url) {
  logSource?.close();
  followed = jobId;
  const pre = $('log');
  pre.textContent = '';
  $('log-job').textContent = jobId;
  $('log-status').textContent = 'following…';
  const source = new EventSource(url);
  logSource = source;
  // The server sends the log from its start on every (re)connection.
  source.onopen = () => {
    pre.textContent = '';
  };
  source.addEventListener('line', (e) => {
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    pre.append(document.createTextNode(`${e.data}\n`));
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  });
  source.addEventListener('end', (e) => {
    source.close();
    $('log-status').textContent = `ended: ${e.data}`;
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) $('log-status').textContent = 'the log could not be loaded';
    else $('log-status').textContent = 'reconnecting…';
  };
}

function followFromHash() {
  const m = /^#log=(.+)$/.exec(location.hash);
  if (m === null) return;
  const jobId = decodeURIComponent(m[1]);
  if (followed === jobId) return;
  const j = jobs.get(jobId);
  if (j?.log) followLog(jobId, j.log);
}

document.addEventListener('click', (e) => {
  const a = e.target instanceof Element ? e.target.closest('a.log-link') : null;
  if (a === null || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  followLog(a.dataset.job, a.getAttribute('href'));
  history.replaceState(null, '', `#log=${encodeURIComponent(a.dataset.job)}`);
  $('log-viewer').scrollIntoView({ block: 'nearest' });
});
