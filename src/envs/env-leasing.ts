// Using and removing envs (the env store's half that builds and `env destroy` drive): a
// build leases the current version, and the instance layer it needs (made over that
// version on demand), for as long as it runs (acquire/release); versions and layers that
// are neither current nor leased are removed (gcVersions, gcLayers); destroy removes a
// whole env that no build uses. Which ones may go is leases.ts' pure decision, made here
// under the env's leases lock. env-store.ts gives the shared context and the overview.

import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { withLock } from '../cache/lock.ts';
import { atomicWrite } from '../lib/atomic-write.ts';
import type { EnvStore, RunOpts } from './env-types.ts';
import type { StoreContext } from './env-store.ts';
import { ENV_ERRORS } from './env-errors.ts';
import { envMetaSchema, readJson, versionDir, versionRoot } from './layout.ts';
import { liveLeases, versionsToRemove, writeLease } from './leases.ts';
import { envId, isVersionId } from './names.ts';
import { removeTree } from './root-commands.ts';
import type { InstanceSpec } from './instance-spec.ts';
import { currentLayer, instanceIdSuffix, instancePaths, instancePathsIn, layerIds, layerRoot, makeLayer, recordSpec, resolveInstance, type LayerMeta } from './instance-layer.ts';

export interface EnvLeasing extends Pick<EnvStore, 'acquire' | 'destroy' | 'gcVersions'> {
  /**
   * Make a layer of `spec` over version `vid` (in `versionDirectory`, which may be a staged
   * version) under the instance's lock; with onlyIfMissing, keep a current one.
   */
  ensureLayer(name: string, vid: string, versionDirectory: string, spec: InstanceSpec, onlyIfMissing: boolean, o: RunOpts): Promise<{ before: LayerMeta | undefined; after: LayerMeta }>;
  /** Remove the layers of every instance of `vid` that are neither current nor leased. */
  gcLayers(name: string, vid: string): Promise<string[]>;
}

