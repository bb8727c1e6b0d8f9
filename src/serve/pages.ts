// The pages' files: single-file HTML pages shipped in src/serve/pages/, and the chart library's
// script and stylesheet served from its installed npm package (no CDN).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { ApiError } from './errors.js';

/** A page of the package, found beside this file or, when running compiled from dist/, in the sources. */
export function pagePath(name: string): string {
  const candidates = [`./pages/${name}`, `../../src/serve/pages/${name}`].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`heed: the page ${name} is missing from the package (looked in ${candidates.join(', ')})`);
  return found;
}

const require = createRequire(import.meta.url);
const ASSETS: Record<string, { file: string; type: string }> = {
  'uplot.js': { file: 'uplot/dist/uPlot.iife.min.js', type: 'text/javascript; charset=utf-8' },
  'uplot.css': { file: 'uplot/dist/uPlot.min.css', type: 'text/css; charset=utf-8' },
};

/** GET /assets/NAME for the fixed list above; any other name is a 404. */
export function assetRoutes(): Hono {
  const app = new Hono();
  app.get('/assets/:name', (c) => {
    const a = ASSETS[c.req.param('name')];
    if (!a) throw new ApiError(404, `No asset '${c.req.param('name')}'.`, 'invalid_request_error', null, 'not_found');
    c.header('Content-Type', a.type);
    c.header('Cache-Control', 'max-age=3600');
    return c.body(new Uint8Array(readFileSync(require.resolve(a.file))));
  });
  return app;
}
