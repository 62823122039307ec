// The benchmark's result table: one row per figure, aligned columns, PASS/FAIL marks.

export interface Row {
  readonly figure: string;
  readonly packages: number;
  /** Wall clock of the whole kiln process; undefined when the run failed. */
  readonly kiln: number | undefined;
  readonly baseline: number | undefined;
  readonly baselineName: string | undefined;
  readonly ratio: number | undefined;
  readonly target: string;
  /** undefined: could not be measured. */
  readonly pass: boolean | undefined;
  readonly rssKb: number | undefined;
  /** Share of the CPU (0..1) other processes used during the row's measurements. */
  readonly otherLoad: number | undefined;
}

export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return ms < 10_000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function formatTable(rows: readonly Row[]): string {
  const header = ['figure', 'packages', 'kiln', 'baseline', 'ratio', 'target', 'result', 'kiln peak RSS', 'other load'];
  const body = rows.map((r) => [
    r.figure,
    r.packages.toLocaleString('en-US'),
    formatMs(r.kiln),
    r.baseline === undefined ? '-' : `${formatMs(r.baseline)} (${r.baselineName ?? '?'})`,
    r.ratio === undefined ? '-' : `${r.ratio.toFixed(2)}x`,
    r.target,
    r.pass === undefined ? 'n/a' : r.pass ? 'PASS' : 'FAIL',
    r.rssKb === undefined ? '-' : `${Math.round(r.rssKb / 1024)} MiB`,
    r.otherLoad === undefined ? '-' : `${Math.round(r.otherLoad * 100)}%`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 1 || i === 2 || i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
