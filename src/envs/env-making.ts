// Making and changing envs (the env store's half that `kiln env create/import/update`
// drive): create bootstraps a first version with mmdebstrap, importTarball unpacks one from
// a root tarball, update upgrades a copy of the current version with apt, re-makes the
// instance layers over it and makes it current. Each new version is made in `tmp/` under
// the env's lock and moved into place; env.json is written last. env-store.ts gives the
// shared context and the overview; env-leasing.ts makes the layers and removes old versions.

import { mkdir, readFile, rename, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { hostDebianMirror } from '../config/mirrors.ts';
import { KilnError } from '../errors.ts';
import { checkArchOption } from '../debian/arch-names.ts';
import { withLock } from '../cache/lock.ts';
import { sha256File } from '../lib/hash.ts';
import type { EnvInfo, EnvStore, InstanceRefresh } from './env-types.ts';
import type { StoreContext } from './env-store.ts';
import type { EnvLeasing } from './env-leasing.ts';
import { ENV_ERRORS } from './env-errors.ts';
import { versionDir, versionRoot, writeJson, type EnvMeta, type VersionMeta } from './layout.ts';
import { checkEnvName, newVersionId } from './names.ts';
import { copyRoot, diskUsage, removeTree, type BootstrapSpec } from './root-commands.ts';
import { rootArch, rootSuite } from './root-info.ts';
import { extractRootTarball } from './root-tarball.ts';
import { takeExportMeta } from './env-export.ts';
import { prepareRootForApt } from './apt-prep.ts';
import { instanceSpecHash } from './instance-spec.ts';
import { recordedSpecs, resolveInstance } from './instance-layer.ts';
import { installedFromStatus } from './package-versions.ts';

const SUITE_RE = /^[a-z][a-z0-9.-]*$/;
const PKG_RE = /^[a-z0-9][a-z0-9+.:=~-]*$/;

export function envMaking(ctx: StoreContext, leasing: EnvLeasing): Pick<EnvStore, 'create' | 'importTarball' | 'update'> {
  const { makers, aptDir, paths, leasesLock, readMeta, info, pathExists } = ctx;
  const { ensureLayer, gcLayers } = leasing;

  /** Make the first version of a new env with `make`, then commit env.json; on any failure remove the env dir. */
  const makeNew = async (
    name: string,
    what: string,
    signal: AbortSignal | undefined,
    make: (root: string) => Promise<{ madeBy: VersionMeta['madeBy']; meta: Omit<EnvMeta, 'name' | 'createdAt' | 'updatedAt' | 'current'>; versionId?: string }>,
    existsHint?: string,
  ): Promise<EnvInfo> => {
    const p = paths(name);
    await ctx.nameLock(name, async () => {
      if (await pathExists(p.envJson)) {
        throw new KilnError(ENV_ERRORS.exists, `an environment named "${name}" already exists`, {
          hint: existsHint ?? `use \`kiln env update ${name}\` to upgrade it, or \`kiln env destroy ${name}\` first to make it again`,
        });
      }
      // A directory without env.json is what a killed create left behind.
      if (await pathExists(p.dir)) await removeTree(p.dir);
      const staged = newVersionId(what);
      const stage = join(p.tmp, staged);
      try {
        await mkdir(stage, { recursive: true });
        const started = performance.now();
        const made = await make(join(stage, 'root'));
        // An export of kiln's keeps its version id: the same version on every machine.
        const vid = made.versionId ?? staged;
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
    }, signal);
    return info(name);
  };

  return {
    async create(name, o) {
      checkEnvName(name);
      if (!SUITE_RE.test(o.suite)) throw new KilnError(ENV_ERRORS.usage, `--suite: "${o.suite}" is not a suite name (e.g. bookworm, trixie, unstable)`);
      checkArchOption('--arch', o.arch);
      const include = [...(o.include ?? [])];
      for (const pkg of include) {
        if (!PKG_RE.test(pkg)) throw new KilnError(ENV_ERRORS.usage, `--include: "${pkg}" is not a package name`);
      }
      const mirror = o.mirror ?? (await hostDebianMirror(aptDir === undefined ? {} : { aptDir }));
      if (mirror === undefined) {
        throw new KilnError(ENV_ERRORS.usage, `no Debian mirror given and none found in the host's apt sources (${aptDir ?? '/etc/apt'})`, {
          hint: 'pass --mirror URL (the Debian archive to bootstrap from)',
        });
      }
      await makers.ensureArch(o.arch, o);
      const spec: BootstrapSpec = { suite: o.suite, arch: o.arch, mirror, include, variant: o.variant ?? 'buildd', ...(o.keyring === undefined ? {} : { keyring: resolve(o.keyring) }), ...(o.checkValidUntil === false ? { checkValidUntil: false as const } : {}) };
      // The keyring the mirror was checked with, in env.json as the mirror is: its path and what it held then.
      const keyring = spec.keyring === undefined ? {} : { keyring: { path: spec.keyring, sha256: await sha256File(spec.keyring) } };
      return makeNew(name, JSON.stringify(spec), o.signal, async (root) => ({
        madeBy: { kind: 'mmdebstrap', argv: await makers.bootstrap(spec, root, { signal: o.signal, onLine: o.onOutput }) },
        meta: { suite: spec.suite, arch: spec.arch, mirror, include, variant: spec.variant, ...keyring, ...(spec.checkValidUntil === false ? { checkValidUntil: false } : {}) },
      }));
    },

    async importTarball(name, file, o = {}) {
      checkEnvName(name);
      const abs = resolve(file);
      if (o.arch !== undefined) checkArchOption('--arch', o.arch);
      if (o.suite !== undefined && !SUITE_RE.test(o.suite)) throw new KilnError(ENV_ERRORS.usage, `--suite: "${o.suite}" is not a suite name`, { hint: 'name a Debian suite, e.g. bookworm, trixie, unstable' });
      const sha = await sha256File(abs, o.signal === undefined ? {} : { signal: o.signal }).catch((e: NodeJS.ErrnoException) => {
        if (o.signal?.aborted) throw e;
        // The file, not an env, is what is missing: path-unusable (env-not-found means no env of that name).
        const what = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.code === 'EACCES' ? 'permission denied' : undefined;
        throw new KilnError('path-unusable', `cannot read the root tarball ${abs}: ${what === undefined ? (e.code ?? e.message) : `${what} (${e.code})`}`, {
          hint: 'give the path of a root tarball (.tar, .tar.zst, .tar.xz, .tar.gz)',
          cause: e,
        });
      });
      return makeNew(name, sha, o.signal, async (root) => {
        await mkdir(root);
        o.onOutput?.(`extracting ${abs}`);
        const { members } = await extractRootTarball(abs, root, o.signal === undefined ? {} : { signal: o.signal });
        o.onOutput?.(`extracted ${members} members`);
        const exported = await takeExportMeta(root, abs);
        if (exported !== undefined) {
          // The version another machine has: its id is part of the keys built in it.
          if (exported.name !== name) o.onOutput?.(`note: exported as "${exported.name}": builds name the env in their keys, so only an env imported as "${exported.name}" builds what that one built`);
          if ((o.suite !== undefined && o.suite !== exported.suite) || (o.arch !== undefined && o.arch !== exported.arch)) {
            throw new KilnError(ENV_ERRORS.usage, `${abs} is the export of ${exported.name}@${exported.versionId}, a ${exported.suite} ${exported.arch} root: --suite/--arch say otherwise`, { hint: 'leave out --suite and --arch: an export says what it is' });
          }
          o.onOutput?.(`kiln export of ${exported.name}@${exported.versionId} (${exported.suite} ${exported.arch}): its version id is kept`);
          return {
            madeBy: { kind: 'import', file: abs, sha256: sha },
            meta: { suite: exported.suite, arch: exported.arch, include: exported.include, ...(exported.mirror === undefined ? {} : { mirror: exported.mirror }), ...(exported.variant === undefined ? {} : { variant: exported.variant }), ...(exported.keyring === undefined ? {} : { keyring: exported.keyring }), ...(exported.checkValidUntil === false ? { checkValidUntil: false as const } : {}) },
            versionId: exported.versionId,
          };
        }
        const suite = o.suite ?? (await rootSuite(root));
        const arch = o.arch ?? (await rootArch(root));
        if (suite === undefined || arch === undefined) {
          throw new KilnError(ENV_ERRORS.usage, `cannot tell the ${suite === undefined ? 'suite' : 'architecture'} of the root in ${abs} (no ${suite === undefined ? 'VERSION_CODENAME in /etc/os-release' : 'base-files in /var/lib/dpkg/status'})`, {
            hint: `pass ${suite === undefined ? '--suite SUITE' : '--arch ARCH'}`,
          });
        }
        return { madeBy: { kind: 'import', file: abs, sha256: sha }, meta: { suite, arch, include: [] } };
      }, `to import another version of it (a coordinator's newer export): stop the workers and builds that use it, \`kiln env destroy ${name}\`, then import again (\`kiln env update\` would make a version of its own, with other keys)`);
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
      let unchanged = false;
      await ctx.nameLock(name, async () => {
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
          // apt changed no package: the current version stays (a new one would rebuild every
          // package built in it for nothing); its instance layers are refreshed all the same.
          const before = await installedPackages(versionRoot(p, meta.current));
          if (before !== undefined && before === (await installedPackages(join(stage, 'root')))) {
            await removeTree(stage);
            unchanged = true;
            await refresh(meta.current, versionDir(p, meta.current), false);
            return;
          }
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
      }, o.signal);
      const removed = await leasing.gcVersions(name);
      if (unchanged) await gcLayers(name, previous);
      return { ...(await info(name)), previous, removed, refreshed, unchanged };
    },
  };
}

/**
 * The packages dpkg has installed in `root` (name:arch=version, sorted, one string): what
 * an update compares to tell whether apt changed anything; undefined without a dpkg database.
 */
export async function installedPackages(root: string): Promise<string | undefined> {
  // No dpkg database (a root not made by dpkg): what changed cannot be told, so it did.
  const status = await readFile(join(root, 'var', 'lib', 'dpkg', 'status'), 'utf8').catch(() => undefined);
  if (status === undefined) return undefined;
  return installedFromStatus(status).map((p) => `${p.name}:${p.arch}=${p.version}`).sort().join('\n');
}
