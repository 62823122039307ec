// The live view on a terminal: one line of counts and ETA, then each running job with its
// phase and elapsed time, redrawn in place every second and on events. Once the run stops
// starting jobs (Ctrl-C, --fail-fast, --min-free) the header says so instead of an ETA.
//
// What must stay is printed above the live area as it happens, as permanent lines that
// the terminal wraps (never cuts): every note, each failure with its reason, the end of
// its log and the log's path, each broken or skipped package with its reason, the output
// checks' warnings, and whatever kiln writes to stderr meanwhile (the Ctrl-C message,
// planning notes): the frame is erased, the lines written, the frame drawn again below
// them. When the run ends the frame gives way to one permanent line saying how it ended,
// ✔ or ✖ (failed or cancelled); what follows (the summary, later notes) is plain output.
//
// The frame is fitted to the terminal so that it is redrawn in place (a wrapped or
// scrolled-off line breaks that): each line to its width (the header drops words, then
// zero counts, then is cut; a job's id is cut in its middle before its phase and time go), its running
// jobs to its height ("… and N more running"), so that the header stays on screen. A
// terminal that reports 0 columns or rows (some ptys, serial consoles) counts as 80×24.
// A dumb terminal (TERM=dumb) cannot move the cursor: build.ts gives it the plain renderer.

import { createLogUpdate } from 'log-update';
import type { KilnEvent } from '../../events/events.ts';
import { printableLine } from '../../lib/printable-line.ts';
import { causeForTerminal } from '../../publish/report-diagnostics.ts';
import { readLogTail } from '../../publish/report.ts';
import { formatMs } from '../options.ts';
import { keptHint } from './plain.ts';
import { applyEvent, doneCount, emptyModel, etaMs, markStopping, waitingCount, type ProgressModel } from './progress-model.ts';

export interface LiveView {
  readonly onEvent: (e: KilnEvent) => void;
  /** The run stops starting jobs (`why`: e.g. SIGINT): the header says so, with no ETA. */
  stopping(why: string): void;
  /** Ends the view (the last line drawn, the cursor shown, stderr given back); resolves once it has. */
  finish(): Promise<void>;
}

/** The width to draw in: the terminal's columns, or 80 when it reports none (0 or unknown). */
export function terminalWidth(columns: number | undefined): number {
  return columns !== undefined && Number.isFinite(columns) && columns > 0 ? Math.floor(columns) : 80;
}

/** The terminal's rows, or 24 when it reports none (0 or unknown). */
export function terminalHeight(rows: number | undefined): number {
  return rows !== undefined && Number.isFinite(rows) && rows > 0 ? Math.floor(rows) : 24;
}

/**
 * Columns a frame line leaves for its text: the header's icon and a space (a job line's
 * indent as wide), and the terminal's last column (writing into it makes some terminals
 * wrap at once).
 */
export const FRAME_MARGIN = 3;

/** Lines of a failed build's log the live view prints above it (the plain output prints more: a CI log has no terminal to scroll). */
export const LIVE_TAIL_LINES = 5;

/** The header's icon while the run goes on, one step per redraw. */
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** Narrowest a job's id is cut to before its phase and time go instead. */
const MIN_ID = 8;

/**
 * `text` cut to `width` characters, with `…` where it was cut: at its end, or in its middle
 * (`middle`: what tells job ids apart is often at their end, `-2@amd64`).
 */
export function fitLine(text: string, width: number, at: 'end' | 'middle' = 'end'): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 1) return chars.slice(0, Math.max(0, width)).join('');
  const head = at === 'end' ? width - 1 : Math.ceil((width - 1) / 2);
  return `${chars.slice(0, head).join('')}…${chars.slice(chars.length - (width - 1 - head)).join('')}`;
}

