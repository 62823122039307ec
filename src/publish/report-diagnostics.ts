// An invalid recipe's problems, read back from its broken cause as plan/graph.ts writes
// it: `invalid recipe: FILE: KEY: MESSAGE` for one, `invalid recipe (N problems):` and one
// `FILE: KEY: MESSAGE` per line for several. The records keep only the cause text; the
// report (a list beside the cause) and the CLI (one line each, indented) need the lines.
// A leaf module: the CLI's progress view loads it without the report code.

/** The headings graph.ts gives a package's problems: a recipe's, a Debian source package's, a name's found in several folders. */
export const PROBLEM_HEADINGS = ['invalid recipe', 'not buildable', 'name in several folders'] as const;
export type ProblemHeading = (typeof PROBLEM_HEADINGS)[number];
const SEVERAL = new RegExp(`^(${PROBLEM_HEADINGS.join('|')}) \\(\\d+ problems\\):$`);

/** The `FILE: KEY: MESSAGE` lines of an invalid recipe's cause; [] for any other cause. */
export function diagnosticsOf(cause: string | null | undefined): string[] {
  return problemsOf(cause)?.lines ?? [];
}

/** The heading and `FILE: KEY: MESSAGE` lines of a package's problems, or undefined for any other cause. */
export function problemsOf(cause: string | null | undefined): { heading: ProblemHeading; lines: string[] } | undefined {
  if (cause == null) return undefined;
  const heading = PROBLEM_HEADINGS.find((h) => cause.startsWith(h));
  if (heading === undefined) return undefined;
  const [head = '', ...rest] = cause.split('\n');
  if (rest.length > 0) return SEVERAL.test(head) ? { heading, lines: rest } : undefined;
  return head.startsWith(`${heading}: `) ? { heading, lines: [head.slice(heading.length + 2)] } : undefined;
}

/**
 * A cause for a terminal: an invalid recipe's problems one per line, each indented by
 * `indent` under a heading, paths under `cwd` made relative; any other cause as it is,
 * its later lines (if any) indented too.
 */
export function causeForTerminal(cause: string, indent: string, cwd = process.cwd()): string {
  const problems = problemsOf(cause);
  const diags = problems?.lines ?? [];
  const prefix = `${cwd.replace(/\/+$/, '')}/`;
  if (diags.length === 0) {
    // A chain that quotes another package's problem (`needs a, which is broken: invalid
    // recipe: /t/a/recipe.toml: …`): its paths relative too, as on the package's own line.
    // Only a path below cwd (something follows the prefix), not cwd itself.
    const text = prefix === '/' ? cause : cause.replace(new RegExp(`(^|[\\s:(])${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=[^\\s/])`, 'g'), '$1');
    return text.replaceAll('\n', `\n${indent}`);
  }
  const lines = diags.map((d) => `\n${indent}${d.startsWith(prefix) ? d.slice(prefix.length) : d}`);
  return `${problems!.heading} (${diags.length} problem${diags.length === 1 ? '' : 's'}):${lines.join('')}`;
}

/**
 * The cause of a package skipped because a job it needs failed, as the run writes it
 * (src/run/run-build.ts) and the records keep it: `needs NAME (ARCH), which failed`.
 */
export function skippedCause(failedName: string, failedArch: string): string {
  return `needs ${failedName} (${failedArch}), which failed`;
}

const SKIPPED = /^needs (\S+) \((\S+)\), which failed$/;

/** The failed package a skipped package's cause names, or undefined for any other cause. */
export function failedDependencyOf(cause: string | null | undefined): { readonly name: string; readonly arch: string } | undefined {
  const m = cause == null ? null : SKIPPED.exec(cause);
  return m === null ? undefined : { name: m[1]!, arch: m[2]! };
}

/**
 * A broken package's cause that a recipe's `ignore` accounts for: `ignored: REASON`, or a
 * chain of `needs X, which is broken: …` ending in `needs Y, which is ignored: …`.
 * plan/graph.ts writes the causes, so it owns their grammar.
 */
export { isIgnoredCause } from '../plan/graph.ts';
