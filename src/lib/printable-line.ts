// A line of a build's output made safe to print on a terminal or in a page: build logs are
// full of colour codes, progress bars redrawn with a carriage return, window-title and
// clipboard sequences (OSC 0, OSC 52) and bells, which a terminal would obey if kiln
// printed them raw. No domain imports.

/**
 * Escape sequences: CSI (`ESC [ … final`, and its 8-bit form), OSC, DCS, SOS, PM and APC
 * strings (ended by BEL or ST, or by the end of the line), and two-character ones
 * (`ESC 7`, `ESC (B`…).
 */
// eslint-disable-next-line no-control-regex
const ESCAPE_SEQUENCE = /\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]|(?:\x1b[\]P^_X]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[ -/]*[0-~]/g;

/** Every other control character (C0, DEL, C1) but the tab; a lone ESC too. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;

/**
 * `line` without escape sequences and control characters, the tab kept. A carriage
 * return inside it (a progress bar redrawn: `10%\r20%\r100%`) becomes a space, so that
 * every step shows and a log line keeps its prefix; one at its end goes.
 */
export function printableLine(line: string): string {
  return line.replace(ESCAPE_SEQUENCE, '').replace(/\r+$/, '').replace(/\r+/g, ' ').replace(CONTROL, '');
}
