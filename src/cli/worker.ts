// kiln worker --nats URL: build the jobs of `kiln build --nats URL` runs on this machine
// (src/distributed/worker.ts), until SIGINT or SIGTERM, which give back the jobs it holds.

import { whenOutputCloses } from './output-closed.ts';
import { Option, type Command } from 'commander';
import { availableParallelism } from 'node:os';
import { exitCodeFor, KilnError } from '../errors.ts';
import { WORKER_NAME_RE } from '../distributed/nats-url.ts';
import { addNatsAccessOptions, natsAccessOf, type NatsAccessOptions } from '../distributed/nats-access.ts';
import { SANDBOX_CHOICES, type SandboxChoice } from '../sandbox/choose-backend.ts';
import type { CliContext } from './main.ts';
import type { NatsConnection } from '@nats-io/transport-node';
import { addStateOptions, layoutFrom, natsUrlOf, parseArchList, parseDurationOption, parseCount, parseJobs, parseSizeOption, type StateOptions } from './options.ts';

interface WorkerOpts extends StateOptions, NatsAccessOptions {
  nats?: string;
  jobs?: number;
  overcommitCpus?: number;
  arch?: string[];
  sandbox?: SandboxChoice;
  env?: string;
  name?: string;
  minFree?: number;
  keepLogs?: number;
}

export function registerWorker(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('worker')
    .description('build the jobs of `kiln build --nats URL` runs on this machine, until stopped (SIGINT/SIGTERM/SIGHUP give back the jobs it holds)')
    .option('--nats <url>', 'the NATS server with JetStream the builds go through (default: $KILN_NATS); waited for while unreachable')
    .option('-j, --jobs <n>', 'jobs at once (default: the number of cores); each also reserves its recipe\'s cpus and memory, as in kiln build', parseJobs)
    .option('--overcommit-cpus <n>', 'let jobs reserve N cpus more than the machine has cores (default 0), as kiln build --overcommit-cpus', parseCount('--overcommit-cpus'))
    .option('--arch <list>', 'Debian archs whose jobs it takes, comma-separated (default: this machine\'s)', parseArchList)
    .addOption(new Option('--sandbox <kind>', 'how jobs are isolated (default: auto, as kiln build)').choices(SANDBOX_CHOICES))
    .option('--env <name>', 'the env jobs build in (may hold {arch}); the jobs must have been planned for the same env')
    .option('--name <name>', 'its name in the coordinator\'s logs (default: HOST:PID)')
    .option('--keep-logs <duration>', 'how long it keeps its own copies of the logs (the coordinator has them), e.g. 30d (default 7d)', parseDurationOption('--keep-logs'))
    .option('--min-free <size>', 'take no job while the disk of the state dir (workspaces, cache) has less free (default 1G; 0: no limit)', parseSizeOption('--min-free', { zero: true }));
  addNatsAccessOptions(cmd);
  addStateOptions(cmd);
  cmd.action(async (opts: WorkerOpts) => {
    if (opts.name !== undefined && !WORKER_NAME_RE.test(opts.name)) throw new KilnError('usage', `--name: ${JSON.stringify(opts.name)} is not a worker name: 1 to 200 characters, no control characters`, { hint: 'e.g. --name build-3 (default: HOST:PID)' });
    const url = natsUrlOf(opts.nats);
    if (url === undefined) {
      throw new KilnError('usage', 'kiln worker needs the NATS server: --nats nats://HOST:4222 (or KILN_NATS)', { hint: 'start one with `nats-server -js` (docs/operations.md, "Many machines")' });
    }
    const access = natsAccessOf(opts, url);
    const state = layoutFrom(opts);
    const { hostArch } = await import('../run/host-env.ts');
    const archs = opts.arch ?? [hostArch()];
    const { makeStateDir } = await import('../run/state-layout.ts');
    await makeStateDir(state);
    // What a worker killed here left (its sandboxes' mounts, cgroups and workspaces, then
    // its folders of work), as a build does at its start: a job sent again finds it clean.
    await (await import('../run/run-workspaces.ts')).reapLeftovers(state);
    const { resolveRunEnvs } = await import('../run/run-envs.ts');
    const envs = await resolveRunEnvs({ stateDir: state.root, sandbox: opts.sandbox ?? 'auto', envTemplate: opts.env, archs, hostArch: hostArch(), lease: true });
    // SIGINT or SIGTERM stop it from here on: while it waits for the NATS server, at once (exit 130).
    // Holding jobs, it gives them back first, which needs the server: a second signal stops
    // it without (they go back to the queue when their ack wait runs out).
    const controller = new AbortController();
    const abandon = new AbortController();
    const held = new Set<string>();
    let connected = false;
    const stop = (sig: NodeJS.Signals): void => {
      if (abandon.signal.aborted) return;
      if (controller.signal.aborted) {
        // Holding nothing, a second signal cuts short the wait for the server to take the goodbye.
        ctx.stderr.write(`kiln worker: ${stopAgainText(sig, [...held])}\n`);
        abandon.abort();
        return;
      }
      ctx.stderr.write(`kiln worker: ${stopText(sig, connected ? [...held] : [])}\n`);
      controller.abort();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    // A closed terminal or ssh session: the jobs go back rather than wait out the ack wait.
    process.on('SIGHUP', stop);
    // Its output gone (a terminal closed, a pipe's reader gone): stopped the same way.
    whenOutputCloses(() => stop('SIGTERM'));
    const unlisten = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.off('SIGHUP', stop);
      whenOutputCloses(undefined);
    };
    const { openCluster } = await import('../distributed/cluster.ts');
    const say = (text: string): void => void ctx.stderr.write(`kiln worker: ${text}\n`);
    let cluster: Awaited<ReturnType<typeof openCluster>>;
    try {
      // A server it cannot reach yet (booting, started after this worker) is waited for.
      cluster = await openCluster(url, archs.map((arch) => ({ arch, envId: envs.envIdFor(arch) })), { access, say, wait: { signal: controller.signal, say } });
      connected = true;
    } catch (e) {
      unlisten();
      await envs.release();
      if (!(e instanceof KilnError && e.code === 'cancelled')) throw e;
      say(e.message);
      ctx.exitCode = exitCodeFor(e);
      return;
    }
    const link = watchLink(cluster.nc);
    const jobs = opts.jobs ?? availableParallelism();
    const { DEFAULT_MIN_FREE, stateFreeSpace } = await import('../run/free-space.ts');
    const minFree = opts.minFree ?? DEFAULT_MIN_FREE;
    const { machineCapacity } = await import('../run/host-env.ts');
    const { humanBytes } = await import('../lib/human-bytes.ts');
    const capacity = machineCapacity(jobs, opts.overcommitCpus);
    ctx.stderr.write(`kiln worker: taking jobs for ${archs.join(', ')} from ${cluster.url}, ${jobs} at once within ${capacity.cpus} cpus and ${humanBytes(capacity.memoryBytes)} of memory (their recipes' cpus and memory), in ${envs.backend.name === 'host' ? 'the host sandbox' : `the ${envs.backend.name} sandbox`}${envs.note === undefined ? '' : ` (${envs.note})`}; the jobs planned in ${[...new Set(archs.map((a) => envs.envIdFor(a)))].join(', ')}\n`);
    try {
      const { runWorker } = await import('../distributed/worker.ts');
      const counts = await runWorker({
        cluster, state, envs, archs, jobs, signal: controller.signal, abandon: abandon.signal, held,
        ...(opts.overcommitCpus === undefined ? {} : { overcommitCpus: opts.overcommitCpus }),
        ...(minFree > 0 ? { minFree: { bytes: minFree, free: () => stateFreeSpace(state) } } : {}),
        ...(opts.keepLogs === undefined ? {} : { keepLogsMs: opts.keepLogs }),
        ...(opts.name === undefined ? {} : { name: opts.name }),
        say: (line) => ctx.stderr.write(`kiln worker: ${line}\n`),
      });
      ctx.stderr.write(`kiln worker: stopped: ${counts.built} built, ${counts.failed} failed${counts.cancelled === 0 ? '' : `, ${counts.cancelled} cancelled`}\n`);
    } finally {
      unlisten();
      await envs.release();
      // A drain (which sends what is left to say: an ack) waits for a server that is gone to
      // come back: then, or told to stop at once, the connection is just closed (what was not
      // said is the ack wait's to settle).
      const { raceAbort } = await import('../distributed/worker-hold.ts');
      await raceAbort([cluster.close()], [link.down, abandon.signal]);
      link.stop();
      if (!cluster.nc.isClosed()) await cluster.nc.close();
    }
  });
}

