// Instance layers on disk: making one over a base root, its content hash, and which layer
// of an instance is current. instance-spec.ts is the pure part; the env store decides when
// (env-leasing.ts for a build, on demand; env-making.ts for `kiln env update`) and
// env-leasing.ts holds the leases.
//
//   <env>/instance-specs/<specHash>.json            every instance built in this env (refreshed by update)
//   <env>/versions/<vid>/instances/<specHash>/
//       current                                     the current layer id
//       layers/<lid>/root/                          the layer: an overlay upper dir over the base root
//       layers/<lid>/layer.json                     content hash, size, how long it took
//       leases/<lid>.<pid>.<random>                 running builds (leases.ts)
//       tmp/                                        layers being made
//
// A layer is made by mounting an overlay (lower: the base root, upper: the new layer) in a
// private mount namespace, writing the sources file and keyrings, and running apt inside:
// update (only the instance's sources unless debian-lists), install the packages, clean.
// What apt changed lands in the upper dir, which then serves as a second read-only lower
// layer of every sandbox. The layer's id in env ids is a hash of its content (paths,
// types, modes, owners, file contents, link targets, whiteouts; not times, logs or apt's
// caches), so a refresh that changes nothing keeps every package up to date.

import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { KilnError } from '../errors.ts';
import { atomicWrite } from '../lib/atomic-write.ts';
import { sha256File } from '../lib/hash.ts';
import { ENV_ERRORS } from './env-errors.ts';
import { fileSourceDir, instanceSpecHash, keyringName, renderSources, type InstanceSpec, type ResolvedInstance } from './instance-spec.ts';
import { readJson, versionDir, writeJson, type EnvPaths } from './layout.ts';
import { CHROOT_PROC_DEV, diskUsage, PRIVATE_NS, removeTree, runStreaming, upgradeEnv, type LineSink } from './root-commands.ts';
import { isVersionId, newVersionId } from './names.ts';

export const specRecordSchema = z.object({
  hash: z.string(),
  spec: z.object({
    name: z.string(),
    sources: z.array(z.object({ uri: z.string(), suite: z.string(), components: z.array(z.string()), signedBy: z.string().optional(), trusted: z.boolean() })),
    packages: z.array(z.string()),
    debianLists: z.boolean(),
  }),
  recordedAt: z.string(),
});

export const layerMetaSchema = z.object({
  id: z.string(),
  specHash: z.string(),
  name: z.string(),
  /** sha256 of the layer's content (see contentHash). */
  contentHash: z.string(),
  createdAt: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  durationMs: z.number().nonnegative(),
  packages: z.array(z.string()),
});
export type LayerMeta = z.infer<typeof layerMetaSchema>;

export interface InstancePaths {
  readonly dir: string;
  readonly current: string;
  readonly layers: string;
  readonly leases: string;
  readonly tmp: string;
}

export function specsDir(p: EnvPaths): string {
  return join(p.dir, 'instance-specs');
}

export function instancePaths(p: EnvPaths, versionId: string, specHash: string): InstancePaths {
  return instancePathsIn(versionDir(p, versionId), specHash);
}

/** The same under any version directory (update makes layers in a version still being staged). */
export function instancePathsIn(versionDirectory: string, specHash: string): InstancePaths {
  const dir = join(versionDirectory, 'instances', specHash);
  return { dir, current: join(dir, 'current'), layers: join(dir, 'layers'), leases: join(dir, 'leases'), tmp: join(dir, 'tmp') };
}

export function layerRoot(ip: InstancePaths, layerId: string): string {
  return join(ip.layers, layerId, 'root');
}

/** `+<name>.<12 hex of the content hash>`: appended to the base's env id. */
export function instanceIdSuffix(meta: Pick<LayerMeta, 'name' | 'contentHash'>): string {
  return `+${meta.name}.${meta.contentHash.slice(0, 12)}`;
}

/** Read each source's keyring (a missing one is a config error naming it). */
export async function resolveInstance(spec: InstanceSpec): Promise<ResolvedInstance> {
  const keyringHashes: (string | undefined)[] = [];
  for (const [i, s] of spec.sources.entries()) {
    if (s.signedBy === undefined) {
      keyringHashes.push(undefined);
      continue;
    }
    keyringHashes.push(
      await sha256File(s.signedBy).catch((e: NodeJS.ErrnoException) => {
        throw new KilnError('config-invalid', `kiln.toml: instance.sources[${i}].signed-by: cannot read ${s.signedBy}: ${e.code ?? e.message}`, {
          hint: 'give the path of an OpenPGP keyring (armored .asc or binary .gpg), relative to kiln.toml',
        });
      }),
    );
  }
  return { spec, keyringHashes };
}

export async function recordSpec(p: EnvPaths, r: ResolvedInstance): Promise<string> {
  const hash = instanceSpecHash(r);
  await mkdir(specsDir(p), { recursive: true });
  await atomicWrite(join(specsDir(p), `${hash}.json`), `${JSON.stringify({ hash, spec: r.spec, recordedAt: new Date().toISOString() }, null, 2)}\n`);
  return hash;
}

