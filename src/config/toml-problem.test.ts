import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'smol-toml';
import { tomlProblem } from './toml-problem.ts';

const problemOf = (text: string): string => {
  try {
    parse(text);
    return 'parsed';
  } catch (e) {
    return tomlProblem(e, text);
  }
};

const rows: [string, string][] = [
  ['archs = ["amd64"\nenv = "x"\n', 'invalid TOML: expected comma or end of structure at line 2, column 1 (is the array of line 1, "archs", missing its closing ]?)'],
  ['deps = [\n  "a",\n  "b"\nenv = "x"\n', 'invalid TOML: expected comma or end of structure at line 4, column 1 (is the array of line 1, "deps", missing its closing ]?)'],
  ['a = { b = "[", c = 1\nd = 2\n', 'invalid TOML: expected comma or end of structure at line 2, column 1 (is the inline table of line 1, "a", missing its closing }?)'],
  // A multi-line array that closes, then another mistake: no word of the array.
  ['deps = [\n  "a",\n]\nenv = \n', 'invalid TOML: invalid value at line 4, column 7'],
  ['env = "x"\nenv = "y"\n', 'invalid TOML: trying to redefine an already defined table or value at line 2, column 1 ("env" is given twice: keep one)'],
];
for (const [text, want] of rows) test(`tomlProblem: ${JSON.stringify(text)}`, () => assert.equal(problemOf(text), want));
