// Daemon benchmark (issue 5 §6): while two builds of two tenants run, load
// `GET /api/v1/builds/{id}` of a real `kiln serve` on loopback with autocannon and report
// requests per second, p50/p99 latency, errors and non-2xx answers.
// Targets: >= 5,000 req/s and p99 < 50 ms.
//
// The server is a child process (host sandbox, a temp state dir, 127.0.0.1 on a free
// port), so that it does not share an event loop with the load generator, which runs in
// this process. Each tenant's tree has one job that waits for a gate file (bounded at
// 10 minutes) and one that depends on it: both builds stay running until the bench
// writes the gate after the load, then they finish, the server is stopped with SIGTERM
// and the temp dir removed.
//
//   node bench/daemon.ts [--duration 10] [--warmup 2] [--connections 50] [--cpu-prof] [--keep]
//
// --cpu-prof runs the server with V8's --cpu-prof and prints its hotspots (the figures
// are then slower than without). A measurement, not a test: it prints PASS/FAIL lines and
// exits 0 either way (1 when the setup itself failed, 2 on bad options).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openServerRecords } from '../src/records/server-records.ts';
import { summarizeProfile } from './profile-summary.ts';
import { recipeText } from '../test/helpers/recipe-text.ts';

const REPO = resolve(import.meta.dirname, '..');
const KILN = join(REPO, 'bin', 'kiln.js');
const RPS_TARGET = 5000;
const P99_TARGET_MS = 50;
const DEADLINE_MS = 60_000;
/** Share of the CPU used by others above which the figures are flagged as unreliable. */
const NOISY = 0.1;

export interface DaemonBenchOptions {
  /** Seconds of measured load (default 10). */
  readonly durationS?: number;
  /** Seconds of load before the measurement, thrown away (default 2). */
  readonly warmupS?: number;
  readonly connections?: number;
  /** Run the server under --cpu-prof and print its hotspots. */
  readonly cpuProf?: boolean;
  /** Keep the temp dir (state, logs, profiles). */
  readonly keep?: boolean;
  readonly log?: (line: string) => void;
}

export interface DaemonBenchResult {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly total: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  /** CPU cores used during the measured load: the server, this process (autocannon), everything else. */
  readonly serverCores: number | undefined;
  readonly loaderCores: number;
  readonly otherShare: number | undefined;
  readonly pass: boolean;
}

/** What autocannon's programmatic API returns, as far as this bench reads it. */
interface CannonResult {
  readonly requests: { readonly average: number; readonly total: number };
  readonly latency: { readonly p50: number; readonly p99: number; readonly max: number; readonly average: number };
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly '2xx': number;
  readonly duration: number;
}
interface CannonRequest {
  readonly method: 'GET';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}
type Cannon = (opts: {
  url: string;
  connections: number;
  pipelining: number;
  duration: number;
  requests: readonly CannonRequest[];
}) => Promise<CannonResult>;

async function loadCannon(): Promise<Cannon> {
  // autocannon ships no types; the one call used here is typed by `Cannon` above.
  const name = 'autocannon';
  const mod = (await import(name)) as { default: Cannon };
  return mod.default;
}

const recipe = (name: string, script: string, deps: readonly string[] = []): string => recipeText({ name, script, deps, summary: `daemon bench: ${name}` });

/** PREFIX-wait (waits for `gate`, at most 10 minutes) → PREFIX-top. */
async function writeTree(dir: string, prefix: string, gate: string): Promise<string> {
  const tree = join(dir, `tree-${prefix}`);
  const install = (n: string): string => `mkdir -p "$DESTDIR/usr/share/${n}"\necho ${n} > "$DESTDIR/usr/share/${n}/${n}.txt"`;
  const pkg = async (name: string, script: string, deps: readonly string[] = []): Promise<void> => {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), recipe(name, script, deps));
  };
  await pkg(`${prefix}-wait`, `for i in $(seq 1 3000); do test -f '${gate}' && break; sleep 0.2; done\ntest -f '${gate}'\n${install(`${prefix}-wait`)}`);
  await pkg(`${prefix}-top`, install(`${prefix}-top`), [`${prefix}-wait`]);
  return tree;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = DEADLINE_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** CPU seconds (user + system) of one process, from /proc/PID/stat. */
function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime (fields 14, 15); USER_HZ 100
  } catch {
    return undefined;
  }
}

