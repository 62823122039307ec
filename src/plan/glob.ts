// Targets and --force patterns: shell globs over package names. Pure.

import { KilnError } from '../errors.ts';

/** A shell glob as a whole-name RegExp: `*`, `?` and classes `[abc]`, `[a-z]`, `[!x]` (an unclosed `[` is literal). */
export function globToRegExp(glob: string): RegExp {
  const esc = (c: string): string => c.replace(/[.+^${}()|[\]\\*?-]/g, '\\$&');
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[' && glob.indexOf(']', i + 2) > 0) {
      const end = glob.indexOf(']', i + 2);
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      // Ranges stay ranges; every other character is literal.
      let cls = '';
      for (let j = 0; j < body.length; j++) {
        if (body[j + 1] === '-' && j + 2 < body.length) {
          if (body[j]! > body[j + 2]!) {
            throw new KilnError('usage', `the glob "${glob}" has a reversed range ${body[j]}-${body[j + 2]}`, { hint: `write the range low to high: ${body[j + 2]}-${body[j]}` });
          }
          cls += `${esc(body[j]!)}-${esc(body[j + 2]!)}`;
          j += 2;
        } else cls += esc(body[j]!);
      }
      out += `[${negate ? '^' : ''}${cls}]`;
      i = end;
    } else out += esc(c);
  }
  return new RegExp(`^${out}$`);
}

/** What a target or --force pattern is tested against: a package's name and its category folder. */
export interface NamedPackage {
  readonly name: string;
  readonly category?: string | undefined;
}

/**
 * A target or --force pattern as a test of a package: with a slash it matches
 * `category/name` (`devel/*`: every package of the category folder devel), else the name.
 */
export function packagePattern(glob: string): (p: NamedPackage) => boolean {
  const re = globToRegExp(glob);
  return glob.includes('/') ? (p) => p.category !== undefined && re.test(`${p.category}/${p.name}`) : (p) => re.test(p.name);
}
