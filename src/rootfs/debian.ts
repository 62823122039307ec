// kiln rootfs --debian SUITE: a Debian root of the named packages, made by mmdebstrap (as
// `kiln env create` makes envs: envs/root-commands.ts) from the host's mirror plus this
// state dir's own signed apt repository (STATE/repo, where Debian builds publish), trusted
// through signed-by with kiln's exported key. Foreign arches run through qemu-user-static
// (binfmt_misc, as env create). The root is made beside OUT and renamed into place.

import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostDebianMirror } from '../config/mirrors.ts';
import { ensureForeignArch, runsNatively } from '../envs/binfmt.ts';
import { checkSuiteOnMirror } from '../envs/root-makers.ts';
import { mmdebstrapArgv, PRIVATE_NS, runStreaming } from '../envs/root-commands.ts';
import { KilnError } from '../errors.ts';
import { shellQuote } from '../lib/shell-quote.ts';
import { checkOut, placeOut, tmpBeside, type KeptDir } from './place.ts';

export interface DebianRootOptions {
  readonly out: string;
  readonly packages: readonly string[];
  readonly suite: string;
  readonly arch: string;
  /** mmdebstrap's variant: minbase (the default) or apt. */
  readonly variant: string;
  /** Default: the host's apt sources' Debian mirror. */
  readonly mirror?: string;
  /** --no-check-valid-until: take the suite's Release past its Valid-Until (a snapshot mirror frozen on purpose). */
  readonly checkValidUntil?: false;
  readonly stateRoot: string;
  readonly force: boolean;
  /** OUT is a .tar.zst (mmdebstrap writes it: owners, modes and SOURCE_DATE_EPOCH as mmdebstrap keeps them). */
  readonly tar: boolean;
  readonly signal?: AbortSignal;
  readonly onLine?: (line: string) => void;
  /** Folders OUT must keep clear of (the state dir, the cache). */
  readonly keep?: readonly KeptDir[];
  /** Default: whether kiln runs as root. */
  readonly root?: boolean;
  /** --tar: what mmdebstrap is given as SOURCE_DATE_EPOCH. */
  readonly sourceDateEpoch?: number;
}

/** kiln's repository of the state dir as an extra apt source for the suite: the file: url and the key that signs it. */
export interface KilnRepoSource {
  readonly dir: string;
  readonly keyFile: string;
  /** The suite's components in the repository's Release (kiln repo publish --component). */
  readonly components: readonly string[];
}

/**
 * The mmdebstrap command (pure): the suite from the mirror, the named packages included,
 * kiln's repository as a second source; a customize hook takes that source out of the
 * finished root's sources.list, where its file: path (on this machine) would only break apt.
 */
export function debianRootArgv(o: { suite: string; arch: string; variant: string; mirror: string; include: readonly string[]; target: string; repo?: KilnRepoSource; checkValidUntil?: false }): string[] {
  const argv = mmdebstrapArgv({ suite: o.suite, arch: o.arch, mirror: o.mirror, include: o.include, variant: o.variant, ...(o.checkValidUntil === false ? { checkValidUntil: false } : {}) }, o.target);
  // Options before the suite, sources after the mirror (mmdebstrap takes several).
  const at = argv.indexOf(o.suite);
  // mmdebstrap copies in this machine's /etc/hostname and /etc/resolv.conf: not the
  // image's. A resolv.conf a package made (a link of systemd-resolved's) stays.
  const host = [`--customize-hook=echo localhost > "$1/etc/hostname"`, '--customize-hook=if [ ! -L "$1/etc/resolv.conf" ] && cmp -s /etc/resolv.conf "$1/etc/resolv.conf"; then rm -f "$1/etc/resolv.conf"; fi'];
  if (o.repo === undefined) return [...argv.slice(0, at), ...host, ...argv.slice(at)];
  const line = repoLine(o.repo, o.suite);
  // kiln's builds win over the archive's (a rebuild without --binnmu has the archive's
  // version and other bytes): kiln's repository, the only local source, is pinned above
  // the mirror. apt weighs a pin before a version, so kiln's build wins even where the
  // archive has a newer one (`name=version` in the package list takes another).
  const pin = `mkdir -p "$1/etc/apt/preferences.d" && printf '%s\\n' 'Package: *' 'Pin: origin ""' 'Pin-Priority: ${REPO_PIN}' > "$1/etc/apt/preferences.d/kiln-repo"`;
  const drop = `grep -vxF ${shellQuote(line)} "$1/etc/apt/sources.list" > "$1/etc/apt/sources.list.kiln" || true; mv "$1/etc/apt/sources.list.kiln" "$1/etc/apt/sources.list"; rm -f "$1/etc/apt/preferences.d/kiln-repo"`;
  return [...argv.slice(0, at), ...host, `--setup-hook=${pin}`, `--customize-hook=${drop}`, ...argv.slice(at), line];
}

/** apt's pin priority of kiln's repository in a --debian root: above the mirror's 500, below 1000 (no downgrade of what is installed already). */
const REPO_PIN = 990;

/**
 * The one-line apt source of kiln's repository. apt splits the line at whitespace: the
 * copy: URI's path is percent-encoded (apt decodes it), and the key file must be at a path
 * without whitespace (a folder of its own under the temporary directory).
 */
