// /api/v1/bundles/{id}: upload a build bundle (PUT, the tar as the body) and read what is
// stored under an id (GET). Bundles live in the token's tenant's namespace: another
// tenant's bundle of the same id is a 404, as if it did not exist. A bundle is immutable:
// a second PUT to an id is a 409.

import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { KilnError } from '../../errors.ts';
import type { BundleRecord } from '../../records/server-record-types.ts';
import type { ServerEnv } from '../auth.ts';
import { BUNDLE_ID_PATTERN, moveBundleAside, removeBundleDir, storeBundle, type BundleLimits } from '../bundles.ts';
import { rm } from 'node:fs/promises';
import type { ServerContext } from '../context.ts';
import { ErrorSchema } from '../schemas.ts';

const BundleSchema = z
  .object({
    id: z.string(),
    tenant: z.string(),
    sha256: z.string().openapi({ description: 'sha256 of the uploaded bytes' }),
    size: z.number().openapi({ description: 'uploaded bytes' }),
    entries: z.number(),
    bytes: z.number().openapi({ description: 'extracted bytes' }),
    createdAt: z.string(),
  })
  .openapi('Bundle');

const IdParam = z.object({
  id: z.string().regex(BUNDLE_ID_PATTERN, 'a bundle id: 1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit').openapi({ param: { name: 'id', in: 'path' }, example: 'e3b0c44298fc1c14' }),
});

const json = <T>(schema: T, description: string) => ({ content: { 'application/json': { schema } }, description });

export function bundleView(b: BundleRecord) {
  return { id: b.id, tenant: b.tenant, sha256: b.sha256, size: b.size, entries: b.entries, bytes: b.bytes, createdAt: new Date(b.createdAt).toISOString() };
}

export function bundleNotFound(id: string): KilnError {
  return new KilnError('bundle-not-found', `no bundle "${id}" for this token`, { hint: 'upload it with PUT /api/v1/bundles/{id}' });
}

