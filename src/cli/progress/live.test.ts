import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyEvent, emptyModel, markStopping, type ProgressModel } from './progress-model.ts';
import { EventEmitter } from 'node:events';
import { fitLine, frameText, headerLine, liveRenderer, terminalHeight, terminalWidth } from './live.ts';

const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);

/** A run of 12,345 packages midway: big counts, two running jobs, an ETA. */
function busyModel(): ProgressModel {
  const m = emptyModel();
  applyEvent(m, { type: 'run-started', runId: 'r', at: T0, tree: '/t', targets: [], archs: ['amd64'], total: 12_345, maxJobs: 2 });
  for (const [state, n] of [['up-to-date', 10_000], ['broken', 12]] as const) {
    for (let i = 0; i < n; i++) applyEvent(m, { type: 'job-settled', runId: 'r', jobId: `p${i}@amd64`, name: `p${i}`, version: '1', arch: 'amd64', state, at: T0 });
  }
  m.counts.built = 1234;
  m.counts.failed = 11;
  m.counts.skipped = 101;
  for (const name of ['a-package-with-a-rather-long-name', 'b']) {
    applyEvent(m, { type: 'job-started', runId: 'r', jobId: `${name}@amd64`, name, version: '1', arch: 'amd64', why: { kind: 'new' }, attempt: 1, log: '/l', at: T0 + 1000, expectedMs: 90_000 });
  }
  return m;
}

test('terminalWidth: a terminal that reports 0 or no columns is drawn 80 wide', () => {
  for (const [cols, want] of [[0, 80], [undefined, 80], [-1, 80], [Number.NaN, 80], [100, 100], [37, 37]] as const) {
    assert.equal(terminalWidth(cols), want, String(cols));
  }
});

test('fitLine(…, "middle") cuts in the middle, keeping the end that tells ids apart', () => {
  assert.equal(fitLine('sleeper-package-number-10@amd64', 31, 'middle'), 'sleeper-package-number-10@amd64');
  assert.equal(fitLine('sleeper-package-number-10@amd64', 15, 'middle'), 'sleeper…0@amd64');
  assert.notEqual(fitLine('sleeper-package-number-10@amd64', 15, 'middle'), fitLine('sleeper-package-number-11@amd64', 15, 'middle'));
  assert.equal([...fitLine('sleeper-package-number-10@amd64', 15, 'middle')].length, 15);
  assert.equal(fitLine('abc', 1, 'middle'), 'a');
});

test('fitLine cuts with an ellipsis, counting characters (not bytes)', () => {
  assert.equal(fitLine('abcdef', 6), 'abcdef');
  assert.equal(fitLine('abcdef', 4), 'abc…');
  assert.equal(fitLine('ab·de·', 5), 'ab·d…');
  assert.equal(fitLine('abc', 1), 'a');
  assert.equal(fitLine('abc', 0), '');
});

test('headerLine: the full header when it fits, shorter forms in narrower terminals, never longer than the width', () => {
  const m = busyModel();
  const now = T0 + 61_000;
  const full = headerLine(m, now, 1000);
  assert.match(full, /^11358\/12345 done: 1234 built, 10000 up to date, 11 failed, 101 skipped, 12 broken, 0 cancelled · 2 running, 985 waiting · 1m01s elapsed · ETA \S+$/);
  assert.ok(full.length > 96, `the full header is ${full.length} characters: the test needs it to overflow 100 columns`);
  for (const width of [200, 100, 96, 80, 60, 40, 30, 20, 10, 1]) {
    const h = headerLine(m, now, width);
    assert.ok([...h].length <= width, `width ${width}: ${h.length} characters: ${h}`);
    if (width >= 40) assert.match(h, /^11358\/12345 done\b.* 2 running\b/, `width ${width}: ${h}`);
  }
  // Narrow: the failed and broken counts are kept longest, the others go first.
  assert.match(headerLine(m, now, 70), /^11358\/12345 done: 11 failed, 12 broken · 2 running · ETA \S+$/);
  // Zero counts are left out before anything else is.
  const idle = emptyModel();
  applyEvent(idle, { type: 'run-started', runId: 'r', at: T0, tree: '/t', targets: [], archs: ['amd64'], total: 3, maxJobs: 2 });
  idle.counts.built = 1;
  assert.equal(headerLine(idle, T0 + 1500, 60), '1/3 done: 1 built · 0 running, 2 waiting · 1.5s elapsed');
});

