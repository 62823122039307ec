// The live view on a terminal (listr2): one line of counts and ETA, then each running
// job with its phase and elapsed time, redrawn every second and on every event.
// Failures are printed above the live area as they happen, so they stay on screen.

import { Listr } from 'listr2';
import type { KilnEvent } from '../../events/events.ts';
import { formatMs } from '../options.ts';
import { applyEvent, doneCount, emptyModel, etaMs } from './progress-model.ts';

export interface LiveView {
  readonly onEvent: (e: KilnEvent) => void;
  /** Resolves when the view has drawn its last frame. */
  finish(): Promise<void>;
}

export function liveRenderer(out: NodeJS.WriteStream): LiveView {
  const m = emptyModel();
  let finished!: () => void;
  const done = new Promise<void>((r) => (finished = r));
  const failures: string[] = [];
  let task: { title: string } | undefined;
  const redraw = (): void => {
    if (task === undefined) return;
    const now = Date.now();
    const eta = etaMs(m, now);
    const c = m.counts;
    const head =
      `${doneCount(m)}/${m.total} done: ${c.built} built, ${c['up-to-date']} up to date, ${c.failed} failed, ` +
      `${c.skipped} skipped, ${c.broken} broken · ${m.running.size} running · ` +
      `${formatMs(now - m.startedAt)} elapsed${eta === undefined ? '' : ` · ETA ${formatMs(eta)}`}`;
    const lines = [...m.running.values()]
      .sort((a, b) => a.startedAt - b.startedAt)
      .map((r) => `    ${r.jobId.padEnd(32)} ${r.phase.padEnd(6)} ${formatMs(now - r.startedAt)}${r.expectedMs === undefined ? '' : ` / ~${formatMs(r.expectedMs)}`}`);
    // The whole frame is the task's title: listr2 redraws a title in place, while its
    // output bar would keep every past frame.
    task.title = [head, ...failures.slice(-5).map((f) => `    ✖ ${f}`), ...lines].join('\n');
  };
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
        },
      },
    ],
    { renderer: 'default', rendererOptions: { collapseSubtasks: false }, exitOnError: false, registerSignalListeners: false },
  );
  const running = list.run().catch(() => undefined);
  void out;
  return {
    onEvent: (e) => {
      applyEvent(m, e);
      if (e.type === 'job-finished' && e.state === 'failed') failures.push(`${e.jobId}: ${e.failure?.message ?? 'failed'}`);
      if (e.type === 'run-finished') finished();
      else redraw();
    },
    finish: async () => {
      finished();
      await running;
    },
  };
}
