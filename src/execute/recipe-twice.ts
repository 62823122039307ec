// kiln build --twice for a recipe (debian-twice.ts is the Debian source packages' own): the
// build script runs a second time, in a fresh workspace, with what a reproducible build
// must not depend on varied (the build path, $HOME and $TMPDIR, the clock through faketime
// when the sandbox has it, TZ; not the umask: every build runs with 022, lib/launcher-source.ts),
// and the two $DESTDIRs are compared by their
// manifests (cache/archive.ts: path, type, mode, size, sha256, link target), the way the
// output hash sees them. The differ and its wording are deb-compare's (diffTrees,
// explainContents, treeLines). The result goes to the job's log and to `<log>.twice.json`
// (debian-twice.ts's TwiceResult[], which the run's report reads: run/debian-finish.ts);
// the files that differ are kept in `<log>.twice/{first,second}/`. The artifact is the
// first build's; a difference is a warning of the job (--fail-on-warnings: its failure).

import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { buildManifest, manifestHash, type ManifestEntry } from '../cache/archive.ts';
import { assertOutputFolder } from '../cache/output-folder.ts';
import { diffTrees, explainContents, type TreeDiff } from '../debian/deb-compare.ts';
import { describeFile, treeLines } from '../debian/deb-compare-format.ts';
import type { TarEntry } from '../debian/deb-tar.ts';
import type { JobLog } from '../logs/job-log.ts';
import type { PackageSpec } from '../plan/spec.ts';
import type { RunResult, Sandbox, SandboxLayout } from '../sandbox/sandbox.ts';
import type { TwiceResult } from './debian-twice.ts';

/** The folder the second build's sources, $HOME and $TMPDIR are one level down in. */
export const VARIANT_DIR = 'kiln-twice';
/** The second build's time zone: as far from UTC as there is (reprotest's choice too). */
export const VARIANT_TZ = 'Etc/GMT-14';
/** How far faketime moves the second build's clock. */
export const VARIANT_CLOCK = '+373 days';
/** A changed file larger than this is compared by its hash alone. */
const EXPLAIN_MAX_BYTES = 16 * 1024 ** 2;
/** At most this many changed files are explained and kept beside the log. */
const EXPLAIN_MAX_FILES = 20;
/** Paths named in the one-line warning. */
const WARNING_PATHS = 5;

export interface RecipeTwiceOptions {
  readonly spec: Pick<PackageSpec, 'name'> & { readonly build: Pick<PackageSpec['build'], 'script' | 'timeoutMs' | 'silentTimeoutMs'> };
  /** The first build's sandbox: its $DESTDIR holds the output about to be packed. */
  readonly first: Sandbox;
  /** A fresh sandbox for the second build, at another workspace path. */
  readonly create: () => Promise<Sandbox>;
  /** The sources into `srcDir` (a host path) and the staged dependencies into its sysroot, as for the first build. */
  readonly prepare: (sandbox: Sandbox, srcDir: string) => Promise<void>;
  /** The build environment for a layout (build-env.ts), as the first build had it. */
  readonly envOf: (inside: SandboxLayout) => Record<string, string>;
  readonly log: JobLog;
  readonly signal: AbortSignal;
}

/**
 * Builds the recipe a second time, varied, and compares its output with the first
 * build's. Returns the job's warning (not reproducible, or not compared), or undefined
 * when both outputs are the same. Throws only when the signal aborts.
 */
export async function buildRecipeTwice(o: RecipeTwiceOptions): Promise<string | undefined> {
  const { log, signal } = o;
  let result: TwiceResult & { warning?: string };
  try {
    result = await secondBuild(o);
  } catch (e) {
    if (signal.aborted) throw e;
    result = { deb: '', status: 'error', summary: `the second build could not be made: ${e instanceof Error ? e.message : String(e)}`, details: [] };
  }
  const { warning, ...written } = result;
  if (result.status === 'error') log.note(`--twice: not compared: ${result.summary}`);
  else log.note(`--twice: ${result.summary}`);
  for (const line of result.details) log.note(`--twice:   ${line}`);
  await writeFile(`${log.path}.twice.json`, `${JSON.stringify([written], null, 2)}\n`);
  return result.status === 'error' ? `not compared (--twice): ${result.summary}` : warning;
}