test('frameText: every line is shorter than the terminal (an icon before the header, the last column free), and a 0-column one is 80', () => {
  const m = busyModel();
  for (const columns of [100, 80, 40]) {
    const lines = frameText(m, T0 + 61_000, columns, 24).split('\n');
    assert.equal(lines.length, 3, 'header, two jobs');
    for (const l of lines) assert.ok([...l].length < columns, `${columns} columns: ${l}`);
    assert.match(lines[0]!, /^⠋ .*done/);
    assert.match(lines[1]!, /^ {2}a-packa/);
  }
  assert.equal(frameText(m, T0 + 61_000, terminalWidth(0), terminalHeight(0)), frameText(m, T0 + 61_000, 80, 24));
  assert.equal(terminalHeight(0), 24);
  assert.equal(terminalHeight(undefined), 24);
  assert.equal(terminalHeight(7.5), 7);
});

test('frameText: at 40 columns a job line keeps its phase and elapsed time (its id is cut instead)', () => {
  const m = busyModel();
  m.running.get('a-package-with-a-rather-long-name@amd64')!.phase = 'build';
  const lines = frameText(m, T0 + 61_000, 40, 24).split('\n');
  assert.equal(lines[1], '  a-packa…e@amd64 build  1m00s / ~1m30s');
  assert.equal(lines[2], '  b@amd64         fetch  1m00s / ~1m30s');
  for (const l of lines) assert.ok([...l].length < 40, l);
  // Short ids are padded to the longest shown, not to 32.
  const short = frameText(m, T0 + 61_000, 100, 24).split('\n');
  assert.equal(short[2], `  b@amd64${' '.repeat('a-package-with-a-rather-long-name@amd64'.length - 'b@amd64'.length)} fetch  1m00s / ~1m30s`);
});

test('frameText: a frame taller than the terminal keeps the header; the jobs that do not fit are counted', () => {
  const m = emptyModel();
  applyEvent(m, { type: 'run-started', runId: 'r', at: T0, tree: '/t', targets: [], archs: ['amd64'], total: 12, maxJobs: 12 });
  for (let i = 0; i < 12; i++) applyEvent(m, { type: 'job-started', runId: 'r', jobId: `sleep${i}@amd64`, name: `sleep${i}`, version: '1', arch: 'amd64', why: { kind: 'new' }, attempt: 1, log: '/l', at: T0 + i, expectedMs: undefined });
  for (const [rows, jobs] of [[8, 5], [20, 12], [14, 12], [13, 10], [3, 0], [2, 0], [1, 0]] as const) {
    const lines = frameText(m, T0 + 4000, 80, rows).split('\n');
    assert.ok(lines.length < Math.max(2, rows), `${rows} rows: ${lines.length} lines`);
    assert.match(lines[0]!, /^⠋ 0\/12 done/, `${rows} rows: the header first`);
    assert.equal(lines.filter((l) => /^ {2}sleep/.test(l)).length, jobs, `${rows} rows`);
    if (jobs < 12 && rows > 2) assert.equal(lines.at(-1), `  … and ${12 - jobs} more running`, `${rows} rows`);
  }
  // The longest running first.
  assert.match(frameText(m, T0 + 4000, 80, 8).split('\n')[1]!, /^ {2}sleep0@amd64 /);
});

