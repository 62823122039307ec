// kiln's daemon: the hono app behind `kiln serve`. createApp() opens the records, starts the
// build queue (tenant FIFO, max_concurrent_builds) and wires the routes, one module per
// resource under routes/: builds, jobs and logs, reports, the builder and metrics, the docs.
// Everything but /healthz and the API description needs a bearer token (auth.ts). A browser's
// navigation (Accept: text/html, no Authorization) gets HTML error pages instead (web/browser.ts).
//
// Errors are JSON `{error: {code, message, hint}}`: KilnErrors with their HTTP status
// (errors.ts), invalid bodies 400 naming the field, bodies over the limit 413 `too-large`,
// unknown paths 404 `not-found` (with or without a token), anything unexpected 500 `internal` (every code is in errors.ts).

import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { availableParallelism } from 'node:os';
import { errorBody, httpStatusFor, isKilnError, KilnError } from '../errors.ts';
import { openRecords } from '../records/records.ts';
import { openServerRecords } from '../records/server-records.ts';
import { stateLayout, type StateLayout } from '../run/state-layout.ts';
import { stateFreeSpace } from '../run/free-space.ts';
import type { SandboxChoice } from '../sandbox/choose-backend.ts';
import type { NatsAccess } from '../distributed/nats-access.ts';
import type { WorkerStatus } from '../distributed/worker-status.ts';
import type { NatsConnection } from '@nats-io/transport-node';
import { allowedMethods } from './allowed-methods.ts';
import { bearerAuth, type ServerEnv } from './auth.ts';
import type { ServerContext } from './context.ts';
import { BuildQueue, type BuildRunner } from './queue.ts';
import { SlotPool } from '../schedule/slot-pool.ts';
import { DEFAULT_BUNDLE_LIMITS, sweepBundleTmp, type BundleLimits } from './bundles.ts';
import { registerBuildRoutes } from './routes/builds.ts';
import { registerBundleRoutes } from './routes/bundles.ts';
import { registerEnvRoutes } from './routes/envs.ts';
import { registerBuilderRoutes } from './routes/builder.ts';
import { registerDocRoutes } from './routes/docs.ts';
import { registerJobRoutes } from './routes/jobs.ts';
import { registerReportRoutes } from './routes/reports.ts';
import { registerWebRoutes, registerWebSession } from './web/web.ts';
import { fromBrowser, htmlErrorResponse } from './web/browser.ts';
import { registerWorkerRoutes } from './routes/workers.ts';
import { registerArtifactRoutes } from './routes/artifacts.ts';
import { localRunner } from './runner.ts';
import { usageBody } from './schemas.ts';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Context } from 'hono';
import { precheckBuild } from './precheck.ts';
import type { BuildBody } from './schemas.ts';
import { createWebhooks, webhookBody, type WebhookOptions } from './webhooks.ts';

const JSON_BODY_HINT = 'send one JSON object with Content-Type: application/json, e.g. {"tree": "main"}; the API is described at /api/v1/docs';

/** Request bodies larger than this get a 413 (the build request is a few hundred bytes). */
export const DEFAULT_BODY_LIMIT = 64 * 1024;

export interface AppOptions {
  /** The state dir (records, logs, caches), as for kiln build; or a full layout. */
  readonly stateDir?: string;
  readonly state?: StateLayout;
  /** Tree name → directory: the trees clients may build. */
  readonly trees?: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  readonly maxConcurrentBuilds?: number;
  /** The most builds one tenant may have queued (kiln serve --max-queued). */
  readonly maxQueuedPerTenant?: number;
  /** The machine's job slots shared by concurrent builds (default: the number of cores). */
  readonly slots?: number;
  /** Reserved cpus may exceed the cores by this many (default 0). */
  readonly overcommitCpus?: number;
  readonly sandbox?: SandboxChoice;
  /** Most bytes of a build's output a job log holds (default 1 GiB; 0: no limit). */
  readonly logLimit?: number;
  /** No job runs longer than this, whatever its recipe says. */
  readonly jobTimeoutMs?: number;
  /** The most cpus one job reserves (and its $JOBS), whatever its recipe asks (default: no cap). */
  readonly maxJobCpus?: number;
  /** kiln serve --nats URL: the builds' jobs are built by `kiln worker`s (src/distributed/). */
  readonly nats?: string;
  /** With nats: its .creds / nkey / TLS files, read as kiln serve started (distributed/nats-access.ts). */
  readonly natsAccess?: NatsAccess;
  /** The highest `priority` a tenant may ask for (admins: any); default 100, the most there is. */
  readonly maxPriority?: number;
  /** Runs a build; default: runBuild() in this process (tests pass a fake). */
  readonly runner?: BuildRunner;
  readonly bodyLimit?: number;
  /** Bundle upload bounds (default DEFAULT_BUNDLE_LIMITS: 64 MiB sent, 256 MiB extracted, 20,000 members). */
  readonly bundleLimits?: Partial<BundleLimits>;
  /** How often running jobs' cpu, memory and disk are sampled (default 5 s). */
  readonly sampleIntervalMs?: number;
  readonly version?: string;
  /** Where unexpected errors are reported (default stderr). */
  readonly onError?: (message: string) => void;
  /** The daemon's log of what tenants do that an operator wants to know of: one line per cancel (default: where onError goes). */
  readonly log?: (message: string) => void;
  /** The free-space guard: no build starts while the state's disk has less (kiln serve --min-free; 0 turns it off). */
  readonly minFreeBytes?: number;
  /** For tests: how much is free (default: statfs of the state's work and cache dirs, the lesser). */
  readonly freeSpace?: () => { bytes: number; where: string } | undefined;
  /** kiln serve --webhook URL… and --webhook-secret-file: every build that ends is POSTed there (webhooks.ts). */
  readonly webhooks?: Omit<WebhookOptions, 'log'> | undefined;
}

