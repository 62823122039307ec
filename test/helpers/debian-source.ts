// Local Debian source packages for tests: a native package made with dpkg-source -b, its
// debian/rules written by hand (no debhelper), so that it builds in any bookworm env.

import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export /** A native source package made with dpkg-source -b; debian/rules by hand (no debhelper). */
async function makeSource(root: string, name: string, o: { arch: string; buildDepends: string; control: string; rules: string; files: Record<string, string>; version?: string }): Promise<string> {
  const version = o.version ?? '1.0';
  const dir = join(root, `${name}-${version}`);
  await mkdir(join(dir, 'debian', 'source'), { recursive: true });
  await writeFile(join(dir, 'debian', 'source', 'format'), '3.0 (native)\n');
  await writeFile(join(dir, 'debian', 'changelog'), `${name} (${version}) unstable; urgency=medium\n\n  * Test package for kiln.\n\n -- kiln tests <kiln@example.invalid>  Sun, 22 Nov 2026 00:00:00 +0000\n`);
  await writeFile(join(dir, 'debian', 'control'), `Source: ${name}\nSection: misc\nPriority: optional\nMaintainer: kiln tests <kiln@example.invalid>\nBuild-Depends: ${o.buildDepends}\nStandards-Version: 4.6.2\nRules-Requires-Root: no\n\n${o.control}`);
  await writeFile(join(dir, 'debian', 'rules'), o.rules, { mode: 0o755 });
  for (const [f, text] of Object.entries(o.files)) {
    await mkdir(dirname(join(dir, f)), { recursive: true });
    // An autopkgtest test is a program.
    await writeFile(join(dir, f), text, { mode: f.startsWith('debian/tests/') && f !== 'debian/tests/control' ? 0o755 : 0o644 });
  }
  execFileSync('dpkg-source', ['-b', `${name}-${version}`], { cwd: root, stdio: 'pipe' });
  return join(root, `${name}_${version}.dsc`);
}

/** The head of a hand-written debian/rules. */
export const RULES_HEAD = '#!/usr/bin/make -f\n.PHONY: build build-arch build-indep binary binary-arch binary-indep clean\n';

/**
 * Two local sources where one build-depends on the other's binary: kiln-liba (arch all,
 * libkiln-a-dev, a header) and kiln-app (arch any, compiles against the header and prints
 * "hello from a fresh libkiln-a-dev" while it builds, and what policy-rc.d answers).
 */
export async function makeChainSources(src: string): Promise<{ liba: string; app: string }> {
  const liba = await makeSource(src, 'kiln-liba', {
    arch: 'all',
    buildDepends: 'make',
    control: 'Package: libkiln-a-dev\nArchitecture: all\nDescription: header of kiln test library A\n kiln test.\n',
    rules: `${RULES_HEAD}build build-arch build-indep:\n\t@true\nclean:\n\trm -rf debian/tmp debian/files\nbinary binary-arch binary-indep:\n\trm -rf debian/tmp && mkdir -p debian/tmp/DEBIAN debian/tmp/usr/include\n\tinstall -m644 kiln-a.h debian/tmp/usr/include/\n\tdpkg-gencontrol -plibkiln-a-dev -Pdebian/tmp\n\tdpkg-deb --root-owner-group --build debian/tmp ..\n`,
    files: { 'kiln-a.h': '#define KILN_A_GREETING "hello from a fresh libkiln-a-dev"\n' },
  });
  const app = await makeSource(src, 'kiln-app', {
    arch: 'any',
    buildDepends: 'libkiln-a-dev (>= 1.0), make',
    control: 'Package: kiln-app\nArchitecture: any\nDepends: ${shlibs:Depends}\nDescription: kiln test program\n kiln test.\n',
    // (And says what the root's policy-rc.d answers: 101, no service may start, as in sbuild's chroots.)
    rules: `${RULES_HEAD}build build-arch build-indep:\n\tcc -o kiln-app app.c\n\t./kiln-app\n\t/usr/sbin/policy-rc.d kiln-app start; echo "policy-rc.d: $$?"\nclean:\n\trm -rf debian/tmp debian/files kiln-app\nbinary binary-arch binary-indep: build\n\trm -rf debian/tmp && mkdir -p debian/tmp/DEBIAN debian/tmp/usr/bin\n\tinstall -m755 kiln-app debian/tmp/usr/bin/\n\tdpkg-gencontrol -pkiln-app -Pdebian/tmp\n\tdpkg-deb --root-owner-group --build debian/tmp ..\n`,
    files: { 'app.c': '#include <stdio.h>\n#include <kiln-a.h>\nint main(void) { puts(KILN_A_GREETING); return 0; }\n' },
  });
  return { liba, app };
}
