import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { eventually, pidsWithCmdline, pidsWithEnv } from '../../test/helpers/proc.ts';
import { heldBufferBytes } from '../../test/helpers/held-memory.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { COOKIE_VAR, DEFAULT_TIME_PATH, decodeExit, killByCookie, runGroup } from './spawn-group.ts';
import { launcherBinary } from './launcher-binary.ts';
import { collect } from '../../test/helpers/collect-output.ts';

const PATH = '/usr/local/bin:/usr/bin:/bin';
const hasTime = existsSync(DEFAULT_TIME_PATH);
const compiledLauncher = await launcherBinary();


/** A unique `sleep 300.<digits>` argument that /proc/<pid>/cmdline can be searched for. */
function sleepMarker(): string {
  return `300.${randomInt(1e8, 1e9)}`;
}

async function noneLeft(cookie: string, marker?: string): Promise<void> {
  assert.deepEqual(await pidsWithEnv(`${COOKIE_VAR}=${cookie}`), [], 'a process with the cookie survived');
  if (marker !== undefined) assert.deepEqual(await pidsWithCmdline(marker), [], `a "sleep ${marker}" survived`);
}

for (const timePath of [DEFAULT_TIME_PATH, null]) {
  describe(`runGroup (${timePath === null ? 'without' : 'with'} GNU time)`, { skip: timePath !== null && !hasTime }, () => {
    const base = { env: { PATH }, cwd: '/', timePath, graceMs: 300 } as const;

    test('reports exit codes, including ones that look like signals', async () => {
      for (const code of [0, 1, 3, 130, 137, 255]) {
        const r = await runGroup(['sh', '-c', `exit ${code}`], base);
        assert.equal(r.exitCode, code);
        assert.equal(r.signal, null);
        assert.equal(r.killedFor, undefined);
      }
    });

    test('reports death by signal', async () => {
      for (const sig of ['TERM', 'KILL', 'SEGV']) {
        const r = await runGroup(['sh', '-c', `kill -${sig} $$`], base);
        assert.deepEqual([r.exitCode, r.signal], [null, `SIG${sig}`]);
      }
    });

    test('a missing command exits 127 and says why on stderr', async () => {
      const c = collect();
      const r = await runGroup(['no-such-command-kiln'], { ...base, onOutput: c.onOutput });
      assert.equal(r.exitCode, 127);
      assert.match(c.err(), /no-such-command-kiln/);
    });

    test('a missing working directory is reported by name', async () => {
      const c = collect();
      const r = await runGroup(['true'], { ...base, cwd: '/nonexistent/kiln-cwd', onOutput: c.onOutput });
      assert.equal(r.exitCode, 127);
      assert.match(c.err(), /\/nonexistent\/kiln-cwd/);
    });

    test('the environment is exactly the one given, plus the cookie', async () => {
      const c = collect();
      const r = await runGroup(['env'], { ...base, env: { PATH, FOO: 'bar baz' }, cookie: 'c00k1e', onOutput: c.onOutput });
      assert.equal(r.exitCode, 0);
      assert.deepEqual(c.out().trim().split('\n').sort(), ['FOO=bar baz', `${COOKIE_VAR}=c00k1e`, `PATH=${PATH}`]);
    });

    test('wall-clock timeout kills the whole tree', async () => {
      const marker = sleepMarker();
      const r = await runGroup(['sh', '-c', `sleep ${marker} & sleep ${marker}; wait`], { ...base, timeoutMs: 300 });
      assert.equal(r.killedFor, 'timeout');
      assert.equal(r.exitCode, null);
      assert.notEqual(r.signal, null);
      assert.ok(r.durationMs >= 290 && r.durationMs < 3000, `took ${r.durationMs} ms`);
      await noneLeft(r.cookie, marker);
    });

    test('a limit longer than a Node timer holds (30 days) does not fire at once', async () => {
      const r = await runGroup(['sh', '-c', 'sleep 0.3'], { ...base, timeoutMs: 30 * 86_400_000, silentTimeoutMs: 40 * 86_400_000 });
      assert.equal(r.killedFor, undefined);
      assert.equal(r.exitCode, 0);
    });

    test('a command ignoring SIGTERM gets SIGKILL after the grace', async () => {
      const marker = sleepMarker();
      const r = await runGroup(['sh', '-c', `trap '' TERM; sleep ${marker}`], { ...base, timeoutMs: 200, graceMs: 300 });
      assert.equal(r.killedFor, 'timeout');
      assert.ok(r.durationMs >= 490, `SIGKILL came too early (${r.durationMs} ms)`);
      assert.equal(r.survivors, 0);
      await noneLeft(r.cookie, marker);
    });

    test('silent timeout fires when nothing is printed', async () => {
      const c = collect();
      const r = await runGroup(['sh', '-c', 'echo hi; exec sleep 300'], { ...base, silentTimeoutMs: 300, onOutput: c.onOutput });
      assert.equal(r.killedFor, 'silent');
      assert.equal(c.out(), 'hi\n');
      await noneLeft(r.cookie);
    });

    test('abort kills the tree and says cancelled', async () => {
      const ac = new AbortController();
      const r = await runGroup(['sh', '-c', 'echo started; sleep 300'], {
        ...base,
        signal: ac.signal,
        onOutput: (_s, chunk) => {
          if (chunk.toString().includes('started')) ac.abort();
        },
      });
      assert.equal(r.killedFor, 'cancelled');
      await noneLeft(r.cookie);
    });
  });
}