/** A 6-package run on 2 slots: 2 built, 1 failed, 2 running, 1 waiting. */
function midRun(): ProgressModel {
  const m = emptyModel();
  const ids = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => `${n}@amd64`);
  applyEvent(m, { type: 'run-started', runId: 'r', at: T0, tree: '/t', targets: [], archs: ['amd64'], total: 6, maxJobs: 2, toBuild: ids, expectedMs: ids.map(() => 10_000) });
  for (const [i, state] of [[0, 'built'], [1, 'built'], [2, 'failed']] as const) {
    const name = ids[i]!.split('@')[0]!;
    applyEvent(m, { type: 'job-started', runId: 'r', jobId: ids[i]!, name, version: '1', arch: 'amd64', why: { kind: 'new' }, attempt: 1, log: '/l', at: T0, expectedMs: undefined });
    applyEvent(m, { type: 'job-finished', runId: 'r', jobId: ids[i]!, name, version: '1', arch: 'amd64', state, key: 'k', startedAt: T0, at: T0 + 10_000 });
  }
  for (const id of ids.slice(3, 5)) {
    applyEvent(m, { type: 'job-started', runId: 'r', jobId: id, name: id.split('@')[0]!, version: '1', arch: 'amd64', why: { kind: 'new' }, attempt: 1, log: '/l', at: T0 + 10_000, expectedMs: undefined });
  }
  return m;
}

test('headerLine: cancelled and waiting jobs are counted; once the run is stopping it says so and shows no ETA', () => {
  const m = midRun();
  assert.equal(headerLine(m, T0 + 12_000, 200), '3/6 done: 2 built, 0 up to date, 1 failed, 0 skipped, 0 broken, 0 cancelled · 2 running, 1 waiting · 12.0s elapsed · ETA 13.0s');
  // d and e have 8 s left each and f (waiting) takes 10 s: 26 s of work on 2 slots.
  markStopping(m, 'SIGINT');
  const h = headerLine(m, T0 + 12_000, 200);
  assert.match(h, / · stopping \(SIGINT\)$/);
  assert.doesNotMatch(h, /ETA/);
  // In a narrow terminal, that it is stopping is kept longer than the running count.
  assert.equal(headerLine(m, T0 + 12_000, 37), '3/6 done · stopping (SIGINT)');
  applyEvent(m, { type: 'job-settled', runId: 'r', jobId: 'f@amd64', name: 'f', version: '1', arch: 'amd64', state: 'cancelled', at: T0 + 12_000 });
  assert.match(headerLine(m, T0 + 12_000, 200), /^4\/6 done: .*\b1 cancelled · 2 running, 0 waiting · /);
});

test('headerLine: builds running past their expected time say so, not "ETA 0ms"', () => {
  const m = midRun();
  applyEvent(m, { type: 'job-settled', runId: 'r', jobId: 'f@amd64', name: 'f', version: '1', arch: 'amd64', state: 'cancelled', at: T0 + 12_000 });
  // d and e were expected to take 10 s; at 60 s they still run.
  assert.match(headerLine(m, T0 + 60_000, 200), / · 1m00s elapsed · running past the ETA$/);
});

test('headerLine: the last frame says how the run ended, with every count that is not 0, and no ETA', () => {
  const cases = [
    ['failed', { built: 4, 'up-to-date': 0, failed: 1, skipped: 1, broken: 0, cancelled: 0 }, 'run failed after 12.0s: 4 built, 1 failed, 1 skipped (6 packages)'],
    ['cancelled', { built: 2, 'up-to-date': 0, failed: 1, skipped: 0, broken: 0, cancelled: 3 }, 'run cancelled after 12.0s: 2 built, 1 failed, 3 cancelled (6 packages)'],
    ['done', { built: 6, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 0 }, 'run done in 12.0s: 6 built (6 packages)'],
  ] as const;
  for (const [state, counts, want] of cases) {
    const m = midRun();
    applyEvent(m, { type: 'run-finished', runId: 'r', at: T0 + 12_000, state, counts });
    assert.equal(headerLine(m, T0 + 99_000, 200), want);
    assert.ok([...headerLine(m, T0 + 99_000, 30)].length <= 30);
    assert.equal(frameText(m, T0 + 99_000, 100, 24).split('\n').length, 1, 'no running jobs are left in the last frame');
  }
});

