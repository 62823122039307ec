// The build profile names Debian registers (wiki.debian.org/BuildProfileSpec), for a note
// when a Debian run is given one that is not among them: dpkg-buildpackage takes any name,
// so a typo (`nochek`) builds everything again under a new key and changes nothing. Pure.

import { closestName } from './closest-name.ts';

export const DEBIAN_PROFILES = [
  'cross', 'nobiarch', 'nocheck', 'nocil', 'nodoc', 'nogir', 'nogolang', 'noguile', 'noinsttest', 'nojava', 'nolua',
  'noocaml', 'noperl', 'nopython', 'noruby', 'noudeb', 'nowasm', 'nowindows', 'stage1', 'stage2',
] as const;

/** What to say of a profile given to a Debian run, or undefined for a registered one or a package's own (`pkg.SOURCE.NAME`). */
export function debianProfileNote(name: string): string | undefined {
  if ((DEBIAN_PROFILES as readonly string[]).includes(name) || /^pkg\.[a-z0-9][a-z0-9+.-]*\.[a-z0-9][a-z0-9+.-]*$/.test(name)) return undefined;
  const near = closestName(name, DEBIAN_PROFILES);
  return `--profiles ${name}: not one of Debian's build profiles${near === undefined ? '' : ` (did you mean "${near}"?)`} nor a package's own (pkg.SOURCE.NAME): dpkg-buildpackage gets it all the same, and it is part of every key, so everything builds again under it`;
}
