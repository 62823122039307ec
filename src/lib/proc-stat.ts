// /proc/<pid>/stat, read the one way: "pid (comm) state ppid …", where comm may hold
// spaces and parentheses, so the fields start after the last ')'. Every reader of a
// process's state, parent, start time or usage goes through here.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcStat {
  readonly comm: string;
  /** The fields after "pid (comm) ": [0] state, [1] ppid, [2] pgrp, … [6] flags, … [19] starttime, … [21] rss. */
  readonly fields: readonly string[];
}

/** The parts of a /proc/<pid>/stat text; undefined when it is not one. */
export function parseStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  return { comm: text.slice(open + 1, close), fields: text.slice(close + 2).trim().split(' ') };
}

/** /proc/<pid>/stat of a process, parsed; undefined when it is gone (or there is no /proc). */
export function readStat(pid: number, procDir = '/proc'): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(join(procDir, String(pid), 'stat'), 'latin1');
  } catch {
    return undefined;
  }
  return parseStat(text);
}
