// kiln build --twice on a recipe tree (execute/recipe-twice.ts), through the real CLI on the
// host sandbox: every package built, then built again in another workspace with the build
// path, $HOME, $TMPDIR, time zone (and the clock, with faketime) varied, the two
// outputs compared by their manifests. One package is reproducible; one installs the
// clock (`date +%s%N`), one its build path ($PWD, with the buildpaths check off so that
// only --twice sees it). A difference is a warning in the log and the report, the artifact
// is the first build's (a plain build afterwards is up to date); --fail-on-warnings fails
// those two.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.ts';
import { explain, KILN_BIN, pkgOf, readReport, runKiln, statesOf } from '../helpers/run-kiln.ts';

const RECIPES: Record<string, { script: string; extra?: string }> = {
  same: { script: 'mkdir -p "$DESTDIR/usr/share/same"\necho "the same every time" > "$DESTDIR/usr/share/same/data"' },
  clock: { script: 'mkdir -p "$DESTDIR/usr/share/clock"\necho same > "$DESTDIR/usr/share/clock/data"\ndate +%s%N > "$DESTDIR/usr/share/clock/stamp"' },
  where: { script: 'mkdir -p "$DESTDIR/usr/share/where"\npwd > "$DESTDIR/usr/share/where/path"', extra: 'skip-checks = ["buildpaths"]\n' },
};

async function writeTree(tree: string): Promise<void> {
  for (const [name, r] of Object.entries(RECIPES)) {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), `name = "${name}"\nversion = "1"\nsummary = "${name}"\nlicense = "MIT"\n[build]\n${r.extra ?? ''}script = '''\n${r.script}\n'''\n`);
  }
}

