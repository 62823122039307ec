// kiln build [TARGET...]: plan and build a tree, then write the report.

import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEBIAN_FILE } from '../debian/debian-file.ts';
import { KilnError } from '../errors.ts';
import { EventBus } from '../events/events.ts';
import { crossWithNats, debianOptionsGiven, debianRequestOf, type DebianCliRequest } from '../run/debian-plan.ts';
import { runBuild } from '../run/run-build.ts';
import { collectBoost } from '../schedule/priority.ts';
import { DEFAULT_MIN_FREE } from '../run/free-space.ts';
import { SANDBOX_CHOICES, type SandboxChoice } from '../sandbox/choose-backend.ts';
import type { CliContext } from './main.ts';
import type { OptionSetting } from '../plan/options.ts';
import { collectOption, natsUrlOf, parseDurationOption, parseLogLimit, profilesOf, addDebianOptions, debianFrom, type DebianOptionsCli, addStateOptions, formatMs, parseSizeOption, layoutFrom, collectArchList, parseCount, parseJobs, summaryCounts, type StateOptions } from './options.ts';
import { flushProgress, jsonRenderer, plainRenderer } from './progress/plain.ts';
import { addRemoteOptions, remoteFrom, type RemoteOptions } from './remote.ts';
import { addNatsAccessOptions, natsAccessOf, type NatsAccessOptions } from '../distributed/nats-access.ts';
import { whenOutputCloses } from './output-closed.ts';
import { triageLines } from '../publish/failure-triage.ts';
import { collectSubstitute } from '../execute/substitute-urls.ts';
import type { SubstituteSettings } from '../execute/executor-options.ts';
import type { TreeSubstitutes } from '../config/tree-config.ts';
import { readFile } from 'node:fs/promises';

// --server / --token (remote.ts), merged into BuildOpts.
interface BuildOpts extends RemoteOptions {}

interface BuildOpts extends StateOptions, DebianOptionsCli, NatsAccessOptions {
  tree: string;
  option?: OptionSetting[];
  jobs?: number;
  overcommitCpus?: number;
  arch?: string[];
  failFast?: boolean;
  minFree?: number;
  keepFailed?: boolean;
  logLimit?: number;
  jobTimeout?: number;
  loopTimeout?: number;
  failOnWarnings?: boolean;
  retry?: number;
  nats?: string;
  serverTree?: string;
  force?: string[];
  boost?: string[];
  json?: boolean;
  env?: string;
  sandbox?: SandboxChoice;
  ccache?: boolean;
  ccacheSize?: number;
  hook?: string[];
  substitute?: string[] | false;
  substituteToken?: string;
  substituteKey?: string;
}

