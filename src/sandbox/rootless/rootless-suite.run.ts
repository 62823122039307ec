// Entry point of the rootless suite for `node --test`, run as the non-root user.
import { rootlessSuite } from './rootless-suite.ts';

rootlessSuite();
