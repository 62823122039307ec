// --twice for Debian builds (reprotest's way): a second dpkg-buildpackage in the same
// sandbox with the build path, clock, umask and time zone varied, each .deb compared with
// the first build's (debian/deb-compare.ts), the result in the log and `<log>.twice.json`;
// both builds of a .deb that differs are kept in `<log>.twice/{first,second}/`.

import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { regularFilesIn } from '../cache/output-folder.ts';
import { join } from 'node:path';
import { compareDebs, formatComparison, summarizeComparison } from '../debian/deb-compare.ts';
import { shellQuote } from '../lib/shell-quote.ts';
import { HAS_INDEP_PACKAGES } from './debian-build-steps.ts';
import type { JobLog } from '../logs/job-log.ts';
import type { DebianRunContext } from './debian-build.ts';

/** Where the second build happens: a different path, as reprotest varies it. */
export const VARIANT_PATH = '/build/kiln-variant-path';

/**
 * --twice: build again in the same sandbox with what reprotest varies (build path, clock
 * +373 days through faketime, umask 002, time zone) and compare each .deb with the
 * first build's. The result goes to the log and to `<log>.twice.json` for the report;
 * the artifact stays the first build's.
 */
export async function buildTwice(o: {
  c: DebianRunContext;
  env: Record<string, string>;
  flag: string;
  dsc: string;
  log: JobLog;
  /** Lines run in the unpacked source before dpkg-buildpackage, as in the first build (a binNMU's changelog entry). */
  prepare?: readonly string[];
  /** A split binNMU (debian-build.ts): then -A with the changelog kept aside, as the first build did. */
  indepApart?: boolean;
}): Promise<void> {
  const { c, log } = o;
  const sh = shellQuote;
  log.note(`--twice: second build in ${VARIANT_PATH} with umask 002, TZ=Etc/GMT-14 and the clock 373 days ahead (faketime)`);
  const script = [
    'umask 002',
    `cd ${sh(VARIANT_PATH)}`,
    `dpkg-source --no-check -x ${sh(o.dsc)}`,
    'cd "$(find . -mindepth 1 -maxdepth 1 -type d | head -n1)"',
    ...(o.prepare ?? []),
    // NO_FAKE_STAT: the clock moves, the files' own times as stat() reports them do not
    // (otherwise every file copied with its mtime, a copyright or a doc, would differ by
    // 373 days because of faketime, not of the package).
    `NO_FAKE_STAT=1 faketime '+373 days' dpkg-buildpackage -us -uc ${o.flag}`,
    ...(o.indepApart === true ? ['cp ../.kiln-changelog debian/changelog', `if ${HAS_INDEP_PACKAGES}; then NO_FAKE_STAT=1 faketime '+373 days' dpkg-buildpackage -us -uc -A; fi`] : []),
    `mkdir -p ${sh(`${c.sandbox.inside.tmp}/twice`)}`,
    `cd ${sh(VARIANT_PATH)} && cp -p *.deb ${sh(`${c.sandbox.inside.tmp}/twice`)}/`,
  ].join('\n');
  const r = await c.sandbox.run({
    argv: ['/bin/bash', '-e', '-c', script, `${c.spec.name}/twice`],
    cwd: '/',
    env: { ...o.env, TZ: 'Etc/GMT-14' },
    onOutput: (stream, chunk) => log.write(stream, chunk),
    ...(c.spec.build.timeoutMs === undefined ? {} : { timeoutMs: c.spec.build.timeoutMs }),
    signal: c.signal,
  });
  const results: TwiceResult[] = [];
  if (r.exitCode !== 0 || r.signal !== null) {
    // Ended by kiln (the loop watchdog, a cancel): said why, not only by its signal.
    const why = `${r.signal ?? `exit ${r.exitCode}`}${c.signal?.aborted === true && c.signal.reason instanceof Error ? `: ${c.signal.reason.message}` : ''}`;
    log.note(`--twice: the second build failed (${why}); no comparison`);
    results.push({ deb: '', status: 'error', summary: `the second build failed (${why})`, details: [] });
  } else {
    const first = c.sandbox.host.dest;
    const second = join(c.sandbox.host.tmp, 'twice');
    // Both folders are the build's: their regular files only, never through a link it left.
    const seconds = new Set(await regularFilesIn(second));
    for (const f of (await regularFilesIn(first)).filter((n) => n.endsWith('.deb')).sort()) {
      const other = join(second, f);
      if (!seconds.has(f)) {
        results.push({ deb: f, status: 'error', summary: `the second build made no ${f} (or not as a plain file)`, details: [] });
        continue;
      }
      const cmp = await compareDebs(join(first, f), other, { signal: c.signal }).catch((e: unknown) => e as Error);
      if (cmp instanceof Error) {
        results.push({ deb: f, status: 'error', summary: cmp.message, details: [] });
        continue;
      }
      const summary = summarizeComparison(cmp);
      let details = cmp.verdict === 'reproducible' ? [] : formatComparison(cmp);
      // Both builds of a .deb that differs are kept beside the log (the sandbox goes), for diffoscope.
      if (cmp.verdict === 'differs') {
        const kept = await keepPair(`${log.path}.twice`, f, join(first, f), other).catch(() => undefined);
        if (kept !== undefined) details = details.map((l) => l.replace(join(first, f), kept.a).replace(other, kept.b));
      }
      results.push({ deb: f, status: cmp.verdict, summary, details });
      log.note(`--twice: ${f}: ${summary}`);
      for (const line of details) log.note(`--twice:   ${line}`);
    }
  }
  await writeFile(`${log.path}.twice.json`, `${JSON.stringify(results, null, 2)}\n`);
}

/** Copies of the two builds of a .deb under `dir`/first and `dir`/second; their paths. */
async function keepPair(dir: string, name: string, a: string, b: string): Promise<{ a: string; b: string }> {
  const kept = { a: join(dir, 'first', name), b: join(dir, 'second', name) };
  await mkdir(join(dir, 'first'), { recursive: true });
  await mkdir(join(dir, 'second'), { recursive: true });
  await copyFile(a, kept.a);
  await copyFile(b, kept.b);
  return kept;
}

/** One .deb of a --twice comparison (also the shape of `<log>.twice.json`). */
export interface TwiceResult {
  readonly deb: string;
  readonly status: 'reproducible' | 'differs' | 'error';
  readonly summary: string;
  readonly details: readonly string[];
}