/** The header line for a frame, at most `width` characters: the longest form that fits. */
export function headerLine(m: ProgressModel, now: number, width: number): string {
  const c = m.counts;
  const all: [number, string][] = [
    [c.built, 'built'], [c['up-to-date'], 'up to date'], [c.failed, 'failed'], [c.skipped, 'skipped'], [c.broken, 'broken'], [c.cancelled, 'cancelled'],
  ];
  const nonZero = all.filter(([n]) => n > 0);
  const bad = nonZero.filter(([, w]) => w === 'failed' || w === 'broken');
  const counts = (parts: [number, string][]): string => parts.map(([n, w]) => `${n} ${w}`).join(', ');
  const fit = (forms: string[]): string => forms.find((f) => [...f].length <= width) ?? fitLine(forms.at(-1)!, width);
  if (m.ended !== undefined) {
    // The last frame: how the run ended, with every count that is not zero.
    const took = formatMs(m.ended.at - m.startedAt);
    const how = m.ended.state === 'done' ? `run done in ${took}` : `run ${m.ended.state} after ${took}`;
    const what = nonZero.length === 0 ? 'nothing to build' : counts(nonZero);
    return fit([`${how}: ${what} (${m.total} package${m.total === 1 ? '' : 's'})`, `${how}: ${what}`]);
  }
  const eta = etaMs(m, now);
  // Under a second left while builds still run: they run past what was expected, not "ETA 0ms".
  const tail = m.stopping !== undefined ? ` · stopping (${m.stopping})` : eta === undefined ? '' : eta < 1000 && m.running.size > 0 ? ' · running past the ETA' : ` · ETA ${formatMs(eta)}`;
  const done = `${doneCount(m)}/${m.total} done`;
  const elapsed = formatMs(now - m.startedAt);
  const waiting = waitingCount(m);
  const jobs = `${m.running.size} running${waiting === 0 ? '' : `, ${waiting} waiting`}`;
  return fit([
    `${done}: ${counts(all)} · ${m.running.size} running, ${waiting} waiting · ${elapsed} elapsed${tail}`,
    `${done}: ${counts(nonZero)}${nonZero.length === 0 ? '' : ' · '}${jobs} · ${elapsed} elapsed${tail}`,
    `${done}${nonZero.length === 0 ? '' : `: ${counts(nonZero)}`} · ${jobs} · ${elapsed}${tail}`,
    // Narrower: what went wrong is kept longest (a failure is what the user must not miss).
    `${done}${bad.length === 0 ? '' : `: ${counts(bad)}`} · ${m.running.size} running${tail}`,
    `${done} · ${m.running.size} running${tail}`,
    ...(m.stopping === undefined ? [] : [`${done} · stopping (${m.stopping})`]),
  ]);
}

/**
 * The whole frame: the header (after `icon`), then the running jobs, longest running
 * first. Every line is shorter than `columns`, and the frame has fewer lines than `rows`
 * (one is left for the cursor): jobs that do not fit are counted on a last line.
 */
export function frameText(m: ProgressModel, now: number, columns: number, rows: number, icon = SPINNER[0]!): string {
  const width = Math.max(1, columns - FRAME_MARGIN);
  if (m.runId === '' && m.ended === undefined) return `${icon} ${fitLine('kiln: planning', width)}`;
  const running = [...m.running.values()].sort((a, b) => a.startedAt - b.startedAt);
  // Lines under the header: all the jobs, or as many as fit with the "more" line.
  const room = Math.max(0, rows - 2);
  const shown = running.length <= room ? running : running.slice(0, Math.max(0, room - 1));
  const more = running.length - shown.length;
  const tails = shown.map((r) => `${r.phase.padEnd(6)} ${formatMs(now - r.startedAt)}${r.expectedMs === undefined ? '' : ` / ~${formatMs(r.expectedMs)}`}`);
  const longest = Math.max(0, ...shown.map((r) => [...r.jobId].length));
  const longestTail = Math.max(0, ...tails.map((t) => [...t].length));
  // The ids padded to the longest shown, and cut when that leaves no room for the phase and time.
  const idWidth = Math.min(longest, Math.max(MIN_ID, width - 1 - longestTail));
  const jobLines = shown.map((r, i) => {
    const id = fitLine(r.jobId, idWidth, 'middle');
    return `  ${fitLine(`${id}${' '.repeat(Math.max(0, idWidth - [...id].length))} ${tails[i]}`, width)}`;
  });
  if (more > 0 && room > 0) jobLines.push(`  ${fitLine(`… and ${more} more running`, width)}`);
  return [`${icon} ${headerLine(m, now, width)}`, ...jobLines].join('\n');
}

