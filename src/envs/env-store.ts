// Base environments (issue 3 §1): named, versioned, read-only Debian roots that sandboxes
// use as their lowest overlay layer. layout.ts describes the files, env-types.ts the types
// callers see, root-makers.ts what really runs mmdebstrap and apt. This file holds what the
// parts of the store share and the lookups (get, list, peek); env-making.ts makes and
// changes envs (create, import, update), env-leasing.ts leases and removes them,
// env-export.ts packs one for another machine.
//
// - create/import make the first version in `tmp/` and move it into place; env.json is
//   written last, so a failed or interrupted create leaves nothing that counts (and the
//   leftover directory is removed, at once or by the next create of that name).
// - update copies the current root, upgrades the copy with apt and makes it current.
//   Running builds hold leases on the version they started with (acquire/release), and a
//   version goes only when it is neither current nor leased (gcVersions, after every
//   update and release).
// - Two locks per env: `<name>` serialises the slow writers (create, import, update,
//   destroy); `<name>.leases` is held for milliseconds by acquire and gc, and by update
//   while it switches `current`, so a build can never lease a version that gc is removing.
// - Instance layers (instance-layer.ts): a tree's `[instance]` is made into a layer over the
//   current base version on demand (acquire) and re-made by update (over the new version;
//   with instancesOnly over the current one, without touching the base). Builds lease the
//   layer they use the same way as the base version; its content hash is in the env id.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isDebianArch } from '../debian/arch-names.ts';
import { closestName } from '../debian/closest-name.ts';
import { lstat, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KilnError } from '../errors.ts';
import type { EnvInfo, EnvStore, EnvStoreOptions, InstanceInfo, RootMakers } from './env-types.ts';
import { defaultMakers } from './root-makers.ts';
import { ENV_ERRORS } from './env-errors.ts';
import { envMetaSchema, envPaths, envsDirOf, readJson, versionDir, versionMetaSchema, versionRoot, type EnvMeta, type EnvPaths } from './layout.ts';
import { leaseAlive, readLeases, systemProbe, type LivenessProbe } from './leases.ts';
import { checkEnvName, envId, isEnvName, isVersionId } from './names.ts';
import { instanceSpecHash } from './instance-spec.ts';
import { currentLayer, instanceIdSuffix, instancePaths, layerRoot, resolveInstance } from './instance-layer.ts';
import { envLeasing } from './env-leasing.ts';
import { envMaking } from './env-making.ts';
import { exportEnv } from './env-export.ts';
import { parseLockContent, withLock } from '../cache/lock.ts';

