// A run's records subscriber (records/subscriber.ts) with its trouble said: a write that
// fails (a full disk, another kiln holding the file too long) is a note of the run, once
// per kind of error (the batch is kept and tried again at the next flush), and records that
// are still not written when the run ends are a path-unusable error saying what to do,
// not a crash.

import { KilnError } from '../errors.ts';
import type { EventBus } from '../events/events.ts';
import { recordsPath } from '../records/db.ts';
import type { Records } from '../records/records.ts';
import { recordEvents, type EventRecorder } from '../records/subscriber.ts';

export interface RunRecorder extends EventRecorder {
  /** Throws when records of run `runId` are still not written (call after the last flush). */
  assertWritten(runId: string): void;
}

export function runRecorder(bus: EventBus, records: Records, stateRoot: string): RunRecorder {
  const said = new Set<string>();
  let lastError: string | undefined;
  const recorder = recordEvents(bus, records, {
    onError: (e, what) => {
      const message = e instanceof Error ? e.message : String(e);
      // (A heartbeat's failure is said, but does not stand for records left unwritten.)
      if (what === 'batch') lastError = message;
      if (said.has(`${what}\0${message}`)) return;
      said.add(`${what}\0${message}`);
      const retried = what === 'batch' ? 'a batch that could not be written is tried again at the next one' : "the run's sign of life (what `kiln status` shows for a run whose kiln died) is written again at the next beat, a second later";
      bus.emit({ type: 'note', at: Date.now(), text: `kiln's records (${recordsPath(stateRoot)}): a write failed (${message}); ${retried}${recordsHint(message)}` });
    },
  });
  return {
    ...recorder,
    assertWritten(runId) {
      const pending = recorder.pending();
      if (pending === 0) return;
      throw new KilnError('path-unusable', `${recordsPath(stateRoot)}: ${pending} records of run ${runId} could not be written (${lastError ?? 'unknown error'}): kiln status will show its unfinished jobs as interrupted`, {
        hint: `${recordsHint(lastError ?? '').replace(/^; /, '') || 'see the error above'}, and build again: what was built is in the cache and found up to date`,
      });
    },
  };
}

/** What to do about a records write that failed, by its error ('' when nothing to say): a full disk, or another process holding the file. */
function recordsHint(message: string): string {
  if (/full|disk I\/O|no space/i.test(message)) return "; free space on that disk (kiln cache gc, old runs' logs)";
  if (/locked|busy/i.test(message)) return '; another kiln process (or a tool reading kiln.db) holds the records: let it finish';
  return '';
}
