// For tests: real .deb files made with the host's `dpkg-deb --build`, each holding one
// shell script /usr/bin/<package> that prints a line naming the package and version.

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
}

/** The line /usr/bin/<package> prints. */
export function testDebOutput(spec: Pick<TestDebSpec, 'package' | 'version'>): string {
  return `hello from ${spec.package} ${spec.version}`;
}

/** Build `<dir>/<package>_<version>_<arch>.deb` and return its path. */
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
    'Section: misc',
    'Priority: optional',
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
  const out = join(dir, `${spec.package}_${spec.version.replace(/^\d+:/, '')}_${arch}.deb`);
  await execFileP('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, out]);
  await rm(root, { recursive: true, force: true });
  return out;
}
