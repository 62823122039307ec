// rebuild.sh: what --keep-failed leaves in a failed host-sandbox workspace so that the
// build can be re-run, or explored, exactly as it ran (BitBake's devshell, by hand):
// the same script, the same clean environment, the same working directory. Pure.

import { shellQuote } from '../lib/shell-quote.ts';

export interface RebuildInput {
  readonly name: string;
  readonly version: string;
  readonly arch: string;
  readonly runId: string;
  /** The working directory the script ran in ($SRCDIR). */
  readonly cwd: string;
  /** The complete environment it ran with. */
  readonly env: Readonly<Record<string, string>>;
  readonly script: string;
}

export function rebuildScript(i: RebuildInput): string {
  const vars = Object.keys(i.env)
    .sort()
    .map((k) => `  ${shellQuote(`${k}=${i.env[k]}`)}`);
  return [
    '#!/bin/bash',
    `# Written by kiln for the failed build of ${i.name} ${i.version} (${i.arch}), run ${i.runId}:`,
    '# the same script with the same clean environment, in this workspace (src/, dest/ and',
    '# sysroot/ as the build left them).',
    '#   bash rebuild.sh          run the build script again',
    "#   bash rebuild.sh --shell  an interactive bash with the build's environment, in src/",
    `cd ${shellQuote(i.cwd)} || exit 1`,
    'vars=(',
    ...vars,
    ')',
    'if [ "${1:-}" = --shell ]; then exec env -i "${vars[@]}" bash --norc -i; fi',
    `exec env -i "\${vars[@]}" bash -e -c ${shellQuote(i.script)} ${shellQuote(`${i.name}/build`)}`,
    '',
  ].join('\n');
}
