import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMain as kiln } from '../../test/helpers/cli-streams.ts';
import { recipeText } from '../../test/helpers/recipe-text.ts';
import { hostArch } from './host-env.ts';

test('a run\'s report.json says how a job for a foreign arch was built (on the host sandbox: by its recipe\'s script), report.html marks and counts it; nothing for a native one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-finish-mode-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'p'), { recursive: true });
  writeFileSync(join(tree, 'p', 'recipe.toml'), recipeText({ name: 'p', script: 'mkdir -p "$DESTDIR/usr/share/p" && echo "$KILN_ARCH" > "$DESTDIR/usr/share/p/arch"' }));
  const host = hostArch();
  const foreign = host === 'riscv64' ? 'arm64' : 'riscv64';
  const state = join(dir, 'state');
  const r = await kiln(['build', '--tree', tree, '--arch', `${host},${foreign}`, '--sandbox', 'host', '--state', state]);
  assert.equal(r.code, 0, r.err + r.out);
  const [run] = readdirSync(join(state, 'runs'));
  const report = JSON.parse(readFileSync(join(state, 'runs', run!, 'report.json'), 'utf8')) as { packages: { arch: string; state: string; buildMode?: string }[] };
  assert.deepEqual(report.packages.map((p) => [p.arch, p.state, p.buildMode]).sort(), [[host, 'built', undefined], [foreign, 'built', 'recipe-cross']].sort());
  const html = readFileSync(join(state, 'runs', run!, 'report.html'), 'utf8');
  assert.match(html, new RegExp(`<td>${foreign} <span class="mode" [^>]*>\\(cross by recipe\\)</span></td>`));
  assert.match(html, / · 2 packages · 1 built by its recipe&#39;s script on another arch<\/p>/);
});