async function secondBuild(o: RecipeTwiceOptions): Promise<TwiceResult & { warning?: string }> {
  const { log, signal, spec } = o;
  await using sb = await o.create();
  const inside = variedLayout(sb.inside);
  const host = variedLayout(sb.host);
  for (const d of [host.src, host.home, host.tmp]) await mkdir(d, { recursive: true });
  await o.prepare(sb, host.src);
  const env = { ...o.envOf(inside), TZ: VARIANT_TZ };
  const faketime = await sb.run({ argv: ['/bin/sh', '-c', 'command -v faketime'], cwd: inside.src, env, onOutput: () => {}, signal });
  const clock = faketime.exitCode === 0;
  log.note(`--twice: second build in ${inside.src} (the first: ${o.first.inside.src}), $HOME and $TMPDIR moved too, TZ=${VARIANT_TZ}, ${clock ? `the clock ${VARIANT_CLOCK.slice(1)} ahead (faketime)` : 'the clock not moved: faketime is not in the sandbox (install it in the build root to vary the clock too)'}`);
  const r = await sb.run({
    argv: twiceArgv(spec.build.script, `${spec.name}/twice`, clock),
    cwd: inside.src,
    // NO_FAKE_STAT: the clock moves, the files' own times as stat() reports them do not (as debian-twice.ts).
    env: clock ? { ...env, NO_FAKE_STAT: '1' } : env,
    onOutput: (stream, chunk) => log.write(stream, chunk),
    ...(spec.build.timeoutMs === undefined ? {} : { timeoutMs: spec.build.timeoutMs }),
    ...(spec.build.silentTimeoutMs === undefined ? {} : { silentTimeoutMs: spec.build.silentTimeoutMs }),
    signal,
  });
  signal.throwIfAborted();
  if (r.exitCode !== 0 || r.signal !== null) return { deb: '', status: 'error', summary: `the second build failed (${howEnded(r)})`, details: [] };
  // Both output folders as the builds left them, before kiln reads either with its own rights.
  assertOutputFolder(o.first.host.dest);
  assertOutputFolder(sb.host.dest);
  const [a, b] = await Promise.all([buildManifest(o.first.host.dest, { signal }), buildManifest(sb.host.dest, { signal })]);
  let tree = compareOutputs(a, b);
  if (isSame(tree)) return { deb: '', status: 'reproducible', summary: twiceSummary(tree, manifestHash(a)), details: [] };
  // Why each changed file differs (its changed lines or strings), and both copies kept: the sandbox goes.
  const changed = tree.changed.filter((c) => c.content !== undefined && Math.max(c.content.a.size, c.content.b.size) <= EXPLAIN_MAX_BYTES).slice(0, EXPLAIN_MAX_FILES);
  const read = async (dir: string): Promise<Map<string, Buffer>> => new Map(await Promise.all(changed.map(async (c) => [c.path, await readFile(join(dir, c.path))] as const)));
  tree = explainContents(tree, await read(o.first.host.dest), await read(sb.host.dest));
  const kept = await keepFiles(`${log.path}.twice`, changed.map((c) => c.path), o.first.host.dest, sb.host.dest).catch(() => undefined);
  return { deb: '', status: 'differs', summary: twiceSummary(tree), warning: twiceWarning(tree), details: [...twiceDetails(tree), ...(kept === undefined ? [] : [`both builds of ${changed.length === 1 ? 'the file' : 'those files'}: ${kept}/{first,second}/`])] };
}

/** The layout the second build sees: its sources, $HOME and $TMPDIR one folder further down (pure). */
export function variedLayout(l: SandboxLayout): SandboxLayout {
  return { ...l, src: join(l.src, VARIANT_DIR), home: join(l.home, VARIANT_DIR), tmp: join(l.tmp, VARIANT_DIR) };
}

