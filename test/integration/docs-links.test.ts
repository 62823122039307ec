// Every relative link of the README and docs/ points at a file that exists and, with a
// #fragment, at a heading of it (GitHub's anchors: lowercase, punctuation dropped, spaces
// as hyphens, a repeated heading numbered -1, -2, …), so a renamed heading cannot leave a
// dead link behind.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** GitHub's anchor of a heading's text. */
export function slugOf(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a Markdown file's headings (outside code blocks), numbered as GitHub numbers repeats. */
function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of text.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m === null) continue;
    const base = slugOf(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of text.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) out.add(m[1]!);
  return out;
}

/** The relative links `[text](target)` of a Markdown file, outside code blocks and code spans. */
function linksOf(text: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  let fenced = false;
  text.split('\n').forEach((line, i) => {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) return;
    const bare = line.replace(/`[^`]*`/g, '');
    for (const m of bare.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, mailto:, …
      out.push({ target, line: i + 1 });
    }
  });
  return out;
}

function markdownFiles(): string[] {
  const files = [join(ROOT, 'README.md')];
  for (const dir of ['docs', 'examples', 'contrib']) {
    const full = join(ROOT, dir);
    if (!existsSync(full)) continue;
    for (const f of readdirSync(full, { recursive: true }) as string[]) if (f.endsWith('.md')) files.push(join(full, f));
  }
  return files;
}

test('slugOf: GitHub anchors of headings as they appear in the docs', () => {
  const rows: [string, string][] = [
    ['`--json` events', '--json-events'],
    ['`kiln rootfs OUT PACKAGE...`', 'kiln-rootfs-out-package'],
    ['`kiln cache du`, `kiln cache gc` and `kiln cache verify`', 'kiln-cache-du-kiln-cache-gc-and-kiln-cache-verify'],
    ['The compiler cache (`--suite ccache`)', 'the-compiler-cache---suite-ccache'],
    ['Cross-building (`--cross`)', 'cross-building---cross'],
    ['[a link](x.md) in a heading', 'a-link-in-a-heading'],
  ];
  for (const [heading, want] of rows) assert.equal(slugOf(heading), want, heading);
});

test('every relative link of the README and docs/ reaches an existing file and heading', () => {
  const anchors = new Map<string, Set<string>>();
  const anchorsIn = (file: string): Set<string> => {
    let a = anchors.get(file);
    if (a === undefined) anchors.set(file, (a = anchorsOf(readFileSync(file, 'utf8'))));
    return a;
  };
  const dead: string[] = [];
  const files = markdownFiles();
  assert.ok(files.length >= 5, `found the docs: ${files.length}`);
  let checked = 0;
  for (const file of files) {
    for (const { target, line } of linksOf(readFileSync(file, 'utf8'))) {
      checked++;
      const [path, fragment] = target.split('#', 2) as [string, string | undefined];
      const dest = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
      const where = `${relative(ROOT, file)}:${line} (${target})`;
      if (!existsSync(dest)) {
        dead.push(`${where}: no such file`);
        continue;
      }
      if (fragment === undefined || fragment === '' || !dest.endsWith('.md') || statSync(dest).isDirectory()) continue;
      if (!anchorsIn(dest).has(decodeURIComponent(fragment))) dead.push(`${where}: no heading #${fragment} in ${relative(ROOT, dest)}`);
    }
  }
  assert.ok(checked > 50, `links checked: ${checked}`);
  assert.deepEqual(dead, []);
});
