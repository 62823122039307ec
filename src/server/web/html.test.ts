import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeHtml, html, isSafeHtml, raw, url } from './html.ts';

test('escapeHtml escapes the characters that end text or attribute values', () => {
  const table: Array<[string, string]> = [
    ['plain', 'plain'],
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['a & b', 'a &amp; b'],
    ['" onmouseover="x', '&quot; onmouseover=&quot;x'],
    ["' autofocus '", '&#39; autofocus &#39;'],
    ['`x`', '&#96;x&#96;'],
    ['&amp;', '&amp;amp;'],
    ['', ''],
  ];
  for (const [input, want] of table) assert.equal(escapeHtml(input), want, input);
});

test('html`` escapes every interpolation unless it is SafeHtml', () => {
  const name = '<img src=x onerror=alert(1)>';
  const out = html`<td title="${name}">${name}</td>`;
  assert.ok(isSafeHtml(out));
  assert.equal(out.html, '<td title="&lt;img src=x onerror=alert(1)&gt;">&lt;img src=x onerror=alert(1)&gt;</td>');
  // Nested templates are not escaped twice; arrays are joined; null, undefined and booleans render as nothing.
  const rows = html`<ul>${['<a>', html`<li>${'&'}</li>`, null, undefined, false, true, 3]}</ul>`;
  assert.equal(rows.html, '<ul>&lt;a&gt;<li>&amp;</li>3</ul>');
  assert.equal(html`${raw('<b>fixed</b>')}`.html, '<b>fixed</b>');
  // An object that merely looks like SafeHtml is not trusted.
  const forged = { html: '<script>x</script>' } as unknown as string;
  assert.equal(html`${forged}`.html, '[object Object]');
});

test('url`` percent-encodes each path segment', () => {
  assert.equal(url`/builds/${'b-1'}`, '/builds/b-1');
  assert.equal(url`/api/v1/builds/${'b/../x'}/jobs/${'hello@amd64'}/log`, '/api/v1/builds/b%2F..%2Fx/jobs/hello%40amd64/log');
  assert.equal(url`/x/${'"><script>'}`, '/x/%22%3E%3Cscript%3E');
  assert.equal(url`/x/${'javascript:alert(1)'}`, '/x/javascript%3Aalert(1)');
});
