import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rebuildScript } from './rebuild-script.ts';
import { shellQuote } from '../lib/shell-quote.ts';

test('shellQuote: bash reads back every string as it was', () => {
  for (const s of ['', 'plain', "it's", "''", 'a b\tc\nd', '$HOME `x` "q" \\ !', 'é ✓']) {
    const r = spawnSync('bash', ['-c', `printf %s ${shellQuote(s)}`], { encoding: 'utf8' });
    assert.equal(r.stdout, s);
  }
});

test('rebuildScript: runs the script in its directory with exactly its environment; --shell gives that environment', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-rebuild-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'rebuild.sh');
  writeFileSync(file, rebuildScript({
    name: 'pkg', version: '1.0', arch: 'amd64', runId: 'r1', cwd: dir,
    env: { PATH: '/usr/bin:/bin', ODD: "it's \"quoted\" $HOME" },
    script: 'pwd; echo "odd=$ODD"; echo "home=${HOME-unset}"; echo "arg0=$0"',
  }));
  const run = spawnSync('bash', [file], { encoding: 'utf8', env: { ...process.env, LEAK: 'yes' } });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, `${dir}\nodd=it's "quoted" $HOME\nhome=unset\narg0=pkg/build\n`);
  const shell = spawnSync('bash', [file, '--shell'], { encoding: 'utf8', input: 'echo "in=$PWD leak=${LEAK-none} odd=$ODD"\nexit 3\n' });
  assert.equal(shell.status, 3);
  assert.match(shell.stdout, new RegExp(`in=${dir} leak=none odd=it's "quoted" \\$HOME`));
});
