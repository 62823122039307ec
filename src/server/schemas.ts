// The API's request and response shapes, as zod schemas that both validate requests and
// describe them in the OpenAPI document. Request bodies are strict: an unknown field is a
// 400 that names it.

import { closestArch, isDebianArch } from '../debian/arch-names.ts';
import { z } from '@hono/zod-openapi';
import type { ZodError } from 'zod';
import { BUILD_STATES } from '../records/server-record-types.ts';

const name = z.string().min(1).max(200);

export const BuildBodySchema = z
  .strictObject({
    tree: name.optional().openapi({ description: 'a tree this server knows by name (kiln serve --tree NAME=DIR); or give `bundle`', example: 'main' }),
    bundle: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a bundle id')
      .optional()
      .openapi({ description: 'a bundle of this tenant uploaded with PUT /bundles/{id}, instead of `tree`' }),
    targets: z.array(name).max(1000).optional().openapi({ description: 'package names or globs; default: the whole tree' }),
    archs: z
      .array(z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'an architecture name, e.g. amd64').refine(isDebianArch, {
        error: (i) => {
          const near = typeof i.input === 'string' ? closestArch(i.input) : undefined;
          return `not a Debian architecture name${near === undefined ? '' : ` (did you mean "${near}"?)`}: amd64, arm64, armhf, i386, riscv64, ppc64el, s390x…`;
        },
      }))
      .min(1)
      .max(16)
      .optional()
      .openapi({ example: ['amd64'] }),
    env: z
      .string()
      .max(80)
      .regex(/^[a-z0-9]([a-z0-9._-]|\{arch\})*$/, 'an env name such as bookworm-amd64, or a template such as bookworm-{arch}')
      .optional()
      .openapi({ description: 'the build env (may hold {arch}); default: the tree\'s kiln.toml env' }),
    priority: z.number().int().min(-100).max(100).optional().openapi({ description: 'among tenants waiting, higher starts first (default 0)' }),
    debian: z
      .strictObject({
        suite: z.string().regex(/^[A-Za-z0-9._-]+$/, 'a suite name such as bookworm'),
        sources: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+~:-]+)?$/, 'a source package name, or name=version')).min(1).max(1000),
        profiles: z.array(z.string().regex(/^[a-z0-9][a-z0-9.+-]*$/, 'a build profile name such as nocheck')).max(32).optional(),
        nocheck: z.boolean().optional(),
        cross: z.boolean().optional().openapi({ description: "cross-build each arch other than the daemon machine's in its env, as kiln build --cross" }),
        tryInstall: z.boolean().optional().openapi({ description: 'install each built .deb into a fresh root, purge it and check nothing is left, as kiln build --try-install' }),
        autopkgtest: z.boolean().optional().openapi({ description: "run the source's debian/tests with autopkgtest in a fresh root after each build, as kiln build --autopkgtest" }),
        checkValidUntil: z.boolean().optional().openapi({ description: "false: take the suite's Release even past its Valid-Until (the daemon's mirror is a snapshot of the archive frozen on purpose), as kiln build --no-check-valid-until" }),
        binnmu: z.union([z.number().int().min(1).max(999), z.literal('auto')]).optional().openapi({ description: 'a binNMU: the binary packages are versioned VERSION+bN; "auto": each rebuild of a version built before (by this daemon, or in the archive) gets the next N, as kiln build --binnmu auto' }),
      })
      .optional()
      .openapi({ description: 'Debian source packages of a suite to build in this run (beside the tree\'s recipes), like kiln build --debian SUITE SRC…', example: { suite: 'bookworm', sources: ['hello'] } }),
    treeName: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[^\u0000-\u001f\u007f/]+$/, 'a folder name: no slash, no control character')
      .optional()
      .openapi({ description: "with `bundle`: the uploaded tree's folder name, for people to tell builds apart (the web page shows it); `kiln build --server` sends it", example: 'my-tree' }),
  })
  .refine((b) => b.treeName === undefined || b.bundle !== undefined, { message: '"treeName" names an uploaded tree: give it with "bundle" only', path: ['treeName'] })
  .refine((b) => (b.tree === undefined) !== (b.bundle === undefined), { message: 'give exactly one of "tree" (a tree the server knows) and "bundle" (an uploaded bundle id)' })
  .openapi('BuildRequest');

export type BuildBody = z.infer<typeof BuildBodySchema>;

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      hint: z.string().optional(),
    }),
  })
  .openapi('Error');

