// Sources through the real CLI: file: sources land in $SRCDIR under their own names;
// http sources come from a node:http server the test starts on 127.0.0.1: a wrong
// checksum is refused and nothing is kept; two kiln processes sharing one cache fetch a
// shared source once.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../helpers/tmp.ts';
import { eventsOf, explain, fixtureTree, instantiateTree, pkgOf, readReport, spawnKiln, runKiln, statesOf } from '../helpers/run-kiln.ts';

interface FileServer extends AsyncDisposable {
  readonly port: number;
  /** Requests per path. */
  readonly hits: Map<string, number>;
}

/** Serve `files` (path → content) on 127.0.0.1, answering after `delayMs` so that concurrent fetches overlap. */
async function serve(files: Readonly<Record<string, string>>, delayMs = 0): Promise<FileServer> {
  const hits = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const body = files[path];
    setTimeout(() => {
      if (body === undefined) {
        res.writeHead(404).end('not found\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(body) }).end(body);
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    hits,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const found: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (!e.isDirectory()) found.push(join(e.parentPath, e.name));
  return found;
}

// Known kiln bug: src/execute/fetch-sources.ts copies `file:data.txt` to "$SRCDIR/file:data.txt"
// (basename of the url, scheme included) instead of "$SRCDIR/data.txt".

test('file: sources are copied into $SRCDIR (or its dest) under their own file names', async () => {
  await using dir = await tmpDir();
  const r = await runKiln(['build', '--tree', fixtureTree('file-sources'), '--state', dir.path, '--jobs', '2', '--json']);
  const report = await readReport(r);
  const p = pkgOf(report, 'patched');
  assert.equal(p.state, 'built', `the script did not find data.txt and extra/fix.patch in $SRCDIR\n${explain(r)}`);
  assert.equal(r.code, 0);
});

test('bad checksum: the download is refused naming url, expected and actual sha256; nothing is kept; dependents skipped', async () => {
  await using dir = await tmpDir();
  const content = 'fetchme 1.0: the file the server really has\n';
  await using server = await serve({ '/fetchme-1.0.txt': content });
  const url = `http://127.0.0.1:${server.port}/fetchme-1.0.txt`;
  const wrong = sha256('what the recipe author thought the file was\n');
  const tree = await instantiateTree('bad-checksum', join(dir.path, 'tree'), { PORT: String(server.port), SHA256: wrong });
  const state = join(dir.path, 'state');
  const cache = join(dir.path, 'cache');

  const r = await runKiln(['build', '--tree', tree, '--state', state, '--jobs', '2', '--json'], { cache });
  assert.equal(r.code, 1, explain(r));
  assert.ok((server.hits.get('/fetchme-1.0.txt') ?? 0) >= 1, 'the server was never asked');
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { fetchme: 'failed', independent: 'built', 'needs-fetchme': 'skipped' });
  const fetchme = pkgOf(report, 'fetchme');
  for (const part of [url, wrong, sha256(content)]) assert.ok(fetchme.cause?.includes(part), `the failure must name ${part}: ${fetchme.cause}`);
  // And the recipe's key to change, with the value to give it if the new file is the right one.
  assert.match(fetchme.cause ?? '', /fetchme\/recipe\.toml: sources\[0\]\.sha256: checksum mismatch/);
  assert.ok(fetchme.cause?.includes(`set sources[0].sha256 in `) && fetchme.cause.includes(`to "${sha256(content)}"`), `the failure must say what to set: ${fetchme.cause}`);
  const finished = eventsOf(r.events, 'job-finished').find((e) => e.name === 'fetchme');
  assert.equal(finished?.failure?.reason, 'fetch-failed');

  assert.deepEqual(await filesUnder(join(cache, 'downloads')), [], 'a refused download was kept');
  assert.deepEqual(await filesUnder(join(cache, 'tmp')), [], 'a refused download was left in tmp');
  assert.deepEqual(await filesUnder(join(state, 'cache')), [], 'KILN_CACHE was not used');
});

test('two kiln processes, two state dirs, one KILN_CACHE: the shared http source is fetched once and both succeed', async () => {
  await using dir = await tmpDir();
  const content = 'shared 1.0: one download for everybody\n';
  // The delay keeps the first download in flight while the other process asks for it.
  await using server = await serve({ '/shared-1.0.txt': content }, 300);
  const vars = { PORT: String(server.port), SHA256: sha256(content) };
  const root = await instantiateTree('two-kiln-processes-sharing-one-cache', join(dir.path, 'trees'), vars);
  const cache = join(dir.path, 'cache');

  const procs = ['a', 'b'].map((t) =>
    spawnKiln(['build', '--tree', join(root, `tree-${t}`), '--jobs', '2', '--json'], { state: join(dir.path, `state-${t}`), cache, timeoutMs: 30_000 }),
  );
  const [a, b] = await Promise.all(procs.map((p) => p.done));
  assert.equal(a!.code, 0, explain(a!));
  assert.equal(b!.code, 0, explain(b!));
  assert.equal(server.hits.get('/shared-1.0.txt'), 1, `fetched ${server.hits.get('/shared-1.0.txt')} times`);

  const ra = await readReport(a!);
  const rb = await readReport(b!);
  assert.equal(pkgOf(ra, 'only-a').state, 'built');
  assert.equal(pkgOf(rb, 'only-b').state, 'built');
  for (const r of [ra, rb]) assert.ok(['built', 'up-to-date'].includes(pkgOf(r, 'shared').state), `shared is ${pkgOf(r, 'shared').state}`);
  assert.ok(a!.summary!.report.startsWith(join(dir.path, 'state-a')), 'KILN_STATE selects the state dir');
  assert.deepEqual(await filesUnder(join(cache, 'downloads')), [join(cache, 'downloads', sha256(content))]);
});

test('a [mirrors] entry that is a file:// folder (a local mirror): mirror:// sources are read from it, checked and cached; a file it lacks is a 404 naming the url', async () => {
  await using dir = await tmpDir();
  const mirror = join(dir.path, 'mirror');
  const content = 'local 1.0: from a mirror on this host\n';
  await mkdir(join(mirror, 'local'), { recursive: true });
  await writeFile(join(mirror, 'local', 'local-1.0.txt'), content);
  const tree = join(dir.path, 'tree');
  const recipe = (name: string, file: string, sum: string): string =>
    `name = "${name}"\nversion = "1.0"\nsummary = "x"\nlicense = "MIT"\n[[sources]]\nurl = "mirror://here/local/${file}"\nsha256 = "${sum}"\n[build]\nscript = "grep -q 'local 1.0' ${file}"\n`;
  await mkdir(join(tree, 'local'), { recursive: true });
  await mkdir(join(tree, 'missing'), { recursive: true });
  await writeFile(join(tree, 'kiln.toml'), `[mirrors]\nhere = "file://${mirror}/"\n`);
  await writeFile(join(tree, 'local', 'recipe.toml'), recipe('local', 'local-1.0.txt', sha256(content)));
  await writeFile(join(tree, 'missing', 'recipe.toml'), recipe('missing', 'missing-1.0.txt', sha256('x')));
  const cache = join(dir.path, 'cache');
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--sandbox', 'host', '--json'], { cache });
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { local: 'built', missing: 'failed' }, explain(r));
  assert.match(pkgOf(report, 'missing').cause ?? '', new RegExp(`file://${mirror}/local/missing-1\\.0\\.txt.*HTTP 404`), explain(r));
  assert.ok(existsSync(join(cache, 'downloads', sha256(content))), 'the source is in the downloads cache under its sha256');
});