export function registerBundleRoutes(app: OpenAPIHono<ServerEnv>, ctx: ServerContext, limits: BundleLimits): void {
  // Registered for the document only: the handler streams the body itself (no JSON validator).
  app.openAPIRegistry.registerPath(
    createRoute({
      method: 'put',
      path: '/api/v1/bundles/{id}',
      security: [{ bearer: [] }],
      summary: `Upload a build bundle: a tar of a recipe tree (plain, gzip, zstd or xz), members relative to the tree; at most ${limits.maxUploadBytes} bytes, ${limits.maxEntries} members and ${limits.maxExtractedBytes} bytes extracted`,
      request: {
        params: IdParam,
        body: { content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } }, required: true },
      },
      responses: {
        201: json(BundleSchema, 'stored'),
        400: json(ErrorSchema, 'not a tar, or a member that is unsafe (named in the message); nothing was stored'),
        401: json(ErrorSchema, 'no, unknown, revoked or expired token'),
        409: json(ErrorSchema, 'this id is taken (bundles are immutable)'),
        413: json(ErrorSchema, 'over the upload, member-count or extracted-size limit; nothing was stored'),
      },
    }),
  );
  app.put('/api/v1/bundles/:id', async (c) => {
    const id = parseId(c);
    const tenant = c.get('auth').tenant;
    // A daemon stopping (or draining) takes no new builds, so no bundle for one either.
    if (ctx.queue.stopping) throw new KilnError('server-stopping', 'the server is stopping and takes no new bundles', { hint: 'upload it again once the server is back' });
    const quota = limits.tenantQuotaBytes ?? 0;
    const overQuota = (total: number): KilnError =>
      new KilnError('too-large', `tenant ${tenant}'s bundles would take ${total} bytes, over this daemon's quota of ${quota} bytes per tenant`, {
        hint: "its bundles stay until the operator's kiln cache gc removes those older than its --older-than that no build waits for; or the operator raises --bundle-quota",
      });
    const declared = Number(c.req.header('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > limits.maxUploadBytes) {
      throw new KilnError('too-large', `the bundle (${declared} bytes) is over the upload limit of ${limits.maxUploadBytes} bytes`, {
        hint: 'bundle only the recipe tree, compress it, or ask the operator to raise --bundle-max-bytes',
      });
    }
    if (ctx.records.getBundle(tenant, id) !== undefined) {
      throw new KilnError('conflict', `bundle "${id}" already exists`, { hint: 'bundles are immutable: upload under a new id (the CLI uses the content hash)' });
    }
    // After the conflict check: re-sending a stored bundle is a 409 the CLI expects, not a 413.
    const used = quota > 0 ? ctx.records.bundleBytesOf(tenant) : 0;
    if (quota > 0 && used >= quota) throw overQuota(used);
    const body = c.req.raw.body;
    if (body === null) throw new KilnError('usage', 'PUT /api/v1/bundles/{id} needs the tar as the request body', { hint: 'send the tar as the body, e.g. curl -T bundle.tgz' });
    // What is left of the quota bounds what this upload may unpack to: refused while listing.
    const room = quota > 0 ? { ...limits, maxExtractedBytes: Math.min(limits.maxExtractedBytes, quota - used) } : limits;
    const stored = await storeBundle(body as unknown as AsyncIterable<Uint8Array>, { stateRoot: ctx.state.root, tenant, id, limits: room, signal: c.req.raw.signal }).catch((e: unknown) => {
      // Refused for the room the quota left, not for --bundle-max-extracted: say so.
      if (room !== limits && room.maxExtractedBytes < limits.maxExtractedBytes && e instanceof KilnError && e.code === 'too-large' && /takes the extracted size over|decompresses to more than/.test(e.message)) {
        throw new KilnError('too-large', `tenant ${tenant}'s bundles take ${used} bytes, and this one would take them over this daemon's quota of ${quota} bytes per tenant`, { hint: overQuota(0).hint ?? '', cause: e });
      }
      throw e;
    });
    // Counted again with no await before the insert: uploads running side by side each saw
    // the total before the others were stored.
    const total = quota > 0 ? ctx.records.bundleBytesOf(tenant) + stored.bytes : 0;
    if (quota > 0 && total > quota) {
      await removeBundleDir(ctx.state.root, tenant, id);
      throw overQuota(total);
    }
    let rec: BundleRecord;
    try {
      rec = ctx.records.insertBundle({ tenant, id, sha256: stored.sha256, size: stored.size, entries: stored.entries, bytes: stored.bytes });
    } catch (e) {
      await removeBundleDir(ctx.state.root, tenant, id);
      if (/UNIQUE|PRIMARY KEY/.test(String(e))) throw new KilnError('conflict', `bundle "${id}" already exists`, { hint: 'a bundle is never replaced: build the one stored under this id, or upload under another id' });
      throw e;
    }
    c.header('Location', `/api/v1/bundles/${id}`);
    return c.json(bundleView(rec), 201);
  });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/bundles',
      security: [{ bearer: [] }],
      summary: "The bundles of the token's tenant (an admin token: everyone's), oldest first, each with the queued or running builds of it",
      responses: { 200: json(z.object({ bundles: z.array(BundleSchema.extend({ builds: z.array(z.string()) })) }), 'the bundles') },
    }),
    (c) => {
      const auth = c.get('auth');
      const list = ctx.records.listBundles(auth.admin ? undefined : auth.tenant);
      return c.json({ bundles: list.map((b) => ({ ...bundleView(b), builds: ctx.records.buildsOfBundle(b.tenant, b.id) })) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/api/v1/bundles/{id}',
      security: [{ bearer: [] }],
      summary: "Remove a bundle of the token's tenant, unless a queued or running build of it waits (409)",
      request: { params: IdParam },
      responses: { 204: { description: 'removed' }, 404: json(ErrorSchema, 'no such bundle for this token'), 409: json(ErrorSchema, 'a queued or running build uses it') },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const tenant = c.get('auth').tenant;
      if (ctx.records.getBundle(tenant, id) === undefined) throw bundleNotFound(id);
      // One statement decides: a build queued of it meanwhile keeps it.
      if (!ctx.records.deleteUnneededBundle(tenant, id)) {
        const builds = ctx.records.buildsOfBundle(tenant, id);
        throw new KilnError('conflict', `bundle "${id}" is used by ${builds.length === 1 ? 'build' : 'builds'} ${builds.join(', ')}, queued or running`, {
          hint: 'remove it once they have run, or cancel them first (POST /api/v1/builds/{id}/cancel)',
        });
      }
      // Out of the way before anything else runs (no await between): a PUT of the same id
      // right after must not have its new folder removed.
      const aside = moveBundleAside(ctx.state.root, tenant, id);
      if (aside !== undefined) await rm(aside, { recursive: true, force: true });
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/bundles/{id}',
      security: [{ bearer: [] }],
      summary: "A bundle of the token's tenant: its hash, size and member count",
      request: { params: IdParam },
      responses: { 200: json(BundleSchema, 'the bundle'), 404: json(ErrorSchema, 'no such bundle for this token') },
    }),
    (c) => {
      const { id } = c.req.valid('param');
      const b = ctx.records.getBundle(c.get('auth').tenant, id);
      if (b === undefined) throw bundleNotFound(id);
      return c.json(bundleView(b), 200);
    },
  );
}

function parseId(c: Context<ServerEnv>): string {
  const id = c.req.param('id') ?? '';
  if (!BUNDLE_ID_PATTERN.test(id)) {
    throw new KilnError('usage', `id: "${id}" is not a bundle id (1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit)`, {
      hint: 'name the bundle with letters, digits, dots, dashes and underscores only, e.g. the sha256 of the tar (kiln build --server does); no slashes',
    });
  }
  return id;
}
