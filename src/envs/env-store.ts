// Base environments (issue 3 §1): named, versioned, read-only Debian roots that sandboxes
// use as their lowest overlay layer. layout.ts describes the files, env-types.ts the types
// callers see, root-makers.ts what really runs mmdebstrap and apt.
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

import { lstat, mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { hostDebianMirror } from '../config/mirrors.ts';
import { KilnError } from '../errors.ts';
import { withLock } from '../cache/lock.ts';
import { sha256File } from '../lib/hash.ts';
import { atomicWrite } from '../lib/atomic-write.ts';
import type { AcquireOptions, CreateOptions, EnvInfo, EnvStore, EnvStoreOptions, ImportOptions, InstanceInfo, InstanceRefresh, RootMakers, RunOpts } from './env-types.ts';
import { defaultMakers } from './root-makers.ts';
import { ENV_ERRORS } from './env-errors.ts';
import { envMetaSchema, envPaths, envsDirOf, readJson, versionDir, versionMetaSchema, versionRoot, writeJson, type EnvMeta, type EnvPaths, type VersionMeta } from './layout.ts';
import { leaseAlive, liveLeases, readLeases, systemProbe, versionsToRemove, writeLease } from './leases.ts';
import { checkEnvName, envId, isEnvName, isVersionId, newVersionId } from './names.ts';
import { copyRoot, diskUsage, removeTree, type BootstrapSpec } from './root-commands.ts';
import { rootArch, rootSuite } from './root-info.ts';
import { extractRootTarball } from './root-tarball.ts';
import { prepareRootForApt } from './apt-prep.ts';
import { instanceSpecHash, type InstanceSpec } from './instance-spec.ts';
import { currentLayer, instanceIdSuffix, instancePaths, instancePathsIn, layerIds, layerRoot, makeLayer, recordedSpecs, recordSpec, resolveInstance, type LayerMeta } from './instance-layer.ts';

const SUITE_RE = /^[a-z][a-z0-9.-]*$/;
const ARCH_RE = /^[a-z0-9][a-z0-9-]*$/;
const PKG_RE = /^[a-z0-9][a-z0-9+.:=~-]*$/;

function notFound(name: string): KilnError {
  return new KilnError(ENV_ERRORS.notFound, `no environment named "${name}"`, { hint: 'see `kiln env list`; make one with `kiln env create NAME --suite SUITE --arch ARCH`' });
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

  const instanceLock = (name: string, specHash: string): string => `${name}.instance-${specHash}`;

  /**
   * Make a layer of `spec` over version `vid` (in `versionDirectory`, which may be a staged
   * version) under the instance's lock; with onlyIfMissing, keep a current one.
   */
  const ensureLayer = async (
    name: string, vid: string, versionDirectory: string, spec: InstanceSpec, onlyIfMissing: boolean, o: RunOpts,
  ): Promise<{ before: LayerMeta | undefined; after: LayerMeta }> => {
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

  /** Remove the layers of every instance of `vid` that are neither current nor leased. */
  const gcLayers = async (name: string, vid: string): Promise<string[]> => {
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

  /** Make the first version of a new env with `make`, then commit env.json; on any failure remove the env dir. */
  const makeNew = async (
    name: string,
    what: string,
    signal: AbortSignal | undefined,
    make: (root: string) => Promise<{ madeBy: VersionMeta['madeBy']; meta: Omit<EnvMeta, 'name' | 'createdAt' | 'updatedAt' | 'current'> }>,
  ): Promise<EnvInfo> => {
    const p = paths(name);
    await withLock(p.locks, name, async () => {
      if (await pathExists(p.envJson)) {
        throw new KilnError(ENV_ERRORS.exists, `an environment named "${name}" already exists`, {
          hint: `use \`kiln env update ${name}\` to upgrade it, or \`kiln env destroy ${name}\` first to make it again`,
        });
      }
      // A directory without env.json is what a killed create left behind.
      if (await pathExists(p.dir)) await removeTree(p.dir);
      const vid = newVersionId(what);
      const stage = join(p.tmp, vid);
      try {
        await mkdir(stage, { recursive: true });
        const started = performance.now();
        const made = await make(join(stage, 'root'));
        const version: VersionMeta = {
          id: vid, createdAt: new Date().toISOString(), sizeBytes: await diskUsage(join(stage, 'root'), signal),
          madeBy: made.madeBy, durationMs: Math.round(performance.now() - started),
        };
        await writeJson(join(stage, 'version.json'), version);
        await mkdir(p.versions, { recursive: true });
        await mkdir(p.leases, { recursive: true });
        await rename(stage, versionDir(p, vid));
        await rmdir(p.tmp);
        const now = new Date().toISOString();
        await writeJson(p.envJson, { name, ...made.meta, createdAt: now, updatedAt: now, current: vid } satisfies EnvMeta);
      } catch (e) {
        await removeTree(p.dir);
        throw e;
      }
    }, { signal });
    return info(name);
  };

  const store: EnvStore = {
    async create(name, o) {
      checkEnvName(name);
      if (!SUITE_RE.test(o.suite)) throw new KilnError(ENV_ERRORS.usage, `--suite: "${o.suite}" is not a suite name (e.g. bookworm, trixie, unstable)`);
      if (!ARCH_RE.test(o.arch)) throw new KilnError(ENV_ERRORS.usage, `--arch: "${o.arch}" is not a Debian architecture (e.g. amd64, arm64, riscv64)`);
      const include = [...(o.include ?? [])];
      for (const pkg of include) {
        if (!PKG_RE.test(pkg)) throw new KilnError(ENV_ERRORS.usage, `--include: "${pkg}" is not a package name`);
      }
      const mirror = o.mirror ?? (await hostDebianMirror(options.aptDir === undefined ? {} : { aptDir: options.aptDir }));
      if (mirror === undefined) {
        throw new KilnError(ENV_ERRORS.usage, `no Debian mirror given and none found in the host's apt sources (${options.aptDir ?? '/etc/apt'})`, {
          hint: 'pass --mirror URL (the Debian archive to bootstrap from)',
        });
      }
      await makers.ensureArch(o.arch, o);
      const spec: BootstrapSpec = { suite: o.suite, arch: o.arch, mirror, include, variant: o.variant ?? 'buildd' };
      return makeNew(name, JSON.stringify(spec), o.signal, async (root) => ({
        madeBy: { kind: 'mmdebstrap', argv: await makers.bootstrap(spec, root, { signal: o.signal, onLine: o.onOutput }) },
        meta: { suite: spec.suite, arch: spec.arch, mirror, include, variant: spec.variant },
      }));
    },

    async importTarball(name, file, o = {}) {
      checkEnvName(name);
      const abs = resolve(file);
      if (o.arch !== undefined && !ARCH_RE.test(o.arch)) throw new KilnError(ENV_ERRORS.usage, `--arch: "${o.arch}" is not a Debian architecture`);
      if (o.suite !== undefined && !SUITE_RE.test(o.suite)) throw new KilnError(ENV_ERRORS.usage, `--suite: "${o.suite}" is not a suite name`);
      const sha = await sha256File(abs, o.signal === undefined ? {} : { signal: o.signal }).catch((e: NodeJS.ErrnoException) => {
        throw new KilnError(ENV_ERRORS.notFound, `cannot read ${abs}: ${e.code ?? e.message}`, { hint: 'give the path of a root tarball (.tar, .tar.zst, .tar.xz, .tar.gz)' });
      });
      return makeNew(name, sha, o.signal, async (root) => {
        await mkdir(root);
        o.onOutput?.(`extracting ${abs}`);
        const { members } = await extractRootTarball(abs, root, o.signal === undefined ? {} : { signal: o.signal });
        o.onOutput?.(`extracted ${members} members`);
        const suite = o.suite ?? (await rootSuite(root));
        const arch = o.arch ?? (await rootArch(root));
        if (suite === undefined || arch === undefined) {
          throw new KilnError(ENV_ERRORS.usage, `cannot tell the ${suite === undefined ? 'suite' : 'architecture'} of the root in ${abs} (no ${suite === undefined ? 'VERSION_CODENAME in /etc/os-release' : 'base-files in /var/lib/dpkg/status'})`, {
            hint: `pass ${suite === undefined ? '--suite SUITE' : '--arch ARCH'}`,
          });
        }
        return { madeBy: { kind: 'import', file: abs, sha256: sha }, meta: { suite, arch, include: [] } };
      });
    },

    async update(name, o = {}) {
      const p = paths(name);
      let previous = '';
      const refreshed: InstanceRefresh[] = [];
      const specs = await recordedSpecs(p);
      const refresh = async (vid: string, versionDirectory: string, onlyIfMissing: boolean): Promise<void> => {
        for (const spec of specs) {
          const specHash = instanceSpecHash(await resolveInstance(spec).catch(() => ({ spec, keyringHashes: [] })));
          try {
            const { before, after } = await ensureLayer(name, vid, versionDirectory, spec, onlyIfMissing, o);
            refreshed.push({ name: spec.name, specHash, before: before?.contentHash, after: after.contentHash });
          } catch (e) {
            if (o.signal?.aborted) throw e;
            // One broken instance (a source gone) must not stop the base update; a build names it again.
            const error = e instanceof Error ? e.message : String(e);
            o.onOutput?.(`instance "${spec.name}" (${specHash}) not refreshed: ${error}`);
            refreshed.push({ name: spec.name, specHash, before: undefined, after: undefined, error });
          }
        }
      };
      if (o.instancesOnly === true) {
        const meta = await readMeta(p, name);
        await makers.ensureArch(meta.arch, o);
        await refresh(meta.current, versionDir(p, meta.current), false);
        await gcLayers(name, meta.current);
        return { ...(await info(name)), previous: meta.current, removed: [], refreshed };
      }
      await withLock(p.locks, name, async () => {
        const meta = await readMeta(p, name);
        previous = meta.current;
        await makers.ensureArch(meta.arch, o);
        await removeTree(p.tmp); // leftovers of an update that died
        const vid = newVersionId(`update ${meta.current}`);
        const stage = join(p.tmp, vid);
        try {
          await mkdir(stage, { recursive: true });
          const started = performance.now();
          o.onOutput?.(`copying ${meta.current}`);
          await copyRoot(versionRoot(p, meta.current), join(stage, 'root'), o.signal);
          const restore = await prepareRootForApt(join(stage, 'root'));
          const argv = await makers.upgrade(join(stage, 'root'), { signal: o.signal, onLine: o.onOutput });
          await restore();
          // The instances are made over the new base before it becomes current, so builds find them ready.
          await refresh(vid, stage, false);
          const version: VersionMeta = {
            id: vid, createdAt: new Date().toISOString(), sizeBytes: await diskUsage(join(stage, 'root'), o.signal),
            madeBy: { kind: 'update', from: meta.current, argv }, durationMs: Math.round(performance.now() - started),
          };
          await writeJson(join(stage, 'version.json'), version);
          await withLock(p.locks, leasesLock(name), async () => {
            await rename(stage, versionDir(p, vid));
            await writeJson(p.envJson, { ...meta, current: vid, updatedAt: new Date().toISOString() } satisfies EnvMeta);
          });
        } catch (e) {
          await removeTree(stage);
          throw e;
        }
      }, o.signal === undefined ? {} : { signal: o.signal });
      const removed = await store.gcVersions(name);
      return { ...(await info(name)), previous, removed, refreshed };
    },

    async list() {
      const envsDir = envsDirOf(stateDir);
      const names = (await readdir(envsDir).catch(() => [] as string[])).filter(isEnvName).sort();
      const out: EnvInfo[] = [];
      for (const n of names) {
        // Envs being created have no env.json yet; one destroyed meanwhile is simply gone.
        const e = await info(n).catch((err: unknown) => {
          if (err instanceof KilnError && err.code === ENV_ERRORS.notFound) return undefined;
          throw err;
        });
        if (e !== undefined) out.push(e);
      }
      return out;
    },

    get: info,

    async destroy(name) {
      const p = paths(name);
      const trash = join(p.envsDir, `.trash-${name}-${randomBytes(4).toString('hex')}`);
      await withLock(p.locks, name, () =>
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
        // A foreign env's programs run through qemu: fail before the build, not inside it.
        await makers.ensureArch(meta.arch, {});
      } catch (e) {
        await rm(file, { force: true });
        throw e;
      }
      // The instance layer: made over this version when missing, then leased like the version.
      let layerLease: { file: string; layer: LayerMeta; root: string } | undefined;
      if (o.instance !== undefined) {
        try {
          const { after } = await ensureLayer(name, meta.current, versionDir(p, meta.current), o.instance, true, o);
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
          await store.gcVersions(name).catch(() => undefined);
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
  return store;
}

