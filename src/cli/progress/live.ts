// The live view on a terminal (listr2): one line of counts and ETA, then each running
// job with its phase and elapsed time, redrawn every second and on every event.
// Failures are printed above the live area as they happen, so they stay on screen.
// Once the run stops starting jobs (Ctrl-C, --fail-fast) the header says so instead of
// an ETA; the last frame says how the run ended, with ✖ when it failed or was cancelled.
//
// Every line is fitted to the terminal's width (a wrapped line breaks the in-place
// redraw): the header drops words, then zero counts, then is cut; a terminal that
// reports 0 columns (some ptys, serial consoles) counts as 80. A dumb terminal
// (TERM=dumb) cannot move the cursor: build.ts gives it the plain renderer.

import { causeForTerminal } from '../../publish/report-diagnostics.ts';
import { Listr, ListrLogger, ProcessOutput } from 'listr2';
import type { KilnEvent } from '../../events/events.ts';
import { formatMs } from '../options.ts';
import { applyEvent, doneCount, emptyModel, etaMs, markStopping, waitingCount, type ProgressModel } from './progress-model.ts';

export interface LiveView {
  readonly onEvent: (e: KilnEvent) => void;
  /** The run stops starting jobs (`why`: e.g. SIGINT): the header says so, with no ETA. */
  stopping(why: string): void;
  /** Resolves when the view has drawn its last frame. */
  finish(): Promise<void>;
}

/** The width to draw in: the terminal's columns, or 80 when it reports none (0 or unknown). */
export function terminalWidth(columns: number | undefined): number {
  return columns !== undefined && Number.isFinite(columns) && columns > 0 ? Math.floor(columns) : 80;
}

/** listr2 puts an icon and a space before the title and keeps 2 columns free. */
const LISTR_MARGIN = 4;

/** `text` cut to `width` characters, with `…` where it was cut. */
export function fitLine(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 1) return chars.slice(0, Math.max(0, width)).join('');
  return `${chars.slice(0, width - 1).join('')}…`;
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
  ]);
}

/** The whole frame, every line fitted to `columns` (the terminal's width). */
export function frameText(m: ProgressModel, failures: readonly string[], now: number, columns: number): string {
  const width = Math.max(1, columns - LISTR_MARGIN);
  const lines = [...m.running.values()]
    .sort((a, b) => a.startedAt - b.startedAt)
    .map((r) => `    ${r.jobId.padEnd(32)} ${r.phase.padEnd(6)} ${formatMs(now - r.startedAt)}${r.expectedMs === undefined ? '' : ` / ~${formatMs(r.expectedMs)}`}`);
  return [headerLine(m, now, width), ...failures.slice(-5).map((f) => `    ✖ ${f.split('\n')[0]}`), ...lines].map((l) => fitLine(l, width)).join('\n');
}

/** `out` as listr2 and log-update see it: the same stream, with a usable width. */
function withWidth(out: NodeJS.WriteStream): NodeJS.WriteStream {
  return new Proxy(out, {
    get(target, prop) {
      if (prop === 'columns') return terminalWidth(target.columns);
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

export function liveRenderer(out: NodeJS.WriteStream, options: { failFast?: boolean } = {}): LiveView {
  const m = emptyModel();
  let finished!: () => void;
  const done = new Promise<void>((r) => (finished = r));
  const failures: string[] = [];
  let task: { title: string } | undefined;
  const redraw = (): void => {
    if (task === undefined) return;
    // The whole frame is the task's title: listr2 redraws a title in place, while its
    // output bar would keep every past frame.
    task.title = frameText(m, failures, Date.now(), terminalWidth(out.columns));
  };
  const logger = new ListrLogger({ useIcons: true, processOutput: new ProcessOutput(withWidth(out), process.stderr) });
  const list = new Listr(
    [
      {
        title: 'kiln: planning',
        task: async (_ctx, t) => {
          task = t;
          const tick = setInterval(redraw, 1000);
          try {
            await done;
          } finally {
            clearInterval(tick);
            redraw();
          }
          // A failed or cancelled run (or one that never finished) ends on ✖: listr2 shows a
          // failed task's error message in place of its title, so the message is the frame.
          if (m.ended?.state !== 'done') throw new Error(t.title);
        },
      },
    ],
    {
      renderer: 'default',
      // Lines are fitted above; truncate (never wrap) whatever listr2 still finds too long.
      rendererOptions: { collapseSubtasks: false, formatOutput: 'truncate', logger },
      exitOnError: false,
      registerSignalListeners: false,
    },
  );
  const running = list.run().catch(() => undefined);
  return {
    onEvent: (e) => {
      applyEvent(m, e);
      if (e.type === 'job-finished' && e.state === 'failed') {
        failures.push(`${e.jobId}: ${e.failure === undefined ? 'failed' : causeForTerminal(e.failure.message, '')}${e.keptWorkspace === undefined ? '' : ` (workspace kept at ${e.keptWorkspace})`}`);
        if (options.failFast === true) markStopping(m, '--fail-fast');
      }
      if (e.type === 'run-finished') finished();
      else redraw();
    },
    stopping: (why) => {
      markStopping(m, why);
      redraw();
    },
    finish: async () => {
      finished();
      await running;
    },
  };
}
