// What the local executor (execute-job.ts createExecutor) is handed for a run, and what a
// run knows of each package that a job may stage (its key and output hash), which the
// remote executor keeps too.

import type { ArtifactStore } from '../cache/artifact-types.ts';
import type { BuildLocks } from '../cache/build-locks.ts';
import type { Downloads } from '../cache/downloads.ts';
import type { EventBus } from '../events/events.ts';
import type { SandboxBackend, SandboxEnv } from '../sandbox/sandbox.ts';
import type { CcacheSettings } from './ccache.ts';

/** What this run knows of every package that may be staged: its key and output. */
export interface StagedOutput {
  readonly key: string;
  readonly outputHash: string;
}

export interface ExecutorOptions {
  readonly runId: string;
  readonly backend: SandboxBackend;
  /** The env a job of this arch builds in (undefined for the host backend). */
  readonly envFor: (arch: string) => SandboxEnv | undefined;
  /** Offered read-only inside isolated sandboxes at /var/cache/kiln/downloads. */
  readonly downloadsDir: string;
  readonly downloads: Downloads;
  readonly artifacts: ArtifactStore;
  readonly bus: EventBus;
  /** Outputs of up-to-date packages and of this run's finished builds, by job id. */
  readonly outputs: Map<string, StagedOutput>;
  readonly workRoot: string;
  readonly logDir: string;
  readonly keepFailed: boolean;
  /**
   * Each job builds at its own workDir (`<work>/<run>/<name>_<arch>`), not in a recycled
   * host workspace wherever it is: for a daemon, whose job sampler finds a host build's
   * processes by that folder (server/job-sampler.ts).
   */
  readonly workspaceAtWorkDir?: boolean;
  /** Most bytes of a build's output a log holds (job-log.ts maxBytes). */
  readonly logLimit?: number;
  /** Logs at least this large are kept compressed once their job ends (logs/log-compress.ts; default 1 MiB; 0: never). */
  readonly compressLogsAbove?: number;
  /** No build runs longer than this, whatever its recipe says (--job-timeout). */
  readonly maxTimeoutMs?: number;
  /** kiln build --loop-timeout: every build's loop-timeout, whatever its recipe says (0: off; loop-watch.ts). */
  readonly loopTimeoutMs?: number;
  readonly sourceDateEpoch: number;
  /** The run's active build profiles ($KILN_PROFILES). */
  readonly profiles?: readonly string[];
  readonly expectedMs: (jobId: string) => number | undefined;
  /** --retry N: a build that failed with a RETRYABLE reason runs again, up to N more times. */
  readonly retries?: number;
  /** --fail-on-warnings: an output check's warning fails the build as an error does. */
  readonly warningsFail?: boolean;
  /** One build per key among kiln processes sharing the cache (build-locks.ts); none: no coordination. */
  readonly buildLocks?: BuildLocks;
  /** --ccache: the run's compiler cache (ccache.ts); none: builds without one. */
  readonly ccache?: CcacheSettings;
  /** kiln build --twice: each recipe is built a second time, varied, and the outputs compared (recipe-twice.ts). */
  readonly twice?: boolean;
  /** kiln build --substitute: remote caches asked for a job's artifact before it builds (substitute.ts); none: never asked. */
  readonly substitute?: SubstituteSettings;
}

/** kiln build --substitute URL…, --substitute-token, --substitute-key (cli/build.ts; the run passes it on). */
export interface SubstituteSettings {
  /** kiln serve base URLs (no trailing slash), asked in this order. */
  readonly urls: readonly string[];
  readonly token?: string;
  /** Where the token came from, named when it is refused: `--substitute-token` or `$KILN_SUBSTITUTE_TOKEN`. */
  readonly tokenFrom?: string;
  /** --substitute-key: meta.json must carry a good signature by one of these (openpgp.Key; artifact-signature.ts). */
  readonly verify?: { readonly file: string; readonly keys: readonly unknown[] };
}

/** The part of a build request that kiln build --substitute fills. */
export interface SubstituteRequest {
  readonly substitute?: SubstituteSettings | undefined;
}