/**
 * A refusal by hono's own middleware as kiln's error: the CSRF check of the sign-in form
 * (403, with no message of its own) and the media type check (415) say what to do.
 */
export function httpExceptionError(e: HTTPException, method: string, path: string): KilnError {
  if (e.status === 403) {
    return new KilnError('forbidden', `${method} ${path}: refused: the request's Origin is not this daemon's (a form posted from another site, or no Origin header)`, {
      hint: 'sign in from the daemon\'s own page (/login) in a browser; scripts use the API with an `Authorization: Bearer TOKEN` header instead',
    });
  }
  if (e.status === 415) {
    return new KilnError('usage', `${method} ${path}: the body's Content-Type is not one this endpoint takes`, { hint: 'send JSON with `Content-Type: application/json` (the API is described at /api/v1/docs)' });
  }
  return new KilnError('usage', e.message === '' ? `${method} ${path}: refused (HTTP ${e.status})` : e.message, { hint: 'the API is described at /api/v1/docs' });
}

/** kiln serve --nats without --jobs: jobs in flight to the workers at once. */
const NATS_SLOTS = 64;

export interface KilnServerApp {
  readonly app: OpenAPIHono<ServerEnv>;
  readonly queue: BuildQueue;
  readonly context: ServerContext;
  /** Build ids a dead server had left running, now queued again. */
  readonly requeued: readonly string[];
  /** Builds a dead server left running for the last time allowed: failed, not re-queued. */
  readonly failedInterrupted: readonly string[];
  /** Stop the queue (running builds are aborted and re-queued), then close the records. */
  close(): Promise<void>;
}

