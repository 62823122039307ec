// The page's static files (a stylesheet, an icon and three small scripts, plain ES modules with no
// build step), read once from src/server/web/assets/ and served under /assets/ without a
// token: they hold nothing but code.

import { readFileSync } from 'node:fs';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ServerEnv } from '../auth.ts';
import { pageHeaders } from './page-headers.ts';

const TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

export const ASSETS: readonly string[] = ['kiln-web.css', 'dom.js', 'build-page.js', 'builds-page.js', 'favicon.svg'];

export function registerAssetRoutes(app: OpenAPIHono<ServerEnv>): void {
  for (const name of ASSETS) {
    const body = readFileSync(new URL(`./assets/${name}`, import.meta.url), 'utf8');
    const type = TYPES[name.slice(name.lastIndexOf('.'))]!;
    app.get(`/assets/${name}`, pageHeaders, (c) => c.body(body, 200, { 'Content-Type': type, 'Cache-Control': 'no-cache' }));
  }
}
