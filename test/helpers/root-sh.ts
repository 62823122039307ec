// Run a shell script as root inside a sandbox (apt, dpkg: the way the Debian tests check
// what a fresh env sees), collecting stdout and stderr together.

import type { Sandbox } from '../../src/sandbox/sandbox.ts';

const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

export async function rootSh(sb: Sandbox, script: string): Promise<{ code: number | null; out: string }> {
  const chunks: Buffer[] = [];
  const r = await sb.run({
    argv: ['/bin/sh', '-c', script],
    cwd: '/',
    env: { PATH, LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive', HOME: '/root' },
    user: 'root',
    timeoutMs: 5 * 60_000,
    onOutput: (_s, c) => { chunks.push(c); },
  });
  return { code: r.exitCode, out: Buffer.concat(chunks).toString('utf8') };
}