type FinishedEvent = Extract<KilnEvent, { type: 'job-finished' }>;
type SettledEvent = Extract<KilnEvent, { type: 'job-settled' }>;

/** `kiln logs NAME`, with --arch when the run builds for several. */
function logsCommand(name: string, arch: string, archs: readonly string[]): string {
  return `kiln logs ${name}${archs.length > 1 ? ` --arch ${arch}` : ''}`;
}

/**
 * What the live view prints above itself when a build fails: its reason, its kept
 * workspace, the end of its log with the log's path and the `kiln logs` command that
 * prints all of it. `tail`: the log's last lines (read by the caller).
 */
export function failureText(e: FinishedEvent, archs: readonly string[], tail: readonly string[]): string {
  const lines = [`✖ ${e.jobId} failed after ${formatMs(e.at - e.startedAt)}: ${e.failure === undefined ? 'failed' : causeForTerminal(e.failure.message, '    ')}`];
  if (e.keptWorkspace !== undefined) lines.push(`    workspace kept at ${e.keptWorkspace}${keptHint(e.keptWorkspace)}`);
  const all = logsCommand(e.name, e.arch, archs);
  if (e.log === undefined) lines.push(`    its log: ${all}`);
  else if (tail.length === 0) lines.push(`    log: ${e.log} (${all})`);
  else lines.push(`    the last ${tail.length} line${tail.length === 1 ? '' : 's'} of ${e.log} (all of it: ${all}):`, ...tail.map((l) => `    | ${printableLine(l)}`));
  return lines.join('\n');
}

/** What the live view prints above itself for a package broken or skipped: why. */
export function settledText(e: SettledEvent): string {
  return `${e.state === 'broken' ? '✖' : '-'} ${e.jobId} ${e.state}${e.cause === undefined ? '' : `: ${causeForTerminal(e.cause, '    ')}`}`;
}

/** The last lines of a log, none when it cannot be read (the path is printed all the same). */
function tailOf(log: string | undefined): string[] {
  if (log === undefined) return [];
  try {
    return readLogTail(log, LIVE_TAIL_LINES);
  } catch {
    return [];
  }
}

const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
/** Redraws on events come at most this often (a no-change run settles thousands of jobs at once). */
const REDRAW_MS = 50;

