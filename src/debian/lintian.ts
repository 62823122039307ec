// `kiln build --debian … --lintian` (sbuild's --run-lintian): lintian over each built
// package's .changes once the run has built it, its tags reported with the run (console,
// report.json and report.html), never failing the build. lintian runs on the host, as the
// user nobody when kiln is root (it unpacks what the build made), with the suite's tag
// set of the host's lintian.
//
// parseLintian is pure (table tests); runLintian spawns lintian.

import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export interface LintianTag {
  /** E error, W warning, I info, P pedantic, X experimental, O overridden, C classification, M masked. */
  readonly code: string;
  readonly package: string;
  readonly tag: string;
  /** What lintian says after the tag (its context), '' when nothing. */
  readonly info: string;
  /** The line as lintian printed it. */
  readonly line: string;
}

/** Tag lines look like `W: hello: some-tag context [path]` or `W: hello changes: some-tag context`. */
const TAG_LINE = /^([EWIPXOCM]): (\S+)(?: (?:source|binary|udeb|changes|buildinfo))?: (\S+)(?: (.*))?$/;

export function parseLintian(output: string): LintianTag[] {
  const tags: LintianTag[] = [];
  for (const line of output.split('\n')) {
    const m = TAG_LINE.exec(line.trimEnd());
    if (m === null) continue;
    tags.push({ code: m[1]!, package: m[2]!, tag: m[3]!, info: m[4] ?? '', line: line.trimEnd() });
  }
  return tags;
}

/** lintian's tags for one .changes in `dir` (with the files it lists), or why it could not run. */
export async function runLintian(changes: string, o: { dir: string; signal?: AbortSignal; timeoutMs?: number }): Promise<{ tags: LintianTag[] } | { error: string }> {
  const asRoot = process.getuid?.() === 0;
  // nobody's own scratch space: lintian unpacks into TMPDIR.
  const scratch = await mkdtemp(join(tmpdir(), 'kiln-lintian-'));
  try {
    let target = changes;
    if (asRoot) {
      // A copy nobody can read (the state dir may sit under root's 0700 home).
      await chmod(scratch, 0o777);
      const copy = join(scratch, 'in');
      await mkdir(copy);
      for (const f of await readdir(o.dir)) {
        await copyFile(join(o.dir, f), join(copy, f));
        await chmod(join(copy, f), 0o644);
      }
      await chmod(copy, 0o755);
      target = join(copy, basename(changes));
    }
    const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: scratch, TMPDIR: scratch };
    const argv = ['lintian', '--fail-on', 'none', target];
    const [cmd, ...args] = asRoot ? ['runuser', '-u', 'nobody', '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv] : argv;
    return await new Promise((resolve) => {
      execFile(cmd!, args, { env, maxBuffer: 64 * 1024 * 1024, timeout: o.timeoutMs ?? 30 * 60_000, ...(o.signal === undefined ? {} : { signal: o.signal }) }, (err, stdout, stderr) => {
        const tags = parseLintian(stdout);
        if (err !== null && tags.length === 0) {
          const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
          resolve({ error: missing ? 'lintian is not installed (apt-get install lintian; scripts/setup.sh installs it)' : `lintian failed: ${(stderr.trim().split('\n').filter((l) => !/root privileges/.test(l)).at(-1) ?? err.message)}` });
          return;
        }
        resolve({ tags });
      });
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** `2 errors, 1 warning (E: some-tag, W: other-tag …)`, or `clean`. */
export function lintianSummary(tags: readonly LintianTag[]): string {
  const errors = tags.filter((t) => t.code === 'E').length;
  const warnings = tags.filter((t) => t.code === 'W').length;
  const shown = tags.filter((t) => t.code === 'E' || t.code === 'W');
  if (shown.length === 0) return tags.length === 0 ? 'clean' : `no errors or warnings (${tags.length} other tag${tags.length === 1 ? '' : 's'})`;
  const names = [...new Set(shown.map((t) => `${t.code}: ${t.tag}`))];
  return `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'} (${names.slice(0, 4).join(', ')}${names.length > 4 ? ' …' : ''})`;
}
