// kiln serve: run the build daemon (REST API, tenant queues) until SIGTERM or SIGINT.

import { whenOutputCloses } from './output-closed.ts';
import { Option, type Command } from 'commander';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { join, resolve } from 'node:path';
import { hostname, userInfo } from 'node:os';
import { MAX_INTERRUPTIONS } from '../records/server-records.ts';
import { openRecords } from '../records/records.ts';
import { reapLeftovers } from '../run/run-workspaces.ts';
import { KilnError } from '../errors.ts';
import { SANDBOX_CHOICES, type SandboxChoice } from '../sandbox/choose-backend.ts';
import { createApp } from '../server/app.ts';
import { displayUrl } from '../distributed/nats-url.ts';
import { addNatsAccessOptions, natsAccessOf, type NatsAccessOptions } from '../distributed/nats-access.ts';
import { DEFAULT_BUNDLE_LIMITS } from '../server/bundles.ts';
import { DEFAULT_SAMPLE_INTERVAL_MS } from '../server/job-sampler.ts';
import { listen, parseListen, STOP_MODES, type StopMode } from '../server/listen.ts';
import type { CliContext } from './main.ts';
import { DEFAULT_MIN_FREE } from '../run/free-space.ts';
import { addStateOptions, formatMs, natsUrlOf, layoutFrom, parseCount, parseDurationOption, parseJobs, parseLogLimit, parsePositive, parseRange, parseSizeOption, type StateOptions } from './options.ts';
import { credentialsForDaemon } from '../config/credentials.ts';
import { readAptSources } from '../config/mirrors.ts';
import { fetchPolicy, guardFetches, originKey, parseFetchAllow, type FetchPolicy } from '../lib/fetch-guard.ts';
import { DEFAULT_MAX_QUEUED } from '../server/queue.ts';
import { humanBytes } from '../lib/human-bytes.ts';
import { DEFAULT_LOG_LIMIT } from '../logs/job-log.ts';
import { webhooksFrom } from '../server/webhooks.ts';

interface ServeOpts extends StateOptions, NatsAccessOptions {
  listen: string;
  tree: string[];
  maxConcurrentBuilds?: number;
  jobs?: number;
  overcommitCpus?: number;
  maxJobCpus?: number;
  nats?: string;
  sandbox?: SandboxChoice;
  logLimit?: number;
  jobTimeout?: number;
  maxPriority?: number;
  onStop: StopMode;
  bundleMaxBytes?: number;
  bundleMaxExtracted?: number;
  bundleMaxEntries?: number;
  sampleInterval?: number;
  minFree?: number;
  bundleQuota?: number;
  fetchAllow: string[];
  maxQueued?: number;
  webhook: string[];
  webhookSecretFile?: string;
}

/** A size flag of serve's (options.ts's parseSizeOption). */
export const parseSize = (flag: string): ((text: string) => number) => parseSizeOption(flag);

export function parseSeconds(flag: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < 0.1 || n > 3600) throw new KilnError('usage', `${flag}: expected seconds between 0.1 and 3600, got "${text}"`);
    return n;
  };
}

export function parseTreeFlag(text: string, previous: string[] = []): string[] {
  return [...previous, text];
}

export function treesFrom(flags: readonly string[], cwd = process.cwd()): Map<string, string> {
  const trees = new Map<string, string>();
  for (const f of flags) {
    const eq = f.indexOf('=');
    const name = eq <= 0 ? '' : f.slice(0, eq);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new KilnError('usage', `--tree: expected NAME=DIR (e.g. main=./recipes), got "${f}"`);
    const dir = resolve(cwd, f.slice(eq + 1));
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new KilnError('tree-not-found', `--tree ${name}: ${dir} ${existsSync(dir) ? 'is not a directory' : 'does not exist'}`, {
        hint: 'give --tree NAME=DIR with the directory of a tree (recipe folders or a debian.toml) on this machine',
      });
    }
    if (trees.has(name)) throw new KilnError('usage', `--tree: the name "${name}" is given twice`, { hint: 'give each tree a name of its own: --tree NAME=DIR once per name' });
    trees.set(name, dir);
  }
  return trees;
}

export function maxConcurrentFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env['KILN_MAX_CONCURRENT_BUILDS'];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    throw new KilnError('config-invalid', `KILN_MAX_CONCURRENT_BUILDS: expected a whole number of at least 1, got "${v}"`, {
      hint: 'set it to a whole number such as 2, or unset it; --max-concurrent-builds N overrides it',
    });
  }
  return n;
}

