// `kiln logs -f` against a real `kiln build`: the build's kiln killed with SIGKILL (the
// follow ends, says the run was interrupted, exits 1, and status shows the pid as an
// integer); a package still queued behind a dependency (-f waits for it, then follows it;
// without -f the error says queued); and one that never starts because its dependency
// failed (-f waits, then fails as log-not-found saying it was skipped).

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventually, marker, pidsWithCmdline, reap } from '../helpers/proc.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, runKiln, spawnKiln, type KilnProcess } from '../helpers/run-kiln.ts';
import { tmpDir } from '../helpers/tmp.ts';

async function writeTree(tree: string, recipes: readonly { name: string; script: string; deps?: string[] }[]): Promise<void> {
  for (const r of recipes) {
    await mkdir(join(tree, r.name), { recursive: true });
    await writeFile(join(tree, r.name, 'recipe.toml'), recipeText(r));
  }
}

const install = (name: string): string => `mkdir -p "$DESTDIR/usr/lib"\necho ${name} > "$DESTDIR/usr/lib/${name}.txt"`;

/** What a live `kiln logs` process has printed so far. */
function output(k: KilnProcess): () => string {
  let text = '';
  k.child.stdout!.on('data', (c: Buffer) => (text += c.toString('utf8')));
  return () => text;
}

test('kiln logs -f ends with exit 1 and a last line saying so when the build\'s kiln is killed (SIGKILL); status then shows its pid as an integer', async () => {
  await using dir = await tmpDir();
  const m = marker();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  await writeTree(tree, [{ name: 'sleeper', script: `echo "sleeper: started"\nbash -c 'exec -a "sleeping-$0" sleep 60' "${m}"\n${install('sleeper')}` }]);
  const build = spawnKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--json'], { timeoutMs: 60_000 });
  try {
    await build.waitForEvent((e) => e.type === 'job-started' && e.name === 'sleeper', 20_000);
    assert.ok(await eventually(async () => (await pidsWithCmdline(`sleeping-${m}`)).length === 1, 10_000), 'the build never reached its sleep');
    const follow = spawnKiln(['logs', 'sleeper', '-f', '--state', state], { timeoutMs: 30_000 });
    const printed = output(follow);
    assert.ok(await eventually(() => printed().includes('sleeper: started'), 10_000), `logs -f printed: ${printed()}`);
    process.kill(build.pid, 'SIGKILL');
    await build.done;
    const r = await follow.done;
    assert.notEqual(r.signal, 'SIGKILL', `kiln logs -f hung after the build's kiln died\n${explain(r)}`);
    assert.equal(r.code, 1, explain(r));
    assert.match(r.stdout, /o sleeper: started/);
    const last = r.stderr.trimEnd().split('\n').at(-1) ?? '';
    assert.match(last, new RegExp(`^kiln: the kiln process of run \\S+ \\(pid ${build.pid}\\) is gone \\(killed or crashed\\): sleeper@\\S+ was interrupted$`));

    const status = await runKiln(['status', '--state', state]);
    assert.match(status.stdout, /^run \S+: cancelled/m, explain(status));
    assert.match(status.stdout, new RegExp(`cancelled\\s+sleeper@\\S+\\s+\\S+\\s+interrupted: the kiln process \\(pid ${build.pid}\\) ended while this job was running`), explain(status));
  } finally {
    await reap(m);
  }
});

test('kiln logs of a queued package: without -f the error says queued in run R; -f waits, then follows it; one skipped before it starts fails as log-not-found', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  const gate = join(dir.path, 'gate');
  const wait = `for i in $(seq 600); do test -e "${gate}" && break; sleep 0.1; done`;
  await writeTree(tree, [
    { name: 'first', script: `${wait}\n${install('first')}` },
    { name: 'second', deps: ['first'], script: `echo "SECOND-LOG-MARKER"\n${install('second')}` },
    { name: 'breaks', script: `${wait}\necho "breaks on purpose" >&2\nexit 3` },
    { name: 'after-breaks', deps: ['breaks'], script: install('after-breaks') },
  ]);
  const build = spawnKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--jobs', '2', '--json'], { timeoutMs: 90_000 });
  let r;
  try {
    const started = await build.waitForEvent((e) => e.type === 'job-started' && e.name === 'first', 20_000);
    assert.equal(started.type, 'job-started');
    const runId = started.runId;

    const now = await runKiln(['logs', 'second', '--state', state]);
    assert.equal(now.code, 2, explain(now));
    assert.match(now.stderr, new RegExp(`^kiln: error \\[log-not-found\\]: second@\\S+ is queued in run ${runId} and has not started yet`));
    assert.doesNotMatch(now.stderr, /only packages that ran/);

    const second = spawnKiln(['logs', 'second', '-f', '--state', state], { timeoutMs: 60_000 });
    const skipped = spawnKiln(['logs', 'after-breaks', '-f', '--state', state], { timeoutMs: 60_000 });
    let errs = '';
    second.child.stderr!.on('data', (c: Buffer) => (errs += c.toString('utf8')));
    assert.ok(await eventually(() => /waiting for it to start/.test(errs), 10_000), `logs -f said: ${errs}`);
    assert.match(errs, new RegExp(`^kiln: second@\\S+ is queued in run ${runId}; waiting for it to start\\n$`));
    // Ctrl-C while following a running job: it stops, exit 130 (not a success a script would go on after).
    const following = spawnKiln(['logs', 'first', '-f', '--state', state], { timeoutMs: 60_000 });
    let outs = '';
    following.child.stdout!.on('data', (c: Buffer) => (outs += c.toString('utf8')));
    assert.ok(await eventually(() => /log opened at/.test(outs), 10_000), `logs -f printed: ${outs}`);
    following.child.kill('SIGINT');
    const f = await following.done;
    assert.equal(f.code, 130, explain(f));
    await writeFile(gate, '');

    const s = await second.done;
    assert.equal(s.code, 0, explain(s));
    assert.match(s.stdout, /k ==> log opened at /);
    assert.match(s.stdout, /o SECOND-LOG-MARKER/);
    const k = await skipped.done;
    assert.equal(k.code, 2, explain(k));
    assert.match(k.stderr, /waiting for it to start\n/);
    assert.match(k.stderr, new RegExp(`kiln: error \\[log-not-found\\]: after-breaks@\\S+ did not run in run ${runId}: it was skipped \\(needs breaks`));
  } finally {
    await writeFile(gate, '');
    r = await build.done;
  }
  assert.equal(r.code, 1, explain(r));
});
