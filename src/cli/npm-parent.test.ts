import { test } from 'node:test';
import assert from 'node:assert/strict';
import { npmAncestor, readProcStat, type ProcStat } from './npm-parent.ts';

test('npmAncestor: npm itself, or npm past the shells it starts commands through; nothing otherwise', () => {
  const tree = (procs: Record<number, ProcStat>) => (pid: number): ProcStat | undefined => procs[pid];
  const cases: [string, Record<number, ProcStat>, number | undefined][] = [
    ['npm exec → sh → kiln', { 20: { comm: 'sh', ppid: 10 }, 10: { comm: 'npm exec kiln b', ppid: 5 } }, 10],
    ['npm run → sh → node', { 20: { comm: 'sh', ppid: 10 }, 10: { comm: 'npm run kiln', ppid: 5 } }, 10],
    ['npm directly', { 20: { comm: 'npm exec', ppid: 5 } }, 20],
    ['an interactive bash, not npm', { 20: { comm: 'bash', ppid: 10 }, 10: { comm: 'sshd', ppid: 1 } }, undefined],
    ['make → sh → kiln', { 20: { comm: 'sh', ppid: 10 }, 10: { comm: 'make', ppid: 5 } }, undefined],
    ['a name that only starts like npm', { 20: { comm: 'npmx', ppid: 5 } }, undefined],
    ['the parent is gone', {}, undefined],
  ];
  for (const [what, procs, want] of cases) assert.equal(npmAncestor(20, tree(procs)), want, what);
  assert.equal(npmAncestor(1), undefined, 'init is never npm');
});

test('readProcStat: name and parent of a live process; undefined for a gone one', () => {
  const me = readProcStat(process.pid);
  assert.equal(me?.ppid, process.ppid);
  assert.equal(typeof me?.comm, 'string');
  assert.equal(readProcStat(2 ** 22 + 1), undefined);
});
