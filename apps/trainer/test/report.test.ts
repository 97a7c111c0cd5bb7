import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initBackend, type Logger, silentLogger } from '@lab/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { refreshReport, reportCommand } from '../src/commands/report.js';
import { trainCommand } from '../src/commands/train.js';
import { parseCifarBatch } from '../src/data/cifar10-format.js';
import { MICRO_DIFFUSION, makeCifarBytes, tempDir } from './fixtures.js';

// A valid 1×1 PNG (one grey pixel), small enough to write inline.
const TINY_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg==', 'base64');

const RUN_INFO = {
  format: 1,
  kind: 'diffusion',
  created: '2026-01-01T00:00:00.000Z',
  task: { unet: { preset: 'tiny' } },
  optimization: { batchSize: 8, lr: 0.001, warmupSteps: 2, gradClipNorm: 1, emaDecay: 0.99, emaWarmup: true, beta1: 0.9 },
  seed: 1,
  steps: 10,
  data: {},
  checkpointEvery: 5,
  sampleEvery: 5,
  sampleCount: 4,
  keepCheckpoints: 2,
};

function set(fd: number, kid: number, is: number) {
  return { count: 50, 'FD-cls': fd, 'KID-cls': { mean: kid, std: 0.01 }, 'IS-cls': is, classHistogram: [5, 5, 5, 5, 5, 5, 5, 5, 5, 5] };
}

/** A run folder as training and evaluate leave it: run.json, 6 metric lines, one evaluation, one sample grid. */
async function fakeRun(options: { metrics?: string } = {}): Promise<string> {
  const run = join(await tempDir('genlab-report-'), 'run');
  await mkdir(join(run, 'evaluations'), { recursive: true });
  await mkdir(join(run, 'samples'), { recursive: true });
  await writeFile(join(run, 'run.json'), JSON.stringify(RUN_INFO));
  const lines = [1, 2, 3, 4, 5, 6].map((step) =>
    JSON.stringify({
      step,
      loss: 1 / step,
      gradNorm: 0.5 + step,
      lr: 1e-3 * Math.min(1, step / 2),
      imagesPerSecond: 100 + step,
      seconds: 0.1,
    }),
  );
  await writeFile(join(run, 'metrics.jsonl'), options.metrics ?? `${lines.join('\n')}\n`);
  await writeFile(
    join(run, 'evaluations', 'step-00000005.json'),
    JSON.stringify({
      run,
      kind: 'diffusion',
      step: 5,
      guidance: 1,
      sets: { generated: set(87.654, 0.4321, 2.5), test: set(3.25, 0.002, 7.5), noise: set(140.5, 1.9, 1.01) },
    }),
  );
  await writeFile(join(run, 'samples', 'step-00000005.png'), TINY_PNG);
  return run;
}

const svgCount = (html: string) => html.match(/<svg[\s>]/g)?.length ?? 0;

