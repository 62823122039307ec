// The frame around every page of the web status page (head, header, the stylesheet and
// script links), and the small pages: the token login form and an error page. Scripts
// and styles are files under /assets/, never inline, so the Content-Security-Policy
// (pages.ts) can forbid inline script.

import { html, type Interpolation, type SafeHtml } from './html.ts';

export interface LayoutOptions {
  readonly title: string;
  /** The signed-in tenant, shown with a sign-out button; undefined on the login page. */
  readonly tenant?: string | undefined;
  readonly admin?: boolean;
  /** A script under /assets/ (e.g. "build-page.js"). */
  readonly script?: string;
  /** data-* attributes of <body>, for the script. */
  readonly data?: Readonly<Record<string, string>>;
}

export function layout(options: LayoutOptions, body: Interpolation): SafeHtml {
  const data = Object.entries(options.data ?? {}).map(([k, v]) => html` data-${k.replace(/[^a-z0-9-]/g, '')}="${v}"`);
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${options.title} · kiln</title>
<link rel="stylesheet" href="/assets/kiln-web.css">
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
${options.script === undefined ? '' : html`<script type="module" src="/assets/${options.script}"></script>`}
</head>
<body${data}>
<header class="top">
<a class="brand" href="/">kiln</a>
<nav><a href="/">builds</a> <a href="/api/v1/docs">API</a></nav>
${options.tenant === undefined
  ? ''
  : html`<form class="who" method="post" action="/logout"><span>${options.tenant}${options.admin === true ? ' (admin)' : ''}</span> <button type="submit">sign out</button></form>`}
</header>
<main>
${body}
</main>
</body>
</html>
`;
}

export function loginPage(options: { next: string; error?: string | undefined }): SafeHtml {
  return layout(
    { title: 'sign in' },
    html`<h1>Sign in</h1>
<p>Paste an API token (from <code>kiln token create TENANT</code>). This browser then gets a session of 12 hours,
in an HttpOnly cookie for this site only that holds a session key, not the token, and is never shown to the page's scripts.</p>
${options.error === undefined ? '' : html`<p class="error" role="alert">${options.error}</p>`}
<form class="login" method="post" action="/login">
<input type="hidden" name="next" value="${options.next}">
<label>Token <input type="password" name="token" autocomplete="off" required autofocus></label>
<button type="submit">sign in</button>
</form>`,
  );
}

export function errorPage(options: { status: number; message: string; hint?: string | undefined; tenant?: string | undefined }): SafeHtml {
  return layout(
    { title: `error ${options.status}`, tenant: options.tenant },
    html`<h1>${options.status === 404 ? 'Not found' : 'Error'}</h1>
<p class="error">${options.message}</p>
${options.hint === undefined ? '' : html`<p>${options.hint}</p>`}
<p><a href="/">all builds</a></p>`,
  );
}
