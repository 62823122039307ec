// kiln fetch --makesum: the sha256 of a source written into its recipe, as poudriere's
// `make makesum` writes distinfo. Only the plain layout is edited: the source's own
// `[[sources]]` table with its `url = …` line; the new `sha256 = "…"` line goes right
// after that line, with its indentation. Anything else (sources as an inline array, a url
// on several lines) is left for the user, with the line to add (pure text work).

/** `[[sources]]` (spaces allowed, a comment after it). */
const SOURCES_HEADER = /^[ \t]*\[\[[ \t]*sources[ \t]*\]\][ \t]*(#.*)?$/;
/** Any table header: the end of the one before. */
const TABLE_HEADER = /^[ \t]*\[/;
/** `url = "…"` or `url = '…'` on one line (a comment after it). */
const URL_LINE = /^([ \t]*)url[ \t]*=[ \t]*("[^"\n]*"|'[^'\n]*')[ \t]*(#.*)?$/;
const SHA_LINE = /^[ \t]*sha256[ \t]*=/;

/**
 * The recipe text with `sha256 = "HEX"` added to its `index`-th source (0-based), or
 * undefined when the text is not laid out so that this is safe: `sourceCount` must be the
 * number of sources the recipe holds (as parsed), and the text must give each its own
 * `[[sources]]` table; that table must have one single-line url and no sha256 yet.
 */
export function withSha256(text: string, index: number, sourceCount: number, sha256: string): string | undefined {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text.split(/\r?\n/);
  const headers: number[] = [];
  for (let i = 0; i < lines.length; i++) if (SOURCES_HEADER.test(lines[i]!)) headers.push(i);
  // Sources given some other way too (an inline array, a dotted key): not ours to edit.
  if (headers.length !== sourceCount || index < 0 || index >= headers.length) return undefined;
  const start = headers[index]! + 1;
  let end = start;
  while (end < lines.length && !TABLE_HEADER.test(lines[end]!)) end++;
  let urlAt = -1;
  for (let i = start; i < end; i++) {
    if (SHA_LINE.test(lines[i]!)) return undefined;
    if (/^[ \t]*url[ \t]*=/.test(lines[i]!)) {
      if (urlAt >= 0 || !URL_LINE.test(lines[i]!)) return undefined;
      urlAt = i;
    }
  }
  if (urlAt < 0) return undefined;
  const indent = URL_LINE.exec(lines[urlAt]!)![1]!;
  lines.splice(urlAt + 1, 0, `${indent}sha256 = "${sha256}"`);
  return lines.join(eol);
}
