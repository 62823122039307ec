import { test } from 'node:test';
import assert from 'node:assert/strict';
import { printableLine } from './printable-line.ts';

test('printableLine: colours, OSC title and clipboard sequences, bells and other controls go; tabs and text stay', () => {
  const cases: [string, string][] = [
    ['plain text', 'plain text'],
    ['a\tb', 'a\tb'],
    ['\x1b[31mred error\x1b[0m', 'red error'],
    ['\x1b[1;38;5;196mbold\x1b[K', 'bold'],
    ['\x1b]0;evil title\x07after-title', 'after-title'],
    ['\x1b]52;c;ZXZpbA==\x07clip', 'clip'],
    ['\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\', 'link'],
    ['\x1b]0;never ended', ''],
    ['\x1bPqdcs\x1b\\after', 'after'],
    ['\x1b7saved\x1b8', 'saved'],
    ['\x1b(Bascii', 'ascii'],
    ['\x9b31m8-bit csi', '8-bit csi'],
    ['[   0.020] o 10%\r20%\r\r100%', '[   0.020] o 10% 20% 100%'],
    ['done\r', 'done'],
    ['bell\x07 and back\bspace\x7f', 'bell and backspace'],
    ['a lone \x1b', 'a lone '],
    ['nul\x00 and \x0bvt', 'nul and vt'],
    ['ünïcødé · ✖ 日本', 'ünïcødé · ✖ 日本'],
  ];
  for (const [line, want] of cases) assert.equal(printableLine(line), want, JSON.stringify(line));
  for (const [line] of cases) assert.doesNotMatch(printableLine(line), /[\x00-\x08\x0a-\x1f\x7f-\x9f]/, JSON.stringify(line));
});
