// Pre-forked launchers: small long-lived helper processes that start commands for runGroup.
//
// fork() from kiln's main process costs milliseconds and grows with its RSS (page tables
// are copied), and it runs on the event loop thread. A perl helper is a few MiB, so its
// fork is cheap, and it runs beside kiln on another core. One helper runs one command at
// a time; idle helpers are pooled and reused.
//
// What the helper does for a command is what child_process.spawn({detached: true}) did:
// fork, setsid (the command leads its own process group), stdin from /dev/null, stdout
// and stderr to fresh pipes, chdir, exactly the given environment, exec (argv[0] searched
// in the command's PATH, as execvp does). The child does that with raw system calls on
// argv/env pointer arrays made before the fork, and the helper loads no module: the fewer
// pages of perl's memory the child and the helper touch after fork, the fewer are copied
// or refaulted (this halved the helper's CPU per job). It reports the pid (kiln kills by
// process group and sweeps by cookie itself, as before), relays both pipes, and reports
// the wait status, then "closed" once both pipes hit EOF (or kiln tells it to abandon
// them). A command that ends within PID_DELAY_MS without printing gets its pid, status
// and "closed" in one write: one wakeup of kiln per job instead of three. Backpressure is the pipe's own: when kiln pauses
// the helper's stdout, the helper blocks on write and stops reading the command's pipes.
// If kiln goes away (EOF on the helper's stdin, or a frame to it failing with EPIPE) the
// running command's group is killed, and (as a subreaper) every process left under the
// helper, a setsid daemon included.
//
// Two things only a parent can know, which save kiln a process and a /proc scan per job:
// - rusage: the helper reaps the command with wait4(2) (perl's syscall(), the number for
//   this architecture given on its command line), so user/system CPU and max RSS of the
//   command and everything it waited for come without wrapping it in GNU time.
// - "descendants left": the helper is a child subreaper (prctl PR_SET_CHILD_SUBREAPER),
//   so every orphan of the command (a double-forked, setsid'd daemon too) becomes the
//   helper's child instead of init's. Once the command is reaped, the helper reaps
//   zombies and asks waitpid(-1, WNOHANG): ECHILD proves that no process the command
//   started is alive (every live descendant has a chain of live parents up to the
//   helper), so kiln can skip its /proc sweep; anything else and kiln sweeps as before.
// Each capability is checked once when the helper starts (a trial fork) and announced in
// its ready frame; without it kiln falls back to GNU time and the sweep.
//
// Wire format. kiln → helper: u32be length, then 'J' + NUL-separated fields
// [timeFile, cwd, argc, ...argv, ...env entries], or 'A' (abandon the pipes).
// helper → kiln: a type byte, u32be length, payload: R "rusage reaper" (ready, 0/1 each) |
// P pid (before any o/e/X) | E "errno\0message" (could not start; P may or may not have
// come first) | o/e output | X "code signal\n" +
// "userUs systemUs maxRssKb\n" (or "-\n") + "left\n" (1 = descendants alive, 0 = none,
// kN = N were alive and the compiled helper killed them before this frame, - = unknown) +
// GNU time's output file | C closed.
// Without perl, runGroup falls back to spawning directly.

import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { Readable } from 'node:stream';
import type { Rusage } from '../plan/job.ts';
import { launcherBinary, launcherFailed, launcherUsed } from './launcher-binary.ts';
import { HELPER } from './prefork-helper.ts';


export type RawExit = { code: number | null; signal: NodeJS.Signals | null } | { error: Error };

export interface Launched {
  /** The command's pid, which is also its process group id; undefined if it never started. */
  readonly pid: number | undefined;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exited: Promise<RawExit>;
  /** GNU time's output, read (and removed) by the helper; undefined when there was none. */
  readonly timeOutput: (() => string | undefined) | undefined;
  /** The command's rusage from wait4(2), once it has exited; undefined when the helper cannot tell. */
  readonly rusage: (() => Rusage | undefined) | undefined;
  /**
   * Once the command has exited: false when the helper (a child subreaper) proved that no
   * process it started is still alive, so no sweep is needed; true or undefined otherwise.
   */
  readonly descendantsLeft: (() => boolean | undefined) | undefined;
  /** Once the command has exited: how many processes it left the helper killed (as a subreaper) before saying so. */
  readonly killedLeft?: (() => number) | undefined;
  /** Stop waiting for EOF on the command's pipes (a survivor holds them). */
  abandon(): void;
}

