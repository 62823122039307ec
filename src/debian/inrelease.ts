// InRelease: a suite's Release file, clearsigned by the archive's keys. Verifying it is
// the root of trust for everything fetched from a Debian mirror: Release lists the sha256
// and size of every index (Sources, Packages), the indexes list the sha256 of every source
// file and .deb, and a .dsc lists its tarballs' sha256.
//
// Verification follows apt/gpgv: at least one signature must be good and made by a key of
// the keyring; a signature by a keyring key that does not verify (BADSIG) refuses the
// whole file; signatures by keys outside the keyring are ignored. Only the text that
// openpgp.js verified is parsed — never the wrapper around it.
import { readFile } from 'node:fs/promises';
import * as openpgp from 'openpgp';
import { KilnError } from '../errors.ts';
import { INDEX_INVALID, multilineLines, parseDeb822, required, words } from './deb822.ts';

export interface ReleaseFile {
  /** Path relative to dists/SUITE/, e.g. `main/source/Sources.xz`. */
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

export interface Release {
  readonly suite: string | undefined;
  readonly codename: string | undefined;
  readonly date: Date | undefined;
  readonly validUntil: Date | undefined;
  readonly architectures: readonly string[];
  readonly components: readonly string[];
  /** `Acquire-By-Hash: yes`: indexes are also served at `<dir>/by-hash/SHA256/<sha256>`. */
  readonly acquireByHash: boolean;
  /**
   * `NotAutomatic: yes` (backports, experimental): apt installs from it only what no other
   * source has (priority 1, or 100 with `ButAutomaticUpgrades: yes`).
   */
  readonly notAutomatic: boolean;
  /** The SHA256 list, by path. */
  readonly files: ReadonlyMap<string, ReleaseFile>;
}

export interface VerifiedRelease {
  readonly release: Release;
  /** The verified Release text. */
  readonly text: string;
  /** Key ids (hex) of the good signatures. */
  readonly signedBy: readonly string[];
}

// A bad, foreign or expired signature (exit and HTTP status as a tampered download).
const SIGNATURE_INVALID = 'signature-invalid' as const;

/** Read a keyring: binary (`.gpg`, as in /usr/share/keyrings) or ASCII-armoured (`.asc`). */
export async function readKeyring(path: string): Promise<openpgp.Key[]> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (e) {
    throw new KilnError('config-invalid', `cannot read the keyring ${path}: ${(e as Error).message}`, {
      hint: path.startsWith('/usr/share/keyrings/') ? 'install debian-archive-keyring (apt-get install debian-archive-keyring) or name another keyring' : 'name a keyring file that exists (binary .gpg or ASCII-armoured .asc, as kiln key export writes)',
      cause: e,
    });
  }
  try {
    const armored = data.subarray(0, 64).toString('latin1').includes('-----BEGIN PGP');
    return armored
      ? await openpgp.readKeys({ armoredKeys: data.toString('utf8') })
      : await openpgp.readKeys({ binaryKeys: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  } catch (e) {
    throw new KilnError('config-invalid', `${path} is not an OpenPGP keyring: ${(e as Error).message}`, {
      hint: 'name a keyring file such as /usr/share/keyrings/debian-archive-keyring.gpg',
      cause: e,
    });
  }
}

export interface VerifyOptions {
  /** The url or file the message came from, named in errors. */
  readonly source: string;
  /** Verification time (default now): signatures and keys must be valid then. */
  readonly date?: Date;
}

/** Verify a clearsigned InRelease against `keys` and parse the verified Release text. */
export async function verifyInRelease(
  armored: string,
  keys: readonly openpgp.Key[],
  options: VerifyOptions,
): Promise<VerifiedRelease> {
  const { source } = options;
  const refuse = (what: string, cause?: unknown): KilnError =>
    new KilnError(SIGNATURE_INVALID, `${source}: ${what}`, {
      hint: 'the mirror may be serving a tampered or broken InRelease, or the keyring may be out of date: try another mirror, or update debian-archive-keyring',
      cause,
    });
  let message: openpgp.CleartextMessage;
  try {
    message = await openpgp.readCleartextMessage({ cleartextMessage: armored });
  } catch (e) {
    throw refuse(`not a clearsigned OpenPGP message (${(e as Error).message})`, e);
  }
  const result = await openpgp.verify({
    message,
    verificationKeys: [...keys],
    ...(options.date === undefined ? {} : { date: options.date }),
  }).catch((e: unknown) => {
    throw refuse(`signature check failed: ${(e as Error).message}`, e);
  });
  const good: string[] = [];
  const bad: string[] = [];
  for (const s of result.signatures) {
    const id = s.keyID.toHex();
    const known = keys.some((k) => k.getKeys(s.keyID).length > 0);
    if (!known) {
      // A signature by a key we do not trust: ignored, as gpgv/apt do (its promise rejects).
      s.verified.catch(() => {});
      continue;
    }
    try {
      await s.verified;
      good.push(id);
    } catch (e) {
      bad.push(`${id} (${(e as Error).message})`);
    }
  }
  if (bad.length > 0) throw refuse(`BAD signature by key ${bad.join(', ')}`);
  if (good.length === 0) {
    const ids = result.signatures.map((s) => s.keyID.toHex());
    throw refuse(ids.length === 0
      ? 'has no signature'
      : `is signed only by keys not in the keyring (${ids.join(', ')})`);
  }
  const text = result.data;
  return { release: parseRelease(text, source), text, signedBy: good };
}

/** Parse a (verified) Release text. */
export function parseRelease(text: string, source: string): Release {
  const paragraphs = parseDeb822(text, { source });
  const p = paragraphs[0];
  if (p === undefined || paragraphs.length !== 1) {
    throw new KilnError(INDEX_INVALID, `${source}: a Release file has one paragraph, found ${paragraphs.length}`, {
      hint: 'the mirror may be broken: try another mirror',
    });
  }
  const get = (k: string): string | undefined => p.fields.get(k);
  const date = (k: string): Date | undefined => {
    const v = get(k);
    if (v === undefined) return undefined;
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw new KilnError(INDEX_INVALID, `${source}: ${k} "${v}" is not a date`, { hint: 'the mirror may be broken: try another mirror' });
    return d;
  };
  const files = new Map<string, ReleaseFile>();
  const sums = required(p, 'SHA256', source);
  for (const line of multilineLines(sums)) {
    const [sha, size, path, ...rest] = words(line);
    if (sha === undefined || size === undefined || path === undefined || rest.length > 0 || !/^[0-9a-f]{64}$/.test(sha) || !/^\d+$/.test(size)) {
      throw new KilnError(INDEX_INVALID, `${source}: bad SHA256 line ${JSON.stringify(line)}`, { hint: 'the mirror may be broken: try another mirror' });
    }
    files.set(path, { path, sha256: sha, size: Number(size) });
  }
  return {
    suite: get('suite'),
    codename: get('codename'),
    date: date('date'),
    validUntil: date('valid-until'),
    architectures: words(get('architectures')),
    components: words(get('components')),
    acquireByHash: get('acquire-by-hash')?.toLowerCase() === 'yes',
    notAutomatic: get('notautomatic')?.toLowerCase() === 'yes',
    files,
  };
}

/**
 * The checks apt makes beyond the signature: the Release is for the suite asked for (by
 * Suite or Codename, so an old Release of another suite cannot be replayed), and it has
 * not expired (Valid-Until).
 */
export function checkReleaseFor(release: Release, suite: string, options: { source: string; now?: Date; checkValidUntil?: boolean }): void {
  if (release.suite !== suite && release.codename !== suite) {
    throw new KilnError(SIGNATURE_INVALID, `${options.source}: is the Release of "${release.codename ?? release.suite ?? '?'}", not of "${suite}"`, {
      hint: 'the mirror is serving the wrong suite: check the mirror url and the suite name',
    });
  }
  const now = options.now ?? new Date();
  if (options.checkValidUntil !== false && release.validUntil !== undefined && release.validUntil.getTime() < now.getTime()) {
    throw new KilnError(SIGNATURE_INVALID, `${options.source}: expired on ${release.validUntil.toISOString()} (Valid-Until)`, {
      hint: 'the mirror is out of date (or replaying an old Release): try another mirror; for a snapshot of the archive frozen on purpose (a dated snapshot mirror), --no-check-valid-until (check-valid-until = false in debian.toml), as apt\'s check-valid-until=no',
    });
  }
}
