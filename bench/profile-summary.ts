// Hotspots of a V8 .cpuprofile (node --cpu-prof): self time by function and by file, and
// inclusive time of kiln's own functions, so a profile can be read without DevTools.
//
//   node bench/profile-summary.ts FILE.cpuprofile [--top N]

import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export function summarizeProfile(file: string, options: { root?: string; top?: number } = {}): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const top = options.top ?? 15;
  const root = options.root ?? process.cwd();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const place = (n: ProfileNode): string => {
    const url = n.callFrame.url;
    if (url === '') return '';
    const path = url.startsWith('file:') ? relative(root, fileURLToPath(url)) : url;
    return path;
  };
  const keyOf = (n: ProfileNode): string => {
    const name = n.callFrame.functionName || '(anonymous)';
    const where = place(n);
    return where === '' ? name : `${where}:${n.callFrame.lineNumber + 1} ${name}`;
  };

  const self = new Map<string, number>();
  const selfByFile = new Map<string, number>();
  const inclusiveOwn = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute it to sample i (close enough).
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    total += dt;
    const leaf = byId.get(profile.samples[i]!);
    if (leaf === undefined) continue;
    const k = keyOf(leaf);
    self.set(k, (self.get(k) ?? 0) + dt);
    const f = place(leaf) || `(${leaf.callFrame.functionName || 'native'})`;
    selfByFile.set(f, (selfByFile.get(f) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!;
      if (!place(n).startsWith('src/')) continue;
      const key = keyOf(n);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusiveOwn.set(key, (inclusiveOwn.get(key) ?? 0) + dt);
    }
  }
  const fmt = (entries: Map<string, number>, n: number): string =>
    [...entries]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, ms]) => `  ${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  return [
    `  sampled ${total.toFixed(0)} ms (profile wall ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms)`,
    ' self time by function:',
    fmt(self, top),
    ' self time by file:',
    fmt(selfByFile, top),
    " inclusive time of kiln's functions (src/):",
    fmt(inclusiveOwn, top),
  ].join('\n');
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string' } } });
  if (positionals.length === 0) {
    process.stderr.write('usage: node bench/profile-summary.ts FILE.cpuprofile... [--top N]\n');
    process.exit(2);
  }
  for (const f of positionals) {
    process.stdout.write(`${f}:\n${summarizeProfile(f, { root: process.cwd(), ...(values.top === undefined ? {} : { top: Number(values.top) }) })}\n`);
  }
}