describe('report', () => {
  it('writes one self-contained page with a chart per metric, the evaluation, the sample grid and the config', async () => {
    const run = await fakeRun();
    const result = await reportCommand({ run });
    expect(result.file).toBe(join(run, 'report.html'));
    const html = await readFile(result.file, 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script|<link|@import/i);
    // loss, learning rate, gradient norm, images/s; FD-cls, KID-cls, IS-cls
    expect(svgCount(html)).toBe(7);
    expect(result.charts).toBe(7);
    for (const title of ['loss', 'learning rate', 'gradient norm', 'images per second', 'FD-cls', 'KID-cls (mean)', 'IS-cls']) {
      expect(html).toContain(`Y-axis titled '${title}'`);
    }
    expect(html.match(/X-axis titled 'step'/g)?.length).toBe(7);
    expect(html).toMatch(/loss, EMA over ~\d+ steps/);
    expect(html).toContain('87.65'); // the generated set's FD-cls, in the table
    // The floor and the ceiling: a dashed rule each, in every evaluation chart.
    expect(html).toContain('real test images (floor)');
    expect(html).toContain('uniform noise (ceiling)');
    const rules = (series: string) =>
      html.match(
        new RegExp(
          `aria-label="value: [\\d.]+; series: ${series.replace(/[()]/g, '\\$&')}" role="graphics-symbol" aria-roledescription="rule mark"`,
          'g',
        ),
      )?.length;
    expect(rules('real test images (floor)')).toBe(2); // FD-cls and KID-cls
    expect(rules('uniform noise (ceiling)')).toBe(2);
    expect(rules('real test images (ceiling)')).toBe(1); // IS-cls: higher is better
    expect(html).toContain('aria-label="step: 5; FD-cls: 87.654; series: generated"'); // the plotted point
    expect(html).toContain(`src="data:image/png;base64,${TINY_PNG.toString('base64')}"`);
    expect(html).toContain('&#34;batchSize&#34;: 8');
  });

  it('shows evaluations at other settings (guidance, sampler, steps, step size) as series of their own', async () => {
    const run = await fakeRun();
    const evaluation = (fd: number) =>
      JSON.stringify({
        run,
        kind: 'energy',
        step: 5,
        sets: { generated: set(fd, 0.4, 2.5), test: set(3.25, 0.002, 7.5), noise: set(140.5, 1.9, 1.01) },
      });
    await writeFile(join(run, 'evaluations', 'step-00000005-sampler-ancestral-steps-49.json'), evaluation(72.88));
    await writeFile(join(run, 'evaluations', 'step-00000005-steps-6-step-size-0.0002.json'), evaluation(61.5));
    const html = await readFile((await reportCommand({ run })).file, 'utf8');
    expect(html).toContain('aria-label="step: 5; FD-cls: 87.654; series: generated"');
    expect(html).toContain('aria-label="step: 5; FD-cls: 72.88; series: generated, sampler ancestral steps 49"');
    expect(html).toContain('aria-label="step: 5; FD-cls: 61.5; series: generated, steps 6 step size 0.0002"');
    expect(html).toContain('<td>sampler ancestral steps 49</td>');
    expect(html).toContain('<td>the run’s own</td>');
  });

  it('--svg-dir also writes each chart as a standalone SVG file named after its title', async () => {
    const run = await fakeRun();
    const svgDir = join(run, 'charts');
    const result = await reportCommand({ run, svgDir });
    const names = result.svgFiles.map((f) => f.slice(svgDir.length + 1)).sort();
    expect(names).toEqual([
      'fd-cls.svg',
      'gradient-norm.svg',
      'is-cls.svg',
      'kid-cls.svg',
      'learning-rate.svg',
      'loss.svg',
      'training-speed.svg',
    ]);
    const fd = await readFile(join(svgDir, 'fd-cls.svg'), 'utf8');
    expect(fd.startsWith('<?xml')).toBe(true);
    expect(svgCount(fd)).toBe(1);
    expect(fd).toContain('aria-label="step: 5; FD-cls: 87.654; series: generated"');
  });

  it('says there is no data yet for an empty metrics file, and fails clearly for a folder that is not a run', async () => {
    const run = await fakeRun({ metrics: '' });
    await reportCommand({ run });
    const html = await readFile(join(run, 'report.html'), 'utf8');
    expect(html).toContain('No training steps recorded yet');
    expect(svgCount(html)).toBe(3); // only the evaluation charts
    await expect(reportCommand({ run: join(run, 'samples') })).rejects.toThrow(/is not a genlab run/);
  });

  it('names the line of a broken metrics file, but skips a half-written last line', async () => {
    const broken = await fakeRun({ metrics: '{"step":1,"loss":0.5}\n{"step":2,\n{"step":3,"loss":0.4}\n' });
    await expect(reportCommand({ run: broken })).rejects.toThrow(/metrics\.jsonl:2 is not a JSON line/);
    const appending = await fakeRun({ metrics: '{"step":1,"loss":0.5}\n{"step":2,"loss":0.4}\n{"step":3,"lo' });
    expect((await reportCommand({ run: appending })).step).toBe(2);
  });

  it('refreshReport warns instead of throwing', async () => {
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (message) => warnings.push(message) };
    const missing = join(await tempDir('genlab-report-'), 'nothing');
    expect(await refreshReport(missing, logger)).toBeUndefined();
    expect(warnings).toEqual(['could not write the run report']);
  });
});

describe('train --report-every', () => {
  beforeAll(async () => {
    await initBackend({ force: 'cpu', logger: silentLogger });
  });

  it('rewrites the report while training and once at the end', async () => {
    const written: number[] = [];
    const logger: Logger = {
      ...silentLogger,
      info: (message, fields) => {
        if (message === 'report written') written.push(fields?.step as number);
      },
    };
    const out = join(await tempDir('genlab-report-'), 'run');
    await trainCommand({
      out,
      model: 'diffusion',
      taskConfig: MICRO_DIFFUSION,
      records: parseCifarBatch(makeCifarBytes(16), 'fixture.bin'),
      steps: 4,
      batch: 4,
      warmup: 1,
      seed: 3,
      checkpointEvery: 4,
      sampleEvery: 2,
      samples: 4,
      reportEvery: 2,
      logger,
    });
    expect(written.length).toBeGreaterThanOrEqual(2); // during training (step 2 or later) and at the end
    expect(written.at(-1)).toBe(4);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(svgCount(html)).toBe(4);
    expect(html).toContain('4 of 4');
    expect(html.match(/src="data:image\/png;base64,/g)?.length).toBe(2); // grids of steps 2 and 4
    expect(existsSync(join(out, 'report.html.tmp-' + process.pid))).toBe(false);
  });
});