export async function recordedSpecs(p: EnvPaths): Promise<InstanceSpec[]> {
  const names = (await readdir(specsDir(p)).catch(() => [] as string[])).filter((n) => /^[0-9a-f]{16}\.json$/.test(n)).sort();
  const out: InstanceSpec[] = [];
  for (const n of names) {
    const rec = await readJson(join(specsDir(p), n), specRecordSchema);
    if (rec !== undefined) out.push(rec.spec);
  }
  return out;
}

/** The current layer of an instance, or undefined when none was made for this base version. */
export async function currentLayer(ip: InstancePaths): Promise<LayerMeta | undefined> {
  const id = (await readFile(ip.current, 'utf8').catch(() => '')).trim();
  if (!isVersionId(id)) return undefined;
  return readJson(join(ip.layers, id, 'layer.json'), layerMetaSchema);
}

export async function layerIds(ip: InstancePaths): Promise<string[]> {
  return (await readdir(ip.layers).catch(() => [] as string[])).filter(isVersionId).sort();
}

/** Paths never hashed: logs, apt's caches and locks, dpkg's backups. */
const VOLATILE = [/^var\/log\//, /^var\/cache\//, /^var\/lib\/apt\/lists\/(lock|partial)$/, /^var\/lib\/dpkg\/(lock|lock-frontend|triggers\/Lock)$/, /^var\/lib\/dpkg\/[a-z]+-old$/, /^(tmp|run)\//];

/** sha256 over the layer's entries, sorted by path: type, mode, owner, content or target or device. */
export async function contentHash(root: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(rel === '' ? root : join(root, rel))).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      if (VOLATILE.some((re) => re.test(path))) continue;
      const abs = join(root, path);
      const st = await lstat(abs);
      const head = `${path}\0${st.mode.toString(8)}\0${st.uid}:${st.gid}\0`;
      if (st.isDirectory()) {
        h.update(`${head}d\n`);
        await walk(path);
      } else if (st.isSymbolicLink()) h.update(`${head}l${await readlink(abs)}\n`);
      else if (st.isFile()) h.update(`${head}f${await sha256File(abs)}\n`);
      // overlayfs whiteouts are character devices 0/0; any other node is hashed by its device number.
      else h.update(`${head}n${st.rdev}\n`);
    }
  };
  await walk('');
  return h.digest('hex');
}

/**
 * The script run (as `sh -c SCRIPT instance BASE LAYER WORK MERGED [FILE-SOURCE-DIRS…]`)
 * inside private mount and pid namespaces: the overlay, /proc, a minimal /dev, tmpfs on
 * /run and /tmp (so nothing of them lands in the layer), file:// sources read-only under
 * /run/kiln-sources/N, the host's resolv.conf when the root has a plain file there; then
 * apt in the chroot. $KILN_PACKAGES and $KILN_APT_UPDATE come from the environment.
 */
export const INSTANCE_SCRIPT = `set -eu
base=$1; layer=$2; work=$3; r=$4; shift 4
mount -t overlay kiln-instance -o "lowerdir=$base,upperdir=$layer,workdir=$work" "$r"
${CHROOT_PROC_DEV}mount -t tmpfs -o mode=755 run "$r/run"
mount -t tmpfs -o mode=1777 tmp "$r/tmp"
i=0
for d in "$@"; do
  mkdir -p "$r/run/kiln-sources/$i"
  mount --bind "$d" "$r/run/kiln-sources/$i"
  mount -o remount,bind,ro "$r/run/kiln-sources/$i"
  i=$((i + 1))
done
if [ -f "$r/etc/resolv.conf" ] && [ ! -L "$r/etc/resolv.conf" ]; then mount --bind /etc/resolv.conf "$r/etc/resolv.conf"; fi
exec chroot "$r" /bin/sh -c '
set -eu
apt="apt-get -o APT::Sandbox::User=root -o Acquire::Languages=none"
$apt $KILN_APT_UPDATE update
# apt links the lists of file: sources to the source itself, which builds do not see: copy them.
for f in /var/lib/apt/lists/*; do
  if [ -L "$f" ]; then t=$(readlink -f "$f"); rm "$f"; cp "$t" "$f"; chmod 644 "$f"; fi
done
if [ -n "$KILN_PACKAGES" ]; then $apt -y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install $KILN_PACKAGES; fi
$apt clean
rm -rf /var/lib/apt/lists/auxfiles
'
`;

export interface MakeLayerOptions {
  readonly signal?: AbortSignal | undefined;
  readonly onOutput?: LineSink | undefined;
}

/**
 * Make a new layer of instance `r` over `baseRoot` into `ip`, make it current, and return
 * its meta. The caller holds the instance's lock; the old current layer stays until gc.
 */