export function registerBuild(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('build')
    .description('build the tree (or TARGETs: package names or globs, plus what they need) in dependency order')
    .argument('[targets...]', 'package names or globs; default: every package of the tree')
    .option('--tree <dir>', 'the recipe tree (may hold a debian.toml)', '.')
    .option('-j, --jobs <n>', 'at most N builds at once (default: number of cores)', parseJobs)
    .option('--overcommit-cpus <n>', 'let builds reserve N cpus more than the machine has cores (fills cores that serial or I/O phases leave idle; default 0)', parseCount('--overcommit-cpus'))
    .option('--arch <list>', 'target architectures, comma-separated (default: kiln.toml archs, else this machine); repeated, they add up', collectArchList)
    .option('--fail-fast', 'stop starting new jobs after the first failure')
    .option('--min-free <size>', 'start no more jobs once the disk of the state dir (workspaces, cache) has less free; those not started are skipped and the run fails (default 1G; 0: no limit)', parseSizeOption('--min-free', { zero: true }))
    .option('--keep-failed', "keep a failed job's workspace for inspection")
    .option('--retry <n>', 'build a package that failed (exit status, signal, silence, a loop, timeout, download) again, up to N more times, each in a fresh workspace', parseCount('--retry'))
    .option('--fail-on-warnings', 'the output checks\' warnings (buildpaths, hierarchy, permissions) fail the build, as their errors do (BitBake\'s ERROR_QA)')
    .option('--job-timeout <duration>', 'no build may run longer than this, whatever its recipe says, e.g. 2h (default: the recipes\' own timeouts)', parseDurationOption('--job-timeout'))
    .option('--loop-timeout <duration>', 'kill a build whose output has been one line over and over (digits aside) for this long, and more than 10,000 times, whatever its recipe says, e.g. 1h; 0: never (default: the recipes\' loop-timeout, else 30m)', parseDurationOption('--loop-timeout', { zero: true }))
    .option('--log-limit <size>', "most output a job's log holds, e.g. 1G; past it the build goes on and its last lines are kept (default 1G; 0: no limit)", parseLogLimit)
    // One glob per --force (repeat it): a variadic option would swallow the targets after it.
    .option('--force <glob>', 'rebuild these packages even when up to date (one name or glob each; repeat it)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--option <setting>', 'turn a recipe option on or off for this run: NAME=on|off for every package that has it, PKG:NAME=on|off for one (repeatable; over kiln.toml [options])', collectOption)
    .option('--boost <globs>', 'start these packages (names or globs, comma-separated; repeatable), and what they wait for, before the others that are ready, whatever the learned durations say: added to kiln.toml priority-boost', collectBoost)
    .option('--env <name>', 'build inside this env (may hold {arch}, e.g. bookworm-{arch}); default: kiln.toml env')
    .addOption(new Option('--sandbox <kind>', 'where builds run: auto, host, chroot, rootless (default: kiln.toml sandbox, else auto)').choices(SANDBOX_CHOICES))
    .option('--ccache', 'compile through ccache, one cache per env, arch and sandbox (host: per arch) under the cache dir (default: kiln.toml ccache, else off)')
    .option('--no-ccache', 'no compiler cache, whatever kiln.toml says')
    .option('--ccache-size <size>', 'size limit of each ccache directory, e.g. 10G (default: kiln.toml ccache-size, else 5G)', parseSizeOption('--ccache-size', { least: 1024 ** 2 }))
    .option('--json', 'NDJSON events on stdout, the last line the run summary')
    .option('--nats <url>', 'the jobs are built by `kiln worker`s through this NATS server with JetStream (default: $KILN_NATS); planning, records and the report stay here')
    .option('--hook <cmd>', 'run CMD (with /bin/sh -c, in the tree folder) once the run has ended and its report is written: a run-finished hook, after kiln.toml [hooks] ones (repeatable; docs/cli.md)', collectHook)
    .option('--substitute <url>', 'before building a package, ask this kiln serve for its artifact by input key, and use it when found (repeatable: asked in order; replaces kiln.toml [substitutes])', (v: string, prev: string[] | false = []) => collectSubstitute(v, prev === false ? [] : prev))
    .option('--no-substitute', 'ask no substituter, whatever kiln.toml [substitutes] says')
    .option('--substitute-token <token>', 'the bearer token for --substitute (default: kiln.toml [substitutes] token-file, else $KILN_SUBSTITUTE_TOKEN)')
    .option('--substitute-key <file>', 'use only substituted artifacts whose meta.json is signed with this public key (kiln key export on the serving machine; armoured or binary; default: kiln.toml [substitutes] key)')
    .option('--server-tree <name>', 'with --server: build the tree the daemon knows by this name (kiln serve --tree NAME=DIR) instead of uploading --tree');
  addNatsAccessOptions(cmd);
  addDebianOptions(cmd, { all: false });
  addStateOptions(cmd);
  addRemoteOptions(cmd);
  cmd.action(async (targets: string[], opts: BuildOpts, command: Command) => {
    // Against a daemon: the tree goes up as a bundle and the build runs there (that code
    // is loaded only then).
    const remote = remoteFrom(opts);
    if (remote === undefined && opts.serverTree !== undefined) {
      throw new KilnError('usage', '--server-tree names a tree of a daemon: give --server URL too (or $KILN_SERVER)', { hint: 'to build a tree of this machine, use --tree DIR' });
    }
    if (remote !== undefined) {
      // Sent to a daemon by the environment, not by a flag: said, with how to build here instead.
      const fromEnv = opts.server === undefined;
      refuseLocalOnly(command, fromEnv);
      if (fromEnv && opts.json !== true) ctx.stderr.write(`kiln: building on the kiln daemon at ${remote.url} ($KILN_SERVER is set; \`KILN_SERVER= kiln build …\` builds on this machine)\n`);
      const { remoteBuild } = await import('./remote-build.ts');
      ctx.exitCode = await remoteBuild(remote, { treeDir: opts.tree, stateDir: layoutFrom(opts).root, targets, archs: opts.arch, env: opts.env, json: opts.json, serverTree: opts.serverTree }, ctx);
      return;
    }
    const debian = debianRequest(opts, targets, command);
    // --twice: a Debian part's packages and the recipes alike (execute/recipe-twice.ts), the
    // recipes on this machine only: a worker builds each job once.
    const twice = opts.twice === true;
    if (twice && debian === undefined && natsUrlOf(opts.nats) !== undefined) {
      throw new KilnError('usage', `--twice with --nats${opts.nats === undefined ? ' ($KILN_NATS)' : ''}: the workers build each recipe once, so its output cannot be compared there`, { hint: 'check the recipes here: kiln build --twice without --nats (unset KILN_NATS), or drop --twice' });
    }
    if (debian?.cross === true && natsUrlOf(opts.nats) !== undefined) throw crossWithNats(opts.nats === undefined);
    const substitute = await substituteOf(opts, natsUrlOf(opts.nats), (t) => ctx.stderr.write(`kiln: ${t}\n`));
    // --nats-creds, --nats-tls-ca…: read and checked before anything is planned.
    const natsAccess = natsAccessOf(opts, natsUrlOf(opts.nats));
    // The workers build with their jobs' recipes: a run's override would not reach them.
    const state = layoutFrom(opts);
    const bus = new EventBus();
    const stdout = ctx.stdout as NodeJS.WriteStream;
    // The live view is loaded only for a terminal that can move its cursor (not TERM=dumb).
    // It prints the run's notes, failures, broken packages and warnings above itself as
    // they come, and what is written to stderr meanwhile (planning notes, the Ctrl-C message).
    const live = !opts.json && stdout.isTTY === true && process.env['CI'] === undefined && process.env['TERM'] !== 'dumb'
      ? (await import('./progress/live.ts')).liveRenderer(stdout, { failFast: opts.failFast === true, err: ctx.stderr as NodeJS.WriteStream })
      : undefined;
    bus.on(live?.onEvent ?? (opts.json ? jsonRenderer(ctx.stdout) : plainRenderer(ctx.stdout)));
    if (live !== undefined) bus.on((e) => e.type === 'note' && e.text.startsWith('--min-free: ') && live.stopping('--min-free'));

    const controller = new AbortController();
    // A signal, or the output going away (a hangup, `kiln build | head`): the run stops as cancelled.
    const stop = (why: string): void => {
      if (controller.signal.aborted) return;
      flushProgress();
      live?.stopping(why);
      // With the live view, printed above it (stderr goes there while it is drawn).
      ctx.stderr.write(`kiln: ${why}: stopping, killing running jobs and cleaning up...\n`);
      controller.abort(new Error(why));
    };
    // A second signal kills the hooks too: those a cancelled run still runs (run/hooks.ts).
    const hookStop = new AbortController();
    const onSignal = (sig: NodeJS.Signals): void => (controller.signal.aborted ? hookStop.abort() : stop(sig));
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onSignal);
    whenOutputCloses(stop);
    try {
      const text = debian === undefined && !existsSync(join(opts.tree, DEBIAN_FILE)) ? undefined : callerOptionsNote(process.env);
      const natsTwice = twice && natsUrlOf(opts.nats) !== undefined ? '--twice with --nats: the Debian packages are compared on the workers; a recipe of the tree is built once there, not compared' : undefined;
      for (const t of [text, natsTwice]) {
        if (t === undefined) continue;
        if (opts.json) bus.emit({ type: 'note', at: Date.now(), text: t });
        else ctx.stderr.write(`kiln: ${t}\n`);
      }
      const result = await runBuild({
        treeDir: opts.tree,
        stateDir: state.root,
        cacheDir: state.cache,
        sandbox: opts.sandbox,
        env: opts.env,
        lease: true,
        state,
        targets: debian === undefined || debian.optionsOnly === true ? targets : [],
        ...(debian === undefined ? {} : { debian }),
        // With --json, a note of the planning is an event like the run's own notes.
        note: (t) => {
          if (opts.json) {
            bus.emit({ type: 'note', at: Date.now(), text: t });
            return;
          }
          flushProgress();
          ctx.stderr.write(`kiln: ${t}\n`);
        },
        archs: opts.arch,
        // --twice compares two fresh builds: it rebuilds what is up to date too.
        force: twice ? ['*'] : (opts.force ?? []),
        ...(opts.boost === undefined ? {} : { boost: opts.boost }),
        profiles: profilesOf(opts.profiles),
        ...(opts.option === undefined ? {} : { options: opts.option }),
        forcedBy: twice ? 'twice' : undefined,
        maxJobs: opts.jobs,
        overcommitCpus: opts.overcommitCpus,
        failFast: opts.failFast === true,
        minFreeBytes: opts.minFree ?? DEFAULT_MIN_FREE,
        keepFailed: opts.keepFailed === true,
        ...(opts.logLimit === undefined ? {} : { logLimit: opts.logLimit }),
        ...(opts.jobTimeout === undefined ? {} : { jobTimeoutMs: opts.jobTimeout }),
        ...(opts.loopTimeout === undefined ? {} : { loopTimeoutMs: opts.loopTimeout }),
        ...(opts.failOnWarnings === true ? { failOnWarnings: true } : {}),
        ...(opts.retry === undefined ? {} : { retries: opts.retry }),
        ...(natsUrlOf(opts.nats) === undefined ? {} : { nats: natsUrlOf(opts.nats)! }),
        ...(natsAccess === undefined ? {} : { natsAccess }),
        ...(opts.hook === undefined ? {} : { hooks: opts.hook }),
        ...(substitute === undefined ? {} : { substitute }),
        bus,
        ...(opts.ccache === undefined ? {} : { ccache: opts.ccache }),
        ...(opts.ccacheSize === undefined ? {} : { ccacheSize: opts.ccacheSize }),
        signal: controller.signal,
        hookStop: hookStop.signal,
      });
      await live?.finish();
      flushProgress();
      const c = result.counts;
      const took = formatMs(Date.parse(result.report.end ?? new Date().toISOString()) - Date.parse(result.report.start));
      if (opts.json) {
        ctx.stdout.write(
          `${JSON.stringify({ type: 'summary', runId: result.runId, state: result.state, counts: c, ...(result.ignored === 0 ? {} : { ignored: result.ignored }), report: join(result.reportDir, 'report.json') })}\n`,
        );
      } else {
        const ignored = result.ignored === 0 ? '' : `; ${result.ignored} of the broken ignored by their recipes`;
        ctx.stdout.write(`kiln: run ${result.runId} ${result.state} in ${took}: ${summaryCounts(c)}${ignored}\n`);
        for (const line of triageLines(result.report)) ctx.stdout.write(`${line}\n`);
        ctx.stdout.write(`report: ${join(result.reportDir, 'report.html')}\n`);
      }
      // Stopped during its run-finished hooks, a run that was done is still interrupted.
      ctx.exitCode = result.state === 'cancelled' || controller.signal.aborted ? 130 : result.state === 'failed' ? 1 : 0;
    } finally {
      await live?.finish();
      // A failed run's error is written next (main.ts): the progress lines go first.
      flushProgress();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('SIGHUP', onSignal);
      whenOutputCloses(undefined);
    }
  });
}

