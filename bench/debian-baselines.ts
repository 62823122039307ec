// The two things kiln's Debian builds are measured against, run on the same local .dsc:
//
//   sbuild   `sbuild --chroot-mode=unshare` from a buildd chroot tarball (mmdebstrap, cached
//            under /var/tmp), as an ordinary user with subordinate ids (unshare mode will
//            not run as root without a subuid entry): `kiln-sbuild-bench`, created when
//            absent, as test/…/rootless-backend.test.ts does for its user. Its apt cache is a
//            bind mount kept between runs (warm, like kiln's downloads cache); lintian,
//            piuparts and autopkgtest off (kiln runs none of them); parallel=1 and nocheck
//            like kiln's run. sbuild runs dpkg-buildpackage without network on its own.
//   bare     overlayfs over kiln's own env root + chroot + apt-get build-dep +
//            dpkg-buildpackage as root, in a private mount namespace: the least any tool can
//            do, the floor under both.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { measure, tail, type Measured } from './measure.ts';

export const SBUILD_USER = 'kiln-sbuild-bench';

export interface SbuildUser {
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  /** First subordinate uid/gid: root inside sbuild's chroot. */
  readonly subuid: number;
  readonly subgid: number;
}

/** The user sbuild runs as (created when absent); a string says why it cannot be had. */
export function sbuildUser(): SbuildUser | string {
  if (!existsSync('/usr/bin/sbuild')) return 'sbuild is not installed (bash scripts/setup.sh installs it)';
  const look = () => spawnSync('getent', ['passwd', SBUILD_USER], { encoding: 'utf8' });
  let r = look();
  if (r.status !== 0) {
    const add = spawnSync('useradd', ['-m', SBUILD_USER], { encoding: 'utf8' });
    if (add.status !== 0) return `cannot create the user ${SBUILD_USER}: ${add.stderr.trim() || add.error?.message}`;
    r = look();
  }
  const [, , uid, gid, , home] = r.stdout.trim().split(':');
  const sub = (file: string): number | undefined => {
    const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${SBUILD_USER}:`));
    return line === undefined ? undefined : Number(line.split(':')[1]);
  };
  const subuid = sub('/etc/subuid');
  const subgid = sub('/etc/subgid');
  if (subuid === undefined || subgid === undefined) return `${SBUILD_USER} has no /etc/subuid or /etc/subgid range (usermod --add-subuids 200000-265535 --add-subgids 200000-265535 ${SBUILD_USER})`;
  return { uid: Number(uid), gid: Number(gid), home: home ?? '/', subuid, subgid };
}

/** The buildd chroot tarball sbuild's unshare mode unpacks for every build (made once). */
export async function sbuildTarball(o: { dir: string; suite: string; arch: string; mirror: string; user: SbuildUser; log: (l: string) => void }): Promise<string> {
  const tar = join(o.dir, `${o.suite}-${o.arch}.tar`);
  if (existsSync(tar)) return tar;
  await mkdir(o.dir, { recursive: true });
  o.log(`making sbuild's chroot tarball ${tar} (mmdebstrap --variant=buildd, once)`);
  const tmp = `${tar}.tmp`;
  const m = await measure(['mmdebstrap', '--variant=buildd', '--format=tar', '--skip=output/mknod', `--arch=${o.arch}`, o.suite, tmp, o.mirror], { label: `mmdebstrap-${o.suite}-${o.arch}`, outDir: o.dir, rss: false });
  if (m.exitCode !== 0) throw new Error(`mmdebstrap for sbuild failed (exit ${m.exitCode}):\n${tail(m.stderrFile)}`);
  await chown(tmp, o.user.uid, o.user.gid);
  await rename(tmp, tar);
  return tar;
}

export interface SbuildSetup {
  readonly user: SbuildUser;
  readonly tarball: string;
  /** SBUILD_CONFIG: the apt cache bind mount. */
  readonly config: string;
  readonly dir: string;
}

export async function setupSbuild(o: { dir: string; suite: string; arch: string; mirror: string; log: (l: string) => void }): Promise<SbuildSetup | string> {
  const user = sbuildUser();
  if (typeof user === 'string') return user;
  await mkdir(o.dir, { recursive: true });
  await chown(o.dir, user.uid, user.gid);
  const tarball = await sbuildTarball({ ...o, user });
  // Root inside the chroot is the user's first subordinate id: it owns the apt cache.
  const apt = join(o.dir, 'apt-archives');
  await mkdir(join(apt, 'partial'), { recursive: true });
  spawnSync('chown', ['-R', `${user.subuid}:${user.subgid}`, apt]);
  const config = join(o.dir, 'sbuild.conf');
  await writeFile(config, [
    `$unshare_bind_mounts = [ { directory => '${apt}', mountpoint => '/var/cache/apt/archives' } ];`,
    '$apt_keep_downloaded_packages = 1;',
    '1;',
    '',
  ].join('\n'));
  return { user, tarball, config, dir: o.dir };
}

/** One sbuild of a local .dsc, timed, in a fresh output dir. */
export async function runSbuild(s: SbuildSetup, o: { dsc: string; suite: string; arch: string; label: string; outDir: string }): Promise<Measured> {
  const work = join(s.dir, 'out', o.label);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  await chown(work, s.user.uid, s.user.gid);
  const argv = [
    'setpriv', `--reuid=${s.user.uid}`, `--regid=${s.user.gid}`, '--init-groups',
    'sbuild', '--chroot-mode=unshare', `--chroot=${s.tarball}`, '-d', o.suite, `--arch=${o.arch}`,
    '--no-run-lintian', '--no-run-piuparts', '--no-run-autopkgtest', '--profiles=nocheck', '--jobs=1', '--nolog', o.dsc,
  ];
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: s.user.home, SBUILD_CONFIG: s.config, DEB_BUILD_OPTIONS: 'nocheck parallel=1', LANG: 'C.UTF-8' };
  return measure(argv, { label: o.label, outDir: o.outDir, cwd: work, env });
}