export function envLeasing(ctx: StoreContext): EnvLeasing {
  const { makers, probe, paths, leasesLock, readMeta, notFound, pathExists } = ctx;
  const instanceLock = (name: string, specHash: string): string => `${name}.instance-${specHash}`;

  const ensureLayer: EnvLeasing['ensureLayer'] = async (name, vid, versionDirectory, spec, onlyIfMissing, o) => {
    const p = paths(name);
    const resolved = await resolveInstance(spec);
    const specHash = await recordSpec(p, resolved);
    const ip = instancePathsIn(versionDirectory, specHash);
    return withLock(p.locks, instanceLock(name, specHash), async () => {
      const before = await currentLayer(ip);
      if (before !== undefined && onlyIfMissing) return { before, after: before };
      o.onOutput?.(`making instance layer "${spec.name}" (${specHash}) over ${name}@${vid}`);
      const made = await makeLayer(join(versionDirectory, 'root'), ip, resolved, o);
      // A refresh that changed nothing keeps the layer builds already know (same content, same id).
      if (before !== undefined && before.contentHash === made.contentHash) {
        await withLock(p.locks, leasesLock(name), () => atomicWrite(ip.current, `${before.id}\n`));
        return { before, after: before };
      }
      return { before, after: made };
    }, o.signal === undefined ? {} : { signal: o.signal });
  };

  /**
   * The layer a build leases: made when missing; with `refresh = "every-run"` made again
   * over the current version first (a changed repository gives a new content id, so what
   * was built in the old layer rebuilds). A refresh that fails (the repository unreachable)
   * is said, and the layer made before is used.
   */
  const leaseLayer = async (name: string, vid: string, versionDirectory: string, spec: InstanceSpec, o: RunOpts & { onNote?: (text: string) => void }): Promise<{ after: LayerMeta }> => {
    if (spec.refresh !== 'every-run') return ensureLayer(name, vid, versionDirectory, spec, true, o);
    if (process.getuid?.() !== 0) {
      // Making a layer needs root (instance-layer.ts): the layer as it is, or the error that it is missing.
      const made = await ensureLayer(name, vid, versionDirectory, spec, true, o);
      o.onNote?.(`instance "${spec.name}": not refreshed: refresh = "every-run" needs kiln to run as root (making a layer does); building with the layer as it is (${made.after.contentHash.slice(0, 12)})`);
      return made;
    }
    try {
      const { before, after } = await ensureLayer(name, vid, versionDirectory, spec, false, o);
      o.onNote?.(`instance "${spec.name}": refreshed (refresh = "every-run"): ${before === undefined ? 'made' : before.contentHash === after.contentHash ? 'unchanged' : `content ${before.contentHash.slice(0, 12)} -> ${after.contentHash.slice(0, 12)}`}`);
      return { after };
    } catch (e) {
      if (o.signal?.aborted === true) throw e;
      const made = await ensureLayer(name, vid, versionDirectory, spec, true, o);
      o.onNote?.(`instance "${spec.name}": refresh failed (${e instanceof Error ? e.message : String(e)}): building with the layer made before (${made.after.contentHash.slice(0, 12)})`);
      return made;
    }
  };

  const gcLayers: EnvLeasing['gcLayers'] = async (name, vid) => {
    const p = paths(name);
    const gone: string[] = [];
    const hashes = (await readdir(join(versionDir(p, vid), 'instances')).catch(() => [] as string[])).filter((h) => /^[0-9a-f]{16}$/.test(h));
    for (const h of hashes) {
      const ip = instancePaths(p, vid, h);
      const trash = join(ip.dir, `trash-${randomBytes(4).toString('hex')}`);
      const doomed = await withLock(p.locks, leasesLock(name), async () => {
        const cur = (await currentLayer(ip))?.id ?? '';
        const out = versionsToRemove(await layerIds(ip), cur, await liveLeases(ip.leases, probe));
        if (out.length > 0) await mkdir(trash, { recursive: true });
        for (const l of out) await rename(join(ip.layers, l), join(trash, l));
        return out;
      });
      if (doomed.length > 0) await removeTree(trash);
      gone.push(...doomed);
    }
    return gone;
  };

  const leasing: EnvLeasing = {
    ensureLayer,
    gcLayers,

    async destroy(name) {
      const p = paths(name);
      const trash = join(p.envsDir, `.trash-${name}-${randomBytes(4).toString('hex')}`);
      await ctx.nameLock(name, () =>
        withLock(p.locks, leasesLock(name), async () => {
          if (!(await pathExists(p.envJson)) && !(await pathExists(p.dir))) throw notFound(name);
          const live = await liveLeases(p.leases, probe);
          if (live.length > 0) {
            throw new KilnError(ENV_ERRORS.inUse, `environment "${name}" is in use by running builds (pids ${[...new Set(live.map((l) => l.pid))].join(', ')})`, {
              hint: `wait for those builds to end (or stop them), then run \`kiln env destroy ${name}\` again`,
            });
          }
          await rename(p.dir, trash);
        }),
      );
      await removeTree(trash);
    },

    async acquire(name, o = {}) {
      const p = paths(name);
      const { meta, file } = await withLock(p.locks, leasesLock(name), async () => {
        const m = await readMeta(p, name);
        await mkdir(p.leases, { recursive: true });
        return { meta: m, file: await writeLease(p.leases, m.current) };
      });
      try {
        // A foreign env's programs run through qemu: fail before the build, not inside it
        // (and a binfmt handler registered for it on the way is said, not done silently).
        await makers.ensureArch(meta.arch, o.onNote === undefined ? {} : { onOutput: o.onNote });
      } catch (e) {
        await rm(file, { force: true });
        throw e;
      }
      // The instance layer: made over this version when missing, then leased like the version.
      let layerLease: { file: string; layer: LayerMeta; root: string } | undefined;
      if (o.instance !== undefined) {
        try {
          const { after } = await leaseLayer(name, meta.current, versionDir(p, meta.current), o.instance, o);
          const ip = instancePaths(p, meta.current, after.specHash);
          layerLease = await withLock(p.locks, leasesLock(name), async () => {
            // A refresh may have switched the layer meanwhile: lease what is current now.
            const cur = (await currentLayer(ip)) ?? after;
            return { file: await writeLease(ip.leases, cur.id), layer: cur, root: layerRoot(ip, cur.id) };
          });
        } catch (e) {
          await rm(file, { force: true });
          throw e;
        }
      }
      let released: Promise<void> | undefined;
      const release = (): Promise<void> =>
        (released ??= (async () => {
          await rm(file, { force: true });
          if (layerLease !== undefined) await rm(layerLease.file, { force: true });
          // A failed cleanup must not fail the build that used the env; the next gc retries.
          await gcLayers(name, meta.current).catch(() => undefined);
          await leasing.gcVersions(name).catch(() => undefined);
        })());
      const base = envId(name, meta.current);
      return {
        env: {
          id: layerLease === undefined ? base : base + instanceIdSuffix(layerLease.layer),
          name, arch: meta.arch,
          layers: layerLease === undefined ? [versionRoot(p, meta.current)] : [versionRoot(p, meta.current), layerLease.root],
        },
        versionId: meta.current,
        release,
        [Symbol.asyncDispose]: release,
      };
    },

    async gcVersions(name) {
      const p = paths(name);
      const trash = join(p.dir, 'trash', randomBytes(4).toString('hex'));
      const doomed = await withLock(p.locks, leasesLock(name), async () => {
        const meta = await readJson(p.envJson, envMetaSchema);
        if (meta === undefined) return [];
        const versions = (await readdir(p.versions).catch(() => [] as string[])).filter(isVersionId);
        const gone = versionsToRemove(versions, meta.current, await liveLeases(p.leases, probe));
        if (gone.length > 0) await mkdir(trash, { recursive: true });
        for (const v of gone) await rename(versionDir(p, v), join(trash, v));
        return gone;
      });
      if (doomed.length > 0) await removeTree(trash);
      return doomed;
    },
  };
  return leasing;
}
