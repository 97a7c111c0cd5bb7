import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';

/** `apps/api/public/` (beside `src/` and `dist/`): the playground's files and the bundled CIFAR-10 test images. */
export const PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'public');

/**
 * The playground at `GET /`: plain HTML, CSS and small ES modules under `/playground/` (no inline
 * script or style, so a strict Content-Security-Policy holds), and the bundled CIFAR-10 test
 * images under `/cifar10/` (`index.json` lists them).
 */
export function playgroundRoutes(app: express.Express): void {
  const files = { index: false, maxAge: '5m' } as const;
  app.get('/', (_req, res) => {
    res.sendFile(join(PUBLIC_DIR, 'playground', 'index.html'));
  });
  app.use('/playground', express.static(join(PUBLIC_DIR, 'playground'), files));
  app.use('/cifar10', express.static(join(PUBLIC_DIR, 'cifar10'), files));
}

/** Swagger UI page for `/docs`, loading the bundled swagger-ui-dist assets. */
export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>genlab API docs</title><link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>
`;

export const DOCS_INIT_JS = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n`;
