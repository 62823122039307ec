// kiln download [BUILD] --server URL [--into DIR]: what a daemon's build made, onto this
// machine: the artifact (tar.zst of what the package installed) of every built or up-to-date
// job that installed files, named NAME_VERSION_ARCH.tar.zst. Each file is written to a
// temporary name and renamed when whole.

import type { Command } from 'commander';
import { createWriteStream, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { KilnError } from '../errors.ts';
import type { CliContext } from './main.ts';
import { humanBytes } from '../lib/human-bytes.ts';
import { addRemoteOptions, call, callJson, forTheCli, requireRemote, type RemoteOptions } from './remote.ts';
import { artifactFileName } from '../lib/artifact-name.ts';

interface DownloadOpts extends RemoteOptions {
  into?: string;
}

interface JobRow {
  readonly jobId: string;
  readonly name: string;
  readonly version: string;
  readonly arch: string;
  readonly state: string;
  readonly artifact: string | null;
}

export function registerDownload(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('download')
    .description("download what a daemon's build made: each package's artifact (tar.zst of what it installed)")
    .argument('[build]', 'the build id (default: your newest build)')
    .option('--into <dir>', 'where to put the files (default: kiln-artifacts/BUILD in the current directory)');
  addRemoteOptions(cmd);
  cmd.action(async (id: string | undefined, opts: DownloadOpts) => {
    const remote = requireRemote(opts, 'download');
    if (id === undefined) {
      const { builds } = await callJson<{ builds: { id: string }[] }>(remote, 'GET', '/api/v1/builds?limit=1');
      if (builds[0] === undefined) throw new KilnError('run-not-found', `no builds on ${remote.url} for this token`, { hint: 'start one with `kiln build --server URL`' });
      id = builds[0].id;
    }
    const build = id;
    // It becomes a folder name: only what build ids look like.
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(build)) throw new KilnError('usage', `"${build}" is not a build id`, { hint: 'see `kiln status --runs --server URL`' });
    const { jobs } = await callJson<{ jobs: JobRow[] }>(remote, 'GET', `/api/v1/builds/${encodeURIComponent(build)}/jobs`).catch((e: unknown) => {
      throw forTheCli(e, build);
    });
    const dir = opts.into ?? join('kiln-artifacts', build);
    mkdirSync(dir, { recursive: true });
    const wanted = jobs.filter((j) => j.artifact !== null);
    let bytes = 0;
    const missing: string[] = [];
    for (const j of wanted) {
      const file = join(dir, artifactFileName(j.name, j.version, j.arch));
      const tmp = `${file}.part`;
      let res: Response;
      try {
        res = await call(remote, 'GET', j.artifact!);
      } catch (e) {
        // One artifact gone (cache gc on the daemon): say so, fetch the others, exit 1.
        if (e instanceof KilnError && e.code === 'not-found') {
          ctx.stderr.write(`kiln: ${j.jobId}: ${e.message}\n`);
          missing.push(j.jobId);
          continue;
        }
        throw e;
      }
      try {
        await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(tmp));
        renameSync(tmp, file);
      } catch (e) {
        rmSync(tmp, { force: true });
        throw e;
      }
      bytes += statSync(file).size;
      ctx.stdout.write(`${file}\n`);
    }
    if (missing.length > 0) ctx.exitCode = 1;
    const none = jobs.filter((j) => j.artifact === null && (j.state === 'built' || j.state === 'up-to-date')).length;
    const others = jobs.length - wanted.length - none;
    // A build still going has more to come: said, so that an empty folder is not taken for its
    // result. A queued or planning build has no jobs yet: its own state tells.
    const going = jobs.filter((j) => j.state === 'running' || j.state === 'waiting' || j.state === 'not-started').length;
    const buildState = going > 0 || jobs.length === 0 ? (await callJson<{ state: string }>(remote, 'GET', `/api/v1/builds/${encodeURIComponent(build)}`).catch(() => undefined))?.state : undefined;
    const stillGoing = buildState === 'queued' || buildState === 'running';
    ctx.stderr.write(
      `kiln: ${wanted.length - missing.length} artifact(s) of build ${build} in ${dir}${bytes > 0 ? ` (${humanBytes(bytes)})` : ''}${missing.length > 0 ? `; ${missing.length} no longer on the server` : ''}` +
        `${none > 0 ? `; ${none} package(s) installed nothing` : ''}${others > 0 ? `; ${others} job(s) not built (kiln status ${build} --server URL)` : ''}` +
        `${stillGoing ? `; the build is still ${buildState}${going > 0 ? ` (${going} job(s) running or waiting)` : ''}: download again once it has ended` : ''}\n`,
    );
  });
}
