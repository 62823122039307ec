// kiln workers --nats URL: which `kiln worker`s answer on the NATS server, what they serve
// (arch in env), what they build now, what their jobs reserve of their cpus and memory and
// the jobs they hold for room, their disk (src/distributed/worker-status.ts).

import type { Command } from 'commander';
import { KilnError } from '../errors.ts';
import { addNatsAccessOptions, natsAccessOf, type NatsAccessOptions } from '../distributed/nats-access.ts';
import { reservation, type WorkerStatus } from '../distributed/worker-status.ts';
import type { CliContext } from './main.ts';
import { formatMs, humanBytes, natsUrlOf, parseRange } from './options.ts';

interface WorkersOpts extends NatsAccessOptions {
  nats?: string;
  json?: boolean;
  wait?: number;
}

export function registerWorkers(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('workers')
    .description('list the `kiln worker`s that answer on the NATS server: what they serve (arch in env), what they build now, the cpus and memory their jobs reserve, the jobs they hold until there is room, their free disk')
    .option('--nats <url>', 'the NATS server the workers use (default: $KILN_NATS)')
    .option('--json', 'print the answers as a JSON array')
    .option('--wait <ms>', 'how long to gather answers, in milliseconds (default 1000)', parseRange('--wait', 1, 60_000, 1000));
  addNatsAccessOptions(cmd);
  cmd.action(async (opts: WorkersOpts) => {
    const url = natsUrlOf(opts.nats);
    if (url === undefined) {
      throw new KilnError('usage', 'kiln workers needs the NATS server: --nats nats://HOST:4222 (or KILN_NATS)', { hint: 'the server the workers were started with (docs/operations.md, "Many machines")' });
    }
    const access = natsAccessOf(opts, url);
    const { askWorkers, DEFAULT_WAIT_MS } = await import('../distributed/worker-status.ts');
    // A plain connection: the question needs only core NATS (no stream is made, nothing written).
    const { dialNats } = await import('../distributed/connect.ts');
    const nc = await dialNats(url, { access, name: `kiln workers ${process.pid}` });
    let answer: Awaited<ReturnType<typeof askWorkers>>;
    try {
      answer = await askWorkers(nc, opts.wait ?? DEFAULT_WAIT_MS);
    } finally {
      await nc.close();
    }
    const { displayUrl } = await import('../distributed/nats-url.ts');
    if (answer.unreadable > 0) ctx.stderr.write(`kiln workers: ${answer.unreadable} answer(s) could not be read (a worker of another kiln version?)\n`);
    if (opts.json === true) {
      ctx.stdout.write(`${JSON.stringify(answer.statuses, null, 2)}\n`);
      return;
    }
    if (answer.statuses.length === 0) {
      ctx.stdout.write(`no worker answered on NATS at ${displayUrl(url)}\n`);
      return;
    }
    ctx.stdout.write(workersTable(answer.statuses, Date.now()));
  });
}

/**
 * The table `kiln workers` prints: a line per worker, then a line per job it builds and
 * per job it holds for room (pure). CPUS and MEMORY: what its running jobs reserve of what
 * it has ("-": a worker of a kiln that does not say).
 */
export function workersTable(statuses: readonly WorkerStatus[], now: number): string {
  const head = ['NAME', 'SERVES', 'SANDBOX', 'JOBS', 'CPUS', 'MEMORY', 'FREE DISK', 'UP', 'VERSION'];
  const rows = statuses.map((s) => [
    s.name,
    s.archs.length === 0 ? '-' : s.archs.map((a) => `${a.arch} in ${a.envId}`).join(', '),
    s.sandbox,
    `${s.running.length}/${s.jobs}`,
    s.capacity === undefined ? '-' : `${s.capacity.cpus.reserved}/${s.capacity.cpus.total}`,
    s.capacity === undefined ? '-' : `${humanBytes(s.capacity.memory.reserved)}/${humanBytes(s.capacity.memory.total)}`,
    s.disk === null ? '-' : `${humanBytes(s.disk.free)}${s.disk.low ? ` LOW (--min-free ${humanBytes(s.disk.minFree)})` : ''}`,
    formatMs(Math.max(0, now - s.startedAt)),
    s.version,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => `${cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`;
  let out = line(head);
  statuses.forEach((s, i) => {
    out += line(rows[i]!);
    for (const r of s.running) out += `    ${r.jobId}  run ${r.runId}, attempt ${r.attempt}, for ${formatMs(Math.max(0, now - r.since))}\n`;
    for (const h of s.capacity?.held ?? []) out += `    ${h.jobId}  held until there is room for ${reservation(h.cpus, h.memoryBytes)} (it takes no other job meanwhile), run ${h.runId}, for ${formatMs(Math.max(0, now - h.since))}\n`;
  });
  return out;
}
