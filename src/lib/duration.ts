// Parse human durations ("30d", "90m", "500ms") and sizes ("512M", "1.5G") from config
// and command-line flags. Sizes use binary units: 1K = 1024 bytes.
import { KilnError } from '../errors.ts';

const durationUnits: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;

/** "30d" | "12h" | "90m" | "45s" | "500ms" (also "2w", "1.5h") → milliseconds. */
export function parseDuration(text: string): number {
  const m = DURATION_RE.exec(text.trim());
  const unit = m?.[2] === undefined ? undefined : durationUnits[m[2]];
  if (m?.[1] === undefined || unit === undefined) {
    throw new KilnError('usage', `invalid duration ${JSON.stringify(text)}`, {
      hint: 'write a number followed by a unit: ms, s, m, h, d or w (for example "30d", "12h", "500ms")',
    });
  }
  return Math.round(Number(m[1]) * unit);
}

const sizeUnits: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|(b)?)$/i;

/** "512M" | "1G" | "1.5G" | "1024K" | "4096" | 4096 → bytes (binary units, "MB"/"MiB" accepted). */
export function parseSize(text: string | number): number {
  if (typeof text === 'number') {
    if (Number.isFinite(text) && text >= 0) return Math.floor(text);
    throw new KilnError('usage', `invalid size ${String(text)}`, { hint: 'a size must be a non-negative number of bytes' });
  }
  const m = SIZE_RE.exec(text.trim());
  const unit = m === null ? undefined : sizeUnits[(m[2] ?? m[3] ?? '').toLowerCase()];
  if (m?.[1] === undefined || unit === undefined) {
    throw new KilnError('usage', `invalid size ${JSON.stringify(text)}`, {
      hint: 'write a number of bytes, optionally followed by K, M, G or T (for example "512M", "1.5G")',
    });
  }
  return Math.floor(Number(m[1]) * unit);
}
