// What a worker does with one job it took (worker.ts): check that it builds in the env the
// coordinator keyed the job for; unpack the package's folder (checked as an upload is);
// import the artifacts it stages (each checked against its meta) and check that its key is
// the coordinator's; for a Debian job, rebuild its suite around the index it brought; run
// it with the same executor as a local build while its log streams to the coordinator; put
// its artifact, its log and a --twice comparison in the object store. What stops the job
// here (another env or key, a folder past the limits, an artifact gone) is a failed
// outcome that names this worker, as is the build's own failure; a log that cannot be put
// is sent as none. Anything else throws, and worker.ts gives the job back.

import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import type { ArtifactStore } from '../cache/artifact-types.ts';
import { entryFiles, importEntry } from '../cache/artifact-transfer.ts';
import { createDownloads } from '../cache/downloads.ts';
import { unpackArchive } from '../cache/archive.ts';
import { processCredentials, withCredentials } from '../config/credentials.ts';
import type { BinaryUniverse } from '../debian/lazy-index.ts';
import { isKilnError } from '../errors.ts';
import { EventBus } from '../events/events.ts';
import { guardedFetchFor } from '../lib/fetch-guard.ts';
import { fullKeyOf } from '../plan/keys.ts';
import { envIdWithProfiles, workerEnvId } from '../run/env-id.ts';
import type { RunEnvs } from '../run/run-envs.ts';
import type { StateLayout } from '../run/state-layout.ts';
import { checkBundleMembers, DEFAULT_BUNDLE_LIMITS, listBundle, sanitizeTree } from '../server/bundles.ts';
import { getFile, putFile } from './blobs.ts';
import type { Cluster } from './cluster.ts';
import { debianSpecOnWorker } from './debian-jobs.ts';
import { streamLog } from './log-stream.ts';
import type { JobMessage, WireArtifact, WireOutcome } from './wire.ts';

/** What a worker builds with: its cluster, envs, state and caches, and its own folders. */
export interface WorkerPlace {
  readonly cluster: Cluster;
  readonly envs: RunEnvs;
  readonly state: StateLayout;
  readonly artifacts: ArtifactStore;
  /** Its name in results and logs. */
  readonly name: string;
  /** The Debian suites' binary indexes it has read, by where they came from (debian-jobs.ts). */
  readonly universes: Map<string, Promise<BinaryUniverse>>;
  /** Its own copies of the logs. */
  readonly workerLogs: string;
  /** Its workspaces' folder. */
  readonly own: string;
  /** A line on the worker's stderr. */
  readonly say?: (text: string) => void;
}

/** What goes back to the coordinator: the outcome, and the artifact's and log's objects. */
export interface BuiltHere {
  readonly outcome: WireOutcome;
  readonly artifact: WireArtifact | null;
  readonly log: string | null;
  readonly twice?: string | null;
  readonly autopkgtest?: string | null;
}