export function createApp(options: AppOptions): KilnServerApp {
  const state = options.state ?? stateLayout(options.stateDir === undefined ? {} : { state: options.stateDir });
  const trees = options.trees instanceof Map ? options.trees : new Map(Object.entries(options.trees ?? {}));
  const report = options.onError ?? ((m: string) => process.stderr.write(`kiln serve: ${m}\n`));
  const records = openServerRecords(state.root);
  const runs = openRecords(state.root);
  const webhooks = options.webhooks === undefined || options.webhooks.urls.length === 0 ? undefined : createWebhooks({ ...options.webhooks, log: report });
  const queue = new BuildQueue({
    records,
    run: options.runner ?? localRunner({ state, trees, sandbox: options.sandbox, logLimit: options.logLimit, jobTimeoutMs: options.jobTimeoutMs, maxJobCpus: options.maxJobCpus, nats: options.nats, natsAccess: options.natsAccess, sampleIntervalMs: options.sampleIntervalMs, onError: report }),
    maxConcurrent: options.maxConcurrentBuilds ?? 2,
    ...(options.maxQueuedPerTenant === undefined ? {} : { maxQueuedPerTenant: options.maxQueuedPerTenant }),
    slots: options.slots ?? (options.nats === undefined ? availableParallelism() : NATS_SLOTS),
    // --nats: the workers' machines build; the daemon's pool bounds jobs in flight (--jobs), not cpus or memory.
    ...(options.nats === undefined ? {} : { pool: new SlotPool({ slots: options.slots ?? NATS_SLOTS, cpus: Number.MAX_SAFE_INTEGER, memoryBytes: Number.MAX_SAFE_INTEGER }) }),
    ...(options.overcommitCpus === undefined ? {} : { overcommitCpus: options.overcommitCpus }),
    ...(options.minFreeBytes === undefined || options.minFreeBytes <= 0 ? {} : { minFree: { bytes: options.minFreeBytes, free: options.freeSpace ?? (() => stateFreeSpace(state)) } }),
    onError: (id, e) => report(`build ${id}: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`),
    ...(webhooks === undefined ? {} : { onEnded: (b) => webhooks.send(webhookBody(b, b.runId === null ? null : ((runs.getRun(b.runId)?.counts as Record<string, number> | null | undefined) ?? null), Date.now())) }),
  });
  const bundleLimits: BundleLimits = { ...DEFAULT_BUNDLE_LIMITS, ...options.bundleLimits };
  const precheck =
    options.runner === undefined
      ? (treeDir: string, body: BuildBody): Promise<void> => precheckBuild({ stateRoot: state.root, sandbox: options.sandbox ?? 'auto', treeDir, env: body.env, archs: body.archs, debian: body.debian !== undefined, targets: body.targets, debianSuite: body.debian?.suite, cacheDir: state.cache, cross: body.debian?.cross === true, nats: options.nats !== undefined })
      : undefined;
  // --nats: one connection, made when the workers are first asked for, for the daemon's life.
  const workersAsk = options.nats === undefined ? undefined : workersAsker(options.nats, options.natsAccess);
  const context: ServerContext = { records, runs, queue, trees, state, bundleLimits, precheck, maxPriority: options.maxPriority ?? 100, log: options.log ?? report, workers: workersAsk?.ask, hostSandbox: options.sandbox === 'host' };

  const app = new OpenAPIHono<ServerEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        return c.json(usageBody(result.error), 400);
      }
      return undefined;
    },
  });
  const limit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const jsonBodyLimit = bodyLimit({
    maxSize: limit,
    onError: (c) => c.json(errorBody(new KilnError('too-large', `the request body is over the limit of ${limit} bytes`, { hint: 'an API request is a few hundred bytes (a build request: send fewer or shorter targets); a tree goes up as a bundle: PUT /api/v1/bundles/{id}' })), 413),
  });
  // Bundle uploads have their own, larger limit, counted as they stream to disk (bundles.ts).
  const isBundleUpload = (c: Context): boolean => c.req.method === 'PUT' && c.req.path.startsWith('/api/v1/bundles/');
  app.use('/api/*', (c, next) => (isBundleUpload(c) ? next() : jsonBodyLimit(c, next)));
  // The web status page's session cookie, sign-in and assets (before the bearer check).
  registerWebSession(app, context);
  // Unknown paths are a 404 whatever the auth (routes are looked up as each request comes, once all are registered).
  // A read-only token is refused (403) there every method but GET and HEAD that a route takes.
  app.use('*', bearerAuth(records, (path) => allowedMethods(app.routes, path)));
  // What a token or session sees is that tenant's: no proxy or browser cache keeps it
  // (a shared proxy in front, or the browser after sign-out). Public paths keep their own.
  app.use('*', async (c, next) => {
    await next();
    if ((c.get('auth') as unknown) !== undefined && !c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store');
  });
  // A JSON body that does not parse is kiln's own usage error naming the parser's complaint
  // (hono's validator would answer only "Malformed JSON in request body"); the validator
  // then reads the text kept here. An empty body passes: routes without one ignore it.
  app.use('/api/*', async (c, next) => {
    // A bundle upload streams to disk under its own limit whatever its content type says: never read it here.
    if (c.req.method === 'GET' || c.req.method === 'HEAD' || isBundleUpload(c) || !/^application\/([\w.-]+\+)?json$/i.test((c.req.header('content-type') ?? '').split(';')[0]!.trim())) return next();
    const text = await c.req.text();
    if (text.trim() === '') return next();
    try {
      JSON.parse(text);
    } catch (e) {
      throw new KilnError('usage', `the request body is not valid JSON: ${(e as Error).message}`, { hint: JSON_BODY_HINT });
    }
    return next();
  });
  registerBuildRoutes(app, context);
  registerJobRoutes(app, context);
  registerReportRoutes(app, context);
  registerBuilderRoutes(app, context);
  registerBundleRoutes(app, context, bundleLimits);
  registerEnvRoutes(app, context);
  registerWorkerRoutes(app, context);
  registerArtifactRoutes(app, context);
  registerDocRoutes(app, options.version ?? '0.1.0');
  registerWebRoutes(app, context);

  app.notFound((c) => {
    const allow = allowedMethods(app.routes, c.req.path);
    if (allow.length > 0) {
      c.header('Allow', allow.join(', '));
      return c.json(errorBody(new KilnError('method-not-allowed', `${c.req.path} does not take ${c.req.method}: it takes ${allow.filter((m) => m !== 'HEAD').join(' or ')}`, { hint: 'see /api/v1/docs' })), 405);
    }
    // A browser's navigation: a page that says so; API clients keep the JSON.
    if (fromBrowser(c)) return htmlErrorResponse(c, 404, `there is no page at ${c.req.path}`, 'the builds are listed at /; the API is described at /api/v1/docs');
    return c.json(errorBody(new KilnError('not-found', `no such endpoint: ${c.req.method} ${c.req.path}`, { hint: 'see /api/v1/docs' })), 404);
  });
  app.onError((e, c) => {
    // A browser sent to an API URL (a report, a log) of a build that is not there: a page, not JSON.
    if (isKilnError(e) && fromBrowser(c)) return htmlErrorResponse(c, httpStatusFor(e) as ContentfulStatusCode, e.message, e.hint);
    // A full disk (SQLite's SQLITE_FULL, ENOSPC writing or unpacking an upload): nothing was
    // stored, and the client should hear why rather than of a bug.
    if (isDiskFull(e)) {
      report(`${c.req.method} ${c.req.path}: the disk is full: ${e.message}`);
      return c.json(errorBody(new KilnError('server-disk-full', "the daemon's disk is full: nothing was stored", { hint: "try again later; the daemon's operator frees space (kiln cache gc, old bundles and runs)" })), 503);
    }
    if (isKilnError(e)) {
      const status = httpStatusFor(e) as ContentfulStatusCode;
      return c.json(errorBody(e), status);
    }
    if (e instanceof HTTPException && e.message === 'Malformed JSON in request body') {
      // Bodies that do not parse were answered above: this is an empty one where a route needs a body.
      return c.json(errorBody(new KilnError('usage', 'the request body is empty', { hint: JSON_BODY_HINT })), 400);
    }
    if (e instanceof HTTPException) return c.json(errorBody(httpExceptionError(e, c.req.method, c.req.path)), e.status as ContentfulStatusCode);
    report(`${c.req.method} ${c.req.path}: ${e.stack ?? e.message}`);
    return c.json(errorBody(new KilnError('internal', 'internal error (logged by the server)', { hint: 'a bug in kiln: the daemon logged the details on its stderr; please report it' })), 500);
  });

  const { requeued, failed: failedInterrupted } = queue.start();
  // Uploads a killed daemon was receiving: their temp dirs go (reliability case 12).
  for (const name of sweepBundleTmp(state.root)) report(`removed the unfinished upload ${name} of a daemon that is gone`);
  let closed: Promise<void> | undefined;
  return {
    app,
    queue,
    context,
    requeued,
    failedInterrupted,
    close: () => {
      closed ??= queue.stop().finally(async () => {
        // A build that ended as the daemon stopped is still announced.
        await webhooks?.idle();
        records.close();
        runs.close();
        await workersAsk?.close();
      });
      return closed;
    },
  };
}