export function repoLine(repo: KilnRepoSource, suite: string): string {
  if (/\s/.test(repo.keyFile)) throw new Error(`repoLine: the key file ${repo.keyFile} has whitespace in its path`);
  const path = repo.dir.split('/').map((part) => encodeURIComponent(part)).join('/');
  return `deb [signed-by=${repo.keyFile}] copy:${path} ${suite} ${repo.components.join(' ')}`;
}

/** The Components of a Release file (pure); ["main"] when it names none. */
export function releaseComponents(release: string): string[] {
  const line = /^Components:[ \t]*(.*)$/m.exec(release)?.[1]?.trim() ?? '';
  return line === '' ? ['main'] : line.split(/\s+/);
}

export async function makeDebianRoot(o: DebianRootOptions): Promise<{ out: string; repo: string | undefined; mirror: string }> {
  if (!(o.root ?? process.getuid?.() === 0)) {
    throw new KilnError('usage', 'kiln rootfs --debian needs root: mmdebstrap runs in a private mount and PID namespace, and the root\'s files keep their owners (root, _apt, man…), which a user without root cannot give', {
      hint: 'run it as root (sudo kiln rootfs --debian …), or make a root of kiln\'s own packages without --debian',
    });
  }
  const exists = await checkOut(o.out, o.force, o.keep ?? []);
  const mirror = o.mirror ?? (await hostDebianMirror());
  if (mirror === undefined) {
    throw new KilnError('mirror-unknown', 'no Debian mirror: the host\'s apt sources name none', { hint: 'pass --mirror URL (e.g. http://deb.example/debian)' });
  }
  const repoDir = join(o.stateRoot, 'repo');
  const hasRepo = existsSync(join(repoDir, 'dists', o.suite));
  if (!runsNatively(o.arch)) await ensureForeignArch(o.arch, { ...(o.signal === undefined ? {} : { signal: o.signal }), ...(o.onLine === undefined ? {} : { onOutput: o.onLine }) });
  await checkSuiteOnMirror(mirror, o.suite, o.signal, undefined, '--debian');
  const tmp = await tmpBeside(o.out);
  let keyDir: string | undefined;
  try {
    // mmdebstrap's apt works in the root as _apt where it can: the folder must be readable.
    await chmod(tmp, 0o755);
    let repo: KilnRepoSource | undefined;
    if (hasRepo) {
      // openpgp only when there is a repository to trust.
      const { loadSigningKey, exportPublicKey } = await import('../publish/signing.ts');
      // Not beside OUT: signed-by takes no whitespace, and OUT's path may have some.
      keyDir = await mkdtemp(join(tmpdir(), 'kiln-rootfs-key-'));
      // apt reads the key as _apt where it can: the folder must be readable.
      await chmod(keyDir, 0o755);
      const keyFile = join(keyDir, 'kiln-repo.gpg');
      if (/\s/.test(keyFile)) {
        throw new KilnError('usage', `the temporary directory ${tmpdir()} has whitespace in its path, which apt's signed-by cannot take`, { hint: 'set TMPDIR to a path without spaces' });
      }
      await writeFile(keyFile, exportPublicKey(await loadSigningKey(o.stateRoot), { armor: false }), { mode: 0o644 });
      const release = await readFile(join(repoDir, 'dists', o.suite, 'Release'), 'utf8').catch(() => '');
      repo = { dir: repoDir, keyFile, components: releaseComponents(release) };
    }
    const target = join(tmp, o.tar ? 'root.tar.zst' : 'root');
    const argv = debianRootArgv({ suite: o.suite, arch: o.arch, variant: o.variant, mirror, include: o.packages, target, ...(repo === undefined ? {} : { repo }), ...(o.checkValidUntil === false ? { checkValidUntil: false as const } : {}) });
    // With --tar, SOURCE_DATE_EPOCH makes mmdebstrap's tarball the same bytes each time.
    const env = o.sourceDateEpoch === undefined ? process.env : { ...process.env, SOURCE_DATE_EPOCH: String(o.sourceDateEpoch) };
    const r = await runStreaming([...PRIVATE_NS, ...argv], { signal: o.signal, onLine: o.onLine, env });
    if (r.code !== 0) {
      // apt's own error lines (`E: Unable to locate package x`) say why; mmdebstrap's last lines only that it failed.
      const said = r.tail.filter((l) => /^E: /.test(l.trim()) && !/mmdebstrap failed|apt-get .* failed/.test(l));
      throw new KilnError('env-failed', `mmdebstrap failed (exit ${r.code}) making ${o.suite}/${o.arch} with ${o.packages.join(', ')}: ${(said.length > 0 ? said.slice(0, 3) : r.tail.slice(-3)).join(' | ')}`, {
        hint: r.tail.some((l) => /Release file .* is expired/.test(l)) && o.checkValidUntil !== false
          ? `the mirror's ${o.suite} is past its Valid-Until (a snapshot mirror): add --no-check-valid-until if that is meant; nothing was left at the output path`
          : `check the package names (built ones must be published to ${repoDir}, suite ${o.suite}), the suite and the mirror; mmdebstrap's output is above; nothing was left at the output path`,
      });
    }
    await placeOut(target, o.out, join(tmp, 'old'), exists);
    return { out: o.out, repo: repo === undefined ? undefined : repoDir, mirror };
  } finally {
    await rm(tmp, { recursive: true, force: true, maxRetries: 3 });
    if (keyDir !== undefined) await rm(keyDir, { recursive: true, force: true });
  }
}
