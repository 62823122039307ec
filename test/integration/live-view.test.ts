// The live progress view on a real terminal (a pty made by util-linux `script`): TERM=dumb
// gets the plain renderer (no cursor codes), a pty that reports 0 columns is drawn 80
// wide (not one character per line), and the header fits a narrow terminal unwrapped;
// a failed run's last frame is ✖ and says it failed. --json: run-started carries each
// job's learned duration (for the ETA). Piped, Ctrl-C's message follows the progress
// lines without a blank line.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { recipeText } from '../helpers/recipe-text.ts';
import { KILN_BIN, NODE_BIN, runKiln, spawnKiln } from '../helpers/run-kiln.ts';
import { tmpDir } from '../helpers/tmp.ts';

const hasScript = spawnSync('script', ['--version']).status === 0;

/** Write a two-package tree (slow-one, slow-two; `failing` makes slow-two fail); its path. */
async function twoPackages(dir: string, failing = false): Promise<string> {
  const tree = join(dir, failing ? 'failing-tree' : 'tree');
  for (const name of ['slow-one', 'slow-two']) {
    await mkdir(join(tree, name), { recursive: true });
    const fail = failing && name === 'slow-two' ? '\nexit 3' : '';
    await writeFile(join(tree, name, 'recipe.toml'), recipeText({ name, script: `sleep 1.5${fail}\nmkdir -p "$DESTDIR/usr/lib"\necho ${name} > "$DESTDIR/usr/lib/${name}.txt"` }));
  }
  return tree;
}

