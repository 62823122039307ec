// `kiln status` and `kiln history` against a real `kiln build` killed with SIGKILL while its
// builds print nothing: the run and its cut-off job end at the run's last sign of life
// (its heartbeat in the records), said as such, not at its logs' last write; and a package
// --retry built on its second attempt says so.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, marker, reap } from '../../test/helpers/proc.ts';
import { recipeText } from '../../test/helpers/recipe-text.ts';
import { explain, runKiln, spawnKiln } from '../../test/helpers/run-kiln.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { openRecords } from '../records/records.ts';

test('a build killed with SIGKILL while its job is silent: status and history end it at its last sign of life, said to be approximate; a build retried shows its attempts', { timeout: 90_000 }, async () => {
  await using dir = await tmpDir();
  const m = marker();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  const install = (name: string): string => `mkdir -p "$DESTDIR/usr/lib"\necho ${name} > "$DESTDIR/usr/lib/${name}.txt"`;
  const tries = join(dir.path, 'tries');
  for (const r of [
    // Prints a line, then nothing until it is killed.
    { name: 'silent', script: `echo "silent: started"\nbash -c 'exec -a "sleeping-$0" sleep 60' "${m}"\n${install('silent')}` },
    // Fails its first attempt, builds on its second.
    { name: 'flaky', script: `echo x >> "${tries}"\n[ "$(wc -l < "${tries}")" -ge 2 ] || exit 1\n${install('flaky')}` },
  ]) {
    await mkdir(join(tree, r.name), { recursive: true });
    await writeFile(join(tree, r.name, 'recipe.toml'), recipeText(r));
  }
  const build = spawnKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--jobs', '2', '--retry', '2', '--json'], { timeoutMs: 60_000 });
  try {
    const started = await build.waitForEvent((e) => e.type === 'job-started' && e.name === 'silent', 20_000);
    assert.equal(started.type, 'job-started');
    await build.waitForEvent((e) => e.type === 'job-finished' && e.name === 'flaky', 20_000);
    // The heartbeat says kiln is alive 1.5 s after the job started (its log was last written at once).
    const aliveAt = (): number => {
      using r = openRecords(state);
      return r.getRun(started.runId)?.aliveAt ?? 0;
    };
    assert.ok(await eventually(() => aliveAt() >= started.at + 1_500, 10_000), 'no heartbeat of the run in the records');
    const alive = aliveAt();
    process.kill(build.pid, 'SIGKILL');
    await build.done;

    const json = await runKiln(['status', '--json', '--state', state]);
    assert.equal(json.code, 0, explain(json));
    const s = JSON.parse(json.stdout) as { state: string; interrupted?: boolean; lastSignOfLife?: string; end: string; packages: { name: string; state: string; durationMs: number; cause: string | null; retry?: { attempt: number; earlier: string } }[] };
    assert.equal(s.state, 'cancelled');
    assert.equal(s.interrupted, true);
    assert.ok(Date.parse(s.lastSignOfLife!) >= alive, `last sign of life ${s.lastSignOfLife} is before the heartbeat seen at ${new Date(alive).toISOString()}`);
    const silent = s.packages.find((p) => p.name === 'silent')!;
    assert.equal(silent.state, 'cancelled');
    assert.ok(silent.durationMs >= alive - started.at, `silent ran ${silent.durationMs} ms on record, at least ${alive - started.at} ms in fact`);
    assert.deepEqual(s.packages.find((p) => p.name === 'flaky')?.retry, { attempt: 2, earlier: 'attempt 1: the build script exited with status 1' });

    const text = await runKiln(['status', '--state', state]);
    assert.match(text.stdout, new RegExp(`^run ${started.runId}: cancelled \\(interrupted; last sign of life at ${s.lastSignOfLife!.replace(/\./g, '\\.')}\\), started \\S+, took ≥\\d`, 'm'), explain(text));
    assert.match(text.stdout, /cancelled\s+silent@\S+\s+≥\d\S*\s+interrupted: the kiln process \(pid \d+\) ended while this job was running; last sign of life at \S+ \(when it stopped is not known\)/, explain(text));
    assert.match(text.stdout, /built\s+flaky@\S+\s+\S+\s+why: new: never built before; built on attempt 2 \(attempt 1 failed: the build script exited with status 1\)/, explain(text));

    const history = await runKiln(['history', 'flaky', '--state', state]);
    assert.match(history.stdout, /built .* built on attempt 2 \(attempt 1 failed: the build script exited with status 1\)$/m, explain(history));
    const hjson = JSON.parse((await runKiln(['history', 'silent', '--json', '--state', state])).stdout) as { endApproximate?: boolean; durationMs: number }[];
    assert.equal(hjson[0]?.endApproximate, true);
  } finally {
    await reap(m);
  }
});
