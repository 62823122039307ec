// Local Debian source packages for tests: a native package made with dpkg-source -b, its
// debian/rules written by hand (no debhelper), so that it builds in any bookworm env.

import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export /** A native source package made with dpkg-source -b; debian/rules by hand (no debhelper). */
async function makeSource(root: string, name: string, o: { arch: string; buildDepends: string; control: string; rules: string; files: Record<string, string> }): Promise<string> {
  const dir = join(root, `${name}-1.0`);
  await mkdir(join(dir, 'debian', 'source'), { recursive: true });
  await writeFile(join(dir, 'debian', 'source', 'format'), '3.0 (native)\n');
  await writeFile(join(dir, 'debian', 'changelog'), `${name} (1.0) unstable; urgency=medium\n\n  * Test package for kiln.\n\n -- kiln tests <kiln@example.invalid>  Sun, 22 Nov 2026 00:00:00 +0000\n`);
  await writeFile(join(dir, 'debian', 'control'), `Source: ${name}\nSection: misc\nPriority: optional\nMaintainer: kiln tests <kiln@example.invalid>\nBuild-Depends: ${o.buildDepends}\nStandards-Version: 4.6.2\nRules-Requires-Root: no\n\n${o.control}`);
  await writeFile(join(dir, 'debian', 'rules'), o.rules, { mode: 0o755 });
  for (const [f, text] of Object.entries(o.files)) await writeFile(join(dir, f), text);
  execFileSync('dpkg-source', ['-b', `${name}-1.0`], { cwd: root, stdio: 'pipe' });
  return join(root, `${name}_1.0.dsc`);
}