test('kiln build --twice on a recipe tree: the unreproducible outputs are warned of by path (log, report), the artifacts stay, and --fail-on-warnings fails them', { timeout: 5 * 60_000 }, async () => {
  await using dir = await tmpDir('kiln-recipe-twice-');
  const tree = join(dir.path, 'tree');
  await writeTree(tree);
  const common = ['--tree', tree, '--state', join(dir.path, 'state'), '--sandbox', 'host', '--json'];

  const first = await runKiln(['build', ...common, '--twice'], { timeoutMs: 2 * 60_000 });
  assert.equal(first.code, 0, explain(first));
  const report = await readReport(first);
  assert.deepEqual(statesOf(report), { clock: 'built', same: 'built', where: 'built' }, explain(first));
  assert.equal(pkgOf(report, 'same').warnings, undefined, explain(first));
  assert.deepEqual(pkgOf(report, 'clock').warnings, ['not reproducible: 1 file differs: usr/share/clock/stamp'], explain(first));
  assert.deepEqual(pkgOf(report, 'where').warnings, ['not reproducible: 1 file differs: usr/share/where/path'], explain(first));
  // The report's reproducibility, as a Debian run's --twice fills it.
  const repro = Object.fromEntries((report.reproducibility ?? []).map((r) => [r.job.split('@')[0], r]));
  assert.deepEqual(Object.keys(repro).sort(), ['clock', 'same', 'where'], JSON.stringify(report.reproducibility));
  assert.equal(repro['same']!.status, 'reproducible');
  assert.equal(repro['same']!.check, 'twice');
  assert.equal(repro['clock']!.status, 'differs');
  assert.match(repro['clock']!.summary, /^differs: 1 of 5 entries \(usr\/share\/clock\/stamp: "\d+" → "\d+"/);
  assert.ok(repro['where']!.details.some((l: string) => l.startsWith('output: usr/share/where/path: contents differ')), repro['where']!.details.join('\n'));
  assert.match(first.stdout + first.stderr, /twice clock@\w+: differs: /, explain(first));
  assert.match(first.stdout + first.stderr, /twice same@\w+: reproducible/, explain(first));
  // The log says how the second build ran and what differs; the two files are kept beside it.
  const log = readFileSync(pkgOf(report, 'where').log!, 'utf8');
  assert.match(log, /--twice: second build in \S+\/kiln-twice \(the first: \S+\), \$HOME and \$TMPDIR moved too, TZ=Etc\/GMT-14, (the clock 373 days ahead \(faketime\)|the clock not moved: faketime is not in the sandbox)/, log);
  assert.match(log, /--twice:   output: usr\/share\/where\/path: contents differ/, log);
  const firstPath = readFileSync(`${pkgOf(report, 'where').log!}.twice/first/usr/share/where/path`, 'utf8');
  const secondPath = readFileSync(`${pkgOf(report, 'where').log!}.twice/second/usr/share/where/path`, 'utf8');
  assert.ok(secondPath.trim().endsWith('/kiln-twice') && secondPath !== firstPath, `${firstPath} / ${secondPath}`);

  // The artifacts are the first builds': a plain build has nothing to do.
  const again = await runKiln(['build', ...common], { timeoutMs: 2 * 60_000 });
  assert.equal(again.code, 0, explain(again));
  assert.deepEqual(statesOf(await readReport(again)), { clock: 'up-to-date', same: 'up-to-date', where: 'up-to-date' }, explain(again));

  // --twice rebuilds what is up to date; --fail-on-warnings fails the unreproducible ones.
  const strict = await runKiln(['build', ...common, '--twice', '--fail-on-warnings'], { timeoutMs: 2 * 60_000 });
  assert.equal(strict.code, 1, explain(strict));
  const r3 = await readReport(strict);
  assert.deepEqual(statesOf(r3), { clock: 'failed', same: 'built', where: 'failed' }, explain(strict));
  assert.match(pkgOf(r3, 'clock').cause ?? '', /not reproducible: 1 file differs: usr\/share\/clock\/stamp \(warnings fail the build: --fail-on-warnings\)/, explain(strict));
  // The failed ones are in the report's reproducibility section too (they are what it is for).
  const strictRepro = Object.fromEntries((r3.reproducibility ?? []).map((r) => [r.job.split('@')[0], r.status]));
  assert.deepEqual(strictRepro, { clock: 'differs', same: 'reproducible', where: 'differs' }, JSON.stringify(r3.reproducibility));
});

test('every build runs with umask 022, whatever the umask kiln was started with (its output modes do not depend on who ran it)', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'modes'), { recursive: true });
  await writeFile(join(tree, 'modes', 'recipe.toml'), `name = "modes"\nversion = "1"\nsummary = "modes"\nlicense = "MIT"\n[build]\nscript = '''\nmkdir -p "$DESTDIR/usr/share/modes"\necho x > "$DESTDIR/usr/share/modes/f"\numask\n'''\n`);
  const state = join(dir.path, 'state');
  const r = spawnSync('/bin/sh', ['-c', 'umask 077; exec "$0" "$@"', process.execPath, KILN_BIN, 'build', '--tree', tree, '--state', state, '--sandbox', 'host', '--json'], { encoding: 'utf8', env: { ...process.env, KILN_STATE: '' } });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const logs = spawnSync(process.execPath, [KILN_BIN, 'logs', 'modes', '--state', state], { encoding: 'utf8' });
  assert.match(logs.stdout, /\] o 0022$/m, logs.stdout);
  const manifests = (await readdir(join(state, 'cache', 'artifacts'), { recursive: true })).filter((p) => p.endsWith('manifest.json'));
  assert.equal(manifests.length, 1);
  const manifest = JSON.parse(await readFile(join(state, 'cache', 'artifacts', manifests[0]!), 'utf8')) as { entries?: { path: string; mode: number }[] } | { path: string; mode: number }[];
  const entries = Array.isArray(manifest) ? manifest : (manifest.entries ?? []);
  const mode = (p: string): string | undefined => entries.find((e) => e.path === p)?.mode.toString(8);
  assert.equal(mode('usr/share/modes'), '755', JSON.stringify(entries));
  assert.equal(mode('usr/share/modes/f'), '644', JSON.stringify(entries));
});