/**
 * The Debian request of the command line: --debian/--dsc, or Debian-only options
 * (--twice, --nocheck, …) for the tree's debian.toml; those options with neither are a
 * usage error rather than silently ignored (`kiln plan` shares this).
 */
export function debianRequest(opts: DebianOptionsCli & { tree: string }, targets: readonly string[], command: Command): DebianCliRequest | undefined {
  const hasToml = existsSync(join(opts.tree, DEBIAN_FILE));
  return debianRequestOf(debianFrom(opts, targets, command.getOptionValueSource('tree') === 'cli'), debianOptionsGiven(command, hasToml), hasToml, () =>
    debianFrom({ ...opts, debian: '' }, [], true)!,
  );
}

/** Which substituters a local build asks, and with what token and key (substituteChoice). */
export interface SubstituteChoice {
  readonly urls: readonly string[];
  /** The token, or the file that holds it (kiln.toml's token-file, read as the build starts); `from` names it when refused. */
  readonly token?: { readonly value: string; readonly from: string } | { readonly file: string; readonly from: string };
  /** The public key file, and what names it in a problem (the flag, or kiln.toml's key). */
  readonly key?: { readonly file: string; readonly label: string };
}

/**
 * Where a local build's substituters come from (pure): --substitute URL (repeatable) with
 * --substitute-token ($KILN_SUBSTITUTE_TOKEN) and --substitute-key; else kiln.toml's
 * [substitutes], each flag winning over its key, and token-file over the variable (used
 * when kiln.toml names no token file); --no-substitute
 * (`urls` false) none. A URL on the command line replaces kiln.toml's whole: its
 * token-file is never sent to another server, nor its key used for another's artifacts.
 * `note`: what is said when kiln.toml's are not used (with --nats).
 */
