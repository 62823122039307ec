// The types of the env store (env-store.ts): what an env, a version, an instance layer and a
// lease look like to callers, the options of each operation, and the RootMakers seam that
// tests replace to run without a mirror.

import type { KilnError } from '../errors.ts';
import type { SandboxEnv } from '../sandbox/sandbox.ts';
import type { LivenessProbe } from './leases.ts';
import type { BootstrapSpec, LineSink } from './root-commands.ts';
import type { InstanceSpec } from './instance-spec.ts';

export interface EnvInfo {
  readonly name: string;
  /** `<name>@<versionId>`, part of every input key built in it. */
  readonly id: string;
  readonly suite: string;
  readonly arch: string;
  readonly versionId: string;
  readonly sizeBytes: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly mirror: string | undefined;
  readonly include: readonly string[];
  /** Every version on disk, oldest first. */
  readonly versions: readonly string[];
  /** Live leases (running builds). */
  readonly leases: readonly { readonly versionId: string; readonly pid: number }[];
  /** Host path of the current version's root. */
  readonly root: string;
  /** Instance layers made over the current version. */
  readonly instances: readonly InstanceInfo[];
}

export interface InstanceInfo {
  readonly name: string;
  readonly specHash: string;
  readonly layerId: string;
  readonly contentHash: string;
  /** The env id of a build in this instance: `<name>@<version>+<instance>.<content>`. */
  readonly id: string;
  readonly sizeBytes: number;
  readonly createdAt: string;
  readonly packages: readonly string[];
}

export interface AcquireOptions extends RunOpts {
  /** The tree's `[instance]`: made over the base on demand, then leased as a second layer. */
  readonly instance?: InstanceSpec | undefined;
  /** kiln's own one-line notes while leasing (a binfmt handler it registers for a foreign env). */
  readonly onNote?: ((text: string) => void) | undefined;
}

export interface EnvLease extends AsyncDisposable {
  readonly env: SandboxEnv;
  readonly versionId: string;
  /** Drop the lease (idempotent) and remove versions nothing uses any more. */
  release(): Promise<void>;
}

export interface RunOpts {
  readonly signal?: AbortSignal | undefined;
  readonly onOutput?: LineSink | undefined;
}

export type Variant = 'buildd' | 'minbase' | 'apt' | 'essential' | 'required' | 'important' | 'standard';

export interface CreateOptions extends RunOpts {
  readonly suite: string;
  readonly arch: string;
  readonly mirror?: string | undefined;
  /** The keyring the mirror is signed with (default: the host's apt keys); the root's apt keeps trusting it. */
  readonly keyring?: string | undefined;
  /** false: the mirror's Release is taken past its Valid-Until (a snapshot mirror), by mmdebstrap and the root's own apt. */
  readonly checkValidUntil?: false | undefined;
  readonly include?: readonly string[] | undefined;
  readonly variant?: Variant | undefined;
}

export interface ImportOptions extends RunOpts {
  readonly suite?: string | undefined;
  readonly arch?: string | undefined;
}

/** What actually makes and changes roots; tests replace them to run without a mirror. */
export interface RootMakers {
  bootstrap(spec: BootstrapSpec, root: string, o: { signal?: AbortSignal | undefined; onLine?: LineSink | undefined }): Promise<string[]>;
  upgrade(root: string, o: { signal?: AbortSignal | undefined; onLine?: LineSink | undefined }): Promise<string[]>;
  ensureArch(arch: string, o: RunOpts): Promise<void>;
}

export interface EnvStoreOptions {
  readonly stateDir: string;
  readonly makers?: Partial<RootMakers>;
  readonly probe?: LivenessProbe;
  /** Where the host's apt sources are (default /etc/apt), for the default mirror. */
  readonly aptDir?: string;
  /** Told once per wait when another process holds an env's own lock (a create, update, … of it): a line to show the user. */
  readonly onLockWait?: (message: string) => void;
}

export interface EnvStore {
  create(name: string, options: CreateOptions): Promise<EnvInfo>;
  importTarball(name: string, file: string, options?: ImportOptions): Promise<EnvInfo>;
  /** The current version as a root tarball `importTarball` makes the same version of, elsewhere (env-export.ts). */
  exportTarball(name: string, file: string, options?: RunOpts): Promise<EnvInfo & { readonly file: string }>;
  /** `unchanged`: apt changed no package, so the current version stays (its instance layers refreshed). */
  update(name: string, options?: RunOpts & { readonly instancesOnly?: boolean }): Promise<EnvInfo & { readonly previous: string; readonly removed: readonly string[]; readonly refreshed: readonly InstanceRefresh[]; readonly unchanged?: boolean }>;
  /** `onDamaged`: an env whose files cannot be read is told here and left out, instead of failing the list. */
  list(options?: { readonly onDamaged?: (name: string, e: KilnError) => void }): Promise<EnvInfo[]>;
  get(name: string): Promise<EnvInfo>;
  destroy(name: string): Promise<void>;
  acquire(name: string, options?: AcquireOptions): Promise<EnvLease>;
  /** The env a build with this instance would use now, without making or leasing anything (plan). */
  peek(name: string, instance?: InstanceSpec): Promise<SandboxEnv & { readonly pending: boolean }>;
  gcVersions(name: string): Promise<string[]>;
}

export interface InstanceRefresh {
  readonly name: string;
  readonly specHash: string;
  /** The layer's content hash before and after (before undefined: there was none). */
  readonly before: string | undefined;
  readonly after: string | undefined;
  readonly error?: string;
}