/** What the parts of one store share: where it is, what makes roots, and reading an env. */
export interface StoreContext {
  readonly makers: RootMakers;
  readonly probe: LivenessProbe;
  readonly aptDir: string | undefined;
  paths(name: string): EnvPaths;
  /** The lock name `acquire`, gc and update's switch of `current` hold for milliseconds. */
  leasesLock(name: string): string;
  /** env.json of `name`, or env-not-found. */
  readMeta(p: EnvPaths, name: string): Promise<EnvMeta>;
  info(name: string): Promise<EnvInfo>;
  notFound(name: string): KilnError;
  pathExists(path: string): Promise<boolean>;
  /** `fn` under the env's own lock (create, import, update, export, destroy), telling onLockWait when another process holds it. */
  nameLock<T>(name: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/** What a kiln waiting for an env's own lock says: who holds it, since when, and that it waits (pure). */
export function lockWaitMessage(name: string, holder: string, now: number): string {
  const h = parseLockContent(holder);
  if (h === undefined) return `environment "${name}" is locked by another kiln process: waiting for it to finish`;
  const s = Math.max(0, Math.round((now - h.started) / 1000));
  const held = s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `environment "${name}" is being made, updated, imported, exported or destroyed by another kiln process (pid ${h.pid} on ${h.host}, for ${held}): waiting for it to finish (Ctrl-C stops waiting)`;
}

/** No env of that name where this store looks: says where, and how to look elsewhere. */
function notFoundIn(envsDir: string): (name: string) => KilnError {
  const shared = process.env['KILN_ENVS'] !== undefined && process.env['KILN_ENVS'] !== '';
  const elsewhere = shared ? 'KILN_ENVS names this directory' : 'envs kept elsewhere are found with --state or KILN_ENVS=DIR';
  return (name) => {
    // A typo of an env there is (bookworm-amd46): named, as a typo of a suite or arch is.
    let there: string[] = [];
    try {
      there = readdirSync(envsDir).filter((n) => isEnvName(n) && existsSync(join(envsDir, n, 'env.json')));
    } catch {
      // no envs folder yet
    }
    // NAME-ARCH (what an {arch} template makes): the env of another arch is no typo of it,
    // and the arch and suite to make it with are known (the suite from that sibling).
    const m = /^(.+)-([a-z0-9]+)$/.exec(name);
    const arch = m !== null && isDebianArch(m[2]!) ? m[2]! : undefined;
    const siblings = arch === undefined ? [] : there.filter((n) => n.startsWith(`${m![1]}-`) && isDebianArch(n.slice(m![1]!.length + 1)));
    const near = closestName(name, there.filter((n) => !siblings.includes(n)));
    const suite = siblings.map((n) => readSuite(join(envsDir, n, 'env.json'))).find((x) => x !== undefined);
    return new KilnError(ENV_ERRORS.notFound, `no environment named "${name}" in ${envsDir}${near === undefined ? '' : ` (did you mean "${near}"?)`}${siblings.length === 0 ? '' : ` (there is ${siblings.join(', ')}, for another arch)`}`, {
      hint: `see \`kiln env list\`; make one with \`kiln env create ${name} --suite ${suite ?? 'SUITE'} --arch ${arch ?? 'ARCH'}\` (${elsewhere})`,
    });
  };
}

/** The suite an env.json names, or undefined when it cannot be read. */
function readSuite(file: string): string | undefined {
  try {
    const suite = (JSON.parse(readFileSync(file, 'utf8')) as { suite?: unknown }).suite;
    return typeof suite === 'string' && /^[a-z0-9.-]+$/.test(suite) ? suite : undefined;
  } catch {
    return undefined;
  }
}

async function pathExists(path: string): Promise<boolean> {
  return lstat(path).then(() => true, () => false);
}

export function createEnvStore(options: EnvStoreOptions): EnvStore {
  const stateDir = resolve(options.stateDir);
  const makers: RootMakers = { ...defaultMakers, ...options.makers };
  const probe = options.probe ?? systemProbe;
  const paths = (name: string): EnvPaths => envPaths(stateDir, checkEnvName(name));
  const leasesLock = (name: string): string => `${name}.leases`;
  const notFound = notFoundIn(envsDirOf(stateDir));

  const readMeta = async (p: EnvPaths, name: string): Promise<EnvMeta> => {
    const meta = await readJson(p.envJson, envMetaSchema);
    if (meta === undefined) throw notFound(name);
    return meta;
  };

  const info = async (name: string): Promise<EnvInfo> => {
    const p = paths(name);
    const meta = await readMeta(p, name);
    const version = await readJson(join(versionDir(p, meta.current), 'version.json'), versionMetaSchema);
    const versions = (await readdir(p.versions).catch(() => [] as string[])).filter(isVersionId).sort();
    const leases = (await readLeases(p.leases)).filter((l) => leaseAlive(l, probe)).map((l) => ({ versionId: l.versionId, pid: l.pid }));
    const instances: InstanceInfo[] = [];
    const hashes = (await readdir(join(versionDir(p, meta.current), 'instances')).catch(() => [] as string[])).filter((h) => /^[0-9a-f]{16}$/.test(h)).sort();
    for (const h of hashes) {
      const layer = await currentLayer(instancePaths(p, meta.current, h));
      if (layer === undefined) continue;
      instances.push({
        name: layer.name, specHash: h, layerId: layer.id, contentHash: layer.contentHash, id: envId(name, meta.current) + instanceIdSuffix(layer),
        sizeBytes: layer.sizeBytes, createdAt: layer.createdAt, packages: layer.packages,
      });
    }
    return {
      name, id: envId(name, meta.current), suite: meta.suite, arch: meta.arch, versionId: meta.current,
      sizeBytes: version?.sizeBytes ?? 0, createdAt: meta.createdAt, updatedAt: meta.updatedAt,
      mirror: meta.mirror, include: meta.include, versions, leases, root: versionRoot(p, meta.current), instances,
    };
  };

  const nameLock = <T>(name: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> => {
    const onWait = options.onLockWait;
    return withLock(paths(name).locks, name, fn, {
      ...(signal === undefined ? {} : { signal }),
      ...(onWait === undefined ? {} : { onWait: (holder: string) => onWait(lockWaitMessage(name, holder, Date.now())) }),
    });
  };
  const ctx: StoreContext = { makers, probe, aptDir: options.aptDir, paths, leasesLock, readMeta, info, notFound, pathExists, nameLock };
  const leasing = envLeasing(ctx);
  const making = envMaking(ctx, leasing);

  return {
    create: making.create,
    importTarball: making.importTarball,
    exportTarball: (name, file, o) => exportEnv(ctx, name, file, o),
    update: making.update,

    async list(o = {}) {
      const envsDir = envsDirOf(stateDir);
      const names = (await readdir(envsDir).catch(() => [] as string[])).filter(isEnvName).sort();
      const out: EnvInfo[] = [];
      for (const n of names) {
        // Envs being created have no env.json yet; one destroyed meanwhile is simply gone.
        const e = await info(n).catch((err: unknown) => {
          if (err instanceof KilnError && err.code === ENV_ERRORS.notFound) return undefined;
          // One damaged env does not hide the others: told to the caller when it asks, else thrown.
          if (err instanceof KilnError && err.code === ENV_ERRORS.corrupt && o.onDamaged !== undefined) {
            o.onDamaged(n, err);
            return undefined;
          }
          throw err;
        });
        if (e !== undefined) out.push(e);
      }
      return out;
    },

    get: info,

    destroy: leasing.destroy,
    acquire: leasing.acquire,

    async peek(name, instance) {
      const p = paths(name);
      const meta = await readMeta(p, name);
      const base = { id: envId(name, meta.current), name, arch: meta.arch, layers: [versionRoot(p, meta.current)], pending: false };
      if (instance === undefined) return base;
      const specHash = instanceSpecHash(await resolveInstance(instance));
      const ip = instancePaths(p, meta.current, specHash);
      const layer = await currentLayer(ip);
      // Not made yet: an id no build has used, so the plan says environment-changed (which it will be).
      if (layer === undefined) return { ...base, id: `${base.id}+${instance.name}.pending-${specHash}`, pending: true };
      return { ...base, id: base.id + instanceIdSuffix(layer), layers: [...base.layers, layerRoot(ip, layer.id)] };
    },

    gcVersions: leasing.gcVersions,
  };
}
