// kiln build --substitute URL, or kiln.toml's [substitutes] (cli/build.ts): before a job
// builds, the remote caches (other kilns' `kiln serve`, routes/artifacts.ts) are asked in
// order for its key's artifact, as BitBake's SSTATE_MIRRORS or Nix's substituters are.
// Found: meta.json (its signature checked with --substitute-key or kiln.toml's key),
// manifest.json and pkg.tar.zst are downloaded (the archive streamed to a temp file, its
// size and sha256 checked as it comes), imported with importEntry (the same checks as a
// worker's result), and the job is up to date, its output hash as the meta says. Anything
// else (absent, a network error, a refused token, a bad or unsigned entry) is not the
// job's failure: it is built. Made only when there is a substituter.

import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { importEntry } from '../cache/artifact-transfer.ts';
import { artifactPath } from '../cache/artifact-types.ts';
import { isKilnError } from '../errors.ts';
import { openJobLog } from '../logs/job-log.ts';
import type { Job, JobOutcome } from '../plan/job.ts';
import type { ExecutorOptions, SubstituteSettings } from './executor-options.ts';
import { answerOf, entryUrl, metaProblem, unauthorizedText, type EntryFile } from './substitute-urls.ts';

/** meta.json and its signature are read into memory: no more than this. */
const SMALL_LIMIT = 1024 ** 2;
/** Nor manifest.json (a line per file the package installs) more than this. */
const MANIFEST_LIMIT = 64 * 1024 ** 2;
/** How long a substituter may go without sending anything (headers, or the next part of a body). */
const STALL_MS = 30_000;

export type Substitute = (job: Job, key: string, at: { readonly startedAt: number; readonly log: string; readonly signal: AbortSignal }) => Promise<JobOutcome | undefined>;

/** Thrown inside one attempt: what to say, and whether to stop asking this substituter for the run. */
class Miss extends Error {
  readonly off: boolean;
  constructor(message: string, off = false) {
    super(message);
    this.off = off;
  }
}

