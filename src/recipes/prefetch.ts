// Warm the page cache for the files a scan is about to read, from worker threads.
//
// The scan reads recipe.toml files one after another, synchronously: ~8 µs each when
// they are in the page cache, ~70 µs each when they are on disk (a tree not read for a
// while, a machine whose memory is reclaimed eagerly). Reads from several threads at once
// overlap the disk's latency. A probe worker reads the first files in order, and timing
// them (after a few untimed ones) tells whether they were cached: if so it stops, having
// cost one thread's start on another core; if not, it starts three more workers itself
// (the scan's thread is busy reading and would see a message too late). Each then reads
// every fourth of the remaining files, in the order the scan takes them, so the scan
// finds them cached. Best effort: a file that cannot be read is skipped (the scan reports
// it), FIFOs are not read (opened non-blocking, only regular files are read), and at most
// 64 KiB of each. With `stat` the workers only stat (a scan served from its cache stats,
// not reads).

import { Worker } from 'node:worker_threads';

export interface Prefetch {
  /** Stop the workers (the scan is done, or was cancelled). */
  stop(): void;
}

/** Below this many files, starting a thread costs more than it can save. */
export const PREFETCH_MIN_FILES = 256;
/** The probe's first reads are not timed: a new thread's first calls are slow anyway. */
const WARMUP_FILES = 4;
const PROBE_FILES = 20;
/**
 * Mean read time (µs) above which the probe's files were not cached: ~10 µs when they are,
 * ~70 µs when they are read from disk (measured on the 10k benchmark tree).
 */
const COLD_US = 40;
const THREADS = 4;

const WORKER = `
const { Worker, workerData: w } = require('node:worker_threads');
const fs = require('node:fs');
const buf = Buffer.allocUnsafe(65536);
const flags = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;
function warm(path) {
  try {
    if (w.stat) { fs.statSync(path, { throwIfNoEntry: false }); return; }
    const fd = fs.openSync(path, flags);
    try { if (fs.fstatSync(fd).isFile()) fs.readSync(fd, buf, 0, buf.length, 0); } finally { fs.closeSync(fd); }
  } catch {}
}
function run() {
  let i = w.start;
  if (w.probe) {
    for (; i < w.warmupFiles && i < w.paths.length; i++) warm(w.paths[i]);
    const t0 = process.hrtime.bigint();
    for (; i < w.probeFiles && i < w.paths.length; i++) warm(w.paths[i]);
    const us = Number(process.hrtime.bigint() - t0) / 1000;
    if (us < w.coldUs * (w.probeFiles - w.warmupFiles)) return;
    for (let k = 1; k < w.step; k++) {
      new Worker(w.code, { eval: true, execArgv: [], stdout: true, stderr: true, workerData: { ...w, start: w.probeFiles + k, probe: false } }).on('error', () => {});
    }
  }
  for (; i < w.paths.length; i += w.step) warm(w.paths[i]);
}
run();
`;

export function prefetchFiles(
  paths: readonly string[],
  options: {
    stat?: boolean;
    /** Treat the probe's files as not cached, whatever their read times: the caller knows (run/stat-ahead.ts), or a test. */
    assumeCold?: boolean;
  } = {},
): Prefetch {
  if (paths.length < PREFETCH_MIN_FILES) return { stop: () => undefined };
  // The probe reads the first files in order, then every THREADS-th from PROBE_FILES on;
  // the workers it starts when they were not cached read the ones in between. Terminating
  // it ends them too (a worker's workers end with it).
  const probe = new Worker(WORKER, {
    eval: true,
    workerData: { code: WORKER, paths, stat: options.stat === true, warmupFiles: WARMUP_FILES, probeFiles: PROBE_FILES, coldUs: options.assumeCold === true ? 0 : COLD_US, start: 0, step: THREADS, probe: true },
    // Nothing of kiln's own runs in it: no module loader flags, no inspector.
    execArgv: [],
    stdout: true,
    stderr: true,
  });
  probe.unref();
  probe.on('error', () => undefined);
  return { stop: () => void probe.terminate() };
}