// The bare flow, as one shell script (root, private mount namespace).
const BARE = String.raw`
set -euo pipefail
lower=$1 srcdir=$2 dsc=$3 apt=$4 mirror=$5 suite=$6
w=$(mktemp -d /var/tmp/kiln-bench-bare.XXXXXX)
cleanup() { umount -R "$w/root" 2>/dev/null || true; mountpoint -q "$w/root" || rm -rf --one-file-system "$w"; }
trap cleanup EXIT
mkdir -p "$w/upper" "$w/work" "$w/root"
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$w/upper,workdir=$w/work" "$w/root"
mount -t proc proc "$w/root/proc"
mount --rbind /dev "$w/root/dev"
mount --bind "$apt" "$w/root/var/cache/apt/archives"
cp /etc/resolv.conf "$w/root/etc/resolv.conf"
cp /usr/share/keyrings/debian-archive-keyring.gpg "$w/root/etc/apt/trusted.gpg.d/"
rm -f "$w/root/etc/apt/sources.list.d/"*
echo "deb $mirror $suite main" > "$w/root/etc/apt/sources.list"
mkdir -p "$w/root/build"
cp "$srcdir"/* "$w/root/build/"
chroot "$w/root" /bin/bash -euo pipefail -c "
  echo '==> phase install at' \$(date +%s.%N)
  apt-get update -qq -o Acquire::Languages=none
  DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq --no-install-recommends -P nocheck /build/$dsc
  echo '==> phase build at' \$(date +%s.%N)
  cd /build && dpkg-source --no-check -x $dsc src && cd src
  DEB_BUILD_OPTIONS='nocheck parallel=1' DEB_BUILD_PROFILES=nocheck dpkg-buildpackage -us -uc -b
  echo '==> phase done at' \$(date +%s.%N)
"
`;

/** The bare flow on `envRoot` (an env's root dir, the overlay's lower layer). */
export async function runBare(o: { envRoot: string; dsc: string; aptDir: string; mirror: string; suite: string; label: string; outDir: string }): Promise<Measured> {
  await mkdir(join(o.aptDir, 'partial'), { recursive: true });
  const argv = ['unshare', '--mount', '--propagation', 'private', '--fork', 'bash', '-c', BARE, 'bare', o.envRoot, dirname(o.dsc), basename(o.dsc), o.aptDir, o.mirror, o.suite];
  return measure(argv, { label: o.label, outDir: o.outDir, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' } });
}

/** The root dir of an env's current version in a KILN_ENVS folder. */
export function envRoot(envsDir: string, name: string): string | undefined {
  try {
    const meta = JSON.parse(readFileSync(join(envsDir, name, 'env.json'), 'utf8')) as { current?: string };
    return meta.current === undefined ? undefined : join(envsDir, name, 'versions', meta.current, 'root');
  } catch {
    return undefined;
  }
}
