// GET /api/v1/artifacts/{key}/meta.json, /manifest.json, /pkg.tar.zst and /meta.json.asc:
// the daemon's artifact cache served by input key, read-only, for `kiln build --substitute
// URL` on another machine (a remote binary cache, as BitBake's SSTATE_MIRRORS or Nix's
// substituters). Any tenant's token may read any entry: a key is a content address of
// its inputs, and meta.json names what it holds. The files are sent as stored (the
// client checks them against meta.json: cache/artifact-transfer.ts importEntry); with a
// signing key in the state dir (`kiln key create`), meta.json.asc is meta.json signed.
// A restricted package's entry (recipe key `restricted`: its meta.json says why) is not
// served at all: 404, as if absent, so that a substituting client builds it itself (a 403
// would tell it its token is refused, and it would stop asking for every other key).

import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { createArtifactStore } from '../../cache/artifacts.ts';
import { ARCHIVE } from '../../cache/artifact-types.ts';
import { KilnError } from '../../errors.ts';
import { restrictionOf } from '../../publish/artifact-labels.ts';
import { signingKeyPaths } from '../../publish/signing-paths.ts';
import type { ServerEnv } from '../auth.ts';
import type { ServerContext } from '../context.ts';
import { ArtifactKeyParam, ErrorSchema } from '../schemas.ts';

/**
 * Why the entry an artifact's archive lies in may not be handed out (its meta.json beside
 * it: restrictionOf), for a route that knows the archive's path, not the key. A meta.json
 * that cannot be read refuses too: whether the package is restricted cannot be told.
 */
export function restrictionOfArchive(archive: string): string | undefined {
  let meta: { restricted?: unknown };
  try {
    meta = JSON.parse(readFileSync(join(dirname(archive), 'meta.json'), 'utf8')) as { restricted?: unknown };
  } catch (e) {
    return `its cache entry's meta.json cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}), so whether it is restricted cannot be told`;
  }
  const why = restrictionOf(meta);
  return why === undefined ? undefined : `restricted: ${why}`;
}

const notFound = { content: { 'application/json': { schema: ErrorSchema } }, description: 'the cache has no artifact under this key, or a restricted one (its recipe says `restricted`: never served), or it installed nothing (for manifest.json and pkg.tar.zst)' } as const;
const badKey = { content: { 'application/json': { schema: ErrorSchema } }, description: 'the key is not 64 hex digits (usage)' } as const;

export function registerArtifactRoutes(app: OpenAPIHono<ServerEnv>, ctx: ServerContext): void {
  const store = createArtifactStore({ cacheDir: ctx.state.cache });
  /** The entry's meta, or a 404 naming the key (a torn entry is absent: get() moves it aside). */
  const metaOf = async (key: string) => {
    const meta = await store.get(key);
    if (meta === undefined) throw new KilnError('not-found', `this kiln's cache has no artifact ${key}`, { hint: 'it was never built here, or cache gc removed it: the client builds it' });
    const restricted = restrictionOf(meta);
    if (restricted !== undefined) {
      throw new KilnError('not-found', `the artifact ${key} (${meta.name} ${meta.version}) is restricted: ${restricted}; this kiln does not hand it out`, { hint: 'its recipe says `restricted`: whoever may have it builds it from the recipe (the client does so by itself)' });
    }
    return meta;
  };
  const route = (file: string, summary: string, ok: Parameters<typeof createRoute>[0]['responses'][number]) =>
    createRoute({ method: 'get', path: `/api/v1/artifacts/{key}/${file}`, security: [{ bearer: [] }], summary, request: { params: ArtifactKeyParam }, responses: { 200: ok, 400: badKey, 404: notFound } });

  app.openapi(
    route('meta.json', "An artifact's meta.json as stored: name, version, arch, the output hash, the archive's size and sha256, what the key was made of", { content: { 'application/json': { schema: z.record(z.string(), z.unknown()).openapi('ArtifactMeta') } }, description: 'meta.json, byte for byte' }),
    async (c) => {
      const { key } = c.req.valid('param');
      await metaOf(key);
      // Served counts as used: cache gc keeps what other machines take.
      store.markUsed(key);
      return c.body(await readFile(join(store.dir(key), 'meta.json')), 200, { 'Content-Type': 'application/json' });
    },
  );

  app.openapi(
    route('manifest.json', "An artifact's manifest.json (every installed path, its type, mode, size and sha256), which hashes to meta.json's outputHash", { content: { 'application/json': { schema: z.array(z.unknown()).openapi('ArtifactManifest') } }, description: 'manifest.json, byte for byte' }),
    async (c) => {
      const { key } = c.req.valid('param');
      const meta = await metaOf(key);
      const file = join(store.dir(key), 'manifest.json');
      if (meta.archive === null || !existsSync(file)) throw new KilnError('not-found', `the artifact ${key} installed nothing: it has no manifest.json`, { hint: 'meta.json says so ("archive": null)' });
      return c.body(await readFile(file), 200, { 'Content-Type': 'application/json' });
    },
  );

  app.openapi(
    route(ARCHIVE, "An artifact's archive, a tar.zst of what the package installed; its size and sha256 are meta.json's", { content: { 'application/zstd': { schema: z.string().openapi({ format: 'binary' }) } }, description: 'the archive' }),
    async (c) => {
      const { key } = c.req.valid('param');
      const meta = await metaOf(key);
      if (meta.archive === null) throw new KilnError('not-found', `the artifact ${key} installed nothing: it has no archive`, { hint: 'meta.json says so ("archive": null)' });
      const file = join(store.dir(key), meta.archive);
      const size = (await stat(file).catch(() => undefined))?.size;
      if (size === undefined) throw new KilnError('not-found', `the archive of the artifact ${key} is no longer in the cache`, { hint: 'cache gc removed it: the client builds it' });
      return c.body(Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>, 200, { 'Content-Type': 'application/zstd', 'Content-Length': String(size) });
    },
  );

  /** kiln's signing key, loaded at the first request that needs it (openpgp with it). */
  let signer: Promise<(data: Uint8Array) => Promise<string>> | undefined;
  const keyPath = signingKeyPaths(ctx.state.root).secret;
  app.openapi(
    route('meta.json.asc', "meta.json's detached OpenPGP signature by this kiln's signing key (kiln key create; kiln key export gives the public key): it vouches for the whole entry, since meta.json holds the archive's sha256 and the manifest's hash", { content: { 'application/pgp-signature': { schema: z.string() } }, description: 'an ASCII-armoured detached signature of meta.json' }),
    async (c) => {
      const { key } = c.req.valid('param');
      await metaOf(key);
      if (!existsSync(keyPath)) throw new KilnError('not-found', "this kiln has no signing key: its artifacts' meta.json is not signed", { hint: 'its operator makes one with `kiln key create --state STATE` (the state dir kiln serve runs with)' });
      signer ??= (async () => {
        const { loadSigningKey } = await import('../../publish/signing.ts');
        const { signDetached } = await import('../../publish/artifact-signature.ts');
        const k = await loadSigningKey(ctx.state.root);
        return (data: Uint8Array) => signDetached(data, k);
      })();
      // A key that failed to load is tried again at the next request (it may be fixed meanwhile).
      const sign = await signer.catch((e: unknown) => {
        signer = undefined;
        throw e;
      });
      return c.body(await sign(await readFile(join(store.dir(key), 'meta.json'))), 200, { 'Content-Type': 'application/pgp-signature' });
    },
  );
}