/** `down`: a signal aborted while the connection to the NATS server is lost (a new one once it is back). */
function watchLink(nc: NatsConnection): { readonly down: AbortSignal; stop(): void } {
  let down = new AbortController();
  const statuses = nc.status();
  void (async () => {
    for await (const s of statuses) {
      if (s.type === 'disconnect') down.abort();
      else if (s.type === 'reconnect') down = new AbortController();
    }
  })().catch(() => undefined);
  return { get down() { return down.signal; }, stop: () => void statuses[Symbol.asyncIterator]().return?.() };
}

/** What the first stop signal says: with no job held there is nothing to give back, nor to wait for the server for. */
export function stopText(sig: string, held: readonly string[]): string {
  if (held.length === 0) return `${sig}: stopping (it holds no job)`;
  return `${sig}: giving back the ${held.length === 1 ? 'job it holds' : `${held.length} jobs it holds`} (${held.join(', ')}), then stopping; ${sig} again stops it at once, leaving ${held.length === 1 ? 'it' : 'them'} to the NATS server's ack wait`;
}

/** What a second stop signal says while jobs are still being given back: they are abandoned, to the server's redelivery. */
export function stopAgainText(sig: string, held: readonly string[]): string {
  if (held.length === 0) return `${sig} again: stopping now`;
  return `${sig} again: stopping now; not given back: ${held.join(', ')} (the NATS server delivers ${held.length === 1 ? 'it' : 'them'} again once ${held.length === 1 ? 'its' : 'their'} ack wait runs out)`;
}