const counts = z.record(z.string(), z.number());

export const BuildSchema = z
  .object({
    id: z.string(),
    tenant: z.string(),
    tree: z.string(),
    state: z.enum(BUILD_STATES as ['queued', 'running', 'done', 'failed', 'cancelled']),
    targets: z.array(z.string()),
    archs: z.array(z.string()).nullable(),
    env: z.string().nullable(),
    priority: z.number(),
    runId: z.string().nullable(),
    error: z.string().nullable().openapi({ description: 'why the build failed as a whole (not a job), or a note (cancelled, interrupted)' }),
    errorCode: z.string().nullable().openapi({ description: 'the error code when the build failed with one before or outside its jobs (e.g. config-invalid, target-not-found): the same codes, and exit statuses, as the CLI' }),
    errorHint: z.string().nullable().openapi({ description: 'what to do about that error' }),
    retryOf: z.string().nullable(),
    bundle: z.string().nullable(),
    treeName: z.string().nullable().openapi({ description: "the uploaded tree's folder name as the client sent it (`treeName`: `kiln build --server` does); null for a named tree, or a bundle sent without it" }),
    priorRuns: z.array(z.string()).openapi({ description: 'runs of this build a stop or crash interrupted, oldest first' }),
    cancelledBy: z
      .object({ tenant: z.string(), admin: z.boolean() })
      .nullable()
      .openapi({ description: "whose token cancelled the build (set as the cancel is asked for, while a running build stops): its tenant, and whether it is an admin token; null when nobody did" }),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    endedAt: z.string().nullable(),
    total: z.number().nullable(),
    counts: counts.nullable(),
    waiting: z.number().nullable().openapi({ description: 'jobs the run will build that have not started yet (they wait for their dependencies or a free slot); 0 once the run ended, null before it started' }),
    waitingFor: z.string().nullable().openapi({ description: 'a queued build: what holds it back (the free-space guard --min-free, the daemon stopping, an earlier build of its tenant, every build slot taken); null otherwise' }),
  })
  .openapi('Build');

export const BuildListSchema = z.object({ builds: z.array(BuildSchema) }).openapi('BuildList');

export const CreatedSchema = z
  .object({
    id: z.string(),
    state: z.string(),
    notes: z.array(z.string()).optional().openapi({ description: 'what the client should know of how the daemon takes the request (e.g. an env a --sandbox host daemon does not use)' }),
  })
  .openapi('BuildCreated');

export const SampleSchema = z
  .object({
    at: z.string(),
    cpuCores: z.number().openapi({ description: 'cores busy since the previous sample (1.5 = one and a half)' }),
    memoryBytes: z.number(),
    diskBytes: z.number().openapi({ description: 'the job workspace on disk' }),
  })
  .openapi('JobSample');

export const JobSchema = z
  .object({
    jobId: z.string(),
    name: z.string(),
    version: z.string(),
    arch: z.string(),
    state: z.string(),
    attempt: z.number(),
    why: z.string().nullable().openapi({ description: 'why it was (re)built, in words; null when it did not run' }),
    cause: z.string().nullable(),
    failureReason: z.string().nullable(),
    startedAt: z.string().nullable(),
    endedAt: z.string().nullable(),
    durationMs: z.number().nullable(),
    log: z.string().nullable().openapi({ description: 'the URL of the log, when the job ran' }),
    artifact: z.string().nullable().openapi({ description: 'the URL of what the job installed (a tar.zst), when it is built or up to date and installed files' }),
    sample: SampleSchema.nullable().openapi({ description: "the job's latest resource sample (live while it runs)" }),
    earlierAttempts: z
      .array(z.object({ attempt: z.number(), runId: z.string(), state: z.string(), log: z.string().nullable() }))
      .openapi({ description: 'attempts in runs of this build that a stop or crash interrupted (their partial logs)' }),
  })
  .openapi('Job');

export const JobListSchema = z.object({ buildId: z.string(), runId: z.string().nullable(), jobs: z.array(JobSchema) }).openapi('JobList');