/** CPU seconds the whole machine spent busy since boot (first line of /proc/stat). */
function machineBusySeconds(): number | undefined {
  try {
    const f = (readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    return ((f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0)) / 100;
  } catch {
    return undefined;
  }
}

interface Server {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

async function startServer(args: readonly string[], nodeArgs: readonly string[]): Promise<Server> {
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_ENVS: '' };
  delete env['KILN_STATE'];
  delete env['KILN_CACHE'];
  delete env['NODE_OPTIONS'];
  const child = spawn(process.execPath, [...nodeArgs, KILN, 'serve', ...args], { cwd: REPO, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  let gone = false;
  void exited.then(() => (gone = true));
  const url = await until('kiln serve to listen', () => {
    if (gone) throw new Error(`kiln serve exited before listening:\n${err}`);
    return /listening on (http:\/\/\S+)/.exec(err)?.[1];
  });
  return { child, url, exited, stderr: () => err };
}

export async function benchDaemon(options: DaemonBenchOptions = {}): Promise<DaemonBenchResult> {
  const log = options.log ?? ((l: string) => console.log(l));
  const say = (text: string): void => void process.stderr.write(`bench: daemon: ${text}\n`);
  const durationS = options.durationS ?? 10;
  const warmupS = options.warmupS ?? 2;
  const connections = options.connections ?? 50;
  const cannon = await loadCannon();

  const root = await mkdtemp(join(tmpdir(), 'kiln-bench-daemon-'));
  const state = join(root, 'state');
  const gate = join(root, 'gate');
  const profDir = join(root, 'cpu-prof');
  let server: Server | undefined;
  try {
    const records = openServerRecords(state);
    const tokens = { alice: records.createToken('alice').token, bob: records.createToken('bob').token, admin: records.createToken('ops', { admin: true }).token };
    records.close();
    const treeA = await writeTree(root, 'a', gate);
    const treeB = await writeTree(root, 'b', gate);
    const port = await freePort();
    const nodeArgs = options.cpuProf === true ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
    say(`starting kiln serve on 127.0.0.1:${port} (state ${state})...`);
    server = await startServer(
      ['--listen', `127.0.0.1:${port}`, '--state', state, '--sandbox', 'host', '--tree', `a=${treeA}`, '--tree', `b=${treeB}`, '--max-concurrent-builds', '2', '-j', '2'],
      nodeArgs,
    );
    const url = server.url;
    const call = async (token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      try {
        return { status: res.status, json: JSON.parse(text) };
      } catch {
        return { status: res.status, json: text };
      }
    };

    // Two tenants, one build each; both must be running, each with its waiting job running.
    const a = await call(tokens.alice, 'POST', '/api/v1/builds', { tree: 'a' });
    const b = await call(tokens.bob, 'POST', '/api/v1/builds', { tree: 'b' });
    if (a.status !== 201 || b.status !== 201) throw new Error(`POST /api/v1/builds: ${a.status} ${JSON.stringify(a.json)}, ${b.status} ${JSON.stringify(b.json)}`);
    const builds = [
      { id: a.json.id as string, token: tokens.alice, wait: 'a-wait' },
      { id: b.json.id as string, token: tokens.bob, wait: 'b-wait' },
    ];
    const bothRunning = async (): Promise<boolean> => {
      for (const x of builds) {
        const build = await call(x.token, 'GET', `/api/v1/builds/${x.id}`);
        if (build.json?.state !== 'running') return false;
        const jobs = await call(x.token, 'GET', `/api/v1/builds/${x.id}/jobs`);
        if (!((jobs.json?.jobs ?? []) as Array<{ name: string; state: string }>).some((j) => j.name === x.wait && j.state === 'running')) return false;
      }
      return true;
    };
    await until('both builds running their waiting job', async () => ((await bothRunning()) ? true : undefined));
    say(`builds ${builds[0]!.id} (alice) and ${builds[1]!.id} (bob) running; loading GET /api/v1/builds/{id}...`);

    // Each connection alternates between the two builds, each with its tenant's token.
    const requests: CannonRequest[] = builds.map((x) => ({ method: 'GET', path: `/api/v1/builds/${x.id}`, headers: { authorization: `Bearer ${x.token}` } }));
    if (warmupS > 0) await cannon({ url, connections, pipelining: 1, duration: warmupS, requests });
    const serverPid = server.child.pid!;
    const busy0 = machineBusySeconds();
    const srv0 = processCpuSeconds(serverPid);
    const self0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await cannon({ url, connections, pipelining: 1, duration: durationS, requests });
    const wallS = (performance.now() - t0) / 1000;
    const self = process.cpuUsage(self0);
    const srv1 = processCpuSeconds(serverPid);
    const busy1 = machineBusySeconds();
    const load = loadavg();
    const stillRunning = await bothRunning();

    const serverCores = srv0 === undefined || srv1 === undefined ? undefined : (srv1 - srv0) / wallS;
    const loaderCores = (self.user + self.system) / 1e6 / wallS;
    const otherShare =
      busy0 === undefined || busy1 === undefined || serverCores === undefined
        ? undefined
        : Math.min(1, Math.max(0, (busy1 - busy0) / wallS - serverCores - loaderCores) / availableParallelism());
    const rps = r.requests.total / r.duration;
    const pass = rps >= RPS_TARGET && r.latency.p99 < P99_TARGET_MS && r.errors === 0 && r.non2xx === 0 && stillRunning;
    const mark = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
    log(`daemon bench: GET /api/v1/builds/{id} on ${url}, autocannon ${connections} connections, pipelining 1, ${durationS} s after ${warmupS} s warm-up; 2 builds of 2 tenants running`);
    log(`  requests/s   ${Math.round(rps)} (${r.requests.total} in ${r.duration.toFixed(1)} s; per-second mean ${Math.round(r.requests.average)})   target >= ${RPS_TARGET}   ${mark(rps >= RPS_TARGET)}`);
    log(`  latency      p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms   target p99 < ${P99_TARGET_MS} ms   ${mark(r.latency.p99 < P99_TARGET_MS)}`);
    log(`  answers      ${r['2xx']} 2xx, ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts   ${mark(r.errors === 0 && r.non2xx === 0)}`);
    log(`  builds       ${stillRunning ? 'both still running after the load' : 'NOT both running after the load'}   ${mark(stillRunning)}`);
    const pct = (x: number): string => `${Math.round(x * 100)}%`;
    log(
      `  cpu          server ${serverCores === undefined ? '?' : serverCores.toFixed(2)} cores, autocannon ${loaderCores.toFixed(2)} cores, others ${otherShare === undefined ? '?' : pct(otherShare)} of ${availableParallelism()} cores; load average ${load.map((x) => x.toFixed(2)).join(' ')}`,
    );
    if (otherShare !== undefined && otherShare > NOISY) log(`  warning: other processes used ${pct(otherShare)} of the machine's CPU during the load; run again on a quiet machine`);
    if (options.cpuProf === true) log('  (server under --cpu-prof: slower than without)');

    // Release the builds and let them end, then stop the server.
    await writeFile(gate, 'go');
    const ended = await until('both builds to end', async () => {
      const states = await Promise.all(builds.map(async (x) => (await call(x.token, 'GET', `/api/v1/builds/${x.id}`)).json?.state as string));
      return states.every((s) => s !== 'queued' && s !== 'running') ? states : undefined;
    });
    if (!ended.every((s) => s === 'done')) log(`  warning: the builds ended ${ended.join(', ')} (expected done)`);
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    if (exit.code !== 0) log(`  warning: kiln serve exited ${exit.code ?? exit.signal} on SIGTERM:\n${server.stderr()}`);
    const work = join(state, 'work');
    const left = existsSync(work) ? readdirSync(work) : [];
    if (left.length > 0) log(`  warning: workspaces left behind: ${left.join(', ')}`);
    if (options.cpuProf === true) {
      const files = (await readdir(profDir).catch(() => [])).filter((f) => f.endsWith('.cpuprofile')).sort();
      for (const f of files) log(`\nserver CPU profile ${join(profDir, f)}:\n${summarizeProfile(join(profDir, f), { root: REPO })}`);
    }
    return {
      requestsPerSecond: rps,
      p50Ms: r.latency.p50,
      p99Ms: r.latency.p99,
      maxMs: r.latency.max,
      total: r.requests.total,
      errors: r.errors,
      timeouts: r.timeouts,
      non2xx: r.non2xx,
      serverCores,
      loaderCores,
      otherShare,
      pass,
    };
  } finally {
    if (server !== undefined && server.child.exitCode === null && server.child.signalCode === null) {
      // Setup failed or the load threw: let the waiting jobs go and stop the server.
      await writeFile(gate, 'go').catch(() => undefined);
      server.child.kill('SIGTERM');
      const timer = setTimeout(() => server!.child.kill('SIGKILL'), 10_000);
      await server.exited;
      clearTimeout(timer);
    }
    if (options.keep === true || options.cpuProf === true) log(`kept: ${root}`);
    else await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '50' },
      'cpu-prof': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
    },
  });
  const num = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) {
      process.stderr.write(`bench: --${name}: expected a whole number of at least ${min}, got "${text}"\n`);
      process.exit(2);
    }
    return n;
  };
  try {
    await benchDaemon({
      durationS: num('duration', values.duration, 1),
      warmupS: num('warmup', values.warmup, 0),
      connections: num('connections', values.connections, 1),
      cpuProf: values['cpu-prof'],
      keep: values.keep,
    });
  } catch (e) {
    process.stderr.write(`bench: daemon: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