describe('runGroup', () => {
  const base = { env: { PATH }, cwd: '/', graceMs: 300 } as const;

  test('an already aborted signal starts nothing', async () => {
    const r = await runGroup(['sh', '-c', 'exit 0'], { ...base, signal: AbortSignal.abort() });
    assert.equal(r.killedFor, 'cancelled');
    assert.equal(r.exitCode, null);
  });

  test('output resets the silent timer', async () => {
    await using dir = await tmpDir();
    const stop = `${dir.path}/stop`;
    const started = performance.now();
    let lines = 0;
    const r = await runGroup(['sh', '-c', `while [ ! -e ${stop} ]; do echo tick; sleep 0.05; done`], {
      ...base,
      silentTimeoutMs: 400,
      onOutput: (_s, chunk) => {
        lines += chunk.toString().split('\n').length - 1;
        // Stop only after well past the silent limit, so the timer had to be pushed back.
        if (performance.now() - started > 1000 && !existsSync(stop)) void writeFile(stop, '');
      },
    });
    assert.equal(r.killedFor, undefined);
    assert.equal(r.exitCode, 0);
    assert.ok(lines >= 5, `only ${lines} lines`);
  });

  const daemons: Record<string, (marker: string, ready: string) => string> = {
    'setsid in a subshell': (m, ready) => `(setsid sh -c 'touch ${ready}; exec sleep ${m}' &)`,
    'nohup in the background': (m, ready) => `nohup sh -c 'touch ${ready}; exec sleep ${m}' >/dev/null 2>&1 &`,
    'a double fork': (m, ready) => `sh -c "sh -c 'touch ${ready}; exec sleep ${m}' & exit 0"`,
    'setsid holding stdout open': (m, ready) => `(setsid sh -c 'touch ${ready}; exec sleep ${m}' &)`,
  };
  // With the pre-forked helper (a child subreaper) the sweep is skipped only when it proves
  // that nothing is left: every daemon must still be found, by both launchers.
  for (const [name, script] of Object.entries(daemons)) for (const prefork of [true, false]) {
    test(`a daemonized grandchild (${name}) dies with the job (${prefork ? 'pre-forked' : 'spawned'})`, async () => {
      await using dir = await tmpDir();
      const marker = sleepMarker();
      const ready = `${dir.path}/ready`;
      // The leader waits until the daemon runs, then exits normally: the sweep must find it.
      const redirect = name.includes('stdout') ? '' : ' >/dev/null 2>&1';
      const r = await runGroup(
        ['sh', '-c', `${script(marker, ready)}${redirect}\nwhile [ ! -e ${ready} ]; do sleep 0.01; done; echo up`],
        { ...base, prefork, timeoutMs: 10_000 },
      );
      assert.equal(r.exitCode, 0);
      assert.equal(r.killedFor, undefined);
      assert.ok(r.reaped >= 1, 'nothing was reaped');
      await noneLeft(r.cookie, marker);
    });
  }

  // The hole the cookie sweep has: setsid and a cleared environment carry neither the group
  // nor the cookie. The compiled helper, their subreaper, kills it before it says the
  // command ended, so nothing of the job runs on (into packing, with a host build).
  test('a daemon that leaves the group and clears its environment dies with the job, before the exit is told (compiled helper)', { skip: compiledLauncher === undefined ? 'no compiled launcher here (no C compiler)' : false }, async () => {
    await using dir = await tmpDir();
    const marker = sleepMarker();
    const ready = `${dir.path}/ready`;
    const ticks = `${dir.path}/ticks`;
    const daemon = `(env -i /usr/bin/setsid /bin/sh -c 'touch ${ready}; while :; do echo x >> ${ticks}; sleep 0.01; done & exec sleep ${marker}' >/dev/null 2>&1 &)`;
    const r = await runGroup(['sh', '-c', `${daemon}\nwhile [ ! -e ${ready} ]; do sleep 0.01; done; echo up`], { ...base, prefork: true, timeoutMs: 10_000 });
    assert.equal(r.exitCode, 0);
    assert.ok(r.reaped >= 2, `reaped ${r.reaped}`);
    assert.deepEqual(await pidsWithCmdline(marker), [], 'the daemon survived');
    // Nothing writes any more: the loop was killed before runGroup returned.
    const size = (await readFile(ticks, 'utf8')).length;
    await new Promise((res) => setTimeout(res, 200));
    assert.equal((await readFile(ticks, 'utf8')).length, size, 'the daemon\'s loop still writes');
  });

  // On a timeout kiln sends SIGTERM to the group and gives it graceMs: a descendant that
  // cleans up on SIGTERM gets that time, even once the leader has died of the signal
  // (the helper does not kill what a signalled command left: kiln's grace comes first).
  test('on a timeout, a descendant that cleans up on SIGTERM gets its grace after the leader has died', async () => {
    await using dir = await tmpDir();
    const clean = `${dir.path}/cleaned`;
    const ready = `${dir.path}/ready`;
    const inner = `trap 'sleep 0.3; touch ${clean}; exit 0' TERM; touch ${ready}; while :; do sleep 0.05; done`;
    const r = await runGroup(['sh', '-c', `sh -c "${inner}" & while [ ! -e ${ready} ]; do sleep 0.01; done; wait`], { ...base, prefork: true, timeoutMs: 500, graceMs: 3000 });
    assert.equal(r.killedFor, 'timeout');
    assert.ok(existsSync(clean), 'the descendant was killed before its cleanup');
  });

  test('a daemonized grandchild dies when the job is killed for a timeout', async () => {
    const marker = sleepMarker();
    const r = await runGroup(['sh', '-c', `(setsid sleep ${marker} &); exec sleep ${marker}`], { ...base, timeoutMs: 300 });
    assert.equal(r.killedFor, 'timeout');
    await noneLeft(r.cookie, marker);
  });

  test('streams 50 MB without holding it in memory', async () => {
    // Held chunks (by runGroup or anything it hands them to) would survive a full
    // collection after the run and keep their 50 MB of buffer memory; streamed ones are gone.
    const before = await heldBufferBytes();
    let bytes = 0;
    const sampled: WeakRef<Buffer>[] = [];
    const r = await runGroup(['sh', '-c', 'yes | head -c 50000000'], {
      ...base,
      onOutput: (_s, chunk) => {
        bytes += chunk.length;
        if (sampled.length < 1000 && bytes % 7 < 3) sampled.push(new WeakRef(chunk));
      },
    });
    assert.equal(r.exitCode, 0);
    assert.equal(bytes, 50_000_000);
    const held = ((await heldBufferBytes()) - before) / 1e6;
    const alive = sampled.filter((ref) => ref.deref() !== undefined).length;
    assert.ok(held < 10, `${held.toFixed(1)} MB of buffers still held after the 50 MB stream (${alive} of ${sampled.length} sampled chunks alive)`);
    assert.ok(sampled.length > 10 && alive <= 1, `${alive} of ${sampled.length} sampled chunks still held`);
  });

  test('a slow sink pauses the pipe instead of buffering', async () => {
    let bytes = 0;
    let pending = 0;
    let maxPending = 0;
    const r = await runGroup(['sh', '-c', 'head -c 2000000 /dev/zero'], {
      ...base,
      onOutput: async (_s, chunk) => {
        pending++;
        maxPending = Math.max(maxPending, pending);
        await new Promise((resolve) => setImmediate(resolve));
        bytes += chunk.length;
        pending--;
      },
    });
    assert.equal(r.exitCode, 0);
    assert.equal(bytes, 2_000_000);
    assert.ok(maxPending <= 2, `${maxPending} chunks were in flight at once`);
  });

  test('a failing sink kills the command and the error surfaces', async () => {
    const marker = sleepMarker();
    let cookie = '';
    await assert.rejects(
      runGroup(['sh', '-c', `echo x; exec sleep ${marker}`], {
        ...base,
        cookie: (cookie = 'sinkfail' + randomInt(1e6)),
        onOutput: () => Promise.reject(new Error('disk full')),
      }),
      /disk full/,
    );
    await noneLeft(cookie, marker);
  });

  test('a command whose children all ended leaves nothing to reap', async () => {
    for (const prefork of [true, false]) {
      // The orphan is seen to end (gone, or a zombie) before the command exits: on a busy
      // machine it could otherwise still be running then, and rightly be reaped.
      const script = 'p=$(sh -c \'sh -c "exit 0" & echo $!\'); sh -c "exit 0" & wait; ' +
        'for i in $(seq 500); do s=$(cut -d" " -f3 /proc/$p/stat 2>/dev/null); if [ -z "$s" ] || [ "$s" = Z ]; then break; fi; sleep 0.01; done';
      const r = await runGroup(['sh', '-c', script], { ...base, prefork });
      assert.equal(r.exitCode, 0);
      assert.equal(r.reaped, 0);
      await noneLeft(r.cookie);
    }
  });

  test('rusage comes from the pre-forked helper (wait4), without GNU time', async () => {
    const busy = ['sh', '-c', 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; exit 3'];
    const r = await runGroup(busy, { ...base, timePath: null });
    assert.equal(r.exitCode, 3);
    assert.ok(r.rusage !== undefined, 'no rusage (is perl installed?)');
    assert.ok(r.rusage.userMs + r.rusage.systemMs > 0, JSON.stringify(r.rusage));
    assert.ok(r.rusage.maxRssKb > 100, JSON.stringify(r.rusage));
    const killed = await runGroup(['sh', '-c', 'kill -TERM $$'], { ...base, timePath: null });
    assert.deepEqual([killed.exitCode, killed.signal], [null, 'SIGTERM']);
    assert.ok(killed.rusage !== undefined);
  });

  test('rusage is measured through GNU time', { skip: !hasTime }, async () => {
    const r = await runGroup(['sh', '-c', 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done'], { ...base, prefork: false });
    assert.equal(r.exitCode, 0);
    assert.ok(r.rusage !== undefined);
    assert.ok(r.rusage.userMs + r.rusage.systemMs > 0, JSON.stringify(r.rusage));
    assert.ok(r.rusage.maxRssKb > 100, JSON.stringify(r.rusage));
  });

  test('without the helper and without GNU time there is no rusage', async () => {
    for (const timePath of [null, '/nonexistent/bin/time']) {
      const r = await runGroup(['sh', '-c', 'exit 4'], { ...base, timePath, prefork: false });
      assert.equal(r.exitCode, 4);
      assert.equal(r.rusage, undefined);
    }
  });
});

describe('decodeExit', () => {
  const cases: Array<[string, { code: number | null; signal: string | null }, string | undefined, unknown]> = [
    ['normal exit', { code: 3, signal: null }, '3 1.50 0.25 2048\n', { exitCode: 3, signal: null, rusage: { userMs: 1500, systemMs: 250, maxRssKb: 2048 } }],
    ['exit 137 is an exit', { code: 137, signal: null }, '137 0.00 0.00 10', { exitCode: 137, signal: null, rusage: { userMs: 0, systemMs: 0, maxRssKb: 10 } }],
    ['signalled child', { code: 137, signal: null }, '0 0.01 0.00 10', { exitCode: null, signal: 'SIGKILL', rusage: { userMs: 10, systemMs: 0, maxRssKb: 10 } }],
    ['signal line without -q', { code: 143, signal: null }, 'Command terminated by signal 15\n0 0.00 0.00 10\n', { exitCode: null, signal: 'SIGTERM', rusage: { userMs: 0, systemMs: 0, maxRssKb: 10 } }],
    ['time itself killed', { code: null, signal: 'SIGTERM' }, '', { exitCode: null, signal: 'SIGTERM' }],
    ['no time file', { code: 2, signal: null }, undefined, { exitCode: 2, signal: null }],
    ['garbage', { code: 2, signal: null }, 'what', { exitCode: 2, signal: null }],
  ];
  for (const [name, raw, file, want] of cases) {
    test(name, () => assert.deepEqual(decodeExit(raw, file), want));
  }
});

describe('killByCookie', () => {
  test('kills every process carrying the cookie and only those', async () => {
    const cookie = 'direct' + randomInt(1e9);
    const spawnSleep = (env: Record<string, string>) => {
      const c = spawn('sleep', ['300'], { env: { PATH, ...env }, detached: true, stdio: 'ignore' });
      c.unref();
      return c.pid!;
    };
    const victims = [spawnSleep({ [COOKIE_VAR]: cookie }), spawnSleep({ [COOKIE_VAR]: cookie })];
    const bystander = spawnSleep({ [COOKIE_VAR]: cookie + 'x', OTHER: `${COOKIE_VAR}=${cookie}` });
    try {
      assert.ok(await eventually(async () => (await pidsWithEnv(`${COOKIE_VAR}=${cookie}`)).length === 2));
      assert.equal(await killByCookie(cookie), 2);
      assert.deepEqual(await pidsWithEnv(`${COOKIE_VAR}=${cookie}`), []);
      assert.ok(victims.every((p) => p > 0));
      process.kill(bystander, 0); // still alive
    } finally {
      process.kill(bystander, 'SIGKILL');
    }
  });

  test('a process with an empty environment (it looks like one mid-exec) only delays the sweep', async () => {
    const c = spawn('/bin/sleep', ['300'], { env: {}, detached: true, stdio: 'ignore' });
    c.unref();
    try {
      assert.ok(await eventually(async () => (await readFile(`/proc/${c.pid}/cmdline`, 'latin1')).startsWith('/bin/sleep')));
      const started = performance.now();
      assert.equal(await killByCookie('nobody-has-this'), 0);
      const ms = performance.now() - started;
      assert.ok(ms < 2000, `the sweep took ${ms} ms`);
      process.kill(c.pid!, 0); // untouched
    } finally {
      process.kill(c.pid!, 'SIGKILL');
    }
  });
});

describe('runGroup launchers', () => {
  for (const prefork of [true, false]) {
    test(`${prefork ? 'pre-forked helper' : 'direct spawn'}: status, output, environment, group leader`, async () => {
      const c = collect();
      const r = await runGroup(['sh', '-c', 'echo "$A|$(ps -o pgid= -p $$ | tr -d " ")|$$"; echo err >&2; exit 7'], {
        env: { PATH, A: 'x y=z' },
        cwd: '/',
        prefork,
        timePath: null, // so that sh itself is the leader
        onOutput: c.onOutput,
      });
      assert.equal(r.exitCode, 7);
      const [a, pgid, pid] = c.out().trim().split('|');
      assert.equal(a, 'x y=z');
      assert.equal(pgid, pid, 'the command leads its own process group');
      assert.equal(c.err(), 'err\n');
    });
  }
});