export async function makeLayer(baseRoot: string, ip: InstancePaths, r: ResolvedInstance, o: MakeLayerOptions = {}): Promise<LayerMeta> {
  if (process.getuid?.() !== 0) {
    throw new KilnError(ENV_ERRORS.unavailable, `the instance layer "${r.spec.name}" is not made yet, and making one needs root (overlayfs mount, apt in a chroot)`, {
      hint: 'run the build (or `kiln env update ENV`) once as root; later builds use the layer without root',
    });
  }
  const spec = r.spec;
  const specHash = instanceSpecHash(r);
  const lid = newVersionId(`instance ${specHash}`);
  const stage = join(ip.tmp, lid);
  const layer = join(stage, 'root');
  const started = performance.now();
  try {
    await mkdir(join(stage, 'work'), { recursive: true });
    await mkdir(join(stage, 'merged'));
    // The sources file and keyrings go straight into the upper dir (the base has no such files).
    const keyrings: (string | undefined)[] = [];
    await mkdir(join(layer, 'etc/apt/sources.list.d'), { recursive: true, mode: 0o755 });
    for (const [i, s] of spec.sources.entries()) {
      if (s.signedBy === undefined) {
        keyrings.push(undefined);
        continue;
      }
      const bytes = await readFile(s.signedBy);
      const name = keyringName(spec.name, i, bytes.subarray(0, 64).toString('latin1').includes('-----BEGIN PGP'));
      await mkdir(join(layer, 'etc/apt/keyrings'), { recursive: true, mode: 0o755 });
      await writeFile(join(layer, 'etc/apt/keyrings', name), bytes, { mode: 0o644 });
      keyrings.push(name);
    }
    const sourcesFile = `etc/apt/sources.list.d/kiln-${spec.name}.sources`;
    await writeFile(join(layer, sourcesFile), renderSources(spec, keyrings), { mode: 0o644 });
    for (const d of ['etc', 'etc/apt', 'etc/apt/sources.list.d']) await chmod(join(layer, d), 0o755);
    // No service may start while packages are installed; removed again afterwards.
    const policy = join(layer, 'usr/sbin/policy-rc.d');
    const basePolicy = await lstat(join(baseRoot, 'usr/sbin/policy-rc.d')).then(() => true, () => false);
    if (!basePolicy) {
      await mkdir(join(layer, 'usr/sbin'), { recursive: true, mode: 0o755 });
      for (const d of ['usr', 'usr/sbin']) await chmod(join(layer, d), 0o755);
      await writeFile(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    }
    const dirs = spec.sources.map((s) => fileSourceDir(s)).filter((d): d is string => d !== undefined);
    for (const d of dirs) {
      if (!(await lstat(d).then((st) => st.isDirectory(), () => false))) {
        throw new KilnError('config-invalid', `instance "${spec.name}": the file source ${d} is not a directory on this host`, {
          hint: 'fix the uri in kiln.toml [[instance.sources]] (file:///absolute/dir of an apt repository)',
        });
      }
    }
    // Only the instance's own sources are updated, unless the base's lists are wanted too.
    const update = spec.debianLists ? '' : `-o Dir::Etc::SourceList=/${sourcesFile} -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0`;
    const env = { ...upgradeEnv(), KILN_PACKAGES: spec.packages.join(' '), KILN_APT_UPDATE: update };
    const argv = [...PRIVATE_NS, '/bin/sh', '-c', INSTANCE_SCRIPT, 'instance', baseRoot, layer, join(stage, 'work'), join(stage, 'merged'), ...dirs];
    // The script mounts them at fileSourceMount(0, 1, …) in this order, as renderSources numbers them.
    const res = await runStreaming(argv, { signal: o.signal, onLine: o.onOutput, env });
    if (res.code !== 0) {
      throw new KilnError(ENV_ERRORS.failed, `making the instance layer "${spec.name}" failed (apt, exit ${res.code}): ${res.tail.slice(-3).join(' | ')}`, {
        hint: 'check [instance] in kiln.toml: the sources (uri, suite, components, signed-by) and the package names; apt\'s output is above',
      });
    }
    if (!basePolicy) await rm(policy, { force: true });
    await removeTree(join(stage, 'work'));
    await rm(join(stage, 'merged'), { recursive: true, force: true });
    const meta: LayerMeta = {
      id: lid, specHash, name: spec.name, contentHash: await contentHash(layer), createdAt: new Date().toISOString(),
      sizeBytes: await diskUsage(layer, o.signal), durationMs: Math.round(performance.now() - started), packages: [...spec.packages],
    };
    await writeJson(join(stage, 'layer.json'), meta);
    await mkdir(ip.layers, { recursive: true });
    await mkdir(ip.leases, { recursive: true });
    await rename(stage, join(ip.layers, lid));
    await atomicWrite(ip.current, `${lid}\n`);
    return meta;
  } catch (e) {
    await removeTree(stage).catch(() => undefined);
    throw e;
  } finally {
    await rm(ip.tmp, { recursive: true, force: true }).catch(() => undefined);
  }
}