export async function buildJob(w: WorkerPlace, m: JobMessage, attempt: number, work: string, queueArch: string, signal: AbortSignal): Promise<BuiltHere> {
  const { artifacts, name, universes, workerLogs, own } = w;
  const fail = (message: string): { outcome: WireOutcome; artifact: null; log: null } => ({
    outcome: { state: 'failed', key: m.key, failure: { reason: 'internal', message: `worker ${name}: ${message}` }, startedAt: Date.now(), endedAt: Date.now() },
    artifact: null,
    log: null,
  });
  const job = m.job;
  // The env as the coordinator keyed it: this worker's, with the run's profiles (as prepare-plan adds them).
  const arch = (a: string): string => (a === 'all' ? queueArch : a);
  const profiles = [...new Set(m.options.profiles)].sort();
  const envId = envIdWithProfiles(w.envs.envIdFor(arch(job.arch)), profiles);
  if (envId !== job.envId) return fail(`it builds in ${envId}, but the job was planned for ${job.envId}${workerEnvId(job.envId) === workerEnvId(envId) ? ' (a layer of kiln.toml\'s [instance], which workers do not make: build it without --nats)' : ': run workers whose env (or host release) is the coordinator\'s'}`);
  // The package's folder, checked as an upload is.
  const tar = join(work, 'tree.tar');
  await getFile(w.cluster.blobs, m.tree, tar);
  const label = `the folder of ${job.spec.name}`;
  // A folder past the limits (or with a link out of it) is the job's own problem: failed, said why, not given back.
  const refused = await listBundle(tar, label, DEFAULT_BUNDLE_LIMITS.maxExtractedBytes)
    .then((members) => checkBundleMembers(members, label, DEFAULT_BUNDLE_LIMITS))
    .then(() => undefined, (e: unknown) => (isKilnError(e) ? e : Promise.reject(e)));
  if (refused !== undefined) return fail(`${refused.message}: a worker takes no folder past ${DEFAULT_BUNDLE_LIMITS.maxEntries} files or ${DEFAULT_BUNDLE_LIMITS.maxExtractedBytes / 1024 ** 2} MiB (or with a link out of it); build this package without --nats`);
  const dir = join(work, 'tree', basename(job.spec.dir));
  await mkdir(dir, { recursive: true });
  await unpackArchive(tar, dir, { signal });
  await sanitizeTree(dir);
  // This machine's copies of what the job stages, and of the job's own artifact (a hit here
  // is what goes back): read once against their meta.json, as a local run reads what it
  // stages (check-staged.ts). A damaged one is removed: a dependency is then taken again
  // from the coordinator's copy below, the job's own is built again.
  const { removeCorruptStaged } = await import('../run/check-staged.ts');
  const mine = [...m.deps.map((d) => ({ id: d.id, key: d.key })), ...(job.why.kind === 'forced' ? [] : [{ id: job.id, key: m.key }])].filter((s) => artifacts.peek(s.key) !== undefined);
  // The job's own entry is read whatever its marker says: a hit goes back whole, and the coordinator refuses a damaged one.
  for (const c of await removeCorruptStaged(artifacts, mine, { signal, always: new Set([m.key]) })) {
    w.say?.(`${m.runId} ${m.jobId}: the stored artifact of ${c.id} here is corrupt and was removed (${c.path}: ${c.problem}): ${c.key === m.key ? 'the job is built again' : 'the coordinator\'s copy is used'}`);
  }
  // The artifacts it stages, each checked against its meta before it is stored.
  const outputs = new Map<string, { key: string; outputHash: string }>();
  for (const d of m.deps) {
    outputs.set(d.id, { key: d.key, outputHash: d.outputHash });
    // This machine's copy, when it is the output the coordinator keyed the job with (a
    // `--force`d rebuild on another worker may have given the key another output since).
    const here = await artifacts.get(d.key);
    if (here !== undefined && here.outputHash === d.outputHash) continue;
    const manifest = d.artifact.manifest === null ? null : join(work, `${d.key}.manifest.json`);
    const archive = d.artifact.archive === null ? null : join(work, `${d.key}.archive`);
    if (manifest !== null) await getFile(w.cluster.blobs, d.artifact.manifest!, manifest);
    if (archive !== null) await getFile(w.cluster.blobs, d.artifact.archive!, archive);
    const got = await importEntry(artifacts, w.state.cache, d.key, { metaText: d.artifact.metaText, manifestText: manifest === null ? null : await readFile(manifest, 'utf8'), archivePath: archive }, `the coordinator of ${m.runId}`, { replace: here !== undefined });
    if (got.outputHash !== d.outputHash) return fail(`its cache keeps another output of ${d.id} (${got.outputHash.slice(0, 16)}, the job's is ${d.outputHash.slice(0, 16)}), which a run sharing that cache stages: build it again once that run has ended`);
  }
  const depOutputs = Object.fromEntries(job.stage.map((s) => [s, outputs.get(s)?.outputHash ?? '']));
  const key = fullKeyOf(job.ownKey, depOutputs);
  if (key !== m.key) return fail(`its key for the job (${key.slice(0, 16)}) is not the coordinator's (${m.key.slice(0, 16)}): the two run different kiln versions?`);
  const spec = { ...job.spec, dir, file: join(dir, basename(job.spec.file)) };
  // A Debian job's suite, rebuilt around its index (a failure to get it gives the job back).
  if (job.spec.debian !== undefined) spec.debian = await debianSpecOnWorker(job.spec.debian, m.debian, { treeDir: dir, cacheDir: w.state.cache, blobs: w.cluster.blobs, universes });
  const { createExecutor, logPathOf } = await import('../execute/execute-job.ts');
  const logDir = workerLogDir(workerLogs, m.runId, attempt);
  // Bind-mounted read-only into isolated sandboxes: it must exist even when nothing was
  // downloaded yet (a worker with a new --state), as a local build makes it (run-build.ts).
  const downloadsDir = join(w.state.cache, 'downloads');
  await mkdir(downloadsDir, { recursive: true });
  const execute = createExecutor({
    runId: m.runId,
    backend: w.envs.backend,
    envFor: (a) => w.envs.envFor(arch(a)),
    downloadsDir,
    // A daemon's job: its files only from where the daemon's policy allows (its tenants'
    // urls may not reach this machine's network either).
    downloads: createDownloads({ cacheDir: w.state.cache, mirrors: m.mirrors, ...(m.options.fetchPolicy === undefined ? {} : { fetchImpl: withCredentials(await guardedFetchFor(m.options.fetchPolicy), processCredentials) }) }),
    artifacts,
    bus: new EventBus(),
    outputs,
    workRoot: own,
    logDir,
    keepFailed: false,
    // The log goes to the coordinator whole (putFile below), which keeps it compressed; this copy after.
    compressLogsAbove: 0,
    ...(m.options.logLimit === undefined ? {} : { logLimit: m.options.logLimit }),
    ...(m.options.maxTimeoutMs === undefined ? {} : { maxTimeoutMs: m.options.maxTimeoutMs }),
    ...(m.options.loopTimeoutMs === undefined ? {} : { loopTimeoutMs: m.options.loopTimeoutMs }),
    sourceDateEpoch: m.options.sourceDateEpoch,
    profiles: m.options.profiles,
    expectedMs: () => undefined,
    ...(m.options.warningsFail ? { warningsFail: true } : {}),
    ...(m.options.retries === undefined ? {} : { retries: m.options.retries }),
  });
  // The log as it grows goes to the coordinator (kiln logs -f there follows it).
  const logFile = logPathOf(logDir, job.id);
  // The same job again here (another attempt): its earlier log's compressed whole would shadow this one.
  const { compressedLogPath, compressFinishedLog } = await import('../logs/log-compress.ts');
  await rm(compressedLogPath(logFile), { force: true });
  const stream = streamLog(w.cluster.nc, logFile, m.runId, m.jobId, attempt);
  // A forced job is built again here too; any other finds a stored artifact first.
  // A job's cpus ($JOBS) as this machine can give them.
  const cpus = Math.min(job.cpus, availableParallelism());
  const outcome = await execute({ ...job, spec, runId: m.runId, cpus }, { signal }).finally(() => stream.stop());
  const log = await putFile(w.cluster.blobs, logFile).catch(() => null);
  // A Debian build's --twice comparison goes back beside the log (the coordinator's report reads it).
  const twice = existsSync(`${logFile}.twice.json`) ? await putFile(w.cluster.blobs, `${logFile}.twice.json`) : null;
  // And --autopkgtest's results.
  const autopkgtest = existsSync(`${logFile}.autopkgtest.json`) ? await putFile(w.cluster.blobs, `${logFile}.autopkgtest.json`) : null;
  // This machine's own copy (kept for --keep-logs), once sent, as a local run keeps a large log.
  if (log !== null) await compressFinishedLog(logFile);
  const { artifact: _a, log: _l, keptWorkspace: _k, ...wire } = outcome;
  if (outcome.state !== 'built' && outcome.state !== 'up-to-date') return { outcome: wire, artifact: null, log, twice, autopkgtest };
  const files = await entryFiles(artifacts, outcome.key);
  if (files === undefined) return fail(`its artifact ${outcome.key.slice(0, 16)} is gone from its cache (cache gc?)`);
  const artifact = {
    metaText: files.metaText,
    manifest: files.manifestText === null ? null : await putFile(w.cluster.blobs, join(artifacts.dir(outcome.key), 'manifest.json')),
    archive: files.archivePath === null ? null : await putFile(w.cluster.blobs, files.archivePath),
  };
  return { outcome: wire, artifact, log, twice, autopkgtest };
}

/**
 * Where this machine keeps its copy of a job's log (pure): STATE/logs/worker/RUN/, a later
 * attempt's in RUN/attempt-N/ (a worker that crashed on a job and was restarted may take
 * it again: its copy of the crashed attempt is kept beside the new one's).
 */
export function workerLogDir(workerLogs: string, runId: string, attempt: number): string {
  return attempt > 1 ? join(workerLogs, runId, `attempt-${attempt}`) : join(workerLogs, runId);
}
