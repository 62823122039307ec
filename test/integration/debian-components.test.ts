// --components through the real CLI against the host's Debian mirror (plan only, no build):
// a contrib source (b43-fwcutter) is not in bookworm main, and the error says where it is;
// with --components main,contrib it is planned, said to come from contrib; debian.toml's
// components does the same; an unknown component is named with the Release's list. Skips
// without a Debian mirror in the host's apt sources.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostDebianMirror } from '../../src/config/mirrors.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { runKiln, type KilnResult } from '../helpers/run-kiln.ts';
import { SHARED_ENVS } from '../helpers/shared-env.ts';

const noMirror = (await hostDebianMirror({})) === undefined ? 'the host has no Debian mirror in its apt sources' : false;
const SHARED_CACHE = process.env['KILN_TEST_CACHE'] ?? '/var/tmp/kiln-test-cache';

function explain(r: KilnResult): string {
  return `exit ${r.code}\n--- stderr ---\n${r.stderr.slice(-3000)}\n--- stdout ---\n${r.stdout.slice(-2000)}`;
}

test('kiln plan --debian bookworm b43-fwcutter: not in main (the hint says contrib); --components main,contrib plans it from contrib', { skip: noMirror, timeout: 5 * 60_000 }, async () => {
  await using dir = await tmpDir('kiln-debian-components-');
  // The shared envs, so that planning finds bookworm-amd64 (made by other tests) rather than making one.
  const o = { env: { KILN_ENVS: SHARED_ENVS }, timeoutMs: 180_000 };
  const common = ['--arch', 'amd64', '--no-install-check', '--state', join(dir.path, 'state'), '--cache', SHARED_CACHE];
  const missing = await runKiln(['plan', '--debian', 'bookworm', 'b43-fwcutter', ...common], o);
  assert.equal(missing.code, 1, explain(missing));
  assert.match(missing.stderr, /error \[source-not-found\]: no source package b43-fwcutter in bookworm main\n/, explain(missing));
  assert.match(missing.stderr, /hint: b43-fwcutter is in bookworm contrib, which this run does not read: add it, --components main,contrib/, explain(missing));

  const r = await runKiln(['plan', '--debian', 'bookworm', 'b43-fwcutter', '--components', 'main,contrib', ...common], o);
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /Debian bookworm main, contrib from /, explain(r));
  assert.match(r.stdout, /sources from contrib: b43-fwcutter\n/, explain(r));
  assert.match(r.stdout, /to-build\s+b43-fwcutter@amd64\s/, explain(r));

  // Given twice, the lists add up (as --arch's); --json says the components and where the source came from.
  const j = await runKiln(['plan', '--debian', 'bookworm', 'b43-fwcutter', '--components', 'main', '--components', 'contrib', '--json', ...common], o);
  assert.equal(j.code, 0, explain(j));
  const plan = JSON.parse(j.stdout) as { debian: { components: string[] }; packages: { name: string; component?: string; key: string }[] };
  assert.deepEqual(plan.debian.components, ['main', 'contrib']);
  assert.deepEqual(plan.packages.map((p) => [p.name, p.component]), [['b43-fwcutter', 'contrib']]);

  // debian.toml's components, and a component bookworm's Release does not list.
  const tree = join(dir.path, 'tree');
  await mkdir(tree);
  await writeFile(join(tree, 'debian.toml'), 'suite = "bookworm"\ncomponents = ["main", "contrib"]\nsources = ["b43-fwcutter"]\n');
  const t = await runKiln(['plan', '--tree', tree, '--json', ...common], o);
  assert.equal(t.code, 0, explain(t));
  const tplan = JSON.parse(t.stdout) as typeof plan;
  assert.deepEqual(tplan.packages.map((p) => [p.name, p.component, p.key]), [['b43-fwcutter', 'contrib', plan.packages[0]!.key]], 'the same build as with --components');

  const bad = await runKiln(['plan', '--debian', 'bookworm', 'hello', '--components', 'main,contribb', ...common], o);
  assert.equal(bad.code, 2, explain(bad));
  assert.match(bad.stderr, /error \[usage\]: --components: bookworm has no component "contribb" \(\S+ lists [a-z -]*\bcontrib\b[a-z -]*\)/, explain(bad));
  assert.match(bad.stderr, /hint: did you mean "contrib"\?/, explain(bad));
});