export function createSubstituter(s: SubstituteSettings, o: Pick<ExecutorOptions, 'artifacts' | 'bus' | 'warningsFail'>, cacheDir: string): Substitute {
  /** Substituters not asked again this run (a refused token, an unreachable host). */
  const off = new Set<string>();
  /** Each thing said once a run, not once a job. */
  const said = new Set<string>();
  const say = (text: string, once = text): void => {
    if (said.has(once)) return;
    said.add(once);
    o.bus.emit({ type: 'note', at: Date.now(), text });
  };
  const headers: Record<string, string> = s.token === undefined ? {} : { authorization: `Bearer ${s.token}` };
  const keys = s.verify === undefined ? undefined : import('../publish/artifact-signature.ts');

  /** A file of an entry; its body times out only when nothing comes for STALL_MS (a big archive may take long). */
  async function get(base: string, key: string, file: EntryFile, signal: AbortSignal): Promise<{ res: Response; alive: () => void } | undefined> {
    const stall = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const alive = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => stall.abort(new Error(`nothing came for ${STALL_MS / 1000} s`)), STALL_MS);
      timer.unref();
    };
    alive();
    let res: Response;
    try {
      // No redirect (content from another host), no compression (sizes are checked as they come).
      res = await fetch(entryUrl(base, key, file), { headers: { ...headers, 'accept-encoding': 'identity' }, redirect: 'error', signal: AbortSignal.any([signal, stall.signal]) });
    } catch (e) {
      clearTimeout(timer);
      if (signal.aborted) throw e;
      throw new Miss(`substituter ${base} cannot be reached (${causeOf(e)}): not asked again this run (its packages are built here)`, true);
    }
    const answer = answerOf(res.status);
    if (answer === 'found') {
      alive();
      return { res, alive };
    }
    clearTimeout(timer);
    await res.body?.cancel();
    if (answer === 'absent') return undefined;
    if (answer === 'unauthorized') throw new Miss(unauthorizedText(base, res.status, s.tokenFrom), true);
    throw new Miss(`substituter ${base} answered HTTP ${res.status} for ${file}: built here`);
  }

  /** A small file's text, read with a running count: no more than `limit` bytes, whatever the headers say. */
  async function text(got: { res: Response; alive: () => void }, what: string, limit = SMALL_LIMIT): Promise<string> {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const chunk of Readable.fromWeb(got.res.body! as import('node:stream/web').ReadableStream) as AsyncIterable<Buffer>) {
      got.alive();
      n += chunk.length;
      if (n > limit) throw new Miss(`its ${what} is over ${limit} bytes`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Streams the archive to `file`, refusing it as soon as it is longer than the meta says; its sha256. */
  async function download(from: { res: Response; alive: () => void }, file: string, size: number, signal: AbortSignal): Promise<string> {
    const { res } = from;
    const hash = createHash('sha256');
    let got = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        from.alive();
        got += chunk.length;
        if (got > size) return done(new Miss(`its archive is longer than the ${size} bytes its meta.json says`));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(res.body! as import('node:stream/web').ReadableStream), count, createWriteStream(file, { flags: 'wx' }), { signal });
    if (got !== size) throw new Miss(`its archive is ${got} bytes, its meta.json says ${size}`);
    return hash.digest('hex');
  }

  /** One substituter asked for `key`: the meta stored, or undefined when it has none. */
  async function tryOne(base: string, key: string, signal: AbortSignal): Promise<Awaited<ReturnType<typeof importEntry>> | undefined> {
    const metaRes = await get(base, key, 'meta.json', signal);
    if (metaRes === undefined) return undefined;
    const metaText = await text(metaRes, 'meta.json');
    const bad = metaProblem(metaText, key);
    if (bad !== undefined) throw new Miss(bad);
    if (keys !== undefined) {
      const sigRes = await get(base, key, 'meta.json.asc', signal);
      if (sigRes === undefined) throw new Miss(`its meta.json is not signed (checked against ${s.verify!.file}: that kiln serve has no signing key, or not this one)`);
      const problem = await (await keys).detachedProblem(Buffer.from(metaText, 'utf8'), await text(sigRes, 'meta.json.asc'), s.verify!.keys as never);
      if (problem !== undefined) throw new Miss(`its meta.json is refused: ${problem} (checked against ${s.verify!.file})`);
    }
    const meta = JSON.parse(metaText) as { archive: string | null; size: number; sha256: string | null; warnings?: unknown };
    // --fail-on-warnings: an artifact stored with warnings would fail here; built instead (as a local one is).
    if (o.warningsFail === true && Array.isArray(meta.warnings) && meta.warnings.length > 0) throw new Miss(`its build had warnings (${meta.warnings.map(String).join('; ')}), and --fail-on-warnings fails them: built here`);
    if (meta.archive === null) return await importEntry(o.artifacts, cacheDir, key, { metaText, manifestText: null, archivePath: null }, base);
    const manifestRes = await get(base, key, 'manifest.json', signal);
    if (manifestRes === undefined) throw new Miss('it has no manifest.json for an entry with an archive');
    const manifestText = await text(manifestRes, 'manifest.json', MANIFEST_LIMIT);
    const tmp = join(cacheDir, 'tmp');
    await mkdir(tmp, { recursive: true });
    const file = join(tmp, `substitute-${key.slice(0, 16)}-${process.pid}-${randomBytes(3).toString('hex')}.tar.zst`);
    try {
      const archiveRes = await get(base, key, 'pkg.tar.zst', signal);
      if (archiveRes === undefined) throw new Miss('it has no pkg.tar.zst for an entry with an archive');
      const sha = await download(archiveRes, file, meta.size, signal);
      if (sha !== meta.sha256) throw new Miss(`its archive's sha256 is ${sha}, its meta.json says ${String(meta.sha256)}`);
      // The checks against the meta (size, sha256, manifest hash, key), and the entry renamed into place.
      return await importEntry(o.artifacts, cacheDir, key, { metaText, manifestText, archivePath: file }, base);
    } finally {
      await rm(file, { force: true });
    }
  }

  return async (job, key, { startedAt, log, signal }) => {
    if (job.why.kind === 'forced') return undefined;
    for (const base of s.urls) {
      if (off.has(base) || signal.aborted) continue;
      try {
        const stored = await tryOne(base, key, signal);
        if (stored === undefined) continue;
        const cause = `substituted from ${base}`;
        const jl = await openJobLog(log);
        jl.note(`${job.spec.name} for ${job.arch}, key ${key.slice(0, 16)}: ${cause} (not built here), output ${stored.outputHash.slice(0, 16)}`);
        await jl.close();
        o.bus.emit({ type: 'note', at: Date.now(), text: `${job.id}: ${cause}` });
        const warnings = Array.isArray(stored.warnings) && stored.warnings.length > 0 ? { warnings: stored.warnings.map(String) } : {};
        return { state: 'up-to-date', key, outputHash: stored.outputHash, artifact: artifactPath(o.artifacts, key, stored.archive), cause, log, startedAt, endedAt: Date.now(), ...warnings };
      } catch (e) {
        if (signal.aborted) return undefined;
        if (e instanceof Miss && e.off) {
          off.add(base);
          say(e.message);
        } else {
          // A bad entry (or a transfer cut off) is this key's: said, and built here.
          const why = e instanceof Miss ? e.message : isKilnError(e) ? e.message : `its download failed (${causeOf(e)})`;
          say(`${job.id}: not substituted from ${base}: ${why}; building it`);
        }
      }
    }
    return undefined;
  };
}

function causeOf(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e));
}