/** The second build's command: (with faketime) the clock moved, then the script as the first build ran it (pure). */
export function twiceArgv(script: string, name: string, faketime: boolean): string[] {
  return [...(faketime ? ['faketime', VARIANT_CLOCK] : []), 'bash', '-e', '-c', script, name];
}

/** A manifest entry as deb-compare's differ takes a tar member: an artifact has no owner, mtime or device of its own (pure). */
export function asTarEntry(m: ManifestEntry): TarEntry {
  return { path: m.path, type: m.type, mode: m.mode, uid: 0, gid: 0, uname: '', gname: '', mtime: 0, size: m.size, link: m.target ?? '', device: '', sha256: m.sha256 ?? '' };
}

/** Two outputs compared by their manifests (pure): what the output hash sees, entry by entry. */
export function compareOutputs(a: readonly ManifestEntry[], b: readonly ManifestEntry[]): TreeDiff {
  return diffTrees(a.map(asTarEntry), b.map(asTarEntry));
}

function isSame(t: TreeDiff): boolean {
  return t.changed.length === 0 && t.added.length === 0 && t.removed.length === 0;
}

/** The paths that differ: changed, then only in the second build, then only in the first (pure). */
export function differingPaths(t: TreeDiff): string[] {
  return [...t.changed.map((c) => c.path), ...t.added.map((e) => e.path), ...t.removed.map((e) => e.path)];
}

/** The comparison's line for the log and the report: `reproducible: …` or `differs: …` (pure). */
export function twiceSummary(t: TreeDiff, outputHash?: string): string {
  if (isSame(t)) return `reproducible: the same output in a varied rebuild${outputHash === undefined ? '' : ` (output hash ${outputHash.slice(0, 16)})`}`;
  const files = t.changed.slice(0, 3).map(describeFile);
  if (t.changed.length > 3) files.push(`${t.changed.length - 3} more`);
  const extra = [t.added.length > 0 ? `${t.added.length} only in the second build` : '', t.removed.length > 0 ? `${t.removed.length} only in the first` : ''].filter((s) => s !== '');
  return `differs: ${t.changed.length} of ${t.total.a} entries${files.length > 0 ? ` (${files.join('; ')})` : ''}${extra.length > 0 ? `${t.changed.length > 0 ? ',' : ''} ${extra.join(', ')}` : ''}`;
}

/** Every difference, one line each (a = the first build, b = the varied one), as deb-compare lists a .deb's data (pure). */
export function twiceDetails(t: TreeDiff): string[] {
  return [
    `output: ${t.total.a} entries in a (the first build), ${t.total.b} in b (the varied one): ${t.identical} identical, ${t.changed.length} differ, ${t.added.length} only in b, ${t.removed.length} only in a`,
    ...treeLines({ ...t, orderDiffers: false }, 'output', '', 50),
  ];
}

/** The job's warning when the outputs differ: `not reproducible: N files differ: a, b, …` (pure). */
export function twiceWarning(t: TreeDiff): string {
  const paths = differingPaths(t);
  return `not reproducible: ${paths.length} ${paths.length === 1 ? 'file differs' : 'files differ'}: ${paths.slice(0, WARNING_PATHS).join(', ')}${paths.length > WARNING_PATHS ? ', …' : ''}`;
}

function howEnded(r: RunResult): string {
  if (r.killedFor !== undefined && r.killedFor !== 'cancelled') return r.killedFor;
  return r.signal !== null ? `killed by ${r.signal}` : `exit status ${r.exitCode}`;
}

/** Copies of `paths` from both outputs under `dir`/first and `dir`/second; `dir`. */
async function keepFiles(dir: string, paths: readonly string[], a: string, b: string): Promise<string | undefined> {
  if (paths.length === 0) return undefined;
  for (const [side, from] of [['first', a], ['second', b]] as const) {
    for (const p of paths) {
      await mkdir(dirname(join(dir, side, p)), { recursive: true });
      await copyFile(join(from, p), join(dir, side, p));
    }
  }
  return dir;
}