/**
 * A terminal `cols` wide and `height` tall, enough of one for the live view's output:
 * text with autowrap (a character in the last column wraps at the next one), CR, LF (as
 * the tty's onlcr writes it), cursor up (CSI A), erase down (CSI J), erase line (CSI K);
 * private modes (cursor, synchronized output) are ignored. Lines scrolled off the top are kept.
 */
class Screen {
  readonly scrolled: string[] = [];
  private rows: string[][];
  private r = 0;
  private c = 0;
  private wrapPending = false;
  readonly cols: number;
  readonly height: number;
  constructor(cols: number, height: number) {
    this.cols = cols;
    this.height = height;
    this.rows = Array.from({ length: height }, () => []);
  }
  feed(s: string): void {
    for (let i = 0; i < s.length;) {
      if (s[i] === '\x1b') {
        const m = /^\x1b\[(\??)([0-9;]*)([A-Za-z])/.exec(s.slice(i));
        if (m === null) throw new Error(`unexpected escape: ${JSON.stringify(s.slice(i, i + 12))}`);
        i += m[0].length;
        if (m[1] === '?') continue;
        const n = m[2] === '' ? undefined : Number(m[2]);
        this.wrapPending = false;
        if (m[3] === 'A') this.r = Math.max(0, this.r - (n ?? 1));
        else if (m[3] === 'J' && (n ?? 0) === 0) {
          this.rows[this.r]!.length = Math.min(this.rows[this.r]!.length, this.c);
          for (let k = this.r + 1; k < this.height; k++) this.rows[k] = [];
        } else if (m[3] === 'K' && (n ?? 0) === 0) this.rows[this.r]!.length = Math.min(this.rows[this.r]!.length, this.c);
        else if (m[3] === 'K' && n === 2) this.rows[this.r] = [];
        else if (m[3] === 'G') this.c = Math.max(0, (n ?? 1) - 1);
        else throw new Error(`unexpected escape: ${m[0]}`);
        continue;
      }
      const ch = String.fromCodePoint(s.codePointAt(i)!);
      i += ch.length;
      if (ch === '\r') {
        this.c = 0;
        this.wrapPending = false;
      } else if (ch === '\n') {
        this.c = 0;
        this.wrapPending = false;
        this.lineFeed();
      } else {
        assert.ok(ch >= ' ' || ch === '\t', `a control character reached the terminal: ${JSON.stringify(ch)}`);
        if (this.wrapPending) {
          this.c = 0;
          this.lineFeed();
          this.wrapPending = false;
        }
        const row = this.rows[this.r]!;
        while (row.length < this.c) row.push(' ');
        row[this.c] = ch;
        if (this.c === this.cols - 1) this.wrapPending = true;
        else this.c++;
      }
    }
  }
  private lineFeed(): void {
    if (this.r < this.height - 1) return void this.r++;
    this.scrolled.push(this.rows.shift()!.join(''));
    this.rows.push([]);
  }
  /** What is on the screen now, a string per row. */
  screen(): string[] {
    return this.rows.map((r) => r.join('').trimEnd());
  }
  /** Everything written, scrolled off or on the screen, a wrapped line joined again (a full row goes on at the next). */
  transcript(): string[] {
    const all = [...this.scrolled, ...this.rows.map((r) => r.join(''))];
    const out: string[] = [];
    let carry = '';
    for (const row of all) {
      if ([...row].length >= this.cols) carry += row;
      else {
        out.push((carry + row).trimEnd());
        carry = '';
      }
    }
    while (out.at(-1) === '') out.pop();
    return out;
  }
}

/** A terminal's stdout and stderr for liveRenderer, writing into `screen`. */
function tty(screen: Screen): { out: NodeJS.WriteStream; err: NodeJS.WriteStream } {
  const stream = (): NodeJS.WriteStream =>
    Object.assign(new EventEmitter(), { isTTY: true, columns: screen.cols, rows: screen.height, write: (s: string | Uint8Array) => (screen.feed(typeof s === 'string' ? s : Buffer.from(s).toString()), true) }) as unknown as NodeJS.WriteStream;
  return { out: stream(), err: stream() };
}

const SPINNER_ICONS = /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/;

test('live view: notes, failures with their reason and log, broken packages, warnings and stderr lines stay above it, wrapped, not cut', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'kiln-live-'));
  try {
    const log = join(dir, 'a-long-package-name_amd64.log');
    writeFileSync(log, ['[   0.001] o compiling', '[   0.002] o \x1b[31merror:\x1b[0m it broke \x1b]0;evil title\x07here', '[   0.003] o 10%\r50%\r100%', '[   0.004] k failed: the build script exited with status 2', ''].join('\n'));
    const screen = new Screen(40, 12);
    const { out, err } = tty(screen);
    let now = T0;
    const stderrWrite = err.write;
    const view = liveRenderer(out, { err, now: () => now });
    assert.notEqual(err.write, stderrWrite, 'stderr goes above the view while it is drawn');
    const job = (name: string) => ({ runId: 'r', jobId: `${name}@amd64`, name, version: '1', arch: 'amd64' });
    view.onEvent({ type: 'run-started', runId: 'r', at: T0, tree: '/t', targets: [], archs: ['amd64'], total: 4, maxJobs: 2 });
    const env = 'no env configured: builds run on the host without isolation, as root (set env in kiln.toml or --env for isolated builds)';
    view.onEvent({ type: 'note', at: T0, text: env });
    view.onEvent({ type: 'job-settled', ...job('app'), state: 'broken', cause: 'needs nothere (>= 1.0), which is not in the tree', at: T0 });
    view.onEvent({ type: 'job-started', ...job('a-long-package-name'), why: { kind: 'new' }, attempt: 1, log, at: T0, expectedMs: undefined });
    view.onEvent({ type: 'job-started', ...job('b'), why: { kind: 'new' }, attempt: 1, log: join(dir, 'b.log'), at: T0, expectedMs: undefined });
    now += 2000;
    err.write('kiln: SIGINT: stopping, killing running jobs and cleaning up...\n');
    view.onEvent({ type: 'job-finished', ...job('a-long-package-name'), state: 'failed', key: 'k', failure: { reason: 'exit-status', message: 'the build script exited with status 2 after a long while of compiling things' }, log, startedAt: T0, at: now });
    view.onEvent({ type: 'job-finished', ...job('b'), state: 'built', key: 'k', warnings: ['buildpaths: 1 file holds the paths the build ran at'], startedAt: T0, at: now });
    view.onEvent({ type: 'run-finished', runId: 'r', at: now, state: 'failed', counts: { built: 1, 'up-to-date': 0, failed: 1, skipped: 0, broken: 1, cancelled: 1 } });
    view.onEvent({ type: 'note', at: now, text: 'the repository is not signed: kiln key generate makes a key' });
    await view.finish();
    err.write('kiln: error after the view\n');

    const lines = screen.transcript();
    const want = [
      `kiln: ${env}`,
      '✖ app@amd64 broken: needs nothere (>= 1.0), which is not in the tree',
      'kiln: SIGINT: stopping, killing running jobs and cleaning up...',
      '✖ a-long-package-name@amd64 failed after 2.0s: the build script exited with status 2 after a long while of compiling things',
      `    the last 4 lines of ${log} (all of it: kiln logs a-long-package-name):`,
      '    | [   0.001] o compiling',
      '    | [   0.002] o error: it broke here',
      '    | [   0.003] o 10% 50% 100%',
      '    | [   0.004] k failed: the build script exited with status 2',
      'warning: b@amd64: buildpaths: 1 file holds the paths the build ran at (kiln logs b says what to do)',
      '✖ run failed after 2.0s: 1 built, 1 failed, 1 broken, 1 cancelled (4 packages)',
      'kiln: the repository is not signed: kiln key generate makes a key',
      'kiln: error after the view',
    ];
    assert.deepEqual(lines, want);
    // No frame was left behind: every one was erased before the lines above it were written.
    assert.ok(!lines.some((l) => SPINNER_ICONS.test(l)));
    assert.equal(err.write, stderrWrite, 'stderr given back');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('live view: on a short terminal the header stays on screen and nothing of the frame scrolls off', () => {
  const screen = new Screen(80, 8);
  const { out, err } = tty(screen);
  const view = liveRenderer(out, { err, now: () => T0 + 4000 });
  view.onEvent({ type: 'run-started', runId: 'r', at: T0, tree: '/t', targets: [], archs: ['amd64'], total: 12, maxJobs: 12 });
  for (let i = 0; i < 12; i++) view.onEvent({ type: 'job-started', runId: 'r', jobId: `sleep${i}@amd64`, name: `sleep${i}`, version: '1', arch: 'amd64', why: { kind: 'new' }, attempt: 1, log: '/l', at: T0, expectedMs: 4000 });
  view.stopping('SIGINT');
  const rows = screen.screen();
  assert.match(rows[0]!, /^. 0\/12 done: .*12 running.* · stopping \(SIGINT\)$/, rows.join('\n'));
  assert.equal(rows.filter((r) => r.startsWith('  sleep')).length, 5);
  assert.equal(rows[6], '  … and 7 more running');
  assert.deepEqual(screen.scrolled, []);
  for (const r of rows) assert.ok([...r].length < 80);
  view.onEvent({ type: 'run-finished', runId: 'r', at: T0 + 5000, state: 'cancelled', counts: { built: 0, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 12 } });
  assert.deepEqual(screen.transcript(), ['✖ run cancelled after 5.0s: 12 cancelled (12 packages)']);
});

test('live view: at 40 columns the last line, how the run ended, wraps instead of being cut', () => {
  const screen = new Screen(40, 10);
  const { out, err } = tty(screen);
  const view = liveRenderer(out, { err, now: () => T0 + 173 });
  view.onEvent({ type: 'run-started', runId: 'r', at: T0, tree: '/t', targets: [], archs: ['amd64'], total: 10, maxJobs: 2 });
  view.onEvent({ type: 'run-finished', runId: 'r', at: T0 + 173, state: 'failed', counts: { built: 4, 'up-to-date': 0, failed: 2, skipped: 2, broken: 2, cancelled: 0 } });
  assert.deepEqual(screen.transcript(), ['✖ run failed after 173ms: 4 built, 2 failed, 2 skipped, 2 broken (10 packages)']);
});

test('live view: the cursor is hidden on its own terminal while it is drawn and shown again at the end; nothing of it goes to stderr', async () => {
  const written: { out: string; err: string } = { out: '', err: '' };
  const stream = (which: 'out' | 'err'): NodeJS.WriteStream =>
    Object.assign(new EventEmitter(), { isTTY: true, columns: 80, rows: 24, write: (s: string | Uint8Array) => ((written[which] += typeof s === 'string' ? s : Buffer.from(s).toString()), true) }) as unknown as NodeJS.WriteStream;
  const out = stream('out');
  const err = stream('err');
  const view = liveRenderer(out, { err, now: () => 0 });
  view.onEvent({ type: 'note', at: 0, text: 'a note' });
  await view.finish();
  assert.ok(written.out.startsWith('\x1b[?25l'), JSON.stringify(written.out.slice(0, 20)));
  assert.ok(written.out.endsWith('\x1b[?25h'), JSON.stringify(written.out.slice(-20)));
  assert.equal(written.err, '', 'log-update hid the cursor on process.stderr, which the view takes over');
});