export function liveRenderer(out: NodeJS.WriteStream, options: { failFast?: boolean; err?: NodeJS.WriteStream; now?: () => number } = {}): LiveView {
  const now = options.now ?? Date.now;
  const m = emptyModel();
  let archs: readonly string[] = [];
  let spin = 0;
  let ended = false;
  let pending: NodeJS.Timeout | undefined;
  // Drawing in place is log-update's (what listr2 draws with; listr2 itself held back
  // stderr until the end and cut a frame taller than the terminal from the top).
  // It sees the terminal's size as the frame is fitted to it (a pty reporting 0 columns is 80 wide).
  const screen = { get columns() { return terminalWidth(out.columns); }, get rows() { return terminalHeight(out.rows); }, isTTY: out.isTTY, write: (s: string) => out.write(s) };
  // The cursor is hidden on this terminal by the view itself: log-update would hide it on
  // process.stderr, which the view takes over below (and stderr may be another stream).
  const lu = createLogUpdate(screen as unknown as NodeJS.WriteStream, { showCursor: true });
  out.write(HIDE_CURSOR);
  const frame = (): string => frameText(m, now(), terminalWidth(out.columns), terminalHeight(out.rows), SPINNER[spin % SPINNER.length]);
  /** Permanent lines for stdout not written yet: they go with the next redraw, at most REDRAW_MS away. */
  let above = '';
  const redraw = (): void => {
    if (pending !== undefined) clearTimeout(pending);
    pending = undefined;
    if (ended) return;
    spin++;
    if (above !== '') lu.persist(above);
    above = '';
    lu(frame());
  };
  const soon = (): void => {
    if (!ended) pending ??= setTimeout(redraw, REDRAW_MS).unref();
  };
  /** Permanent lines above the frame: on stdout, or through `to` (stderr, for what kiln wrote there). */
  const print = (text: string, to?: (s: string) => void): void => {
    const lines = `${text.split('\n').map(printableLine).join('\n')}\n`;
    if (ended) return void (to ?? ((t: string) => void out.write(t)))(lines);
    if (to === undefined) {
      above += lines;
      return soon();
    }
    // In the order they came: the lines waiting for stdout first.
    if (pending !== undefined) clearTimeout(pending);
    pending = undefined;
    if (above !== '') lu.persist(above);
    else lu.clear();
    above = '';
    to(lines);
    lu(frame());
  };

  // What kiln writes to stderr on the same terminal meanwhile goes above the frame too,
  // whole lines at a time (it would otherwise be drawn over, or break the redraw).
  const err = options.err;
  let giveBackErr = (): void => undefined;
  if (err !== undefined && err !== out && err.isTTY === true) {
    const own = Object.prototype.hasOwnProperty.call(err, 'write');
    const original = err.write;
    const raw = (s: string): void => void original.call(err, s);
    let partial = '';
    err.write = ((chunk: string | Uint8Array, encoding?: unknown, cb?: unknown): boolean => {
      const text = partial + (typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const end = text.lastIndexOf('\n');
      partial = text.slice(end + 1);
      if (end !== -1) print(text.slice(0, end), raw);
      const done = typeof encoding === 'function' ? encoding : cb;
      if (typeof done === 'function') process.nextTick(done as () => void);
      return true;
    }) as typeof err.write;
    giveBackErr = () => {
      if (own) err.write = original;
      else delete (err as { write?: unknown }).write;
      if (partial !== '') raw(partial);
      partial = '';
    };
  }

  // A process that exits with the view still drawn (an uncaught error) leaves the terminal as it was.
  const atExit = (): void => end();
  process.once('exit', atExit);
  const tick = setInterval(redraw, 1000).unref();
  const onResize = (): void => redraw();
  out.on('resize', onResize);
  redraw();

  /** The frame gives way to how the run ended, as a permanent line (never cut); the terminal is as it was. */
  const end = (): void => {
    if (ended) return;
    clearInterval(tick);
    if (pending !== undefined) clearTimeout(pending);
    out.off('resize', onResize);
    const icon = m.ended?.state === 'done' ? '✔' : '✖';
    lu.persist(`${above}${icon} ${m.runId === '' && m.ended === undefined ? 'kiln: stopped while planning' : headerLine(m, now(), Number.POSITIVE_INFINITY)}`);
    lu.done();
    out.write(SHOW_CURSOR);
    above = '';
    ended = true;
    process.off('exit', atExit);
    giveBackErr();
  };

  return {
    onEvent: (e) => {
      applyEvent(m, e);
      switch (e.type) {
        case 'run-started':
          archs = e.archs;
          break;
        case 'note':
          print(`kiln: ${e.text}`);
          return;
        case 'job-settled':
          if (e.state === 'broken' || e.state === 'skipped') return print(settledText(e));
          break;
        case 'job-finished':
          if (e.state === 'failed') {
            if (options.failFast === true) markStopping(m, '--fail-fast');
            return print(failureText(e, archs, tailOf(e.log)));
          }
          if (e.warnings !== undefined && e.warnings.length > 0) return print(e.warnings.map((w) => `warning: ${e.jobId}: ${w} (kiln logs ${e.name} says what to do)`).join('\n'));
          break;
        case 'run-finished':
          return end();
      }
      soon();
    },
    stopping: (why) => {
      markStopping(m, why);
      redraw();
    },
    finish: async () => end(),
  };
}
