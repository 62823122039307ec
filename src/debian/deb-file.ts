// A binary package (.deb): its control paragraph, read with the host's `dpkg-deb --field`
// (control.tar is xz- or zstd-compressed in current .debs, which node cannot unpack by
// itself), and checked enough to be indexed: Package, Version, Architecture present and
// well-formed, the source package named. checkDebContents reads the rest (the data member),
// for a .deb about to be published: a truncated file's control fields still read.
//
// Unlike deb822.ts, which lower-cases field names for lookups, the control fields are kept
// in their original order, spelling and line layout (`ControlField`), because a Packages
// index repeats them as they are: Description keeps its " ." lines, Conffiles its columns.

import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { KilnError } from '../errors.ts';
import { versionProblem } from './version.ts';

const execFileP = promisify(execFile);

/** One field as written: `name` in its spelling, `value` with continuation lines verbatim after "\n". */
export interface ControlField {
  readonly name: string;
  readonly value: string;
}

export interface DebControl {
  /** Every field of the control paragraph, in file order. */
  readonly fields: readonly ControlField[];
  readonly package: string;
  readonly version: string;
  readonly architecture: string;
  /** The source package: the `Source` field's name, else the binary package's name. */
  readonly source: string;
  /** The source version: `Source: name (version)`, else the binary's Version. */
  readonly sourceVersion: string;
}

// Debian Policy §5.6.1 (package names) and §5.6.8 (architecture names).
const PACKAGE_RE = /^[a-z0-9][a-z0-9+.-]+$/;
const ARCH_RE = /^[a-z0-9][a-z0-9-]*$/;

/**
 * The paragraphs of a deb822 text with fields as written (no lower-casing). Continuation
 * lines are kept with their leading whitespace, so rendering a field gives back its lines.
 */
export function parseControlParagraphs(text: string, source: string): ControlField[][] {
  const out: ControlField[][] = [];
  let current: { name: string; value: string }[] = [];
  const lines = text.split('\n');
  let lineNo = 0;
  for (const raw of lines) {
    lineNo++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') {
      if (current.length > 0) out.push(current);
      current = [];
      continue;
    }
    if (line.startsWith('#')) continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      const last = current[current.length - 1];
      if (last === undefined) throw bad(source, `line ${lineNo}: continuation line without a field before it`);
      last.value += `\n${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw bad(source, `line ${lineNo}: expected "Field: value", got ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon);
    if (current.some((f) => f.name.toLowerCase() === name.toLowerCase())) {
      throw bad(source, `line ${lineNo}: field "${name}" appears twice in one paragraph`);
    }
    current.push({ name, value: line.slice(colon + 1).trim() });
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** A field's value by name (case-insensitive), first line only trimmed. */
export function fieldValue(fields: readonly ControlField[], name: string): string | undefined {
  const lower = name.toLowerCase();
  return fields.find((f) => f.name.toLowerCase() === lower)?.value;
}

/** Render fields as a deb822 paragraph (no trailing blank line). */
export function renderFields(fields: readonly ControlField[]): string {
  let s = '';
  for (const f of fields) {
    const nl = f.value.indexOf('\n');
    const first = nl < 0 ? f.value : f.value.slice(0, nl);
    const rest = nl < 0 ? '' : f.value.slice(nl);
    s += `${f.name}:${first === '' ? '' : ` ${first}`}${rest}\n`;
  }
  return s;
}

/** Check a control paragraph and pull out what an index needs. `source` names the file in errors. */
export function debControlFrom(fields: readonly ControlField[], source: string): DebControl {
  const need = (name: string): string => {
    const v = fieldValue(fields, name);
    if (v === undefined || v === '') throw bad(source, `the control file has no ${name} field`);
    if (v.includes('\n')) throw bad(source, `the ${name} field spans several lines`);
    return v;
  };
  const pkg = need('Package');
  if (!PACKAGE_RE.test(pkg)) throw bad(source, `Package "${pkg}" is not a valid package name (lower-case letters, digits, + - .)`);
  const version = need('Version');
  const vp = versionProblem(version);
  if (vp !== undefined) throw bad(source, `Version "${version}": ${vp}`);
  const architecture = need('Architecture');
  if (!ARCH_RE.test(architecture)) throw bad(source, `Architecture "${architecture}" is not one architecture name`);
  let src = pkg;
  let srcVersion = version;
  const sourceField = fieldValue(fields, 'Source');
  if (sourceField !== undefined && sourceField !== '') {
    const m = /^([a-z0-9][a-z0-9+.-]+)(?:\s*\(\s*([^()\s]+)\s*\))?$/.exec(sourceField.trim());
    if (m === null) throw bad(source, `Source "${sourceField}" is not "name" or "name (version)"`);
    src = m[1]!;
    if (m[2] !== undefined) {
      const p = versionProblem(m[2]);
      if (p !== undefined) throw bad(source, `Source version "${m[2]}": ${p}`);
      srcVersion = m[2];
    }
  }
  return { fields, package: pkg, version, architecture, source: src, sourceVersion: srcVersion };
}