export function registerServe(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('serve')
    .description('run the build daemon: a REST API under /api/v1 (bearer tokens from `kiln token create`), builds queued per tenant')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8080')
    .option('--tree <name=dir>', 'a tree clients may build by NAME (repeatable)', parseTreeFlag, [])
    .option('--max-queued <n>', `builds one tenant may have waiting in the queue; past it POST /builds answers 429 too-many-builds (default ${DEFAULT_MAX_QUEUED})`, parsePositive('--max-queued'))
    .option('--max-concurrent-builds <n>', 'builds of different tenants at once (default: $KILN_MAX_CONCURRENT_BUILDS, else 2)', parsePositive('--max-concurrent-builds'))
    .option('-j, --jobs <n>', 'job slots of this machine, shared by the running builds (default: number of cores)', parseJobs)
    .option('--overcommit-cpus <n>', 'let builds reserve N cpus more than the machine has cores (default 0; see docs/cli.md)', parseCount('--overcommit-cpus'))
    .option('--max-job-cpus <n>', "the most cpus one job of any tenant reserves, and its $JOBS, whatever its recipe's cpus asks (default: no cap; see docs/operations.md)", parsePositive('--max-job-cpus'))
    .option('--nats <url>', "the builds' jobs are built by `kiln worker`s through this NATS server with JetStream (default: $KILN_NATS; docs/operations.md, \"Many machines\")")
    .addOption(new Option('--sandbox <kind>', 'where builds run: auto (default) builds in the env a build names and refuses one that names none; host runs uploaded scripts on this machine without isolation; a tree\'s own kiln.toml sandbox is not used').choices(SANDBOX_CHOICES))
    .addOption(
      new Option('--on-stop <mode>', 'on SIGTERM/SIGINT: cancel running builds (they resume at the next start), or drain (let them finish, then exit)')
        .choices(STOP_MODES)
        .default('cancel'),
    )
    .option('--bundle-max-bytes <size>', `largest bundle upload, as sent (default ${DEFAULT_BUNDLE_LIMITS.maxUploadBytes / 1024 ** 2}M)`, parseSize('--bundle-max-bytes'))
    .option('--bundle-max-extracted <size>', `largest bundle once extracted (default ${DEFAULT_BUNDLE_LIMITS.maxExtractedBytes / 1024 ** 2}M)`, parseSize('--bundle-max-extracted'))
    .option('--bundle-quota <size>', "all of one tenant's stored bundles together, as extracted (default: no limit); kiln cache gc removes those older than its --older-than that no build waits for", parseSize('--bundle-quota'))
    .option('--bundle-max-entries <n>', `most members in a bundle (default ${DEFAULT_BUNDLE_LIMITS.maxEntries})`, parsePositive('--bundle-max-entries'))
    .option('--max-priority <n>', "the highest build priority a tenant's token may ask for, 0 to 100 (default 100; admin tokens any)", parseRange('--max-priority', 0, 100))
    .option('--job-timeout <duration>', "no job of any tenant's build may run longer than this, whatever its recipe says, e.g. 6h (default: none)", parseDurationOption('--job-timeout'))
    .option('--log-limit <size>', "most output a job's log holds (default 1G; 0: no limit); past it the build goes on and its last lines are kept", parseLogLimit)
    .option('--min-free <size>', 'start no build while the disk of the state dir (workspaces, cache) has less free (default 1G; 0: no limit); /healthz then answers 503', parseSizeOption('--min-free', { zero: true }))
    .option('--fetch-allow <cidr>', "a network (10.20.0.0/16) or address the daemon may fetch from for a tenant's build besides the public internet and the hosts of its apt sources (repeatable; docs/operations.md)", collectText, [])
    .option('--webhook <url>', 'POST every build that ends (done, failed, cancelled) to this URL as JSON, signed when --webhook-secret-file is given (repeatable; docs/operations.md)', collectText, [])
    .option('--webhook-secret-file <file>', 'optional: a file whose text (less a trailing newline) signs each POST of --webhook (X-Kiln-Signature: HMAC-SHA256 of the body); without it POSTs are unsigned')
    .option('--sample-interval <seconds>', `how often running jobs' cpu, memory and disk are sampled (default ${DEFAULT_SAMPLE_INTERVAL_MS / 1000})`, parseSeconds('--sample-interval'));
  addNatsAccessOptions(cmd);
  addStateOptions(cmd);
  cmd.action(async (opts: ServeOpts) => {
    const where = parseListen(opts.listen);
    const state = layoutFrom(opts);
    const trees = treesFrom(opts.tree);
    // The operator's URLs (never a tenant's): checked, and the secret read, before anything starts.
    const webhooks = webhooksFrom(opts.webhook, opts.webhookSecretFile);
    const maxConcurrentBuilds = opts.maxConcurrentBuilds ?? maxConcurrentFromEnv() ?? 2;
    // The NATS files are read now: a bad one stops the daemon here, not each build later.
    const natsAccess = natsAccessOf(opts, natsUrlOf(opts.nats));
    // Tenants name the urls a daemon fetches: not with the operator's own ~/.netrc.
    credentialsForDaemon();
    // Nor may they have it fetch from its own network (loopback, private, link-local):
    // only its apt sources' hosts and the networks allowed here.
    guardFetches(await daemonFetchPolicy(opts.fetchAllow));
    // What a daemon that died left (its runs, their sandboxes and workspaces) is cleaned
    // now, as each build does as it starts: not left until the next build (a build given
    // up after the daemon died under it again and again has none).
    mkdirSync(state.root, { recursive: true });
    // One daemon per state directory: a second would re-queue the first's running builds
    // as interrupted and run them again beside it.
    const daemonLock = holdDaemonLock(state.root);
    try {
      {
        using records = openRecords(state.root);
        records.markInterruptedRuns();
      }
      await reapLeftovers(state);
      const kiln = createApp({
        state,
        trees,
        maxConcurrentBuilds,
        ...(opts.maxQueued === undefined ? {} : { maxQueuedPerTenant: opts.maxQueued }),
        ...(opts.jobs === undefined ? {} : { slots: opts.jobs }),
        ...(opts.overcommitCpus === undefined ? {} : { overcommitCpus: opts.overcommitCpus }),
        ...(opts.sandbox === undefined ? {} : { sandbox: opts.sandbox }),
        ...(opts.logLimit === undefined ? {} : { logLimit: opts.logLimit }),
        ...(opts.jobTimeout === undefined ? {} : { jobTimeoutMs: opts.jobTimeout }),
        ...(opts.maxJobCpus === undefined ? {} : { maxJobCpus: opts.maxJobCpus }),
        ...(natsUrlOf(opts.nats) === undefined ? {} : { nats: natsUrlOf(opts.nats)! }),
        ...(natsAccess === undefined ? {} : { natsAccess }),
        ...(opts.maxPriority === undefined ? {} : { maxPriority: opts.maxPriority }),
        bundleLimits: {
          ...(opts.bundleMaxBytes === undefined ? {} : { maxUploadBytes: opts.bundleMaxBytes }),
          ...(opts.bundleMaxExtracted === undefined ? {} : { maxExtractedBytes: opts.bundleMaxExtracted }),
          ...(opts.bundleMaxEntries === undefined ? {} : { maxEntries: opts.bundleMaxEntries }),
          ...(opts.bundleQuota === undefined ? {} : { tenantQuotaBytes: opts.bundleQuota }),
        },
        ...(opts.sampleInterval === undefined ? {} : { sampleIntervalMs: Math.round(opts.sampleInterval * 1000) }),
        minFreeBytes: opts.minFree ?? DEFAULT_MIN_FREE,
        ...(webhooks === undefined ? {} : { webhooks }),
        onError: (m) => ctx.stderr.write(`kiln serve: ${m}\n`),
      });
      if (!isLoopback(where.host)) {
        ctx.stderr.write(`kiln serve: listening on ${where.host} over plain http: bearer tokens cross the network in clear; put kiln behind an https reverse proxy\n`);
      }
      // With --nats the workers run the scripts, each in its own --sandbox: not this machine.
      if (opts.sandbox === 'host' && natsUrlOf(opts.nats) === undefined) {
        ctx.stderr.write(`kiln serve: --sandbox host: clients' build scripts run on this machine without isolation, as ${userInfo().username}\n`);
      }
      // Every tenant's builds, logs and uploads are in the state dir: not for other local users.
      restrictStatePermissions(state.root);
      let server;
      try {
        server = await listen(kiln, where);
      } catch (e) {
        await kiln.close();
        throw e;
      }
      ctx.stderr.write(
        `kiln serve: listening on ${server.url} (state ${state.root}; trees: ${[...trees.keys()].join(', ') || 'none'}; ` +
          `${maxConcurrentBuilds} concurrent builds)\n` +
          (kiln.queue.lowSpace() === undefined ? '' : `kiln serve: the disk of ${kiln.queue.lowSpace()!.where} has less free than --min-free: builds wait until there is space (GET /healthz says how much)\n`) +
          (kiln.requeued.length > 0 ? `kiln serve: re-queued ${kiln.requeued.length} build(s) interrupted by the last server: ${kiln.requeued.join(', ')}\n` : '') +
          (kiln.failedInterrupted.length > 0 ? `kiln serve: failed ${kiln.failedInterrupted.length} build(s) the server died under ${MAX_INTERRUPTIONS} times, instead of running them again: ${kiln.failedInterrupted.join(', ')}\n` : ''),
      );
      ctx.stderr.write(await settingsText(state.root, opts, kiln.context.records.listTokens()));
      if (webhooks !== undefined) ctx.stderr.write(`kiln serve: builds that end are POSTed to ${webhooks.urls.length} webhook(s), ${webhooks.secret === undefined ? 'unsigned (no --webhook-secret-file)' : 'signed (X-Kiln-Signature)'}\n`);
      await new Promise<void>((done) => {
        const onSignal = (sig: NodeJS.Signals): void => {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          process.off('SIGHUP', onSignal);
          if (opts.onStop === 'drain') {
            // A second signal while draining: stop waiting, cancel and re-queue what runs.
            const again = (sig2: NodeJS.Signals): void => {
              ctx.stderr.write(`kiln serve: ${sig2} while draining: stopping running builds (they will resume at the next start)\n`);
              void kiln.close();
            };
            process.once('SIGTERM', again);
            process.once('SIGINT', again);
          }
          ctx.stderr.write(
            opts.onStop === 'drain'
              ? `kiln serve: ${sig}: taking no new builds (503); letting ${kiln.queue.active().length} running build(s) finish (queued ones wait for the next start)\n`
              : `kiln serve: ${sig}: no longer accepting; stopping running builds (they will resume at the next start)\n`,
          );
          void server.stop(opts.onStop).then(done, (e: unknown) => {
            ctx.stderr.write(`kiln serve: error while stopping: ${String(e)}\n`);
            ctx.exitCode = 1;
            done();
          });
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
        // A daemon started from a terminal or ssh session that closes: stopped as on SIGTERM, not killed.
        process.on('SIGHUP', onSignal);
        // Its output gone (a terminal closed, a pipe's reader gone): stopped the same way.
        whenOutputCloses(() => onSignal('SIGTERM'));
      });
      whenOutputCloses(undefined);
      ctx.stderr.write('kiln serve: stopped\n');
    } finally {
      daemonLock.release();
    }
  });
}

/**
 * One daemon per state directory: an exclusive SQLite lock on `<state>/daemon.lock`, held
 * while the daemon runs. The kernel drops it when the process ends, however it ends, so a
 * daemon that died (even in a container whose host name changed) leaves nothing to break.
 * `<state>/daemon.pid` says who holds it (pid, host, since), for the message of the next.
 */
export function holdDaemonLock(stateRoot: string): { release(): void } {
  const db = new DatabaseSync(join(stateRoot, 'daemon.lock'), { timeout: 0 });
  try {
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (e) {
    db.close();
    if (!/locked|busy/i.test((e as Error).message)) throw e;
    const [pid, host, since] = readFileSafe(join(stateRoot, 'daemon.pid')).trim().split(' ');
    const when = Number(since);
    const who = pid === undefined || pid === '' ? 'another kiln serve' : `another kiln serve (pid ${pid}${host === undefined ? '' : ` on ${host}`}${Number.isFinite(when) && when > 0 ? `, since ${new Date(when).toISOString()}` : ''})`;
    throw new KilnError('conflict', `${who} uses the state directory ${stateRoot}`, {
      hint: 'one daemon per state directory: stop that one first, or give this one its own --state',
    });
  }
  const pidFile = join(stateRoot, 'daemon.pid');
  writeFileSync(pidFile, `${process.pid} ${hostname()} ${Date.now()}\n`);
  return {
    release() {
      rmSync(pidFile, { force: true });
      db.close();
    },
  };
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** 127.0.0.0/8, ::1 and localhost: what only this machine reaches. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * What an operator checks first, said at start: where builds run and in which envs, the
 * limits, how many tokens can use it; and a warning when no build could run at all (auto
 * with no env: every build would be refused).
 */
async function settingsText(stateRoot: string, opts: ServeOpts, tokens: readonly { revokedAt: number | null; expiresAt: number | null }[]): Promise<string> {
  const { createEnvStore } = await import('../envs/env-store.ts');
  const { envsDirOf } = await import('../envs/layout.ts');
  const envs = (await createEnvStore({ stateDir: stateRoot }).list()).map((e) => e.name);
  const dir = envsDirOf(stateRoot);
  const sandbox = opts.sandbox ?? 'auto';
  const now = Date.now();
  const live = tokens.filter((t) => t.revokedAt === null && (t.expiresAt === null || t.expiresAt > now)).length;
  const bytes = (n: number): string => (n === 0 ? 'none' : humanBytes(n));
  let text = `kiln serve: --sandbox ${sandbox}; envs in ${dir}: ${envs.length === 0 ? 'none' : envs.join(', ')}; --min-free ${bytes(opts.minFree ?? DEFAULT_MIN_FREE)}; --log-limit ${bytes(opts.logLimit ?? DEFAULT_LOG_LIMIT)}; --job-timeout ${opts.jobTimeout === undefined ? 'none' : formatMs(opts.jobTimeout)}; ${opts.maxJobCpus === undefined ? '' : `--max-job-cpus ${opts.maxJobCpus}; `}${natsUrlOf(opts.nats) === undefined ? '' : `jobs built by kiln workers through ${displayUrl(natsUrlOf(opts.nats)!)}; `}${live} live token(s)\n`;
  if (envs.length === 0 && sandbox !== 'host') {
    text += `kiln serve: no env in ${dir}: every build will be refused until there is one (kiln env create NAME --suite SUITE --arch ARCH, with the same KILN_ENVS or --state)\n`;
  }
  if (live === 0) text += `kiln serve: no live token: nobody can use the API yet (kiln token create TENANT --state ${stateRoot})\n`;
  // Where tenants' downloads may go (operations.md, "Where a daemon fetches from").
  const policy = fetchPolicy();
  if (policy !== undefined) {
    text += `kiln serve: tenants' downloads go to public addresses${policy.trustedHosts.size === 0 ? '' : `, the daemon's apt sources (${[...policy.trustedHosts].sort().join(', ')})`}${policy.allowedText.length === 0 ? '' : ` and --fetch-allow ${policy.allowedText.join(', ')}`} only\n`;
  }
  return text;
}

/**
 * What a daemon keeps of its tenants, readable by its own user only: the records (builds,
 * token and session hashes), the logs, the reports, the uploads, and what holds their
 * recipes and builds (the scan cache and plan memos quote every recipe; the workspaces).
 * The repository published under the state dir and the envs stay as they are (apt and the
 * sandboxes read them).
 */
export function restrictStatePermissions(root: string): void {
  const private_ = ['logs', 'runs', 'bundles', 'scan-cache', 'plan-memo', 'work'] as const;
  // Made now if missing: a folder made later by a build would get the default 0755.
  for (const dir of private_) mkdirSync(join(root, dir), { recursive: true, mode: 0o700 });
  for (const [name, mode] of [['kiln.db', 0o600], ['kiln.db-wal', 0o600], ['kiln.db-shm', 0o600], ...private_.map((d) => [d, 0o700] as const)] as const) {
    try {
      chmodSync(join(root, name), mode);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

function collectText(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The daemon's fetch policy: the origins (host and port) of this machine's apt sources are its own mirrors; --fetch-allow adds networks. */
export async function daemonFetchPolicy(allow: readonly string[], aptDir = '/etc/apt'): Promise<FetchPolicy> {
  const allowed = parseFetchAllow(allow);
  const trustedHosts = new Set<string>();
  for (const e of await readAptSources(aptDir)) {
    for (const uri of e.uris) {
      const origin = originKey(uri);
      if (origin !== undefined) trustedHosts.add(origin);
    }
  }
  return { trustedHosts, allowed, allowedText: [...allow] };
}
