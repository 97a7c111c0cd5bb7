/// <reference lib="dom" />
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeImage } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPlugins } from '../src/plugins.js';
import { TEST_SIZE, writeTinyModels } from './fixtures/tiny-models.js';
import { startServer, type TestServer } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`SKIPPED browser test: ${CHROMIUM} is absent (apt-get install -y chromium)`);

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

const fromDataUrl = (url: string) => decodeImage(Buffer.from(url.replace(/^data:image\/png;base64,/, ''), 'base64'));

describe.skipIf(!hasChromium)('playground in Debian Chromium', () => {
  let root = '';
  let s: TestServer;
  let browser: Browser;
  let trainingEnergies: number[] = [];
  beforeAll(async () => {
    await tf.setBackend('cpu');
    root = await mkdtemp(join(tmpdir(), 'genlab-api-browser-'));
    ({ trainingEnergies } = await writeTinyModels(root));
    s = await startServer(defaultPlugins(root), { previewEvery: 1 }, { modelsDir: root });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await s?.stop();
    await rm(root, { recursive: true, force: true });
  });

  /** The playground, loaded; page errors and console errors (CSP violations among them) are collected. */
  async function open(viewport = { width: 1100, height: 900 }): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport });
    // Each request is quick alone; CI runs every project's tests at once on 2 cores, where one
    // waited past playwright's 30 s default (a 375 px classify, 2026-12-03).
    page.setDefaultTimeout(60_000);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`${s.base}/`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 20_000 });
    return { page, errors };
  }

  it('generates a grid from the playground and shows it, with live progress and a download link', async () => {
    const { page, errors } = await open();
    await page.selectOption('#model', 'ddpm-cifar10');
    await page.selectOption('#sampler', 'ddim');
    await page.fill('#steps', '3');
    await page.fill('#count', '4');
    await page.fill('#seed', '7');
    await page.selectOption('#classLabel', '1');
    await page.fill('#guidance', '3');
    await page.fill('#guidanceRescale', '0.5');
    let sent: { classLabel?: number; guidance?: number; guidanceRescale?: number } | undefined;
    page.on('request', (r) => {
      if (r.url().includes('/samples')) sent = r.postDataJSON();
    });
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
    expect(sent).toMatchObject({ classLabel: 1, guidance: 3, guidanceRescale: 0.5 });
    expect(errors).toEqual([]);
    // The Swagger UI renders the operations of the generated OpenAPI document.
    await page.goto(`${s.base}/docs`);
    await page.waitForSelector('.opblock', { timeout: 20_000 });
    const operations = await page.locator('.opblock-summary-path').allTextContents();
    expect(operations).toEqual(expect.arrayContaining(['/v1/models/{id}/samples', '/generate/diffusion']));
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('inpaints a bundled test image: the painted mask is sent, previews stream, unmasked pixels come back unchanged', async () => {
    const { page, errors } = await open();
    let sent: { image: string; mask: string; steps: number; seed: number } | undefined;
    page.on('request', (r) => {
      if (r.url().includes('/inpaint')) sent = r.postDataJSON();
    });
    await page.selectOption('#inpaint-sample', 'cat.png');
    await page.waitForFunction(() => Number((document.getElementById('inpaint-canvas') as HTMLCanvasElement).dataset.masked) > 0);
    expect(await page.$eval('#inpaint-canvas', (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height])).toEqual([
      TEST_SIZE,
      TEST_SIZE,
    ]);
    await page.click('#mask-left');
    expect(await page.$eval('#inpaint-canvas', (c) => (c as HTMLCanvasElement).dataset.masked)).toBe(String((TEST_SIZE * TEST_SIZE) / 2));
    // Painting with the pointer adds to the mask: a click in the right half masks brush-sized pixels.
    const box = (await page.locator('#inpaint-canvas').boundingBox())!;
    await page.mouse.click(box.x + box.width * 0.8, box.y + box.height * 0.8);
    const afterClick = Number(await page.$eval('#inpaint-canvas', (c) => (c as HTMLCanvasElement).dataset.masked));
    expect(afterClick).toBe((TEST_SIZE * TEST_SIZE) / 2 + 4); // the 2-px brush
    await page.fill('#inpaint-steps', '3');
    await page.fill('#inpaint-seed', '5');
    await page.click('#inpaint-run');
    await page.waitForFunction(() => (document.getElementById('inpaint-result') as HTMLImageElement).naturalWidth > 0, undefined, {
      timeout: 30_000,
    });
    const shown = await page.evaluate(() => ({
      result: (document.getElementById('inpaint-result') as HTMLImageElement).src,
      preview: (document.getElementById('inpaint-preview') as HTMLImageElement).naturalWidth,
      step: document.getElementById('inpaint-step')?.textContent,
      download: (document.getElementById('inpaint-download') as HTMLAnchorElement | null)?.href.startsWith('data:image/png'),
      error: document.getElementById('inpaint-error')?.textContent,
    }));
    expect(shown).toMatchObject({ step: 'step 3 / 3', download: true, error: '' });
    expect(shown.preview).toBeGreaterThan(0);
    expect(sent).toMatchObject({ steps: 3, seed: 5 });
    const input = fromDataUrl(sent!.image);
    const mask = fromDataUrl(sent!.mask);
    const out = fromDataUrl(shown.result);
    expect([input.width, mask.width, out.width, out.height]).toEqual([TEST_SIZE, TEST_SIZE, TEST_SIZE, TEST_SIZE]);
    let kept = 0;
    let changed = 0;
    for (let p = 0; p < TEST_SIZE * TEST_SIZE; p++) {
      const masked = (mask.pixels[p * 3] as number) > 127;
      for (let c = 0; c < 3; c++) {
        const diff = Math.abs((out.pixels[p * 3 + c] as number) - (input.pixels[p * 3 + c] as number));
        if (!masked) expect(diff, `pixel ${p} channel ${c} outside the mask`).toBeLessThanOrEqual(1);
        else if (diff > 8) changed++;
      }
      if (!masked) kept++;
    }
    expect(kept).toBe(TEST_SIZE * TEST_SIZE - afterClick); // the mask sent is the mask painted
    expect(changed).toBeGreaterThan(0); // the masked half was regenerated
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('scores an image: its energy, percentile and a marker drawn on the training energies histogram', async () => {
    const { page, errors } = await open();
    const scored = page.waitForResponse((r) => r.url().endsWith('/score'));
    await page.selectOption('#score-sample', 'frog.png');
    await page.click('#score-run');
    const api = (await (await scored).json()) as { energy: number; percentile: number };
    await page.waitForSelector('#score-marker', { state: 'attached' });
    const shown = await page.evaluate(() => {
      const marker = document.getElementById('score-marker') as unknown as SVGGElement;
      return {
        bars: document.querySelectorAll('#score-plot .hist-bar').length,
        heights: [...document.querySelectorAll('#score-plot .hist-bar')].map((r) => Number(r.getAttribute('height'))),
        markerX: Number(marker.dataset.x),
        markerEnergy: Number(marker.dataset.energy),
        line: marker.querySelector('line')?.getAttribute('x1'),
        result: document.getElementById('score-result')?.textContent,
        summary: document.getElementById('score-summary')?.textContent,
        error: document.getElementById('score-error')?.textContent,
      };
    });
    expect(shown.bars).toBe(30);
    expect(shown.heights.filter((h) => h > 0).length).toBe(trainingEnergies.length); // 8 distinct energies, 8 bins drawn
    expect(shown.markerEnergy).toBeCloseTo(api.energy, 10);
    // The marker sits where the energy falls on the drawn axis (8 … 312 px over min … max, clamped).
    const [lo, hi] = [Math.min(...trainingEnergies), Math.max(...trainingEnergies)];
    const expectedX = 8 + Math.max(0, Math.min(1, (api.energy - lo) / (hi - lo))) * 304;
    expect(shown.markerX).toBeCloseTo(expectedX, 1);
    expect(Number(shown.line)).toBeCloseTo(expectedX, 1);
    expect(shown.result).toContain(`Energy ${api.energy.toFixed(3)}`);
    expect(shown.result).toContain(`${api.percentile.toFixed(1)} %`);
    expect(shown.summary).toContain(`${trainingEnergies.length} training images`);
    expect(shown.error).toBe('');
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('classifies an image: a bar per class, the bars and the percentages sum to 100 %', async () => {
    const { page, errors } = await open();
    // The picked image arrives late, as on a loaded machine: a run clicked at once must wait for it
    // (it used to find no image and say "Pick a test image", and the bars never came).
    await page.route('**/cifar10/ship.png', async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 500));
      await route.continue();
    });
    await page.selectOption('#classify-sample', 'ship.png');
    await page.click('#classify-run');
    await page.waitForFunction(() => document.querySelectorAll('#classify-bars li').length === 10);
    const shown = await page.evaluate(() => {
      const rows = [...document.querySelectorAll('#classify-bars li')] as HTMLElement[];
      return {
        labels: rows.map((li) => li.querySelector('.bar-label')?.textContent),
        probabilities: rows.map((li) => Number(li.dataset.probability)),
        widths: rows.map((li) => Number(li.querySelector('.bar-fill, .bar-top')?.getAttribute('width'))),
        percents: rows.map((li) => Number.parseFloat(li.querySelector('.bar-value')?.textContent ?? '')),
        top: document.querySelector('#classify-bars li.top .bar-label')?.textContent,
        result: document.getElementById('classify-result')?.textContent,
        image: (document.getElementById('classify-image') as HTMLImageElement).naturalWidth,
      };
    });
    expect(shown.labels).toEqual(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect(sum(shown.probabilities)).toBeCloseTo(1, 5);
    expect(sum(shown.widths)).toBeCloseTo(100, 1);
    expect(Math.abs(sum(shown.percents) - 100)).toBeLessThanOrEqual(0.5); // rounded to 0.1 % each
    const best = shown.probabilities.indexOf(Math.max(...shown.probabilities));
    expect(shown.top).toBe(shown.labels[best]);
    expect(shown.result).toContain(shown.labels[best]);
    expect(shown.image).toBe(TEST_SIZE);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('shows a model card per model: training summary, manifest metrics, a sample grid; the broken one says why', async () => {
    const { page, errors } = await open();
    const cards = await page.$$eval('#model-cards article', (as) => as.map((a) => (a as HTMLElement).dataset.model));
    expect(cards).toEqual(expect.arrayContaining(['ddpm-cifar10', 'ebm-cifar10', 'classifier-cifar10', 'ddpm-broken']));
    const ddpm = page.locator('article[data-model="ddpm-cifar10"]');
    expect(await ddpm.locator('.summary').textContent()).toContain('Training steps3');
    expect(await ddpm.locator('.metrics').textContent()).toContain('loss0.5000');
    await ddpm.getByRole('button', { name: 'Draw a sample grid of ddpm-cifar10' }).click();
    await page.waitForFunction(
      () => (document.querySelector('article[data-model="ddpm-cifar10"] img.sample-grid') as HTMLImageElement | null)?.naturalWidth,
    );
    // 9 samples of 16 px: a 3 × 3 grid with 2 px padding.
    expect(await ddpm.locator('img.sample-grid').evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBe(3 * TEST_SIZE + 4 * 2);
    const classifier = page.locator('article[data-model="classifier-cifar10"]');
    await classifier.getByRole('button', { name: /Classify the bundled test images/ }).click();
    await page.waitForFunction(() => document.querySelectorAll('article[data-model="classifier-cifar10"] .cell').length === 10);
    expect(await classifier.locator('.card-samples > figcaption').textContent()).toMatch(
      /^\d+ of 10 bundled test images classified correctly$/,
    );
    expect(await page.locator('article[data-model="ddpm-broken"]').textContent()).toContain('unavailable');
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('is keyboard-usable: Tab reaches every control, the mask can be painted with the keyboard', async () => {
    const { page, errors } = await open();
    await page.selectOption('#inpaint-sample', 'dog.png');
    await page.waitForFunction(() => Number((document.getElementById('inpaint-canvas') as HTMLCanvasElement).dataset.masked) > 0);
    const controls = await page.$$eval('input, select, button, a[href], canvas[tabindex], textarea', (els) =>
      els
        .filter((e) => !(e as HTMLButtonElement).disabled && (e as HTMLElement).offsetParent !== null)
        .map((e) => e.id || `${e.tagName}:${e.textContent?.trim() || e.getAttribute('aria-label')}`),
    );
    const reached = new Set<string>();
    await page.focus('body');
    for (let i = 0; i < controls.length + 5; i++) {
      await page.keyboard.press('Tab');
      reached.add(
        await page.evaluate(() => {
          const e = document.activeElement as HTMLElement;
          return e.id || `${e.tagName}:${e.textContent?.trim() || e.getAttribute('aria-label')}`;
        }),
      );
    }
    expect(controls.length).toBeGreaterThan(30);
    expect(controls.filter((c) => !reached.has(c))).toEqual([]);
    // Every control has an accessible name (a label, aria-label or text).
    const unnamed = await page.$$eval('input, select, button', (els) =>
      els
        .filter((e) => !(e as HTMLInputElement).labels?.length && !e.getAttribute('aria-label') && !e.textContent?.trim())
        .map((e) => e.id),
    );
    expect(unnamed).toEqual([]);
    // Keyboard painting: clear, move the brush, paint with Space, erase with Delete.
    await page.click('#mask-clear');
    await page.focus('#inpaint-canvas');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Space');
    const masked = () => page.$eval('#inpaint-canvas', (c) => Number((c as HTMLCanvasElement).dataset.masked));
    expect(await masked()).toBe(4);
    await page.keyboard.press('Shift+ArrowDown');
    await page.keyboard.press('Enter');
    expect(await masked()).toBe(8);
    await page.keyboard.press('Delete');
    expect(await masked()).toBe(4);
    expect(await page.locator('#mask-status').textContent()).toMatch(/^4 of 256 pixels masked; brush at \d+, \d+$/);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('fits a 375 px phone screen: no horizontal scroll, also with results shown', async () => {
    const { page, errors } = await open({ width: 375, height: 812 });
    const overflow = () =>
      page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        width: window.innerWidth,
        wide: [...document.querySelectorAll('body *')]
          .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
          .map((e) => e.id || e.tagName),
      }));
    expect(await overflow()).toMatchObject({ scroll: 375, width: 375, wide: [] });
    await page.selectOption('#classify-sample', 'horse.png');
    await page.click('#classify-run');
    await page.waitForFunction(() => document.querySelectorAll('#classify-bars li').length === 10);
    await page.selectOption('#score-sample', 'horse.png');
    await page.click('#score-run');
    await page.waitForSelector('#score-marker', { state: 'attached' });
    await page.selectOption('#inpaint-sample', 'horse.png');
    await page.click('article[data-model="ebm-cifar10"] button');
    await page.waitForSelector('article[data-model="ebm-cifar10"] img.sample-grid');
    expect(await overflow()).toMatchObject({ scroll: 375, width: 375, wide: [] });
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);
});
