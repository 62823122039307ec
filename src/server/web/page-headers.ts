// Security headers of the web status page's responses: a Content-Security-Policy that
// allows only this site's own scripts, styles and connections (no inline script, no
// other origin, no framing), no referrer, no MIME sniffing.

import { secureHeaders } from 'hono/secure-headers';

export const pageHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    connectSrc: ["'self'"],
    imgSrc: ["'self'"],
    formAction: ["'self'"],
    baseUri: ["'none'"],
    frameAncestors: ["'none'"],
  },
  referrerPolicy: 'no-referrer',
  xFrameOptions: 'DENY',
  crossOriginResourcePolicy: 'same-origin',
});
