// The compiler cache of a run (kiln build --ccache, kiln.toml `ccache = true`): one ccache
// directory per build root, arch and sandbox backend, under the cache dir, that the jobs'
// compilers share.
//
//   STATE/cache/ccache/host-<arch>/                  host sandbox: the host's own compilers
//   STATE/cache/ccache/<env name>-<arch>-<backend>/  chroot, rootless: the env's compilers
//   STATE/cache/ccache/.conf/<dir name>/ccache.conf  kiln's config of each (CCACHE_CONFIGPATH)
//
// One per backend: a chroot build writes as BUILD_UID, a rootless one as kiln's user, and
// users who do not trust each other must not share a tree. kiln never re-owns a tree: it
// makes the top directory once (owned by the build user), and a directory that exists with
// another owner, or is a symlink, is not used (the build goes on without ccache). The
// config is kiln's, outside the cache directory and read-only to the build, so that a build
// cannot change how later builds compile (prefix_command and the like).
//
// Objects from another compiler are of no use and a risk, hence one per build root (and
// CCACHE_COMPILERCHECK=content: an env refreshed under the same name has a new compiler
// hash). A job gets CCACHE_DIR (bind-mounted read-write at CCACHE_INSIDE in isolated
// sandboxes), /usr/lib/ccache (Debian's masquerade directory) first in PATH, and
// CCACHE_BASEDIR = its workspace with CCACHE_NOHASHDIR, so that hits survive the per-job
// workspace paths of the host sandbox. The cache does not change outputs: it is not part
// of any key. A build root without ccache builds without it (said once per run), and
// nothing of the cache ever fails a build.