/** A run's report (publish/report.ts RunReport) as GET /builds/{id}/report.json serves it: the daemon's files as API URLs. */
export const ReportSchema = z
  .object({
    runId: z.string(),
    start: z.string(),
    end: z.string().nullable().openapi({ description: 'null while the run goes' }),
    state: z.string().optional().openapi({ description: 'running, done, failed or cancelled' }),
    tree: z.string().optional().openapi({ description: 'the build\'s tree, as in the build (`main`, `bundle:ID`)' }),
    archs: z.array(z.string()).optional(),
    maxJobs: z.number().optional(),
    kilnVersion: z.string().optional(),
    counts: counts,
    packages: z.array(
      z.object({
        name: z.string(),
        version: z.string(),
        arch: z.string(),
        state: z.string(),
        why: z.string().nullable(),
        cause: z.string().nullable(),
        durationMs: z.number().nullable(),
        log: z.string().nullable().openapi({ description: "the URL of the job's log (as GET /builds/{id}/jobs gives it), when it ran" }),
        artifact: z.string().nullable().openapi({ description: "the URL of the job's artifact (a tar.zst), when it has one" }),
        diagnostics: z.array(z.string()).optional(),
        reason: z.string().optional(),
        skippedBecause: z.array(z.string()).optional(),
        ignored: z.boolean().optional(),
        warnings: z.array(z.string()).optional(),
      }),
    ),
    running: z.array(z.object({ job: z.string(), startedAt: z.string(), log: z.string().nullable() })).optional().openapi({ description: 'while the run goes: the jobs building now' }),
    waiting: z.number().optional().openapi({ description: 'while the run goes: how many jobs wait their turn' }),
    reproducibility: z.array(z.record(z.string(), z.unknown())).optional().openapi({ description: 'Debian builds with --verify or --twice: one entry per .deb compared' }),
    lintian: z.array(z.record(z.string(), z.unknown())).optional().openapi({ description: "Debian builds with --lintian: lintian's tags per .changes" }),
  })
  .openapi('Report');

export const BuilderSchema = z
  .object({
    slots: z.number(),
    maxConcurrentBuilds: z.number(),
    activeBuilds: z.number(),
    queued: z.number(),
    runningJobs: z.array(
      z.object({
        buildId: z.string(),
        jobId: z.string(),
        name: z.string(),
        arch: z.string(),
        startedAt: z.string(),
        elapsedMs: z.number(),
        sample: SampleSchema.nullable(),
      }),
    ),
    load: z.array(z.number()),
    cpus: z.number(),
    memory: z.object({ totalBytes: z.number(), freeBytes: z.number() }),
    disk: z.object({ path: z.string().optional().openapi({ description: 'the state directory (admin tokens only)' }), freeBytes: z.number(), totalBytes: z.number() }),
  })
  .openapi('Builder');

export const IdParam = z.object({ id: z.string().min(1).max(100).openapi({ param: { name: 'id', in: 'path' } }) });

/** An artifact's input key (GET /api/v1/artifacts/{key}/…): 64 lower-case hex digits, a content address. */
export const ArtifactKeyParam = z.object({
  key: z.string().regex(/^[0-9a-f]{64}$/, 'an artifact key is 64 lower-case hex digits (the input key kiln prints, e.g. in meta.json\'s "key")').openapi({ param: { name: 'key', in: 'path' }, example: 'a3f1…(64 hex digits)' }),
});

// Strict as the bodies are: a misspelt filter (`?sate=queued`) would otherwise list everything.
export const ListQuery = z
  .object({
    state: z.enum(BUILD_STATES as ['queued', 'running', 'done', 'failed', 'cancelled']).optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  })
  .strict();

/** zod's own wordings, which a schema's own message (a regex's, a refine's) is preferred to. */
const ZOD_WORDING = /^(Invalid input|Invalid string|Invalid option|Too big|Too small)\b/;

const EXPECTED_WORDS: Readonly<Record<string, string>> = { string: 'a string', number: 'a number', int: 'a whole number', boolean: 'true or false', array: 'a list', object: 'an object' };

type Issue = ZodError['issues'][number];

