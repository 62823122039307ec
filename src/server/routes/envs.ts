// GET /api/v1/envs: the base environments builds can run in, as `kiln env list --json`
// prints them (the host path of each root left out: clients cannot use it).

import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { createEnvStore } from '../../envs/env-store.ts';
import type { ServerEnv } from '../auth.ts';
import type { ServerContext } from '../context.ts';

const EnvSchema = z
  .object({
    name: z.string(),
    id: z.string().openapi({ description: '<name>@<version>, part of every input key built in it' }),
    suite: z.string(),
    arch: z.string(),
    versionId: z.string(),
    sizeBytes: z.number(),
    createdAt: z.string(),
    updatedAt: z.string(),
    mirror: z.string().nullable(),
    include: z.array(z.string()),
    versions: z.array(z.string()),
    leases: z.number().openapi({ description: 'running builds using it' }),
  })
  .openapi('Env');

export function registerEnvRoutes(app: OpenAPIHono<ServerEnv>, ctx: ServerContext): void {
  const store = createEnvStore({ stateDir: ctx.state.root });
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/envs',
      security: [{ bearer: [] }],
      summary: 'The environments (base roots) builds can name as `env`, their current versions and sizes',
      responses: { 200: { content: { 'application/json': { schema: z.object({ envs: z.array(EnvSchema) }).openapi('EnvList') } }, description: 'envs' } },
    }),
    async (c) => {
      const envs = await store.list();
      return c.json(
        {
          envs: envs.map((e) => ({
            name: e.name,
            id: e.id,
            suite: e.suite,
            arch: e.arch,
            versionId: e.versionId,
            sizeBytes: e.sizeBytes,
            createdAt: e.createdAt,
            updatedAt: e.updatedAt,
            mirror: e.mirror ?? null,
            include: [...e.include],
            versions: [...e.versions],
            leases: e.leases.length,
          })),
        },
        200,
      );
    },
  );
}