export function substituteChoice(cli: { readonly urls?: readonly string[] | false; readonly token?: string; readonly key?: string; readonly nats?: string; readonly natsFlag: boolean }, envToken: string | undefined, tree: { readonly file: string; readonly substitutes?: TreeSubstitutes | undefined }): { choice?: SubstituteChoice; note?: string } {
  const stray = cli.key !== undefined ? '--substitute-key' : cli.token !== undefined ? '--substitute-token' : undefined;
  if (cli.urls === false) {
    if (stray !== undefined) throw new KilnError('usage', `${stray} is for a substituter, and --no-substitute turns them off`, { hint: `drop ${stray}, or --no-substitute` });
    return {};
  }
  const fromCli = cli.urls !== undefined && cli.urls.length > 0;
  const toml = fromCli ? undefined : tree.substitutes;
  const urls = fromCli ? cli.urls as readonly string[] : toml === undefined ? [] : [toml.url];
  if (urls.length === 0) {
    if (stray !== undefined) throw new KilnError('usage', `${stray} is for --substitute URL, which was not given`, { hint: 'add --substitute URL (a kiln serve whose cache to use) or a [substitutes] url to kiln.toml, or drop it' });
    return {};
  }
  if (cli.nats !== undefined) {
    const nats = `--nats${cli.natsFlag ? '' : ' ($KILN_NATS)'}`;
    if (toml !== undefined) return { note: `${tree.file}: [substitutes] is not used with ${nats}: the workers build, and do not ask substituters` };
    throw new KilnError('usage', `--substitute with ${nats}: not supported yet (the workers build, and would not ask the substituters)`, { hint: 'build with --substitute here (unset KILN_NATS), or without it through the workers' });
  }
  const env = envToken === undefined || envToken === '' ? undefined : envToken;
  // kiln.toml's token-file before the variable: the variable may be meant for another server.
  const token = cli.token !== undefined ? { value: cli.token, from: '--substitute-token' }
    : toml?.tokenFile !== undefined ? { file: toml.tokenFile, from: `${tree.file} [substitutes] token-file (${toml.tokenFile})` }
    : env !== undefined ? { value: env, from: '$KILN_SUBSTITUTE_TOKEN' } : undefined;
  const key = cli.key !== undefined ? { file: cli.key, label: '--substitute-key' } : toml?.key !== undefined ? { file: toml.key, label: `${tree.file} [substitutes] key` } : undefined;
  return { choice: { urls, ...(token === undefined ? {} : { token }), ...(key === undefined ? {} : { key }) } };
}

