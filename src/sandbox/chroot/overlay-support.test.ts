import assert from 'node:assert/strict';
import { test } from 'node:test';
import { overlayProblem } from './overlay-support.ts';

const WITH = 'nodev\tsysfs\nnodev\tproc\n\text4\nnodev\toverlay\n';
const WITHOUT = 'nodev\tsysfs\nnodev\tproc\n\text4\nnodev\toverlayfs-like\n';

test('overlayfs: listed, loaded on demand (a module nothing loaded since boot), or said missing with why', () => {
  const cases: { name: string; lists: string[]; load?: string; want: RegExp | undefined; loads: number }[] = [
    { name: 'listed: nothing loaded', lists: [WITH], want: undefined, loads: 0 },
    { name: 'a module not loaded yet: modprobe loads it', lists: [WITHOUT, WITH], want: undefined, loads: 1 },
    { name: 'modprobe fails', lists: [WITHOUT, WITHOUT], load: "FATAL: Module overlay not found in directory /lib/modules/6.1.0", want: /no overlayfs \(modprobe overlay: FATAL: Module overlay not found.*\): load the overlay module/, loads: 1 },
    { name: 'modprobe says nothing, still missing', lists: [WITHOUT, WITHOUT], want: /^the kernel has no overlayfs: load/, loads: 1 },
  ];
  for (const c of cases) {
    let reads = 0;
    let loads = 0;
    const got = overlayProblem({ filesystems: () => c.lists[Math.min(reads++, c.lists.length - 1)]!, load: () => (loads++, c.load) });
    if (c.want === undefined) assert.equal(got, undefined, c.name);
    else assert.match(got ?? '', c.want, c.name);
    assert.equal(loads, c.loads, `${c.name}: loads`);
  }
});