/** One issue in plain words (the field is named by the caller). */
function plainIssue(i: Issue): string {
  if (i.code === 'invalid_type') {
    const expected = EXPECTED_WORDS[i.expected] ?? i.expected;
    const received = /received (\w+)$/.exec(i.message)?.[1];
    if (received === 'undefined') return `missing (expected ${expected})`;
    if (received === 'NaN') return `expected ${expected}, got something that is not a number`;
    if (i.expected === 'int' && received === 'number') return 'expected a whole number, got a number with a fraction';
    return `expected ${expected}${received === undefined ? '' : `, got ${EXPECTED_WORDS[received] ?? received}`}`;
  }
  if (i.code === 'too_big' && ZOD_WORDING.test(i.message)) {
    if (i.origin === 'string') return `must be at most ${String(i.maximum)} characters long`;
    if (i.origin === 'array') return `must have at most ${String(i.maximum)} item(s)`;
    return `must be ${i.inclusive ? 'at most' : 'less than'} ${String(i.maximum)}`;
  }
  if (i.code === 'too_small' && ZOD_WORDING.test(i.message)) {
    if (i.origin === 'string') return Number(i.minimum) === 1 ? 'must not be empty' : `must be at least ${String(i.minimum)} characters long`;
    if (i.origin === 'array') return `must have at least ${String(i.minimum)} item(s)`;
    return `must be ${i.inclusive ? 'at least' : 'greater than'} ${String(i.minimum)}`;
  }
  // zod's own wording for an enum ("Invalid option: expected one of "a"|"b"") said plainly.
  if (i.code === 'invalid_value' && ZOD_WORDING.test(i.message)) return `expected one of ${(i as { values: unknown[] }).values.map(String).join(', ')}`;
  return i.message;
}

/**
 * The issue to tell of one field: the schema's own message before zod's (a bad arch name
 * fails a pattern and the arch check: the check says why), the tightest bound of several
 * (1e308 is past both Number.MAX_SAFE_INTEGER and the field's own maximum).
 */
function chosenIssue(issues: readonly Issue[]): Issue {
  const own = issues.filter((i) => !ZOD_WORDING.test(i.message));
  // A refine's (which may say "did you mean") before a pattern's.
  if (own.length > 0) return own.find((i) => i.code === 'custom') ?? own[0]!;
  const bound = (i: Issue): number | undefined => (i.code === 'too_big' ? Number(i.maximum) : undefined);
  const bigs = issues.filter((i) => bound(i) !== undefined);
  if (bigs.length > 1) return bigs.reduce((a, b) => (bound(b)! < bound(a)! ? b : a));
  return issues[0]!;
}

/** One line per problem and field, naming the field: `targets.0: expected a string`, `unknown field "foo"`. */
export function describeZodError(e: ZodError): string {
  const byField = new Map<string, Issue[]>();
  const lines: string[] = [];
  for (const i of e.issues) {
    const where = i.path.length === 0 ? 'body' : i.path.map(String).join('.');
    if (i.code === 'unrecognized_keys') {
      const keys = (i as { keys?: string[] }).keys ?? [];
      const prefix = i.path.length === 0 ? '' : `${where}: `;
      lines.push(`${prefix}unknown field${keys.length === 1 ? '' : 's'} ${keys.map((k) => `"${k}"`).join(', ')}`);
      continue;
    }
    if (!byField.has(where)) byField.set(where, []);
    byField.get(where)!.push(i);
  }
  for (const [where, issues] of byField) lines.push(`${where}: ${plainIssue(chosenIssue(issues))}`);
  return lines.join('; ');
}

/** The fields the object at `path` of a request schema accepts (through optional, nullable and array wrappers); undefined when that is no object. */
export function fieldsAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let s: unknown = schema;
  for (let i = 0; ; i++) {
    while (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodDefault) s = s.unwrap();
    if (i === path.length) return s instanceof z.ZodObject ? Object.keys(s.shape) : undefined;
    const key = path[i]!;
    if (s instanceof z.ZodObject && typeof key === 'string') s = (s.shape as Record<string, unknown>)[key];
    else if (s instanceof z.ZodArray && typeof key === 'number') s = s.element;
    else return undefined;
  }
}

/**
 * The hint of a 400 `usage` for an invalid request: for an unknown field, the fields that
 * object accepts (when the route passes its schema); else where the API is described.
 */
export function usageHint(e: ZodError, schema?: z.ZodType): string {
  const docs = 'the API, its request fields and their values, is described at /api/v1/docs';
  const unknown = e.issues.find((i) => i.code === 'unrecognized_keys');
  const fields = unknown === undefined || schema === undefined ? undefined : fieldsAt(schema, unknown.path);
  if (unknown === undefined || fields === undefined) return docs;
  const where = unknown.path.length === 0 ? '' : ` in "${unknown.path.map(String).join('.')}"`;
  return `the accepted fields${where} are ${fields.map((f) => `"${f}"`).join(', ')}; ${docs}`;
}

/** The 400 body of an invalid request: `usage`, naming each problem, with a hint. */
export function usageBody(e: ZodError, schema?: z.ZodType): { error: { code: 'usage'; message: string; hint: string } } {
  return { error: { code: 'usage', message: describeZodError(e), hint: usageHint(e, schema) } };
}
