// The live progress view on a real terminal (a pty made by util-linux `script`): TERM=dumb
// gets the plain renderer (no cursor codes), a pty that reports 0 columns is drawn 80
// wide (not one character per line), and the header fits a narrow terminal unwrapped.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { recipeText } from '../helpers/recipe-text.ts';
import { KILN_BIN, NODE_BIN } from '../helpers/run-kiln.ts';
import { tmpDir } from '../helpers/tmp.ts';

const hasScript = spawnSync('script', ['--version']).status === 0;

/** Build a two-package tree with `kiln build` on a pty of `columns` columns; its raw output. */
async function buildOnPty(dir: string, columns: number, term: string): Promise<string> {
  const tree = join(dir, 'tree');
  for (const name of ['slow-one', 'slow-two']) {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), recipeText({ name, script: `sleep 1.5\nmkdir -p "$DESTDIR/usr/lib"\necho ${name} > "$DESTDIR/usr/lib/${name}.txt"` }));
  }
  const state = join(dir, `state-${columns}-${term}`);
  const cmd = `stty cols ${columns} rows 40; exec '${NODE_BIN}' '${KILN_BIN}' build --tree '${tree}' --state '${state}' --sandbox host --jobs 2`;
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: term };
  delete env['CI'];
  delete env['NODE_TEST_CONTEXT'];
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `kiln build on a pty: ${r.stdout}${r.stderr}`);
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
