// How a daemon names the files of an uploaded tree in a build's error and its jobs' causes: the folder it
// unpacked the bundle into is written `{tree}` (`{tree}/kiln.toml: …`), so the message
// means something to the client, which puts its own --tree folder in its place
// (cli/remote-build.ts). Named server trees (kiln serve --tree NAME=DIR) keep their paths.

export const TREE_ROOT = '{tree}';

/** `text` with every occurrence of the folder `dir` written as TREE_ROOT. */
export function hideTreeRoot(text: string, dir: string): string {
  return dir === '' ? text : text.replaceAll(dir.replace(/\/+$/, ''), TREE_ROOT);
}

