// The artifact store's shapes and layout (the store itself is artifacts.ts): what an
// entry's meta.json holds, what put() takes, the ArtifactStore interface, the name of an
// entry's archive, what a key may be, and where an artifact lies (artifactPath).
import { join } from 'node:path';
import type { ManifestEntry } from './archive.ts';
import type { ElfHeader } from '../lib/elf-header.ts';

/** What the caller says about the package; any extra JSON fields are kept as they are. */
export interface ArtifactInfo {
  readonly name: string;
  readonly version: string;
  readonly release?: string | number;
  readonly arch: string;
  readonly depends?: readonly unknown[];
  readonly provides?: readonly unknown[];
  /** The recipe's one-line summary (pkgsrc's COMMENT); absent in entries stored before kiln kept it. */
  readonly summary?: string;
  /** The recipe's license; absent when unknown (a Debian source package) and in entries stored before kiln kept it. */
  readonly license?: string;
  /** Why the package may not be redistributed (recipe key `restricted`); absent when it may. `kiln serve` does not serve such an entry. */
  readonly restricted?: string;
  readonly [extra: string]: unknown;
}

export interface ArtifactMeta extends ArtifactInfo {
  readonly key: string;
  /** sha256 of the canonical manifest: equal for equal installed trees, whatever the mtimes. */
  readonly outputHash: string;
  /** Archive bytes (0 when the package installed nothing). */
  readonly size: number;
  /** sha256 of the archive, null when there is none. */
  readonly sha256: string | null;
  /** Archive file name relative to the artifact directory, null when there is none. */
  readonly archive: string | null;
  readonly installedSize: number;
  readonly fileCount: number;
  /** The output checks' warnings on the build that stored it ("check: message"; absent when none). */
  readonly warnings?: readonly string[];
  /** ISO 8601. */
  readonly createdAt: string;
}

/** An up-to-date hit refreshes an artifact's last use (meta.json's mtime) when it is older than this. */
export const USE_MARK_MS = 3_600_000;

export interface PutOptions {
  /** The directory the build installed into (DESTDIR). Read, not modified. */
  readonly destDir: string;
  readonly meta: ArtifactInfo;
  readonly sourceDateEpoch: number;
  /**
   * The caller has just seen get() return nothing for this key: skip the check. Still
   * safe when another process stores the key meanwhile (the rename fails; theirs is used).
   */
  readonly knownAbsent?: boolean;
  /**
   * A `--force`d rebuild: an output other than the stored entry's replaces it (else the
   * stored entry is kept), unless a live run stages that entry (cache/in-use.ts): then it
   * is kept and `onKept` says why.
   */
  readonly replace?: boolean;
  readonly onKept?: (text: string) => void;
  /** The caller knows destDir is empty (the sandbox told it without listing it). */
  readonly destEmpty?: boolean;
  /**
   * The output checks (execute/output-checks.ts), run on a non-empty output before
   * anything is stored; `run` throws to refuse it, and returns its warnings ("check:
   * message"), which the entry's meta keeps. The manifest walk reads each file's ELF
   * header when `readElf`, and notes the files holding any of `needles`.
   */
  readonly check?: {
    readonly readElf: boolean;
    readonly needles: readonly Buffer[];
    readonly run: (found: { entries: readonly ManifestEntry[]; elf: ReadonlyMap<string, ElfHeader> | undefined; holding: readonly string[] }) => readonly string[];
  };
  readonly signal?: AbortSignal;
}

export interface ArtifactStore {
  /** Directory of the artifact with this key (whether or not it exists). */
  dir(key: string): string;
  has(key: string): Promise<boolean>;
  get(key: string): Promise<ArtifactMeta | undefined>;
  /**
   * get() without side effects, synchronously, for the planner's loop over thousands of
   * keys: an absent, torn or foreign entry is simply undefined (get() also moves a torn
   * one aside).
   */
  peek(key: string): ArtifactMeta | undefined;
  /**
   * The meta of an artifact this store put, without touching the disk (an entry never
   * changes once stored, and gc keeps what a live run put): the package index after a run
   * asks for thousands it has just built. undefined for any other key: read it with get().
   */
  remembered(key: string): ArtifactMeta | undefined;
  manifest(key: string): Promise<ManifestEntry[] | undefined>;
  put(key: string, options: PutOptions): Promise<ArtifactMeta>;
  /** Drop what this store remembers of the entry: another output of a `--force`d rebuild is being renamed over it (an import: artifact-transfer.ts). */
  forget(key: string): void;
  /** Extract the artifact into `sysrootDir` (which must exist). */
  stageInto(key: string, sysrootDir: string, options?: { signal?: AbortSignal; touch?: boolean }): Promise<ArtifactMeta>;
  /** Record a use now, so gc keeps it. */
  touch(key: string): Promise<void>;
  /** An up-to-date hit: refresh the last use for gc if it is over an hour old (mtimeMs: of meta.json, when known). */
  markUsed(key: string, mtimeMs?: number): void;
  /**
   * What is wrong with the entry (an unreadable meta.json; an archive missing, or not the
   * size and sha256 its meta.json says), or undefined when it is whole or absent. `fix`
   * removes a bad entry (kiln cache verify --fix).
   */
  verify(key: string, options?: { fix?: boolean; signal?: AbortSignal }): Promise<string | undefined>;
}

/** The archive's file name in an entry (the only one an entry may name). */
export const ARCHIVE = 'pkg.tar.zst';
/** What an artifact key may be (it names a directory). */
export const KEY_RE = /^[0-9A-Za-z][0-9A-Za-z_-]{2,127}$/;

/** The artifact's archive, or its directory when the package installed nothing. */
export function artifactPath(store: Pick<ArtifactStore, 'dir'>, key: string, archive: string | null): string {
  return archive === null ? store.dir(key) : join(store.dir(key), archive);
}
