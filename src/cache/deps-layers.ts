// Installed build dependencies, kept as read-only root layers (Debian builds):
//
//   <cache>/deps-layers/<key>/root/     what `apt-get build-dep` changed in the env's root
//                                       (an overlay upper layer, whiteouts included)
//   <cache>/deps-layers/.tmp-*/          layers being captured (removed when stale)
//
// The key covers the env version, the arch, the build mode, profiles and options, the
// exact build dependencies the plan resolved (each with a hash of its whole dependency
// closure) and the output hashes of this run's packages it installs: the same key means
// apt would install the same files. A later build with the same key mounts the layer over
// the env instead of installing again; each build still gets its own fresh upper layer.

import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../lib/hash.ts';

/** Bump when what a layer holds changes meaning (2: it has the build's policy-rc.d). */
const LAYER_FORMAT = 'kiln-deps-layer-2';

export interface DepsLayerInputs {
  readonly envId: string;
  readonly arch: string;
  readonly mode: string;
  readonly profiles: readonly string[];
  /** --nocheck: for the key, the nocheck profile (DEB_BUILD_OPTIONS=nocheck installs nothing else). */
  readonly nocheck: boolean;
  /** Extra packages installed beside the build dependencies (fakeroot, faketime…). */
  readonly extras: readonly string[];
  /** The plan's resolution of the build dependencies (binary-closure.ts chosenKeys). */
  readonly chosen: readonly string[];
  /** Output hashes of this run's packages staged for installation, by job id. */
  readonly staged: Readonly<Record<string, string>>;
}

export function depsLayerKey(i: DepsLayerInputs): string {
  // What apt-get build-dep is told (-P): --nocheck is the nocheck profile there, so
  // `--nocheck` and `--profiles nocheck` install the same and share a layer.
  const profiles = [...new Set([...i.profiles, ...(i.nocheck ? ['nocheck'] : [])])].sort();
  return sha256(JSON.stringify([
    LAYER_FORMAT, i.envId, i.arch, i.mode, profiles, [...i.extras].sort(), [...i.chosen].sort(),
    Object.entries(i.staged).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  ]));
}

export interface DepsLayers {
  /** Host path of the layer's root when it exists (and marks it used). */
  find(key: string): Promise<string | undefined>;
  /** Capture a new layer with `fill(dir)` (dir must not exist yet); concurrent captures of one key are safe. */
  add(key: string, fill: (dir: string) => Promise<void>): Promise<string>;
}

export function depsLayers(cacheDir: string): DepsLayers {
  const base = join(cacheDir, 'deps-layers');
  return {
    async find(key) {
      const root = join(base, key, 'root');
      const st = await stat(root).catch(() => undefined);
      if (st === undefined || !st.isDirectory()) return undefined;
      const now = new Date();
      await utimes(join(base, key), now, now).catch(() => undefined);
      return root;
    },
    async add(key, fill) {
      // Layers hold whatever maintainer scripts installed, setuid programs included: only
      // root may reach them.
      await mkdir(base, { recursive: true, mode: 0o700 });
      await chmod(base, 0o700);
      const tmp = join(base, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
      await mkdir(tmp);
      try {
        await fill(join(tmp, 'root'));
        await rename(tmp, join(base, key)).catch(async (e: NodeJS.ErrnoException) => {
          // Another build captured the same key first: theirs is as good as ours.
          if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
        });
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      return join(base, key, 'root');
    },
  };
}
