// Streams to run kiln's CLI in-process (main(args, io) or a verb's register) and read back
// what it printed.

import './hermetic-env.ts'; // a developer's KILN_ENVS/KILN_STATE never reach these tests, also under a bare node --test
import { PassThrough } from 'node:stream';

export function cliStreams(): { stdout: PassThrough; stderr: PassThrough; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { stdout, stderr, out: () => out, err: () => err };
}

/** Run kiln's main() in-process with fresh streams: what it printed and its exit status. */
export async function runMain(args: string[]): Promise<{ out: string; err: string; code: number }> {
  const { main } = await import('../../src/cli/main.ts');
  const io = cliStreams();
  const code = await main(args, io);
  return { out: io.out(), err: io.err(), code };
}
