// Run one job end to end: work out its final key (early cutoff: a stored artifact for
// it means nothing to do), create the sandbox, fetch sources, stage the build
// dependencies' artifacts into $SYSROOT, run the build script, pack $DESTDIR into the
// artifact cache, tear down. Returns a JobOutcome; expected failures never throw.
//
//   key? ─► sandbox ─► fetch ─► stage ─► build ─► pack ─► teardown
//
// Where the job runs is the Sandbox backend's business; this file does not care.
// Its options are executor-options.ts; the job-finished event and early cutoff, which
// the remote executor shares, are job-finished.ts; what a build's run ended as (exit
// status, signal, a limit) is run-verdict.ts; the pack step is pack-output.ts.

import { describeReason } from '../plan/reason.ts';
import { whyWhenStarted } from '../plan/decide.ts';
import { dirname, join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { artifactPath } from '../cache/artifact-types.ts';
import { BUILT_ELSEWHERE, waitForBuildLock } from './build-lock-wait.ts';
import { isKilnError } from '../errors.ts';
import type { JobPhase } from '../events/events.ts';
import { openJobLog } from '../logs/job-log.ts';
import { COMPRESS_LOGS_ABOVE, compressFinishedLog } from '../logs/log-compress.ts';
import { DEFAULT_LOOP_TIMEOUT_MS, loopGuard, type LoopGuard } from '../logs/loop-watch.ts';
import type { FailureReason, Job, JobOutcome } from '../plan/job.ts';
import { fullKeyOf } from '../plan/keys.ts';
import { optionWords } from '../plan/options.ts';
import type { RunResult, Sandbox } from '../sandbox/sandbox.ts';
import { buildEnvironment, describeBuild } from './build-env.ts';
import { FREE_SPACE_ADVICE, noSpaceLeft, workspaceDiskFull } from './disk-full.ts';
import { fetchSources } from './fetch-sources.ts';
import { keepFailedFiles } from './keep-failed.ts';
import type { ExecutorOptions } from './executor-options.ts';
import { earlyCutoff, jobFinishedEvent } from './job-finished.ts';
import { runVerdict } from './run-verdict.ts';
import { packOutput } from './pack-output.ts';
import { conflictMessage, overlapNote, stagingConflicts } from './staging-conflicts.ts';
import { EMPTY_OUTPUT } from '../cache/artifact-entry.ts';
import { runCcache, withCcachePath } from './ccache.ts';
import { envPackageNote } from '../envs/package-versions.ts';
import { createSubstituter } from './substitute.ts';

export function logPathOf(logDir: string, jobId: string): string {
  return join(logDir, `${jobId.replace('@', '_')}.log`);
}

export function createExecutor(o: ExecutorOptions): (job: Job, options: { signal: AbortSignal }) => Promise<JobOutcome> {
  const touched = new Set<string>();
  // --ccache: the compiler cache of each build root; why one has none is said once a run.
  const ccache = o.ccache === undefined ? undefined : runCcache(o.ccache, o.backend);
  const saidNoCcache = new Set<string>();
  const substitute = o.substitute === undefined ? undefined : createSubstituter(o.substitute, o, dirname(o.downloadsDir));
  let logDirMade: Promise<unknown> | undefined;
  return async (job, { signal }) => {
    await (logDirMade ??= mkdir(o.logDir, { recursive: true }));
    // Reset after a wait for another kiln's build lock: a build's time is its own.
    let startedAt = Date.now();
    // The recipe's wall-clock limit, lowered to the run's --job-timeout (a daemon's ceiling
    // over every tenant's builds, Debian ones included: they read spec.build.timeoutMs too).
    const spec = o.maxTimeoutMs === undefined || (job.spec.build.timeoutMs ?? Infinity) <= o.maxTimeoutMs
      ? job.spec
      : { ...job.spec, build: { ...job.spec.build, timeoutMs: o.maxTimeoutMs } };
    const log = logPathOf(o.logDir, job.id);
    const depOutputs: Record<string, string> = {};
    for (const id of job.stage) {
      const out = o.outputs.get(id);
      if (out === undefined) throw new Error(`internal: ${job.id} staged ${id} before it finished`);
      depOutputs[id] = out.outputHash;
    }
    const key = fullKeyOf(job.ownKey, depOutputs);
    // The dependency that really changed, now that every staged output is known.
    const why = whyWhenStarted(job.why, job.previousDepOutputs, depOutputs);
    if (why !== job.why) job = { ...job, why };
    const emitFinished = (outcome: JobOutcome): JobOutcome => {
      o.bus.emit(jobFinishedEvent(o.runId, { ...job, spec }, key, depOutputs, outcome));
      if (outcome.outputHash !== undefined) o.outputs.set(job.id, { key, outputHash: outcome.outputHash });
      return outcome;
    };

    // Early cutoff: every dependency's output is now known; if they came out the same
    // as last time, this key already has an artifact (here, else at a --substitute).
    const cutoff = await earlyCutoff(o.artifacts, job, key, startedAt) ?? (substitute === undefined ? undefined : await substitute(job, key, { startedAt, log, signal }));
    if (cutoff !== undefined) return emitFinished(cutoff);

    // Another kiln process sharing the cache may be building this very key: wait for it.
    const lock = await waitForBuildLock({ buildLocks: o.buildLocks, artifacts: o.artifacts, bus: o.bus, runId: o.runId, jobId: job.id, key, forced: job.why.kind === 'forced', signal });
    if (lock.kind === 'built-elsewhere') {
      return emitFinished({ state: 'up-to-date', key, outputHash: lock.stored.outputHash, artifact: artifactPath(o.artifacts, key, lock.stored.archive), startedAt, endedAt: Date.now(), cause: BUILT_ELSEWHERE });
    }
    if (lock.kind !== 'build') {
      return emitFinished({ state: lock.kind, key, startedAt, endedAt: Date.now(), failure: { reason: lock.kind === 'cancelled' ? 'cancelled' : 'internal', message: lock.message } });
    }
    // A build's time is its own, not its wait's.
    if (lock.waited) startedAt = Date.now();
    try {
      return await buildIt();
    } finally {
      await lock.release();
    }

    async function buildIt(): Promise<JobOutcome> {
      o.bus.emit({
        type: 'job-started',
        runId: o.runId,
        jobId: job.id,
        name: spec.name,
        version: spec.version,
        arch: job.arch,
        why: job.why,
        attempt: job.attempt,
        log,
        at: startedAt,
        expectedMs: o.expectedMs(job.id),
      });
      /** The loop watchdog of the attempt running (loop-watch.ts): it sees every line of its output. */
      let loop: LoopGuard | undefined;
      const jl = await openJobLog(log, { ...(o.logLimit === undefined ? {} : { maxBytes: o.logLimit }), onLine: (line) => loop?.line(line) });
      let failed = false;
      /** How the build script ran (recipe builds), for rebuild.sh in a kept workspace. */
      let ran: { readonly env: Record<string, string>; readonly cwd: string } | undefined;
      /** Set when kiln's own side broke the build's run (RunResult.infraError). */
      let infraError: string | undefined;
      /** 1, or 2 when kiln's own side cut the first attempt off (the loop below). */
      let attemptNo = 1;
    /** --retry: the builds run again after a failure, and what each failed with. */
    let retried = 0;
    /** The last fetch failure was a download's (the network, the server), which --retry tries again. */
    let fetchMayPass = false;
    const earlier: string[] = [];
      const fail = (reason: FailureReason, message: string, extra?: Partial<JobOutcome>): JobOutcome => {
        failed = true;
        jl.note(`failed: ${message}`);
        return { state: 'failed', key, failure: { reason, message }, log, startedAt, endedAt: Date.now(), ...extra };
      };
      const phase = (p: JobPhase): void => {
        jl.phase(p);
        o.bus.emit({ type: 'job-phase', runId: o.runId, jobId: job.id, phase: p, at: Date.now() });
      };

      let outcome: JobOutcome;
      try {
        // A Debian version carries its own revision: kiln's release is for recipes only.
        jl.note(`${spec.name} ${spec.debian === undefined ? `${spec.version}-${spec.release}` : spec.version} for ${job.arch}, key ${key.slice(0, 16)}, why: ${describeReason(job.why)}${spec.flavour === undefined ? '' : `, flavour ${spec.flavour.id} of ${spec.flavour.of}`}${spec.optionValues === undefined ? '' : `, options: ${optionWords(spec.optionValues)}`}`);
        const env = o.envFor(job.arch);
        // Which build root: the env's version is part of the key, and of what a user compares.
        jl.note(env === undefined ? `built in the ${o.backend.name} sandbox, on the host's own system (no env)` : `built in env ${env.id}, ${o.backend.name} sandbox`);
        // …and which toolchain that was, for when the env version is gone (read once per env
        // version, package-versions.ts; a Debian build lists its root after installing).
        if (env !== undefined && spec.debian === undefined) jl.note(await envPackageNote(env));
        const binds = [{ host: o.downloadsDir, inside: '/var/cache/kiln/downloads' }];
        const cc = await ccache?.forJob(env, job.arch);
        if (cc?.kind === 'off') {
          jl.note(cc.why);
          if (!saidNoCcache.has(cc.why)) o.bus.emit({ type: 'note', at: Date.now(), text: (saidNoCcache.add(cc.why), cc.why) });
        }
        // Debian: the build dependencies may be installed already, in a cached layer.
        // (chroot only: layers hold root-owned files that a rootless sandbox cannot map.)
        const depsLayer = spec.debian !== undefined && env !== undefined && o.backend.name === 'chroot'
          ? await (await import('./debian-build.ts')).findDepsLayer({ cacheDir: dirname(o.downloadsDir), spec, arch: job.arch, envId: env.id, staged: depOutputs })
          : undefined;
        const envHere = env === undefined || depsLayer?.root === undefined ? env : { ...env, layers: [...env.layers, depsLayer.root] };
        // A build whose run kiln's own side broke (its process helper died) is run once more,
        // in a fresh workspace; the log keeps both attempts (reliability case 2).
        // `suffix`: --twice's second build (recipe-twice.ts), in a workspace of its own.
        const inRoot = envHere === undefined ? {} : { env: envHere, readOnlyBinds: [...binds, ...(cc?.kind === 'on' ? cc.readOnlyBinds : [])], ...(cc?.kind === 'on' && cc.bind !== undefined ? { readWriteBinds: [cc.bind] } : {}) };
        // `root`: what it builds over (the env alone for --try-install's fresh root).
        const sandboxOver = (root: typeof inRoot, suffix: string, keep?: () => boolean): Promise<Sandbox> => o.backend.create({
          ...root,
          jobId: `${o.runId}-${job.id}${suffix}`,
          workDir: join(o.workRoot, o.runId, `${job.id.replace('@', '_')}${suffix}`),
          limits: { cpus: job.cpus, memoryBytes: spec.build.memoryBytes },
          // Only a run that may keep workspaces says so: a host sandbox then builds at workDir.
          ...(keep === undefined ? {} : { keep }),
          signal,
        });
        const newSandbox = (suffix: string, keep?: () => boolean): Promise<Sandbox> => sandboxOver(inRoot, suffix, keep);
        for (attemptNo = 1; ; attemptNo++) {
          await using sandbox = await newSandbox('', o.keepFailed ? () => failed : o.workspaceAtWorkDir === true ? () => false : undefined);
          infraError = undefined;
          outcome = await runPhases(sandbox);
          if (infraError !== undefined && attemptNo === 1 && !signal.aborted) {
            jl.note(`attempt 1 was cut off by kiln, not by the build (${infraError}): building it again in a fresh workspace`);
            failed = false;
            ran = undefined;
            continue;
          }
          // --retry N: a build that failed in a way a flaky one does is built again, afresh.
          const reason = outcome.failure?.reason ?? 'internal';
          if (outcome.state === 'failed' && retried < (o.retries ?? 0) && RETRYABLE.has(reason) && (reason !== 'fetch-failed' || fetchMayPass) && !signal.aborted) {
            retried++;
            earlier.push(outcome.failure?.message ?? 'failed');
            jl.note(`attempt ${attemptNo} failed (${outcome.failure?.message ?? 'failed'}): building it again in a fresh workspace (--retry ${o.retries}, ${retried} of ${o.retries})`);
            failed = false;
            ran = undefined;
            continue;
          }
          if (outcome.state === 'built' && earlier.length > 0) {
            // Built, but not at once: a flaky build is worth knowing about.
            const flaky = `retry: built on attempt ${attemptNo}, after ${earlier.map((m, i) => `attempt ${attemptNo - earlier.length + i}: ${m}`).join('; ')}`;
            jl.note(`warning (${flaky})`);
            outcome = { ...outcome, warnings: [...(outcome.warnings ?? []), flaky] };
          }
          if (outcome.state === 'failed' && earlier.length > 0 && outcome.failure !== undefined) {
            // Failed every time --retry let it try: said in its message (console, report, records).
            outcome = { ...outcome, failure: { ...outcome.failure, message: `${outcome.failure.message} (attempt ${attemptNo}; the ${earlier.length === 1 ? 'earlier one' : `${earlier.length} earlier ones`} failed too: ${earlier.join('; ')})` } };
          }
          if (outcome.state === 'failed' && o.keepFailed) {
            const kept = dirname(sandbox.host.src);
            outcome = { ...outcome, keptWorkspace: kept };
            // rebuild.sh (host sandbox), or shell.json for `kiln shell` (isolated: the root stays too).
            await keepFailedFiles({ backend: o.backend.name, kept, runId: o.runId, jobId: job.id, name: spec.name, version: spec.version, arch: job.arch, script: spec.build.script, ran, sandbox: inRoot, insideSrc: sandbox.inside.src, note: (t) => jl.note(t) });
          }
          break;
        }

        async function runPhases(sandbox: Sandbox): Promise<JobOutcome> {
          phase('fetch');
          let dscName = '';
          try {
            if (spec.debian !== undefined) dscName = await (await import('./debian-build.ts')).fetchDebianSource(spec, { srcDir: sandbox.host.src, downloads: o.downloads, note: (t) => jl.note(t), signal });
            else await fetchSources(spec, { srcDir: sandbox.host.src, downloads: o.downloads, note: (t) => jl.note(t), signal });
          } catch (e) {
            if (signal.aborted) return cancelled();
            // Only a download that failed (the network, the server) may go better again: a
            // checksum mismatch or an archive kiln refuses fails the same way every time.
            fetchMayPass = isKilnError(e) && e.code === 'download-failed';
            // A cache or workspace disk full is the machine's problem, not the package's (as for its output).
            if (noSpaceLeft(e)) return fail('disk-full', messageOf(e));
            return fail('fetch-failed', messageOf(e));
          }
          phase('stage');
          try {
            // Two dependencies that install one path differently: refused before anything is
            // staged (staging-conflicts.ts). Only those with files are read (most have none).
            const withFiles = job.stage.filter((id) => o.outputs.get(id)!.outputHash !== EMPTY_OUTPUT);
            if (withFiles.length >= 2) {
              const conflicts = stagingConflicts(await Promise.all(withFiles.map(async (id) => ({ id, entries: (await o.artifacts.manifest(o.outputs.get(id)!.key)) ?? [] }))));
              const kinds = conflicts.filter((c) => c.kinds);
              if (kinds.length > 0) return fail('stage-failed', conflictMessage(kinds));
              if (conflicts.length > 0) jl.note(overlapNote(conflicts));
            }
            for (const id of job.stage) {
              jl.note(`stage ${id}`);
              const { key: k, outputHash: expected } = o.outputs.get(id)!;
              // Marking an artifact used (for gc) once per run is enough: libc-like roots
              // are staged by thousands of jobs.
              const staged = await o.artifacts.stageInto(k, sandbox.host.sysroot, { signal, touch: !touched.has(k) });
              touched.add(k);
              // This job's key names the output it was planned with: another one (a --force'd
              // rebuild that replaced the entry meanwhile) would be built on under the wrong key.
              if (staged.outputHash !== expected) {
                throw new Error(`the stored artifact of ${id} is another output (${staged.outputHash.slice(0, 16)}) than the one this job was planned with (${expected.slice(0, 16)}): a forced rebuild replaced it meanwhile; build again`);
              }
            }
          } catch (e) {
            if (signal.aborted) return cancelled();
            // The machine's problem, not the package's: said as such (reliability case 9). tar
            // says a short write ("Wrote only 6144 of 10240 bytes"), so the disk is asked too.
            const full = noSpaceLeft(e) ? 'no space left' : /Wrote only \d+ of \d+ bytes|Cannot write/.test(messageOf(e)) ? workspaceDiskFull(sandbox.host.sysroot) : undefined;
            if (full !== undefined) return fail('disk-full', `staging its build dependencies failed with the disk of its workspace full (${full}, ${sandbox.host.sysroot}): ${FREE_SPACE_ADVICE}`);
            return fail('stage-failed', messageOf(e));
          }
          // --loop-timeout, else the recipe's loop-timeout (0: off).
          loop = loopGuard(o.loopTimeoutMs ?? spec.build.loopTimeoutMs ?? DEFAULT_LOOP_TIMEOUT_MS);
          let debianResult: RunResult | undefined;
          /** What --try-install found (debian-try-install.ts): warnings of the job. */
          let debianWarnings: readonly string[] = [];
          if (spec.debian !== undefined) {
            if (env === undefined) return fail('internal', 'Debian source packages build only in an isolated sandbox with an env (chroot or rootless)');
            // --try-install, --autopkgtest: a root of the env alone, without the build's dependencies.
            const freshSandbox = spec.debian.tryInstall !== true && spec.debian.autopkgtest !== true ? undefined : (suffix: string) => sandboxOver({ env, readOnlyBinds: binds }, suffix);
            const d = await (await import('./debian-build.ts')).runDebianBuild({ sandbox, spec, arch: job.arch, dscName, downloads: o.downloads, log: jl, phase, signal: loop === undefined ? signal : AbortSignal.any([signal, loop.signal]), ...(depsLayer === undefined ? {} : { depsLayer }), ...(cc?.kind === 'on' ? { ccache: cc.variables } : {}), ...(freshSandbox === undefined ? {} : { freshSandbox }) });
            if (d.kind === 'failed') {
              if (signal.aborted) return cancelled();
              const r = d.result;
              return fail(loop?.message === undefined ? d.reason : 'looping', loop?.message ?? d.message, r === undefined ? {} : { exitCode: r.exitCode, signal: r.signal, ...(r.rusage === undefined ? {} : { rusage: r.rusage }) });
            }
            debianResult = d.result;
            debianWarnings = d.kind === 'ran' ? d.warnings ?? [] : [];
            if (signal.aborted) return cancelled();
            if (debianWarnings.length > 0 && o.warningsFail === true && d.result.exitCode === 0 && d.result.signal === null) {
              return fail('pack-failed', `${debianWarnings.join('; ')} (warnings fail the build: --fail-on-warnings)`, { exitCode: 0, signal: null });
            }
          }
          if (spec.debian === undefined) phase('build');
          const timeoutMs = spec.build.timeoutMs;
          const envOf = (inside: Sandbox['inside']): Record<string, string> => buildEnvironment({ inside, jobs: job.cpus, arch: job.arch, name: spec.name, version: spec.version, sourceDateEpoch: o.sourceDateEpoch, profiles: o.profiles ?? [], options: spec.optionValues, flavour: spec.flavour?.id });
          const env2 = envOf(sandbox.inside);
          // Hits across jobs: the workspace differs per job (host sandbox), the paths under it do not.
          if (cc?.kind === 'on') Object.assign(env2, cc.variables(dirname(sandbox.inside.src)), { PATH: withCcachePath(env2['PATH']!) });
          if (debianResult === undefined) {
            ran = { env: env2, cwd: sandbox.inside.src };
            // What runs, as it runs: the log alone then tells what a failing build did.
            jl.note(describeBuild(env2, spec.build.script, sandbox.inside.src));
          }
          const r = debianResult ?? await sandbox.run({
            argv: ['bash', '-e', '-c', spec.build.script, `${spec.name}/build`],
            cwd: sandbox.inside.src,
            env: env2,
            onOutput: (stream, chunk) => jl.write(stream, chunk),
            ...(timeoutMs === undefined ? {} : { timeoutMs }),
            ...(spec.build.silentTimeoutMs === undefined ? {} : { silentTimeoutMs: spec.build.silentTimeoutMs }),
            // The run's signal ends it too: every backend's sandbox ends its runs on the signal it was made with.
            signal: loop?.signal ?? signal,
          });
          const exit = { exitCode: r.exitCode, signal: r.signal, ...(r.rusage === undefined ? {} : { rusage: r.rusage }) };
          if (r.infraError !== undefined) {
            // A signal to kiln's whole process group (a CI runner stopping the job) kills the
            // helper too, and its death may be seen before kiln's own signal handler runs:
            // give the cancellation a moment to arrive before calling it kiln's failure.
            if (!signal.aborted) await new Promise((resolve) => setTimeout(resolve, INFRA_GRACE_MS));
            if (signal.aborted) return cancelled(exit);
            infraError = r.infraError;
            return fail('internal', `kiln's side failed while the build ran${attemptNo > 1 ? ' (again, on attempt 2)' : ''}: ${r.infraError}`, exit);
          }
          const verdict = runVerdict(r, { timeoutMs, fromJobTimeout: spec !== job.spec, silentTimeoutMs: spec.build.silentTimeoutMs, memoryBytes: spec.build.memoryBytes, loopMessage: loop?.message, aborted: signal.aborted, debian: spec.debian !== undefined });
          if (verdict.kind === 'cancelled') return cancelled(exit);
          if (verdict.kind === 'failed') {
            // A full workspace disk fails builds for the machine's sake, not the package's.
            const full = verdict.maybeDiskFull === true ? workspaceDiskFull(sandbox.host.src) : undefined;
            if (full !== undefined) return fail('disk-full', `${verdict.message} with the disk of its workspace full (${full}): ${FREE_SPACE_ADVICE}`, exit);
            return fail(verdict.reason, verdict.message, exit);
          }
          // --twice: built again, varied, and compared before the first build's output is packed.
          const twice = o.twice === true && spec.debian === undefined ? await (await import('./recipe-twice.ts')).buildRecipeTwice({
            spec, first: sandbox, create: () => newSandbox('.twice'), envOf, log: jl, signal: loop?.signal ?? signal,
            prepare: async (sb, srcDir) => {
              await fetchSources(spec, { srcDir, downloads: o.downloads, note: (t) => jl.note(t), signal });
              for (const id of job.stage) await o.artifacts.stageInto(o.outputs.get(id)!.key, sb.host.sysroot, { signal, touch: false });
            },
          }).catch((e: unknown) => (signal.aborted ? null : `not compared (--twice): ${messageOf(e)}`)) : undefined;
          if (twice === null) return cancelled(exit);
          if (twice !== undefined && o.warningsFail === true) return fail('pack-failed', `${twice} (warnings fail the build: --fail-on-warnings)`, exit);
          phase('pack');
          try {
            const { meta, warnings } = await packOutput({ artifacts: o.artifacts, job, spec, key, depOutputs, sandbox, sourceDateEpoch: o.sourceDateEpoch, warningsFail: o.warningsFail === true, oomKills: r.oomKills, signal, note: (t) => jl.note(t) });
            for (const w of warnings) jl.note(`warning (${w.check}): ${w.message}\n  ${w.hint}`);
            jl.note(`packed ${meta.fileCount} files (${meta.size} bytes), output ${meta.outputHash.slice(0, 16)}`);
            return { state: 'built', key, outputHash: meta.outputHash, artifact: artifactPath(o.artifacts, key, meta.archive), log, startedAt, endedAt: Date.now(), ...exit, ...(warnings.length === 0 && twice === undefined && debianWarnings.length === 0 ? {} : { warnings: [...warnings.map((w) => `${w.check}: ${w.message}`), ...(twice === undefined ? [] : [twice]), ...debianWarnings] }) };
          } catch (e) {
            if (signal.aborted) return cancelled(exit);
            // A full cache disk: nothing was stored (put() writes under tmp/ and renames), and
            // it is the machine's problem, not the package's (reliability case 10).
            if (noSpaceLeft(e)) {
              jl.note(messageOf(e));
              return fail('disk-full', `storing its output in the artifact cache failed with the cache's disk full (${dirname(o.downloadsDir)}): nothing was stored; free space there (kiln cache gc) or give kiln a cache on a larger disk (--cache DIR), then build it again`, exit);
            }
            return fail('pack-failed', messageOf(e), exit);
          }
        }
      } catch (e) {
        // A full disk under kiln's own files (the job's log) is the machine's problem too.
        outcome = signal.aborted ? cancelled() : noSpaceLeft(e) ? fail('disk-full', `kiln could not write this job's files with the disk full: ${messageOf(e)}; ${FREE_SPACE_ADVICE}`) : fail('internal', messageOf(e));
      } finally {
        await jl.close();
      }
      // Before the job is said finished: what reads its log then finds it as it stays.
      const above = o.compressLogsAbove ?? COMPRESS_LOGS_ABOVE;
      if (above > 0 && jl.bytes >= above) await compressFinishedLog(log, above);
      return emitFinished(outcome);

      function cancelled(extra?: Partial<JobOutcome>): JobOutcome {
        // What ended it, as the run was told (the signal's name for a Ctrl-C or SIGTERM).
        const why = signal.reason instanceof Error && signal.reason.message !== '' ? ` (${signal.reason.message})` : '';
        const message = `killed: the run was cancelled${why}`;
        jl.note(message);
        return { state: 'cancelled', key, log, startedAt, endedAt: Date.now(), failure: { reason: 'cancelled', message }, ...extra };
      }
    }
  };
}

/** The failures --retry builds again: what a flaky build or a flaky network does, not what a retry cannot change (a fetch failure only when a download failed: runPhases). */
const RETRYABLE: ReadonlySet<FailureReason> = new Set(['exit-status', 'signal', 'silent', 'looping', 'timeout', 'fetch-failed']);

/** How long a helper's death waits for a cancellation that may be on its way (see runPhases). */
const INFRA_GRACE_MS = 500;

function messageOf(e: unknown): string {
  // The hint says what to do (run the build again, free space…): it belongs in the job's failure too.
  if (isKilnError(e)) return e.hint === undefined ? e.message : `${e.message} (${e.hint})`;
  return e instanceof Error ? e.message : String(e);
}
