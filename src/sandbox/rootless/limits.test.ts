import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rootlessLimits } from './limits.ts';

test('rootless limits: what is enforced, and that the process limit does not hold as root', () => {
  const cases: { asRoot: boolean; has: RegExp[]; hasNot: RegExp[] }[] = [
    { asRoot: false, has: [/^memory per process only \(RLIMIT_DATA/, /not as out-of-memory/, /\/tmp and \/dev\/shm together bounded at the memory limit/, /processes limited per build \(RLIMIT_NPROC\)/, /no cpu quota$/], hasNot: [/no process limit/] },
    { asRoot: true, has: [/^memory per process only/, /\/tmp and \/dev\/shm together/, /no process limit when kiln runs as root/, /no cpu quota$/], hasNot: [/processes limited per build/] },
  ];
  for (const c of cases) {
    const text = rootlessLimits(c.asRoot);
    for (const r of c.has) assert.match(text, r, `asRoot ${c.asRoot}`);
    for (const r of c.hasNot) assert.doesNotMatch(text, r, `asRoot ${c.asRoot}`);
  }
});