export interface LaunchOptions {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** A file GNU time writes to; the helper reads and removes it after the command ends. */
  readonly timeFile?: string;
}

/** A pooled helper, taken for one command: launch() it exactly once. */
export interface Launcher {
  /** The helper reports the command's rusage itself (no GNU time needed). */
  readonly rusage: boolean;
  /** Which helper program runs it: the compiled one (launcher-binary.ts) or perl. */
  readonly kind: 'c' | 'perl';
  launch(argv: readonly string[], options: LaunchOptions): Promise<Launched>;
}

/**
 * Take a pooled helper for one command, or undefined when helpers cannot be had (no perl)
 * or the command is not representable on the wire (spawn() rejects those with its own error).
 */
export async function preforkedLauncher(argv: readonly string[], env: Readonly<Record<string, string>>): Promise<Launcher | undefined> {
  if (argv.some((a) => a.includes('\0')) || Object.entries(env).some(([k, v]) => k.includes('=') || k.includes('\0') || v.includes('\0'))) {
    return undefined;
  }
  const helper = await acquire();
  if (helper === undefined) return undefined;
  return { rusage: helper.caps.rusage, kind: helper.kind, launch: (a, o) => helper.launch(a, o) };
}

/** Launch through a pooled helper, or return undefined when helpers cannot be had (no perl). */
export async function launchPreforked(argv: readonly string[], options: LaunchOptions): Promise<Launched | undefined> {
  return (await preforkedLauncher([...argv], options.env))?.launch(argv, options);
}

/**
 * System call numbers the helper uses: wait4(2) and prctl(2) (where struct rusage has the
 * 64-bit layout it unpacks), and setsid, dup3, chdir, execve and exit_group for the child's
 * side of a launch (see the helper's comments). An architecture not listed gets zeros: the
 * helper then reaps with waitpid and sets the child up through perl's POSIX module
 * (KILN_PREFORK_PORTABLE=1 in kiln's environment forces that, for tests).
 */
const SYSCALLS: Partial<Record<NodeJS.Architecture, readonly [wait4: number, prctl: number, setsid: number, dup3: number, chdir: number, execve: number, exitGroup: number]>> = {
  x64: [61, 157, 112, 292, 80, 59, 231],
  arm64: [260, 167, 157, 24, 49, 221, 94],
  riscv64: [260, 167, 157, 24, 49, 221, 94],
};

/**
 * How long the helper holds back a command's pid (unless it prints first): a command that
 * ends sooner (a no-op build) reports pid, status and "closed" in one write. Limits and
 * cancellation act on the pid, so they may act this much later.
 */
export const PID_DELAY_MS = 20;

const MAX_IDLE = 8;
const idle: Helper[] = [];
let unavailable = false;

async function acquire(): Promise<Helper | undefined> {
  if (unavailable) return undefined;
  const h = idle.pop();
  if (h !== undefined) return h;
  const bin = await launcherBinary();
  if (bin !== undefined) launcherUsed(bin);
  const fresh = new Helper(bin);
  if (await fresh.ready) return fresh;
  if (bin !== undefined) {
    // The compiled helper would not start here: perl from now on.
    launcherFailed();
    const perl = new Helper(undefined);
    if (await perl.ready) return perl;
  }
  unavailable = true;
  return undefined;
}

function release(h: Helper): void {
  if (!h.dead && idle.length < MAX_IDLE) idle.push(h);
  else h.end();
}

interface Current {
  readonly stdout: Readable;
  readonly stderr: Readable;
  onPid: (pid: number | undefined) => void;
  onExit: (raw: RawExit) => void;
  timeOutput: string | undefined;
  rusage: Rusage | undefined;
  descendantsLeft: boolean | undefined;
  killedLeft: number;
  abandoned: boolean;
}

class Helper {
  readonly ready: Promise<boolean>;
  /** What the helper announced it can do (see the file comment). */
  caps = { rusage: false, reaper: false };
  dead = false;
  /** Which program: the compiled C helper or the perl one. */
  readonly kind: 'c' | 'perl';
  readonly #child: ChildProcess;
  #parts: Buffer[] = [];
  #output: { type: number; left: number } | undefined;
  #have = 0;
  #current: Current | undefined;
  #onReady: ((ok: boolean) => void) | undefined;

