import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pidAlive } from './pid-alive.ts';

test('pidAlive: this process yes, a zombie no, a reaped pid no', async () => {
  assert.equal(pidAlive(process.pid), true);
  // A child that has exited but is not reaped yet is a zombie: node reaps it only when
  // its 'exit' handler runs, so check from a synchronous busy-wait right after it exits.
  const child = spawn('sh', ['-c', 'exit 0'], { stdio: 'ignore' });
  const pid = child.pid!;
  const until = Date.now() + 2000;
  let sawZombie = false;
  while (Date.now() < until) {
    const st = (() => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'latin1');
      } catch {
        return '';
      }
    })();
    if (st.includes(') Z')) {
      sawZombie = true;
      assert.equal(pidAlive(pid), false, 'a zombie counts as gone');
      break;
    }
  }
  await new Promise((r) => child.once('exit', r));
  assert.ok(sawZombie, 'the child was seen as a zombie before node reaped it');
  assert.equal(pidAlive(pid), false);
});
