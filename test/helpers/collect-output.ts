// An output sink for runGroup/Sandbox.run in tests: keeps stdout and stderr apart.

import type { RunGroupOptions } from '../../src/lib/spawn-group.ts';

export function collect(): { out: () => string; err: () => string; onOutput: NonNullable<RunGroupOptions['onOutput']> } {
  const chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  return {
    out: () => Buffer.concat(chunks.stdout).toString(),
    err: () => Buffer.concat(chunks.stderr).toString(),
    onOutput: (stream, chunk) => void chunks[stream].push(chunk),
  };
}