/** Read and check the control paragraph of the .deb at `path` (runs `dpkg-deb --field`). */
export async function readDebControl(path: string, options: { signal?: AbortSignal } = {}): Promise<DebControl> {
  let stdout: string;
  try {
    ({ stdout } = await execFileP('dpkg-deb', ['--field', path], {
      maxBuffer: 64 << 20,
      encoding: 'utf8',
      env: { ...process.env, LC_ALL: 'C.UTF-8' },
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    }));
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    dpkgDebNotRun(path, e);
    const why = (err.stderr ?? err.message).trim().split('\n').slice(-2).join('; ');
    throw new KilnError('deb-invalid', `${path} is not a readable ${path.endsWith('.udeb') ? '.udeb' : '.deb'}: ${why}`, { hint: 'check that the file is a complete binary package (dpkg-deb --info FILE)', cause: e });
  }
  const paragraphs = parseControlParagraphs(stdout, path);
  const only = paragraphs[0];
  if (only === undefined || paragraphs.length !== 1) throw bad(path, `the control file has ${paragraphs.length} paragraphs, expected 1`);
  return debControlFrom(only, path);
}

/**
 * Check that the whole .deb at `path` unpacks: `dpkg-deb --contents` decompresses its
 * data member and lists it (the list thrown away), so a truncated or damaged data.tar
 * is found, which `dpkg-deb --field` (the control member only) does not read. It reads
 * the whole file: call it where a .deb is taken in to be published, not where many
 * .debs are read for their control fields.
 */
export async function checkDebContents(path: string, options: { signal?: AbortSignal } = {}): Promise<void> {
  const kind = path.endsWith('.udeb') ? '.udeb' : '.deb';
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolvePromise, reject) => {
    const child = spawn('dpkg-deb', ['--contents', path], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LC_ALL: 'C.UTF-8' },
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      // The first lines say what is wrong; a flood of them is not kept.
      if (stderr.length < 16384) stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, signal, stderr }));
  }).catch((e: unknown) => {
    dpkgDebNotRun(path, e);
    throw e;
  });
  if (result.code === 0) return;
  throw new KilnError('deb-invalid', `${path} is not a complete ${kind}: dpkg-deb --contents fails: ${contentsProblem(result.stderr, result.signal)}`, {
    hint: 'the file is truncated or damaged (its control fields may still read): copy it again, or rebuild it',
  });
}

/** dpkg-deb could not be run on PATH (not installed) or was stopped (cancelled): thrown as such; else returns. */
function dpkgDebNotRun(path: string, e: unknown): void {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') throw new KilnError('tool-missing', `cannot read ${path}: dpkg-deb is not installed`, { hint: 'install dpkg (apt-get install dpkg)', cause: e });
  if (err.name === 'AbortError') throw new KilnError('cancelled', `reading ${path} was cancelled`, { cause: e });
}

/** What dpkg-deb said, shortly: its distinct lines, without the generic "exit status" ones. */
function contentsProblem(stderr: string, signal: NodeJS.Signals | null): string {
  const lines = [...new Set(stderr.split('\n').map((l) => l.trim()).filter((l) => l !== ''))];
  const telling = lines.filter((l) => !/subprocess returned error exit status|Exiting with failure status|Error is not recoverable/.test(l));
  const chosen = (telling.length > 0 ? telling : lines).slice(0, 2);
  if (chosen.length > 0) return chosen.join('; ');
  return signal === null ? 'it exited with an error and said nothing' : `it was killed by ${signal}`;
}

function bad(source: string, what: string): KilnError {
  return new KilnError('deb-invalid', `${source}: ${what}`, { hint: 'rebuild the package with a valid debian/control' });
}
