// Child processes that die with kiln (SIGKILL, out of memory): started through util-linux's
// `setpriv --pdeathsig KILL` when the host has it. Their own process group is killed when
// they end normally; this covers a kiln that cannot do that any more (an orphaned mmdebstrap
// went on filling envs/NAME/tmp for half a minute after a kill -9; an orphaned git fetch
// raced the next kiln's). A namespace made with unshare --kill-child goes with it.

import { existsSync } from 'node:fs';

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

/** Whether dieWithKiln can do what it says on this host (util-linux's setpriv is there). */
export const CAN_DIE_WITH_KILN: boolean = SETPRIV !== undefined;

/** argv, started so that it is killed when kiln dies (as it is, where setpriv is missing). */
export function dieWithKiln(argv: readonly string[]): string[] {
  return SETPRIV === undefined ? [...argv] : [SETPRIV, '--pdeathsig', 'KILL', '--', ...argv];
}
