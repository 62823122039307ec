// For tests: real .deb files made with the host's `dpkg-deb --build`, each holding one
// shell script /usr/bin/<package> that prints a line naming the package and version (and
// .udebs, as debhelper makes them: `Package-Type: udeb`, `Section: debian-installer`, a
// .udeb name); and small real source packages made with `dpkg-source -b`.

import { execFile } from 'node:child_process';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface TestDebSpec {
  readonly package: string;
  readonly version: string;
  /** Default `all`. */
  readonly architecture?: string;
  readonly source?: string;
  readonly depends?: string;
  /** Extra text in the script, to make two builds of one version differ. */
  readonly salt?: string;
  /** A debian-installer package: `<package>_<version>_<arch>.udeb`. */
  readonly udeb?: boolean;
}

/** The line /usr/bin/<package> prints. */
export function testDebOutput(spec: Pick<TestDebSpec, 'package' | 'version'>): string {
  return `hello from ${spec.package} ${spec.version}`;
}

/** Build `<dir>/<package>_<version>_<arch>.deb` (`.udeb` with `udeb`) and return its path. */
export async function buildTestDeb(dir: string, spec: TestDebSpec): Promise<string> {
  const arch = spec.architecture ?? 'all';
  const root = join(dir, `.root-${spec.package}-${spec.version.replace(/:/g, '_')}-${arch}`);
  await rm(root, { recursive: true, force: true });
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await mkdir(join(root, 'usr/bin'), { recursive: true });
  const control = [
    `Package: ${spec.package}`,
    ...(spec.source === undefined ? [] : [`Source: ${spec.source}`]),
    `Version: ${spec.version}`,
    `Architecture: ${arch}`,
    'Maintainer: kiln tests <kiln@example.org>',
    ...(spec.depends === undefined ? [] : [`Depends: ${spec.depends}`]),
    ...(spec.udeb === true ? ['Section: debian-installer', 'Priority: optional', 'Package-Type: udeb'] : ['Section: misc', 'Priority: optional']),
    `Description: kiln test package ${spec.package}`,
    ' A shell script that prints which package and version it is.',
    ' .',
    ' Made by kiln\'s tests with dpkg-deb --build.',
    '',
  ].join('\n');
  await writeFile(join(root, 'DEBIAN/control'), control);
  const script = join(root, 'usr/bin', spec.package);
  await writeFile(script, `#!/bin/sh\n# ${spec.salt ?? ''}\necho "${testDebOutput(spec)}"\n`);
  await chmod(script, 0o755);
  const out = join(dir, `${spec.package}_${spec.version.replace(/^\d+:/, '')}_${arch}.${spec.udeb === true ? 'udeb' : 'deb'}`);
  await execFileP('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, out]);
  await rm(root, { recursive: true, force: true });
  return out;
}

export interface TestSourceSpec {
  readonly source: string;
  /** Upstream version (the Debian revision is `-1`, or `revision`). */
  readonly upstream: string;
  readonly revision?: string;
  /** Extra text in a file of the package, to make two builds of one version differ. */
  readonly salt?: string;
}

/**
 * A real source package made with the host's `dpkg-source -b` (format 3.0 (quilt): an
 * .orig.tar.gz and a .debian.tar.xz) in `<dir>`; returns the .dsc's path.
 */
export async function buildTestSource(dir: string, spec: TestSourceSpec): Promise<string> {
  const version = `${spec.upstream}-${spec.revision ?? '1'}`;
  const tree = `${spec.source}-${spec.upstream}`;
  const root = join(dir, tree);
  await rm(root, { recursive: true, force: true });
  await mkdir(join(root, 'debian/source'), { recursive: true });
  await writeFile(join(root, 'README'), `kiln test source ${spec.source} ${spec.upstream}\n${spec.salt ?? ''}\n`);
  await execFileP('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '-C', dir, '-czf', join(dir, `${spec.source}_${spec.upstream}.orig.tar.gz`), tree]);
  await writeFile(join(root, 'debian/source/format'), '3.0 (quilt)\n');
  await writeFile(join(root, 'debian/control'), [
    `Source: ${spec.source}`,
    'Section: misc',
    'Priority: optional',
    'Maintainer: kiln tests <kiln@example.org>',
    'Build-Depends: debhelper-compat (= 13)',
    'Standards-Version: 4.6.2',
    'Homepage: https://kiln.example.org',
    '',
    `Package: ${spec.source}`,
    'Architecture: all',
    `Description: kiln test source package ${spec.source}`,
    ' Made by kiln\'s tests with dpkg-source -b.',
    '',
  ].join('\n'));
  await writeFile(join(root, 'debian/changelog'), [
    `${spec.source} (${version}) unstable; urgency=medium`, '', '  * Test.', '',
    ' -- kiln tests <kiln@example.org>  Mon, 01 Jan 2024 00:00:00 +0000', '',
  ].join('\n'));
  await writeFile(join(root, 'debian/rules'), '#!/usr/bin/make -f\n%:\n\tdh $@\n');
  await chmod(join(root, 'debian/rules'), 0o755);
  await execFileP('dpkg-source', ['-b', tree], { cwd: dir, env: { ...process.env, LC_ALL: 'C.UTF-8' } });
  await rm(root, { recursive: true, force: true });
  return join(dir, `${spec.source}_${version}.dsc`);
}
