// HTML for the web status page, escaped by construction. Every value interpolated into
// the html`` template is escaped unless it is itself SafeHtml (made by html`` or by
// raw(), which only this folder's fixed markup uses); package names, versions, causes
// and log lines are plain strings and so always escaped. Links are built by url``,
// which percent-encodes each interpolated path segment.

const SAFE: unique symbol = Symbol('kiln.safe-html');

/** Markup that is already safe to put in a page as is. */
export interface SafeHtml {
  readonly [SAFE]: true;
  readonly html: string;
}

export type Interpolation = SafeHtml | string | number | boolean | null | undefined | readonly Interpolation[];

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Escape text for an HTML text node or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ENTITIES[c]!);
}

export function isSafeHtml(v: unknown): v is SafeHtml {
  return typeof v === 'object' && v !== null && (v as Partial<SafeHtml>)[SAFE] === true;
}

/** Trust a fixed piece of markup. Never pass it anything that came from a request or a build. */
export function raw(markup: string): SafeHtml {
  return { [SAFE]: true, html: markup };
}

function render(v: Interpolation): string {
  if (v === null || v === undefined || v === false || v === true) return '';
  if (typeof v === 'number') return escapeHtml(String(v));
  if (typeof v === 'string') return escapeHtml(v);
  if (isSafeHtml(v)) return v.html;
  if (Array.isArray(v)) return (v as readonly Interpolation[]).map(render).join('');
  // Anything else (a value typed loosely upstream) is text, never markup.
  return escapeHtml(String(v));
}

/** A template whose interpolations are escaped (booleans, null and undefined render as nothing). */
export function html(strings: TemplateStringsArray, ...values: readonly Interpolation[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return raw(out);
}

/** A same-origin path whose interpolated parts are percent-encoded path segments. */
export function url(strings: TemplateStringsArray, ...segments: readonly string[]): string {
  let out = strings[0]!;
  for (let i = 0; i < segments.length; i++) out += encodeURIComponent(segments[i]!) + strings[i + 1]!;
  return out;
}
