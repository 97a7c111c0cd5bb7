/**
 * Screenshots of every playground panel with the bundled models, for docs/images/ and the README:
 *
 *   node --conditions=@lab/source --import tsx apps/api/scripts/playground-screenshots.ts
 *
 * Serves apps/api/models in-process (GENLAB_BACKEND picks the backend, e.g. torch), drives each
 * panel in Debian Chromium (/usr/bin/chromium) as a user would and writes
 * docs/images/playground-<panel>.png.
 */
import 'reflect-metadata';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, initBackend } from '@lab/core';
import { chromium } from 'playwright-core';
import { createApiApp } from '../src/app.js';
import { BUNDLED_MODELS_DIR } from '../src/config.js';
import { defaultPlugins } from '../src/plugins.js';
import { listen } from '../src/server.js';

const out = fileURLToPath(new URL('../../../docs/images/', import.meta.url));
const logger = createLogger({ level: 'warn' });
const backend = await initBackend({ logger });
console.log(`backend ${backend.name}`);
const api = await createApiApp({
  config: { poolSize: 0, queueSize: 8, timeoutMs: 600_000, bodyLimit: '2mb', previewEvery: 2 },
  plugins: defaultPlugins(BUNDLED_MODELS_DIR),
  modelsDir: BUNDLED_MODELS_DIR,
  logger,
});
const running = await listen(api, 0, '127.0.0.1');
const base = `http://127.0.0.1:${running.port}`;
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 }, deviceScaleFactor: 1 });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-ready="true"]');
  const shot = async (panel: string) => {
    await page.locator(`#${panel}-panel`).screenshot({ path: join(out, `playground-${panel}.png`) });
    console.log(`wrote docs/images/playground-${panel}.png`);
  };
  const t0 = Date.now();
  const long = { timeout: 600_000 };

  await page.selectOption('#sampler', 'ddim');
  await page.fill('#steps', '50');
  await page.fill('#count', '8');
  await page.fill('#seed', '3');
  await page.selectOption('#classLabel', '7'); // horse
  await page.click('#generate');
  await page.waitForFunction(() => (document.getElementById('grid') as HTMLImageElement).naturalWidth > 0, undefined, long);
  await shot('generate');

  await page.selectOption('#inpaint-sample', 'horse.png');
  await page.click('#mask-centre');
  await page.fill('#inpaint-steps', '50');
  await page.fill('#inpaint-seed', '1');
  await page.click('#inpaint-run');
  await page.waitForFunction(() => (document.getElementById('inpaint-result') as HTMLImageElement).naturalWidth > 0, undefined, long);
  await shot('inpaint');

  await page.selectOption('#score-sample', 'ship.png');
  await page.click('#score-run');
  await page.waitForSelector('#score-marker', { state: 'attached', ...long });
  await shot('score');

  await page.selectOption('#classify-sample', 'ship.png');
  await page.click('#classify-run');
  await page.waitForFunction(() => document.querySelectorAll('#classify-bars li').length === 10, undefined, long);
  await shot('classify');

  for (const button of await page.locator('#model-cards .card-action').all()) {
    await button.click();
    await page.waitForFunction((b) => !(b as HTMLButtonElement).disabled, await button.elementHandle(), long);
  }
  await shot('models');

  await page.setViewportSize({ width: 375, height: 812 });
  await page.goto(`${base}/#classify-panel`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.selectOption('#classify-sample', 'ship.png');
  await page.click('#classify-run');
  await page.waitForFunction(() => document.querySelectorAll('#classify-bars li').length === 10, undefined, long);
  await page.locator('#classify-panel').screenshot({ path: join(out, 'playground-phone.png') });
  console.log(`wrote docs/images/playground-phone.png (${Math.round((Date.now() - t0) / 1000)} s in all)`);
} finally {
  await browser.close();
  await running.stop(5_000);
}