/** The substituters of a local build (substituteChoice), their token file and key read: checked before anything is planned. */
async function substituteOf(opts: BuildOpts, nats: string | undefined, say: (text: string) => void): Promise<SubstituteSettings | undefined> {
  // kiln.toml is read only when it may matter (a --substitute on the command line replaces it); its own problems are said by the run.
  const cliUrls = opts.substitute === false ? false : opts.substitute;
  const tree = cliUrls === false || (cliUrls?.length ?? 0) > 0 ? { file: 'kiln.toml' } : await treeSubstitutes(opts.tree);
  const { choice, note } = substituteChoice({ urls: cliUrls, token: opts.substituteToken, key: opts.substituteKey, nats, natsFlag: opts.nats !== undefined }, process.env['KILN_SUBSTITUTE_TOKEN'], tree);
  if (note !== undefined) say(note);
  if (choice === undefined) return undefined;
  const t = choice.token;
  const token = t === undefined ? undefined : 'value' in t ? t.value : await readTokenFile(t.file, tree.file);
  const verify = choice.key === undefined ? undefined : { file: choice.key.file, keys: await (await import('../publish/artifact-signature.ts')).readPublicKeys(choice.key.file, choice.key.label) };
  return { urls: choice.urls, ...(token === undefined ? {} : { token, tokenFrom: t!.from }), ...(verify === undefined ? {} : { verify }) };
}

/** kiln.toml's [substitutes] of the tree, if it has one and kiln.toml has no problem. */
async function treeSubstitutes(treeDir: string): Promise<{ file: string; substitutes?: TreeSubstitutes | undefined }> {
  const { loadTreeConfig } = await import('../config/load-tree-config.ts');
  const { config, diagnostics } = await loadTreeConfig(treeDir);
  return { file: config.file ?? join(treeDir, 'kiln.toml'), ...(diagnostics.length === 0 && config.substitutes !== undefined ? { substitutes: config.substitutes } : {}) };
}

