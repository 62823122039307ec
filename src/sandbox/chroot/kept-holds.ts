// What a kept build root lies over must stay while a `kiln shell` has it mounted: the
// overlay's lower dirs are the env version's base root, an instance layer over it, and a
// Debian build's deps layer. A build holds them the same way, for as long as it runs:
//
// - an env version: a lease in `<envsDir>/<name>/leases/` (leases.ts), so `kiln env
//   update`'s gc of old versions (and `kiln env destroy`) leaves it;
// - an instance layer: a lease in its instance's `leases/`, so a refresh's gc of layers
//   that are no longer current leaves it;
// - a deps layer: an entry in `<cache>/in-use/` started now, and the layer marked used
//   after it, so `kiln cache gc` counts it in use (cache/in-use.ts, cache/gc.ts).
//
// The leases are written under the env's leases lock after checking that what they name is
// still there, so a gc either removed it before (the shell says so) or sees the lease. A
// shell killed with SIGKILL leaves lease files whose process is gone: they count for
// nothing (pid and start time), and the next gc removes them.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { registerInUse } from '../../cache/in-use.ts';
import { withLock } from '../../cache/lock.ts';
import { KilnError } from '../../errors.ts';
import { ENV_ERRORS } from '../../envs/env-errors.ts';
import { leasesLockName, writeLease } from '../../envs/leases.ts';
import { isEnvName, isVersionId } from '../../envs/names.ts';
import { SHA256_RE } from '../../lib/hash.ts';

/** What one lower dir of a kept root is, judged by its path alone. */
export type KeptLayer =
  | { readonly kind: 'version'; readonly path: string; readonly envsDir: string; readonly env: string; readonly versionId: string }
  | { readonly kind: 'instance'; readonly path: string; readonly envsDir: string; readonly env: string; readonly versionId: string; readonly specHash: string; readonly layerId: string }
  | { readonly kind: 'deps'; readonly path: string; readonly cacheDir: string; readonly key: string }
  | { readonly kind: 'other'; readonly path: string };

const VERSION_RE = /^(.+)\/([^/]+)\/versions\/([^/]+)\/root$/;
const INSTANCE_RE = /^(.+)\/([^/]+)\/versions\/([^/]+)\/instances\/([0-9a-f]{16})\/layers\/([^/]+)\/root$/;
const DEPS_RE = /^(.+)\/deps-layers\/([^/]+)\/root$/;

/** Which kind of layer `path` is (envs/layout.ts, envs/instance-layer.ts, cache/deps-layers.ts). */
export function classifyLayer(path: string): KeptLayer {
  const i = INSTANCE_RE.exec(path);
  if (i !== null && isEnvName(i[2]!) && isVersionId(i[3]!) && isVersionId(i[5]!)) {
    return { kind: 'instance', path, envsDir: i[1]!, env: i[2]!, versionId: i[3]!, specHash: i[4]!, layerId: i[5]! };
  }
  const v = VERSION_RE.exec(path);
  if (v !== null && isEnvName(v[2]!) && isVersionId(v[3]!)) return { kind: 'version', path, envsDir: v[1]!, env: v[2]!, versionId: v[3]! };
  const d = DEPS_RE.exec(path);
  if (d !== null && SHA256_RE.test(d[2]!)) return { kind: 'deps', path, cacheDir: d[1]!, key: d[2]! };
  return { kind: 'other', path };
}

export interface KeptHold extends AsyncDisposable {
  /** Drops every lease and in-use entry (idempotent). */
  release(): Promise<void>;
}

export interface HoldOptions {
  /** The job whose kept root it is (for messages). */
  readonly jobId: string;
  /** What to do when a layer is gone (default: build it again with --keep-failed). */
  readonly again?: string;
}

/**
 * Leases every env version and instance layer among `layers`, and marks its deps layers in
 * use, until release(); env-not-found (naming the env, the version and what to do) when one
 * is gone already, holding nothing then.
 */
