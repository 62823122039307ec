// Verify built .debs against the archive (issue 4 §5): for each one, the archive's binary
// of the same package, version and architecture (deb-archive.ts), compared byte for byte
// and then layer by layer (deb-compare.ts). One result per .deb, never a throw for a
// single package's trouble: a version the archive lacks or a damaged file is that
// package's `not-in-archive` / `error` outcome and the others are still verified.
// Trouble that concerns every package (no mirror, the suite's InRelease does not verify)
// is thrown.
//
// `kiln verify` prints these; `kiln build --verify` can call verifyDebs with the run's
// outputs.
import { isKilnError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import type { Downloads } from '../cache/downloads.ts';
import { compareDebs } from './deb-compare.ts';
import type { DebComparison } from './deb-compare.ts';
import { createArchive } from './deb-archive.ts';
import type { Archive, ArchiveBinary, DebIdentity } from './deb-archive.ts';
import { readDebControl } from './deb-file.ts';

export type VerifyStatus = 'reproducible' | 'differs' | 'not-in-archive' | 'error';

export interface VerifyResult {
  /** The built .deb, as given. */
  readonly deb: string;
  readonly status: VerifyStatus;
  /** What the .deb says it is (absent when it could not be read). */
  readonly identity?: DebIdentity;
  /** The archive's file it was compared with. */
  readonly archive?: ArchiveBinary & { readonly path: string };
  /** a = the archive's .deb, b = ours. */
  readonly comparison?: DebComparison;
  readonly error?: { readonly code: ErrorCode | 'internal'; readonly message: string; readonly hint?: string };
}

export interface VerifyOptions {
  readonly cacheDir: string;
  readonly downloads: Downloads;
  readonly mirror: string;
  readonly suite: string;
  readonly component?: string;
  /** The components to look in, in order (a run's --components); default main. */
  readonly components?: readonly string[];
  /** The Packages index to look `Architecture: all` packages up in. */
  readonly allArch: string;
  readonly keyring?: string;
  /** false: the suite's Release is taken past its Valid-Until (--no-check-valid-until: a snapshot mirror). */
  readonly checkValidUntil?: false;
  /** Reuse an archive (tests, or several calls in one run). */
  readonly archive?: Archive;
  /** Called as each result is ready (for progress output). */
  readonly onResult?: (r: VerifyResult) => void;
  readonly signal?: AbortSignal;
}

export async function verifyDebs(debs: readonly string[], options: VerifyOptions): Promise<VerifyResult[]> {
  const archive = options.archive ?? createArchive({
    cacheDir: options.cacheDir,
    downloads: options.downloads,
    mirror: options.mirror,
    suite: options.suite,
    ...(options.component === undefined ? {} : { component: options.component }),
    ...(options.components === undefined ? {} : { components: options.components }),
    ...(options.keyring === undefined ? {} : { keyring: options.keyring }),
    ...(options.checkValidUntil === false ? { checkValidUntil: false as const } : {}),
  });
  const o = options.signal === undefined ? {} : { signal: options.signal };
  const results: VerifyResult[] = [];
  for (const deb of debs) {
    const r = await verifyOne(deb, archive, options.allArch, o);
    options.onResult?.(r);
    results.push(r);
  }
  return results;
}

async function verifyOne(deb: string, archive: Archive, allArch: string, o: { signal?: AbortSignal }): Promise<VerifyResult> {
  let identity: DebIdentity | undefined;
  let found: (ArchiveBinary & { path: string }) | undefined;
  try {
    const control = await readDebControl(deb, o);
    identity = { package: control.package, version: control.version, architecture: control.architecture };
    const binary = await archive.find(identity, identity.architecture === 'all' ? allArch : identity.architecture, o);
    found = { ...binary, path: await archive.fetch(binary, o) };
    const comparison = await compareDebs(found.path, deb, o);
    return { deb, status: comparison.verdict, identity, archive: found, comparison };
  } catch (e) {
    if (o.signal?.aborted === true) throw o.signal.reason;
    // Suite-wide trouble (the Release or the index itself) is not one package's outcome.
    // (A suite the mirror does not have is the command line's: usage, exit 2.)
    if (isKilnError(e) && (e.code === 'signature-invalid' || e.code === 'index-invalid' || e.code === 'usage')) throw e;
    const error = isKilnError(e)
      ? { code: e.code, message: e.message, ...(e.hint === undefined ? {} : { hint: e.hint }) }
      : { code: 'internal' as const, message: e instanceof Error ? (e.stack ?? e.message) : String(e) };
    return {
      deb,
      status: isKilnError(e) && e.code === 'not-in-archive' ? 'not-in-archive' : 'error',
      ...(identity === undefined ? {} : { identity }),
      ...(found === undefined ? {} : { archive: found }),
      error,
    };
  }
}