/** The token in kiln.toml's token-file: its one line, checked. */
export async function readTokenFile(path: string, toml: string): Promise<string> {
  const where = `${toml} [substitutes] token-file ${path}`;
  const hint = 'write the token of that kiln serve (kiln token create NAME there) alone into the file, or give it with --substitute-token (the file wins over $KILN_SUBSTITUTE_TOKEN)';
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new KilnError('config-invalid', `${where}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { hint, cause: e });
  }
  const token = text.trim();
  if (token === '') throw new KilnError('config-invalid', `${where}: the file is empty`, { hint });
  // (Not echoed: it may be the token, or a secret of something else.)
  if (token.length > 4096 || /[\s\p{Cc}]/u.test(token)) throw new KilnError('config-invalid', `${where}: the file holds more than a token (one line, no spaces)`, { hint });
  return token;
}

/** --hook CMD, repeatable: an empty command is refused (it would do nothing, silently). */
export function collectHook(v: string, prev: string[] = []): string[] {
  if (v.trim() === '') throw new KilnError('usage', '--hook: expected a shell command, got an empty one', { hint: 'e.g. --hook ./notify.sh (run with /bin/sh -c in the tree folder once the run has ended)' });
  return [...prev, v];
}

/**
 * Options that shape a local run only: a daemon's builds run with its own `kiln serve`
 * settings, so giving them with --server is an error, not silently ignored.
 */
function refuseLocalOnly(command: Command, fromEnv: boolean): void {
  const given = command.options
    .filter((o) => LOCAL_ONLY.has(o.long ?? '') && command.getOptionValueSource(o.attributeName()) === 'cli')
    .map((o) => o.long!);
  if (given.length === 0) return;
  throw new KilnError('usage', `--server${fromEnv ? ' ($KILN_SERVER)' : ''}: ${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} to a local build only`, {
    hint: `the daemon's builds use its own settings (kiln serve --jobs, --overcommit-cpus, --sandbox); a Debian build goes through the tree's debian.toml${given.includes('--option') ? "; recipe options go through the tree's kiln.toml [options], which is sent with it" : ''}${fromEnv ? '; to build on this machine, unset KILN_SERVER (`KILN_SERVER= kiln build …`)' : ''}`,
  });
}

/**
 * DEB_BUILD_OPTIONS / DEB_BUILD_PROFILES set in the caller's environment, which sbuild
 * passes to its builds and kiln does not: named so that a maintainer is not surprised (pure).
 */
export function callerDebianOptions(env: NodeJS.ProcessEnv): string | undefined {
  const set = ['DEB_BUILD_OPTIONS', 'DEB_BUILD_PROFILES'].filter((n) => (env[n] ?? '').trim() !== '').map((n) => `${n}="${env[n]!.trim()}"`);
  return set.length === 0 ? undefined : set.join(' and ');
}

/** What kiln build and kiln plan say of those settings, or undefined when none is set (pure). */
export function callerOptionsNote(env: NodeJS.ProcessEnv): string | undefined {
  const set = callerDebianOptions(env);
  return set === undefined ? undefined : `${set} in your environment ${set.includes(' and ') ? 'are' : 'is'} not passed to the builds (they get a clean environment, and every option is part of their key): use --nocheck, --profiles LIST, --cpus N`;
}

const LOCAL_ONLY = new Set([
  '--jobs', '--overcommit-cpus', '--fail-fast', '--min-free', '--keep-failed', '--log-limit', '--job-timeout', '--loop-timeout', '--fail-on-warnings', '--retry', '--force', '--sandbox',
  '--debian', '--mirror', '--keyring', '--no-check-valid-until', '--dsc', '--profiles', '--nocheck', '--binary-arch', '--binary-indep', '--cpus', '--no-install-check', '--twice', '--verify', '--lintian', '--try-install', '--autopkgtest', '--cross', '--out', '--nats', '--extra-repository', '--extra-repository-key', '--extra-package', '--components',
  '--nats-creds', '--nats-nkey', '--nats-tls-ca', '--nats-tls-cert', '--nats-tls-key', '--ccache', '--no-ccache', '--ccache-size', '--hook', '--boost', '--option',
  '--substitute', '--substitute-token', '--substitute-key',
]);