export async function holdKeptLayers(layers: readonly string[], o: HoldOptions): Promise<KeptHold> {
  const hint = o.again ?? 'build the package again with `kiln build PKG --keep-failed` (it builds in the env\'s current version), then run kiln shell';
  const files: string[] = [];
  const inUse: { release(): Promise<void> }[] = [];
  let released: Promise<void> | undefined;
  const release = (): Promise<void> => (released ??= (async () => {
    for (const f of files) await rm(f, { force: true });
    for (const u of inUse) await u.release();
  })());
  const hold: KeptHold = { release, [Symbol.asyncDispose]: release };
  const kinds = layers.map(classifyLayer);
  try {
    const envs = new Map<string, { envsDir: string; env: string; layers: KeptLayer[] }>();
    for (const l of kinds) {
      if (l.kind !== 'version' && l.kind !== 'instance') continue;
      const k = join(l.envsDir, l.env);
      const e = envs.get(k) ?? { envsDir: l.envsDir, env: l.env, layers: [] };
      e.layers.push(l);
      envs.set(k, e);
    }
    for (const e of envs.values()) {
      // Under the lock gc and destroy judge the leases with: it sees ours, or removed it before.
      await withLock(join(e.envsDir, '.locks'), leasesLockName(e.env), async () => {
        for (const l of e.layers) {
          if (l.kind === 'version') {
            if (!existsSync(l.path)) throw goneVersion(l, o.jobId, hint);
            const leases = join(e.envsDir, e.env, 'leases');
            await mkdir(leases, { recursive: true });
            files.push(await writeLease(leases, l.versionId));
          } else if (l.kind === 'instance') {
            if (!existsSync(l.path)) throw goneInstance(l, o.jobId, hint);
            const leases = join(e.envsDir, e.env, 'versions', l.versionId, 'instances', l.specHash, 'leases');
            await mkdir(leases, { recursive: true });
            files.push(await writeLease(leases, l.layerId));
          }
        }
      });
    }
    // Deps layers: in use since now, then marked used (a gc judging between the two puts it back).
    const deps = kinds.filter((l) => l.kind === 'deps');
    for (const cacheDir of new Set(deps.map((l) => l.cacheDir))) {
      inUse.push(await registerInUse(cacheDir, `shell-${process.pid}-${randomBytes(4).toString('hex')}`, []));
    }
    for (const l of deps) {
      const now = new Date();
      await utimes(dirname(l.path), now, now).catch(() => undefined);
      if (!existsSync(l.path)) {
        throw new KilnError('not-found', `the layer of installed build dependencies ${l.key.slice(0, 16)} that job ${o.jobId} built over is gone (${l.path}: \`kiln cache gc\` removed it)`, { hint });
      }
    }
  } catch (e) {
    await hold.release();
    throw e;
  }
  return hold;
}

function goneVersion(l: Extract<KeptLayer, { kind: 'version' }>, jobId: string, hint: string): KilnError {
  const envGone = !existsSync(join(l.envsDir, l.env, 'env.json'));
  return new KilnError(ENV_ERRORS.notFound, envGone
    ? `env "${l.env}" that job ${jobId} built in is gone (no ${join(l.envsDir, l.env, 'env.json')}): its root cannot be put together again`
    : `version ${l.versionId} of env "${l.env}" that job ${jobId} built in was removed (${l.path} is gone: after \`kiln env update\` an old version goes once no build uses it): its root cannot be put together again`, { hint });
}

function goneInstance(l: Extract<KeptLayer, { kind: 'instance' }>, jobId: string, hint: string): KilnError {
  return new KilnError(ENV_ERRORS.notFound, `instance layer ${l.layerId} (instance ${l.specHash}) over version ${l.versionId} of env "${l.env}" that job ${jobId} built in was removed (${l.path} is gone: a refreshed instance's old layer goes once no build uses it; a removed version takes its layers): its root cannot be put together again`, { hint });
}