  /** `bin`: the compiled helper (launcher-binary.ts); undefined for the perl one. */
  constructor(bin: string | undefined) {
    this.ready = new Promise((resolve) => (this.#onReady = resolve));
    const e = osConstants.errno;
    const numbers = [
      ...((process.env['KILN_PREFORK_PORTABLE'] === '1' ? undefined : SYSCALLS[process.arch]) ?? [0, 0, 0, 0, 0, 0, 0]),
      PID_DELAY_MS,
      ...[e.EINTR, e.ECHILD, e.ENOENT, e.EACCES, e.ENOEXEC, e.ENOTDIR, e.ESTALE, e.ENODEV, e.ETIMEDOUT],
    ];
    const [file, args] = bin === undefined ? ['perl', ['-e', HELPER, ...numbers.map(String)]] : [bin, [String(PID_DELAY_MS)]];
    this.kind = bin === undefined ? 'perl' : 'c';
    // In a session of its own: Ctrl-C on a terminal signals kiln's whole process group,
    // and a helper killed by it would turn every running build into a failure. kiln stops
    // the builds itself; the helper goes when kiln does (EOF on its stdin).
    this.#child = spawn(file, args, { stdio: ['pipe', 'pipe', 'ignore'], env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, detached: true });
    this.#child.once('error', () => this.#died());
    this.#child.once('exit', () => this.#died());
    this.#child.stdin!.on('error', () => undefined);
    this.#child.stdout!.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#child.unref();
    (this.#child.stdin as unknown as { unref(): void }).unref();
  }

  launch(argv: readonly string[], o: LaunchOptions): Promise<Launched> {
    const readables: Readable[] = [];
    for (let i = 0; i < 2; i++) readables.push(new Readable({ read: () => this.#child.stdout!.resume() }));
    const [stdout, stderr] = readables as [Readable, Readable];
    let resolveExit!: (raw: RawExit) => void;
    const exited = new Promise<RawExit>((resolve) => (resolveExit = resolve));
    return new Promise((resolvePid) => {
      const cur: Current = {
        stdout,
        stderr,
        abandoned: false,
        timeOutput: undefined,
        rusage: undefined,
        descendantsLeft: undefined,
        killedLeft: 0,
        onPid: (pid) =>
          resolvePid({
            pid,
            stdout,
            stderr,
            exited,
            timeOutput: () => cur.timeOutput,
            rusage: () => cur.rusage,
            descendantsLeft: () => cur.descendantsLeft,
            killedLeft: () => cur.killedLeft,
            abandon: () => {
              if (cur.abandoned || this.#current !== cur) return;
              cur.abandoned = true;
              this.#child.stdout!.resume();
              this.#send(Buffer.from('A'));
            },
          }),
        onExit: resolveExit,
      };
      this.#current = cur;
      this.#busy();
      const fields = [o.timeFile ?? '', o.cwd, String(argv.length), ...argv, ...Object.entries(o.env).map(([k, v]) => `${k}=${v}`)];
      this.#send(Buffer.from(`J${fields.join('\0')}`));
    });
  }

  end(): void {
    this.dead = true;
    this.#child.stdin!.end();
  }

  #send(payload: Buffer): void {
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(payload.length);
    this.#child.stdin!.write(Buffer.concat([head, payload]));
  }

  // Idle helpers must not keep kiln alive; a busy one must (its command is awaited).
  #idle(): void {
    (this.#child.stdout as unknown as { unref(): void }).unref();
  }

  #busy(): void {
    (this.#child.stdout as unknown as { ref(): void }).ref();
  }

  // Frames are cut out of the pipe's chunks without copying: output frames are passed on
  // piece by piece as they arrive (a 64 KiB frame usually spans two reads), and only
  // headers and the small control frames are ever joined.
  #onData(chunk: Buffer): void {
    this.#parts.push(chunk);
    this.#have += chunk.length;
    for (;;) {
      if (this.#output !== undefined) {
        const head = this.#parts[0];
        if (head === undefined) return;
        const take = Math.min(head.length, this.#output.left);
        this.#deliver(this.#output.type, take === head.length ? head : head.subarray(0, take));
        if (take === head.length) this.#parts.shift();
        else this.#parts[0] = head.subarray(take);
        this.#have -= take;
        this.#output.left -= take;
        if (this.#output.left === 0) this.#output = undefined;
        continue;
      }
      if (this.#have < 5) return;
      let head = this.#parts[0]!;
      if (head.length < 5) head = this.#join(5);
      const type = head[0]!;
      const len = head.readUInt32BE(1);
      if (type === 111 || type === 101) {
        this.#parts[0] = head.subarray(5);
        this.#have -= 5;
        if (len > 0) this.#output = { type, left: len };
        continue;
      }
      if (this.#have < 5 + len) return;
      if (head.length < 5 + len) head = this.#join(5 + len);
      const payload = head.subarray(5, 5 + len);
      if (head.length === 5 + len) this.#parts.shift();
      else this.#parts[0] = head.subarray(5 + len);
      this.#have -= 5 + len;
      this.#frame(type, payload);
    }
  }

  #deliver(type: number, data: Buffer): void {
    const cur = this.#current;
    if (cur === undefined || cur.abandoned || data.length === 0) return;
    if (!(type === 111 ? cur.stdout : cur.stderr).push(data)) this.#child.stdout!.pause();
  }

  /** Merge leading parts until the first one holds at least n bytes. */
  #join(n: number): Buffer {
    const taken: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const p = this.#parts.shift()!;
      taken.push(p);
      got += p.length;
    }
    const joined = Buffer.concat(taken, got);
    this.#parts.unshift(joined);
    return joined;
  }

  #frame(type: number, payload: Buffer): void {
    const cur = this.#current;
    switch (String.fromCharCode(type)) {
      case 'R': {
        const [rusage, reaper] = payload.toString('latin1').split(' ');
        this.caps = { rusage: rusage === '1', reaper: reaper === '1' };
        this.#idle();
        this.#onReady?.(true);
        return;
      }
      case 'P':
        cur?.onPid(Number(payload.toString('latin1')));
        return;
      case 'E': {
        const text = payload.toString();
        const cut = text.indexOf('\0');
        const errno = Number(text.slice(0, cut));
        const code = Object.entries(osConstants.errno).find(([, n]) => n === errno)?.[0];
        const error = Object.assign(new Error(text.slice(cut + 1)), { code, errno: -errno });
        cur?.onPid(undefined);
        cur?.onExit({ error });
        return;
      }
      case 'X': {
        const text = payload.toString();
        const [status = '', usage = '-', left = '-'] = text.split('\n', 3);
        const [code, sig] = status.split(' ').map(Number) as [number, number];
        const rest = text.split('\n').slice(3).join('\n');
        cur!.timeOutput = rest.length > 0 ? rest : undefined;
        if (usage !== '-') {
          const [userUs, systemUs, maxRssKb] = usage.split(' ').map(Number) as [number, number, number];
          cur!.rusage = { userMs: Math.round(userUs / 1000), systemMs: Math.round(systemUs / 1000), maxRssKb };
        }
        // kN: N were left, and the helper killed them before it said the command ended.
        cur!.descendantsLeft = left === '0' || /^k\d+$/.test(left) ? false : left === '1' ? true : undefined;
        cur!.killedLeft = /^k\d+$/.test(left) ? Number(left.slice(1)) : 0;
        cur?.onExit(code < 0 ? { code: null, signal: signalName(sig) } : { code, signal: null });
        return;
      }
      case 'C':
        this.#current = undefined;
        cur?.stdout.push(null);
        cur?.stderr.push(null);
        this.#child.stdout!.resume();
        this.#idle();
        release(this);
        return;
    }
  }

  #died(): void {
    if (this.dead && this.#current === undefined) return;
    this.dead = true;
    this.#onReady?.(false);
    const i = idle.indexOf(this);
    if (i !== -1) idle.splice(i, 1);
    const cur = this.#current;
    this.#current = undefined;
    if (cur === undefined) return;
    const error = Object.assign(new Error(`kiln's process helper (${this.kind === 'c' ? 'the compiled launcher' : 'perl'}) died while it ran this command`), { helperDied: true });
    cur.onPid(undefined);
    cur.onExit({ error });
    cur.stdout.push(null);
    cur.stderr.push(null);
  }
}

function signalName(n: number): NodeJS.Signals | null {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name as NodeJS.Signals;
  return null;
}