import { spawnSync } from 'node:child_process';
import { existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, renameSync, writeFileSync, type Dirent, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { SandboxBackend, SandboxEnv } from '../sandbox/sandbox.ts';
import { BUILD_GID, BUILD_UID } from '../sandbox/chroot/scripts.ts';

/** Where isolated sandboxes see the cache. */
export const CCACHE_INSIDE = '/var/cache/kiln/ccache';
/** Where isolated sandboxes see the directory of kiln's ccache.conf (read-only). */
export const CCACHE_CONF_INSIDE = '/var/cache/kiln/ccache-conf';
/** The folder, under the ccache root, of kiln's config files: not a cache directory. */
export const CCACHE_CONF_DIR = '.conf';
/** Debian's ccache masquerade directory: gcc, cc, g++… that run ccache. */
export const CCACHE_MASQUERADE = '/usr/lib/ccache';
/** The default size limit of each ccache directory (ccache's own default too). */
export const DEFAULT_CCACHE_BYTES = 5 * 1024 ** 3;

/** A run's compiler cache, when it has one. */
export interface CcacheSettings {
  /** STATE/cache/ccache: the per-root directories go under it. */
  readonly root: string;
  /** CCACHE_MAXSIZE of each directory. */
  readonly maxBytes: number;
}

/**
 * Whether a run uses ccache (pure): --ccache / --no-ccache over kiln.toml's `ccache`, off by
 * default. A daemon's builds never do: its tenants would share one cache, and one could plant
 * objects that another's build links.
 */
export function ccacheWanted(o: { readonly flag: boolean | undefined; readonly config: boolean | undefined; readonly onDaemon?: boolean | undefined }): boolean {
  if (o.onDaemon === true) return false;
  return o.flag ?? o.config ?? false;
}

/** The size limit of a run's ccache directories (pure): --ccache-size over kiln.toml's `ccache-size`. */
export function ccacheBytes(o: { readonly flag: number | undefined; readonly config: number | undefined }): number {
  return o.flag ?? o.config ?? DEFAULT_CCACHE_BYTES;
}

/**
 * The directory name of a build root's cache (pure): `host-<arch>`, or `<env name>-<arch>-<backend>`
 * (a chroot and a rootless build of one env write as different users: never one tree).
 */
export function ccacheDirName(env: Pick<SandboxEnv, 'name'> | undefined, arch: string, backend: SandboxBackend['name']): string {
  return env === undefined ? `host-${arch}` : `${env.name}-${arch}-${backend}`;
}

/** CCACHE_MAXSIZE for ccache: a bare number is gigabytes to ccache, so it is given in (decimal) k. */
export function ccacheMaxSize(bytes: number): string {
  return `${Math.max(1, Math.floor(bytes / 1000))}k`;
}

/** The variables a job's build gets (pure); PATH is withCcachePath's. */
export function ccacheVariables(o: { readonly dir: string; readonly configPath: string; readonly basedir: string; readonly maxBytes: number }): Record<string, string> {
  return {
    CCACHE_DIR: o.dir,
    // kiln's config instead of $CCACHE_DIR/ccache.conf, which every build of the root can write.
    CCACHE_CONFIGPATH: o.configPath,
    CCACHE_BASEDIR: o.basedir,
    CCACHE_NOHASHDIR: '1',
    CCACHE_COMPILERCHECK: 'content',
    CCACHE_MAXSIZE: ccacheMaxSize(o.maxBytes),
  };
}

/** PATH with the masquerade directory first (pure; once). */
export function withCcachePath(path: string): string {
  const rest = path.split(':').filter((p) => p !== CCACHE_MASQUERADE && p !== '');
  return [CCACHE_MASQUERADE, ...rest].join(':');
}

/** Whether a build root has ccache: the host's `/`, or an env's layers (any of them). */
export function rootHasCcache(layers: readonly string[] | undefined): boolean {
  const roots = layers ?? ['/'];
  const has = (rel: string): boolean => roots.some((r) => existsSync(join(r, rel)));
  return has('usr/bin/ccache') && has('usr/lib/ccache/gcc');
}

/** What a job gets: a bind (isolated sandboxes) and variables, or why it builds without. */
export type JobCcache =
  | {
    readonly kind: 'on';
    readonly hostDir: string;
    /** kiln's ccache.conf on the host (CCACHE_CONFIGPATH, as the sandbox sees it, is in variables). */
    readonly configFile: string;
    /** The cache, read-write (isolated sandboxes). */
    readonly bind: { readonly host: string; readonly inside: string } | undefined;
    /** The config's directory, read-only (isolated sandboxes; [] on the host). */
    readonly readOnlyBinds: readonly { readonly host: string; readonly inside: string }[];
    readonly variables: (basedir: string) => Record<string, string>;
  }
  | { readonly kind: 'off'; readonly why: string };

/**
 * The run's ccache for its jobs: for each job, its directory made (owned by the user the
 * build runs as), or why it builds without, with the note a run says once per build root.
 */
export function runCcache(settings: CcacheSettings, backend: Pick<SandboxBackend, 'name'>): { forJob(env: SandboxEnv | undefined, arch: string): Promise<JobCcache> } {
  const made = new Map<string, Promise<JobCcache>>();
  return {
    forJob(env, arch) {
      const name = ccacheDirName(env, arch, backend.name);
      let p = made.get(name);
      if (p === undefined) made.set(name, (p = prepare(settings, backend.name, env, name)));
      return p;
    },
  };
}

async function prepare(settings: CcacheSettings, backend: SandboxBackend['name'], env: SandboxEnv | undefined, name: string): Promise<JobCcache> {
  const where = env === undefined ? 'this host' : `env ${env.name}`;
  if (!rootHasCcache(env === undefined ? undefined : env.layers)) {
    const fix = env === undefined
      ? 'install it (apt-get install ccache)'
      : `make the env with it: kiln env create ${env.name} --include ccache (with the same --suite and --arch), or add it to kiln.toml [instance] packages`;
    return { kind: 'off', why: `--ccache: ${where} has no ccache (/usr/lib/ccache/gcc): built without a compiler cache; to use one, ${fix}` };
  }
  const hostDir = join(settings.root, name);
  // The chroot's build user is BUILD_UID; rootless and host builds are kiln's own user.
  const uid = backend === 'chroot' ? BUILD_UID : process.getuid?.() ?? 0;
  const gid = backend === 'chroot' ? BUILD_GID : process.getgid?.() ?? 0;
  let configFile: string;
  try {
    const refused = ownDir(settings.root, name, uid, gid);
    if (refused !== undefined) return { kind: 'off', why: `--ccache: built without a compiler cache: ${refused}` };
    configFile = writeConfig(settings, name);
  } catch (e) {
    return { kind: 'off', why: `--ccache: its directory ${hostDir} cannot be used (${(e as Error).message}): built without a compiler cache` };
  }
  const host = backend === 'host';
  const inside = host ? hostDir : CCACHE_INSIDE;
  const configPath = host ? configFile : `${CCACHE_CONF_INSIDE}/ccache.conf`;
  return {
    kind: 'on',
    hostDir,
    configFile,
    bind: host ? undefined : { host: hostDir, inside },
    readOnlyBinds: host ? [] : [{ host: join(settings.root, CCACHE_CONF_DIR, name), inside: CCACHE_CONF_INSIDE }],
    variables: (basedir) => ccacheVariables({ dir: inside, configPath, basedir, maxBytes: settings.maxBytes }),
  };
}

/** A real directory (lstat: not a symlink), made when missing (and whether it was), or why it is not one. */
function realDir(path: string, mode: number): { st: Stats; made: boolean } | string {
  let made = false;
  try {
    mkdirSync(path, { mode });
    made = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return `${path} is a symlink: remove it (kiln makes the directory itself)`;
  if (!st.isDirectory()) return `${path} is not a directory: remove it`;
  return { st, made };
}

/**
 * Makes `<root>/<name>` for the build user uid:gid, or says why it cannot be used. Nothing on
 * the way may be a symlink (lstat from the ccache root down); only a directory kiln has just
 * made is given to uid:gid (lchown, that one directory: never a tree, whose links a build may
 * have planted); one that exists must be the build user's already and writable by it.
 */
export function ownDir(root: string, name: string, uid: number, gid: number): string | undefined {
  mkdirSync(join(root, '..'), { recursive: true, mode: 0o755 });
  const top = realDir(root, 0o755);
  if (typeof top === 'string') return top;
  const dir = join(root, name);
  const made = realDir(dir, 0o755);
  if (typeof made === 'string') return made;
  let st = made.st;
  if (made.made && (st.uid !== uid || st.gid !== gid)) {
    lchownSync(dir, uid, gid);
    st = lstatSync(dir);
  }
  if (st.uid !== uid) {
    return `${dir} belongs to uid ${st.uid}, and this build writes as uid ${uid}; kiln does not re-own a cache: remove it (rm -r ${dir}) or give it to that user by hand (chown -R ${uid}:${gid} ${dir}), with no build running`;
  }
  if ((st.mode & 0o200) === 0) return `${dir} is not writable by its owner (mode ${(st.mode & 0o7777).toString(8)}): chmod u+w ${dir}`;
  return undefined;
}

/**
 * Writes kiln's ccache.conf of `<root>/<name>` to `<root>/.conf/<name>/ccache.conf`, owned by
 * kiln's user, mode 0644 (read-only to a chroot's build user, bound read-only in isolated
 * sandboxes), whole (a rename); returns its path.
 */
function writeConfig(settings: CcacheSettings, name: string): string {
  const confRoot = realDir(join(settings.root, CCACHE_CONF_DIR), 0o755);
  if (typeof confRoot === 'string') throw new Error(confRoot);
  const dir = realDir(join(settings.root, CCACHE_CONF_DIR, name), 0o755);
  if (typeof dir === 'string') throw new Error(dir);
  const me = process.getuid?.() ?? 0;
  for (const d of [confRoot.st, dir.st]) if (d.uid !== me) throw new Error(`${join(settings.root, CCACHE_CONF_DIR)} is not kiln's own (uid ${d.uid}): remove it`);
  const file = join(settings.root, CCACHE_CONF_DIR, name, 'ccache.conf');
  const tmp = `${file}.${process.pid}.tmp`;
  const text = [
    `# Written by kiln for ${name}: read instead of the cache directory's own ccache.conf (CCACHE_CONFIGPATH).`,
    `max_size = ${ccacheMaxSize(settings.maxBytes)}`,
    'compiler_check = content',
    '',
  ].join('\n');
  writeFileSync(tmp, text, { mode: 0o644, flag: 'w' });
  renameSync(tmp, file);
  return file;
}

/**
 * `kiln cache gc`: ccache's own limit (CCACHE_MAXSIZE) keeps each directory in size; what
 * was not used since `cutoff` goes with `ccache --evict-older-than` (ccache ≥ 4.5 on the
 * host; without it nothing is done), run as the directory's owner. A dry run lists the
 * files older than the cutoff. Returns what went, by directory.
 */
export function gcCcache(cacheDir: string, o: { readonly now: number; readonly cutoff: number; readonly dryRun: boolean }): { kind: 'ccache'; path: string; bytes: number }[] {
  const root = join(cacheDir, 'ccache');
  if (!existsSync(root)) return [];
  const out: { kind: 'ccache'; path: string; bytes: number }[] = [];
  for (const name of readdirSync(root).sort()) {
    const dir = join(root, name);
    // kiln's config files, and anything that is not a real directory, are not caches.
    if (name === CCACHE_CONF_DIR || lstatSync(dir, { throwIfNoEntry: false })?.isDirectory() !== true) continue;
    const before = filesBytes(dir, o.dryRun ? o.cutoff : Infinity);
    if (before === 0) continue;
    if (o.dryRun) {
      out.push({ kind: 'ccache', path: dir, bytes: before });
      continue;
    }
    const st = lstatSync(dir);
    const age = Math.max(0, Math.floor((o.now - o.cutoff) / 1000));
    const r = spawnSync('ccache', ['--evict-older-than', `${age}s`], {
      // Not the directory's own ccache.conf: a build could have written it.
      env: { PATH: '/usr/bin:/bin', CCACHE_DIR: dir, CCACHE_CONFIGPATH: '/dev/null' },
      stdio: 'ignore',
      ...(process.getuid?.() === 0 ? { uid: st.uid, gid: st.gid } : {}),
    });
    if (r.error !== undefined || r.status !== 0) continue;
    const freed = before - filesBytes(dir, Infinity);
    if (freed > 0) out.push({ kind: 'ccache', path: dir, bytes: freed });
  }
  return out;
}

/**
 * Bytes of the cache files under `dir` last modified before `before` (ccache's stats and config
 * aside), without following symlinks; a folder kiln's user cannot read (a build made it 0700)
 * is skipped, not an error.
 */
function filesBytes(dir: string, before: number): number {
  let n = 0;
  let names: Dirent[];
  try {
    names = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of names) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += filesBytes(p, before);
    if (!e.isFile() || e.name === 'stats' || e.name === 'ccache.conf') continue;
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (st !== undefined && st.mtimeMs < before) n += st.size;
  }
  return n;
}

/**
 * A run's ccache settings, or undefined when it builds without (said in a note when the
 * user asked for one): off by default, never on a daemon, with --nats or with --twice.
 */
export function ccacheSettingsOf(o: {
  readonly ccache?: boolean | undefined;
  readonly ccacheSize?: number | undefined;
  readonly config: { readonly file?: string | undefined; readonly ccache?: boolean | undefined; readonly ccacheBytes?: number | undefined };
  readonly state: { readonly cache: string };
  readonly onDaemon?: boolean | undefined;
  readonly nats?: string | undefined;
  readonly twice: boolean;
  readonly note: (text: string) => void;
}): CcacheSettings | undefined {
  if (o.onDaemon === true && o.config.ccache === true) o.note(`${o.config.file ?? 'kiln.toml'}: ccache is not used on a daemon (its tenants would share one compiler cache): built without it`);
  if (!ccacheWanted({ flag: o.ccache, config: o.config.ccache, onDaemon: o.onDaemon })) return undefined;
  if (o.nats !== undefined) {
    o.note('--ccache: not with --nats (the workers build without a compiler cache)');
    return undefined;
  }
  // Two builds compared for reproducibility must both compile: a hit would hide a difference.
  if (o.twice) {
    o.note("--ccache: not with --twice (the second build would reuse the first one's objects, and the comparison would prove nothing): built without it");
    return undefined;
  }
  return { root: join(o.state.cache, 'ccache'), maxBytes: ccacheBytes({ flag: o.ccacheSize, config: o.config.ccacheBytes }) };
}