/** An error of a full disk or quota: SQLite's SQLITE_FULL, ENOSPC, EDQUOT, or tar's "No space left on device". */
export function isDiskFull(e: unknown): boolean {
  for (let x: unknown = e; x instanceof Error; x = x.cause) {
    const code = (x as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT' || /database or disk is full|No space left on device|Disk quota exceeded/.test(x.message)) return true;
  }
  return false;
}

/** Asks the workers on `url` (a connection made on first use, kept, closed with the daemon). */
function workersAsker(url: string, access: NatsAccess | undefined): { ask: () => Promise<WorkerStatus[]>; close(): Promise<void> } {
  let nc: Promise<NatsConnection> | undefined;
  const connection = (): Promise<NatsConnection> => {
    nc ??= import('../distributed/connect.ts').then((m) => m.dialNats(url, { access, name: `kiln serve ${process.pid} (workers)`, reconnect: true }));
    // A failed dial is tried again at the next question.
    nc.catch(() => (nc = undefined));
    return nc;
  };
  return {
    ask: async () => {
      const { askWorkers } = await import('../distributed/worker-status.ts');
      // The daemon's NATS refusing it is the daemon's problem (502), not the caller's token (401).
      const c = await connection().catch((e: unknown) => {
        throw new KilnError('server-unreachable', `the daemon cannot ask its workers: ${(e as Error).message}`, { hint: "the daemon's operator checks kiln serve's --nats URL and its --nats-* files", cause: e });
      });
      return (await askWorkers(c)).statuses;
    },
    close: async () => {
      await (await nc?.catch(() => undefined))?.close();
    },
  };
}