/** Build a two-package tree with `kiln build` on a pty of `columns` columns; its raw output. */
async function buildOnPty(dir: string, columns: number, term: string, failing = false): Promise<string> {
  const tree = await twoPackages(dir, failing);
  const state = join(dir, `state-${columns}-${term}${failing ? '-failing' : ''}`);
  const cmd = `stty cols ${columns} rows 40; exec '${NODE_BIN}' '${KILN_BIN}' build --tree '${tree}' --state '${state}' --sandbox host --jobs 2`;
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: term };
  delete env['CI'];
  delete env['NODE_TEST_CONTEXT'];
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, failing ? 1 : 0, `kiln build on a pty: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** The lines a terminal shows, cursor and colour codes removed. */
const screenLines = (raw: string): string[] => raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split(/\r?\n|\r/);

test('TERM=dumb: the plain renderer, no cursor or colour escape codes', { skip: !hasScript && 'util-linux script is not installed' }, async () => {
  await using dir = await tmpDir();
  const out = await buildOnPty(dir.path, 100, 'dumb');
  assert.doesNotMatch(out, /\x1b/, JSON.stringify(out.slice(0, 300)));
  assert.match(out, /^kiln: run \S+ done in /m);
});

test('a pty reporting 0 columns is drawn 80 wide, and the header fits a 60-column one on one line', { skip: !hasScript && 'util-linux script is not installed' }, async () => {
  await using dir = await tmpDir();
  for (const [columns, width] of [[0, 80], [60, 60]] as const) {
    const lines = screenLines(await buildOnPty(dir.path, columns, 'xterm'));
    const headers = lines.filter((l) => /\d+\/2 done\b/.test(l));
    assert.ok(headers.length > 0, `${columns} columns: no header line: ${JSON.stringify(lines.slice(0, 20))}`);
    for (const h of headers) {
      assert.match(h, / running\b/, `${columns} columns: the header is cut or wrapped: ${h}`);
      assert.ok([...h].length <= width, `${columns} columns: ${[...h].length} characters: ${h}`);
    }
    assert.ok(!lines.some((l) => /^\S$/.test(l.trim()) && l.trim() !== '✔'), `${columns} columns: a line of one character: ${JSON.stringify(lines.slice(0, 30))}`);
  }
});

test('a failed run ends on a ✖ frame that says the run failed, with its counts and no ETA', { skip: !hasScript && 'util-linux script is not installed' }, async () => {
  await using dir = await tmpDir();
  const lines = screenLines(await buildOnPty(dir.path, 100, 'xterm', true)).filter((l) => l.trim() !== '');
  const last = lines.findLast((l) => /\brun \w+ (?:after|in) /.test(l) && !l.startsWith('kiln:'));
  assert.ok(last !== undefined, `no last frame: ${JSON.stringify(lines.slice(-8))}`);
  assert.match(last, /^✖ run failed after \S+: 1 built, 1 failed \(2 packages\)$/);
  assert.ok(!lines.some((l) => l.startsWith('✔')), `a ✔ on a failed run: ${JSON.stringify(lines.slice(-8))}`);
  assert.match(lines.at(-2)!, /^kiln: run \S+ failed in \S+: 1 built, 1 failed$/);
});

test('the output checks\' warnings are printed after the live view, which has no room for them', { skip: !hasScript && 'util-linux script is not installed' }, async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'local'), { recursive: true });
  await writeFile(join(tree, 'local', 'recipe.toml'), recipeText({ name: 'local', script: 'mkdir -p "$DESTDIR/usr/local/bin"\necho x > "$DESTDIR/usr/local/bin/x"' }));
  const cmd = `stty cols 100 rows 40; exec '${NODE_BIN}' '${KILN_BIN}' build --tree '${tree}' --state '${join(dir.path, 'state')}' --sandbox host`;
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm' };
  delete env['CI'];
  delete env['NODE_TEST_CONTEXT'];
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stdout);
  const lines = screenLines(r.stdout);
  assert.ok(lines.some((l) => /^warning: local@\S+: hierarchy: installed under \/usr\/local/.test(l)), JSON.stringify(lines.slice(-6)));
});
test('--json: run-started carries the learned duration of each job to build, parallel to toBuild', async () => {
  await using dir = await tmpDir();
  const tree = await twoPackages(dir.path);
  const state = join(dir.path, 'state');
  const first = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--jobs', '2', '--json']);
  assert.equal(first.code, 0, first.stderr);
  const fresh = first.events.find((e) => e.type === 'run-started');
  assert.ok(fresh?.type === 'run-started' && fresh.expectedMs === undefined, 'nothing was ever built: no durations');
  const again = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--jobs', '2', '--json', '--force', 'slow-*']);
  assert.equal(again.code, 0, again.stderr);
  const e = again.events.find((x) => x.type === 'run-started');
  assert.ok(e?.type === 'run-started');
  assert.deepEqual([...(e.toBuild ?? [])].sort(), ['slow-one@' + e.archs[0], 'slow-two@' + e.archs[0]].sort());
  assert.equal(e.expectedMs?.length, 2);
  for (const ms of e.expectedMs!) assert.ok(ms >= 1500 && ms < 30_000, `learned ${ms} ms for a 1.5 s build`);
});

test('piped output: the Ctrl-C message follows the progress lines without a blank line before it', async () => {
  await using dir = await tmpDir();
  const tree = await twoPackages(dir.path);
  const k = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--sandbox', 'host', '--jobs', '2'], { timeoutMs: 30_000 });
  let out = '';
  k.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!/ start {5} slow-/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.match(out, / start {5} slow-/, 'no build started');
  process.kill(k.pid, 'SIGINT');
  const r = await k.done;
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /^kiln: SIGINT: stopping/m);
  assert.doesNotMatch(r.stderr, /(?:^|\n)\nkiln: SIGINT/, JSON.stringify(r.stderr));
  assert.match(r.stdout, /^kiln: run \S+ cancelled in \S+: 0 built, 2 cancelled$/m);
});

test('the report while the run goes: report.json and report.html name the running job and the waiting ones, reload themselves, and end as the final report', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  const gate = join(dir.path, 'gate');
  for (const [name, deps, script] of [['slow', [], `for i in $(seq 1 400); do test -f '${gate}' && break; sleep 0.05; done`], ['after', ['slow'], 'true']] as const) {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), recipeText({ name, deps: [...deps], script }));
  }
  const run = spawnKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host'], { env: { KILN_LIVE_REPORT_MS: '200' } });
  const { readdir, readFile } = await import('node:fs/promises');
  let live: { end: string | null; running?: { job: string }[]; waiting?: number } | undefined;
  let html = '';
  // report.json is written before report.html: wait for both.
  for (let i = 0; i < 200 && (live?.running?.length !== 1 || !html.includes('id="running"')); i++) {
    await new Promise((r) => setTimeout(r, 50));
    const runs = await readdir(join(state, 'runs')).catch(() => [] as string[]);
    if (runs.length === 0) continue;
    live = JSON.parse(await readFile(join(state, 'runs', runs[0]!, 'report.json'), 'utf8').catch(() => '{}')) as typeof live;
    html = await readFile(join(state, 'runs', runs[0]!, 'report.html'), 'utf8').catch(() => '');
  }
  await writeFile(gate, '');
  const done = await run.done;
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stderr + done.stdout, /kiln: report: \S+report\.html \(written 0\.2 s into the run, then every 0\.2 s, and when it ends/);
  assert.equal(live?.end, null);
  assert.deepEqual(live?.running?.map((r) => r.job.replace(/@.*/, '')), ['slow']);
  assert.equal(live?.waiting, 1);
  assert.match(html, /http-equiv="refresh"/);
  const runs = await readdir(join(state, 'runs'));
  const final = JSON.parse(await readFile(join(state, 'runs', runs[0]!, 'report.json'), 'utf8')) as { end: string | null; running?: unknown; counts: { built: number } };
  assert.notEqual(final.end, null);
  assert.equal(final.running, undefined, 'the final report is not overwritten by a live one');
  assert.equal(final.counts.built, 2);
  assert.doesNotMatch(await readFile(join(state, 'runs', runs[0]!, 'report.html'), 'utf8'), /http-equiv="refresh"/);
});
