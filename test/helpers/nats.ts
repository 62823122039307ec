// A real nats-server with JetStream per test, and real `kiln worker` processes, for the
// tests of kiln's many-machines mode (test/integration/distributed*.test.ts).

import type { TestContext } from 'node:test';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const noNats = spawnSync('nats-server', ['--version']).status === 0 ? false : 'nats-server is not installed (scripts/setup.sh installs it)';
/** The ack wait of the tests' workers: short, so that a dead worker's job moves on quickly. */
export const ACK_WAIT_MS = 2_000;

export function natsServer(t: TestContext, dir: string): Promise<string> {
  return spawnNats(t, ['-js', '-sd', join(dir, 'nats'), '-a', '127.0.0.1', '-p', '-1']);
}

/** nats-server with `args`, stopped after the test; resolves to `nats://127.0.0.1:PORT` once it listens. */
export async function spawnNats(t: TestContext, args: readonly string[]): Promise<string> {
  return (await startNats(t, args)).url;
}

/** nats-server with `args`, stopped after the test, once it listens: its URL, port and process (to kill or restart it). */
export function startNats(t: TestContext, args: readonly string[]): Promise<{ url: string; port: string; child: ChildProcess }> {
  const child = spawn('nats-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  return new Promise((resolve, reject) => {
    const seen = (d: Buffer): void => {
      out += d.toString();
      const m = /Listening for client connections on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m !== null) resolve({ url: `nats://127.0.0.1:${m[1]}`, port: m[1]!, child });
    };
    child.stdout!.on('data', seen);
    child.stderr!.on('data', seen);
    child.on('exit', (code) => reject(new Error(`nats-server exited ${code}: ${out}`)));
  });
}

export interface Worker {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

/** `kiln worker` on `url` (its sandbox: `sandbox`, by default --sandbox host; any other flags too). */
/** A kiln worker; `args` (default `--sandbox host`) go to it as they are, and --jobs 1 unless they name --jobs. */
export function startWorker(t: TestContext, url: string, state: string, name: string, cache?: string, env: Readonly<Record<string, string>> = {}, args: readonly string[] = ['--sandbox', 'host']): Worker {
  const child = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'kiln.js'), 'worker', '--nats', url, '--state', state, ...(cache === undefined ? [] : ['--cache', cache]), ...args, ...(args.includes('--jobs') ? [] : ['--jobs', '1']), '--name', name], {
    env: { ...process.env, KILN_ACK_WAIT_MS: String(ACK_WAIT_MS), KILN_STATE: '', KILN_CACHE: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => child.kill('SIGKILL'));
  return { child, output: () => out, exited };
}

export async function until<T>(what: string, fn: () => T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A nats-server whose accounts each have JetStream and one user (`accounts`: account name →
 * user, password, and the subjects it may publish and subscribe to, when limited); returns
 * `nats://HOST:PORT` without credentials.
 */
export function natsServerWithAccounts(t: TestContext, dir: string, accounts: Readonly<Record<string, { user: string; password: string; publish?: readonly string[]; subscribe?: readonly string[] }>>): Promise<string> {
  const conf = join(dir, 'nats.conf');
  const permissions = (u: { publish?: readonly string[]; subscribe?: readonly string[] }): string =>
    u.publish === undefined ? '' : `, permissions: { publish: ${JSON.stringify(u.publish)}, subscribe: ${JSON.stringify(u.subscribe ?? [])} }`;
  const body = Object.entries(accounts).map(([name, u]) => `  ${name}: { jetstream: enabled, users: [ { user: ${JSON.stringify(u.user)}, password: ${JSON.stringify(u.password)}${permissions(u)} } ] }`).join('\n');
  writeFileSync(conf, `host: 127.0.0.1\nport: -1\njetstream { store_dir: ${JSON.stringify(join(dir, 'nats'))} }\naccounts {\n${body}\n}\n`);
  return spawnNats(t, ['-c', conf]);
}
