/// <reference lib="dom" />
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPlugins } from '../src/plugins.js';
import { writeTinyModels } from './fixtures/tiny-models.js';
import { startServer, type TestServer } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`SKIPPED browser test: ${CHROMIUM} is absent (apt-get install -y chromium)`);

describe.skipIf(!hasChromium)('playground in Debian Chromium', () => {
  let root = '';
  let s: TestServer;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    root = await mkdtemp(join(tmpdir(), 'genlab-api-browser-'));
    await writeTinyModels(root);
    s = await startServer(defaultPlugins(root), { previewEvery: 1 });
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('generates a grid from the playground and shows it, with live progress and a download link', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
      ],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      await page.goto(`${s.base}/`);
      await page.waitForFunction(() => (document.getElementById('model') as HTMLSelectElement).options.length > 0);
      await page.selectOption('#model', 'ddpm-cifar10');
      await page.selectOption('#sampler', 'ddim');
      await page.fill('#steps', '3');
      await page.fill('#count', '4');
      await page.fill('#seed', '7');
      await page.selectOption('#classLabel', '1');
      await page.click('#generate');
      await page.waitForFunction(() => (document.getElementById('grid') as HTMLImageElement).naturalWidth > 0, undefined, {
        timeout: 30_000,
      });
      const shown = await page.evaluate(() => {
        const grid = document.getElementById('grid') as HTMLImageElement;
        const preview = document.getElementById('preview') as HTMLImageElement;
        const download = document.getElementById('download') as HTMLAnchorElement;
        return {
          width: grid.naturalWidth,
          height: grid.naturalHeight,
          seed: grid.dataset.seed,
          previewWidth: preview.naturalWidth,
          progress: (document.getElementById('progress') as HTMLProgressElement).value,
          download: !download.hidden && download.href.startsWith('data:image/png'),
          error: document.getElementById('error')?.textContent,
        };
      });
      // 4 images of 16 px in a 2×2 grid with 2 px padding.
      expect(shown).toMatchObject({ width: 38, height: 38, seed: '7', progress: 3, download: true, error: '' });
      expect(shown.previewWidth).toBeGreaterThan(0);
      expect(errors).toEqual([]);
      // The Swagger UI renders the operations of the generated OpenAPI document.
      await page.goto(`${s.base}/docs`);
      await page.waitForSelector('.opblock', { timeout: 20_000 });
      const operations = await page.locator('.opblock-summary-path').allTextContents();
      expect(operations).toEqual(expect.arrayContaining(['/v1/models/{id}/samples', '/generate/diffusion']));
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 90_000);
});
